#ifndef RACEWAY_LIBS_STORAGE_COMMON_PAGE_TOKEN_H_
#define RACEWAY_LIBS_STORAGE_COMMON_PAGE_TOKEN_H_

// Keyset page tokens shared by every backend, so a token means the same
// thing whichever backend produced it. A token is the web-safe base64 of
// (kind tag, format version, last key of the previous page); the next page
// resumes strictly after that key. Nothing is held on the server.
//
//   ListTraces          (last_ns, trace_id)           order: desc
//   GetTraceEventsPage  (timestamp_ns, event_id)      order: asc
//   GetVariableAccesses (variable, timestamp_ns, id)  order: asc
//
// A token of another kind, or anything malformed, is INVALID_ARGUMENT.
// Pure functions; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace raceway::storage::common {

struct TraceCursor {
  int64_t last_ns = 0;
  std::string trace_id;  // Canonical UUID text.
};

struct EventCursor {
  int64_t timestamp_ns = 0;
  std::string event_id;
};

struct AccessCursor {
  std::string variable;
  int64_t timestamp_ns = 0;
  std::string event_id;
};

std::string EncodeTraceCursor(const TraceCursor& c);
std::string EncodeEventCursor(const EventCursor& c);
std::string EncodeAccessCursor(const AccessCursor& c);

absl::StatusOr<TraceCursor> DecodeTraceCursor(std::string_view token);
absl::StatusOr<EventCursor> DecodeEventCursor(std::string_view token);
absl::StatusOr<AccessCursor> DecodeAccessCursor(std::string_view token);

}  // namespace raceway::storage::common

#endif  // RACEWAY_LIBS_STORAGE_COMMON_PAGE_TOKEN_H_
