#ifndef RACEWAY_LIBS_MODEL_OPERATION_KEY_H_
#define RACEWAY_LIBS_MODEL_OPERATION_KEY_H_

// Names derived from an event: its kind, its baseline operation key and the
// duration used by critical path and anomaly detection. Pure functions;
// thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "raceway/v1/event.pb.h"

namespace raceway::model {

// "FunctionCall", "StateChange", ... ; "Unknown" when no kind is set.
std::string_view KindName(const raceway::v1::Event& event);

// Baseline key (ARCHITECTURE §4): "FunctionCall(<name>)",
// "StateChange(<variable>)", "LockAcquire(<type>)", "LockRelease(<type>)",
// "HttpRequest(<method>)", "HttpResponse(<status>)", "DatabaseQuery",
// "DatabaseResult", "Error(<type>)", "Custom(<name>)", "AsyncSpawn",
// "AsyncAwait", "MemoryFence(<ordering>)". Also the critical-path step label.
std::string OperationKey(const raceway::v1::Event& event);

// The event's duration in nanoseconds: metadata.duration_ns when set, else
// the duration_ms of HttpResponse / DatabaseQuery events (scaled), else none.
std::optional<uint64_t> DurationNs(const raceway::v1::Event& event);

// Nanoseconds since the Unix epoch (ToUnixNanosClamped, timestamp.h; validated
// events are always inside the range).
int64_t TimestampNanos(const raceway::v1::Event& event);

// A human-facing location for the event: StateChange/Lock*/MemoryFence
// location, FunctionCall "file:line", AsyncAwait awaited_at, else "".
std::string Location(const raceway::v1::Event& event);

// AccessType helpers.
bool IsWrite(raceway::v1::AccessType t);                     // WRITE, ATOMIC_WRITE, ATOMIC_RMW
bool IsAtomic(raceway::v1::AccessType t);                    // ATOMIC_*
std::string_view AccessTypeName(raceway::v1::AccessType t);  // "WRITE", ...

}  // namespace raceway::model

#endif  // RACEWAY_LIBS_MODEL_OPERATION_KEY_H_
