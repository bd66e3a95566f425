#ifndef RACEWAY_LIBS_STORAGE_COMMON_IDS_H_
#define RACEWAY_LIBS_STORAGE_COMMON_IDS_H_

// Id and argument helpers shared by every backend. Pure; thread-safe.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raceway/v1/event.pb.h"

namespace raceway::storage::common {

// Reader-side id argument: any ParseUuid-able spelling (upper-case hex is
// accepted) is returned in canonical lower-case form; anything else is
// INVALID_ARGUMENT naming `field`.
absl::StatusOr<std::string> CanonicalId(std::string_view field, std::string_view id);

// Writer-side precondition check of a batch: id and trace_id canonical,
// parent_id empty or canonical. INVALID_ARGUMENT naming the first offender.
// (The ingest layer validates events fully; this only protects the index
// keys from malformed ids.)
absl::Status CheckBatchIds(std::span<const raceway::v1::Event* const> events);

// page_size 0 = `def`; larger than `cap` = `cap`.
uint32_t ClampPageSize(uint32_t requested, uint32_t def, uint32_t cap);

// Page size defaults and caps of the EventReader methods (storage.h).
inline constexpr uint32_t kTraceEventsPageDefault = 1000, kTraceEventsPageCap = 10000;
inline constexpr uint32_t kTracesPageDefault = 100, kTracesPageCap = 1000;
inline constexpr uint32_t kAccessesPageDefault = 1000, kAccessesPageCap = 10000;

}  // namespace raceway::storage::common

#endif  // RACEWAY_LIBS_STORAGE_COMMON_IDS_H_
