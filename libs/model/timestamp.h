#ifndef RACEWAY_LIBS_MODEL_TIMESTAMP_H_
#define RACEWAY_LIBS_MODEL_TIMESTAMP_H_

// The one conversion between google.protobuf.Timestamp and the int64
// nanoseconds since the Unix epoch that storage, analysis and queries use.
// Raceway supports exactly the instants int64 nanoseconds can hold:
// 1677-09-21T00:12:43.145224192Z .. 2262-04-11T23:47:16.854775807Z (ingest
// refuses anything else). Pure functions; thread-safe.

#include <cstdint>
#include <optional>

#include "google/protobuf/timestamp.pb.h"

namespace raceway::model {

// Human-readable supported range, for error messages.
inline constexpr char kTimestampRangeText[] =
    "1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z";

// Nanoseconds since the epoch; nullopt when nanos is outside 0..999999999 or
// the instant is outside the supported range.
std::optional<int64_t> ToUnixNanos(const google::protobuf::Timestamp& ts);

// As ToUnixNanos, but an instant outside the range saturates to the nearest
// bound (a query range beyond it means "everything"); nanos outside
// 0..999999999 are clamped into it first.
int64_t ToUnixNanosClamped(const google::protobuf::Timestamp& ts);

// The Timestamp of `ns` (every int64 is representable; nanos in 0..999999999).
void FromUnixNanos(int64_t ns, google::protobuf::Timestamp* ts);
google::protobuf::Timestamp FromUnixNanos(int64_t ns);

// Arithmetic on instants that spans the whole range without overflow:
// `later - earlier` (0 when later < earlier; up to 2^64 - 1), and
// `ns + delta` saturated to the int64 range.
uint64_t NanosBetween(int64_t earlier, int64_t later);
int64_t AddNanosSaturating(int64_t ns, int64_t delta);

}  // namespace raceway::model

#endif  // RACEWAY_LIBS_MODEL_TIMESTAMP_H_
