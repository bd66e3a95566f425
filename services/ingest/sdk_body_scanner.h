#ifndef RACEWAY_SERVICES_INGEST_SDK_BODY_SCANNER_H_
#define RACEWAY_SERVICES_INGEST_SDK_BODY_SCANNER_H_

// The strict first pass over a POST /events body, run before any JSON
// parser sees it. It checks the body against the RFC 8259 grammar (double
// quotes only, no bare keys, no trailing commas, no comments, no `1.`, legal
// escapes, no raw control characters) and bounds its nesting, so the parser
// that follows only ever receives standard JSON of bounded depth whatever
// leniency it has of its own. On the way it
//  - finds each event's duration tokens (read exactly from their text:
//    a double cannot carry 2^53 + 1 ns nor the decimal 1.0000005);
//  - turns a problem confined to one event into that event's fault while
//    the rest of the batch stays: a NaN / Infinity literal (Python's json
//    writes them), a number beyond a double (1e400), an integer a double
//    cannot hold exactly (beyond 2^53; send such ids as strings) or a
//    repeated key. The faulty event is replaced by null in `rewritten`.
// Pure function of its input; thread-compatible.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace raceway::ingest {

// Texts of one element of "events", pointing into the scanned body.
struct EventTokens {
  std::string_view duration_ns;  // metadata.duration_ns
  std::string_view duration_ms;  // kind.HttpResponse / kind.DatabaseQuery .duration_ms
  std::string id;                // Its "id" when a string (for the rejection).
};

// A problem of one event found by the scan.
struct EventFault {
  size_t index;       // In "events".
  std::string field;  // SDK path relative to the event ("" = the event itself).
  std::string reason;
};

struct ScannedBody {
  std::vector<EventTokens> events;  // By index in "events"; may be shorter.
  std::vector<EventFault> faults;   // Ascending by index; at most one per event.
  // The body with faulty events and the duration tokens no parser reads
  // (NaN, Infinity, numbers beyond a double) replaced by null; empty =
  // unchanged.
  std::string rewritten;
};

// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view text);

// OK, or INVALID_ARGUMENT "body is not valid JSON: <what> at byte <n>"
// (or "... nested deeper than <max_depth> levels").
absl::Status ScanSdkBody(std::string_view body, int max_depth, ScannedBody* out);

}  // namespace raceway::ingest

#endif  // RACEWAY_SERVICES_INGEST_SDK_BODY_SCANNER_H_
