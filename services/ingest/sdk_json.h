#ifndef RACEWAY_SERVICES_INGEST_SDK_JSON_H_
#define RACEWAY_SERVICES_INGEST_SDK_JSON_H_

// The JSON body the reference Raceway SDKs POST to /events (ARCHITECTURE §5,
// last bullet), converted to and from raceway.v1.Event.
//
// Body: {"events": [ event, ... ]} where each event is serde's default JSON of
// the reference Rust model:
//
//   {"id": uuid, "trace_id": uuid, "parent_id": uuid | null,
//    "timestamp": "2025-10-16T12:34:56.123456789Z",          (RFC 3339)
//    "kind": {"StateChange": {"variable": "x", "old_value": json | null,
//             "new_value": json, "location": "a.rs:1",
//             "access_type": "Read" | "Write" | "AtomicRead" | "AtomicWrite" | "AtomicRMW"}},
//    "metadata": {"thread_id": "t1", "process_id": 42, "service_name": "api",
//                 "environment": "prod", "tags": {"k": "v"}, "duration_ns": n | null,
//                 "instance_id"?, "distributed_span_id"?, "upstream_span_id"?},
//    "causality_vector": [["component", n], ...],
//    "lock_set": ["lock-a", ...]}
//
// Kinds are externally tagged ({"<Variant>": {fields}}): FunctionCall,
// AsyncSpawn, AsyncAwait, StateChange, LockAcquire, LockRelease, MemoryFence,
// HttpRequest, HttpResponse, DatabaseQuery, DatabaseResult, Error, Custom.
// The proto mapping is field-by-field (same names; enums: "Read" ->
// ACCESS_TYPE_READ, "AtomicRMW" -> ACCESS_TYPE_ATOMIC_RMW, "AcqRel" ->
// MEMORY_ORDERING_ACQ_REL, ...). JSON-valued fields become
// google.protobuf.Value. Compatibility rules (the Go/Python SDKs are looser
// than serde):
//  - null is accepted for every field and means "absent": empty string,
//    empty list/map, unset optional (old_value, body, duration_ns, parent_id).
//    For new_value, args and data, null is kept as a JSON null value.
//  - Missing fields are absent too, but id, trace_id, timestamp, kind,
//    metadata, metadata.thread_id, metadata.service_name,
//    StateChange.access_type and MemoryFence.ordering are required.
//  - Unknown keys are ignored (forward compatibility, as serde does).
//  - Timestamps: RFC 3339 with "Z" or a numeric offset, 0-9 fraction digits
//    (a 10th digit is refused: nanoseconds are the finest unit stored)
//    (Python's isoformat "+00:00" works). 't'/'z'/' ' separators are accepted.
//  - "FunctionReturn" (sent by the Go and Python SDKs, absent from the Rust
//    model) is stored as Custom{name: "FunctionReturn", data: <its fields>}.
//  - Integers: JSON numbers are doubles here, so the u64 fields clocks and
//    rows_affected accept integers up to 2^53 - 1 and reject larger values
//    instead of storing a rounded one. Fractions and negatives are
//    rejected; u32/u16/i32 fields check their own range.
//  - Durations (metadata.duration_ns, HttpResponse/DatabaseQuery
//    duration_ms) may be non-integer (JavaScript's performance.now(),
//    Python floats). They are read from the number's own decimal text in
//    the body, never through a double (2^53 + 1 ns and 1.0000005 ms are
//    exact), converted to nanoseconds and rounded to the nearest ns, halves
//    away from zero: 1.5 ms -> 1500000 ns, 1.0000005 ms -> 1000001 ns,
//    0.0000004 ms -> 0 ns. Range 0 .. INT64_MAX ns (duration_ms up to
//    9223372036854.775807); negative values, NaN, Infinity (bare tokens, as
//    Python's json writes them) and 1e400 reject the event with the field
//    named. duration_ms is an integer field in the proto: it stores the
//    nearest whole ms, and when the nanoseconds are not whole ms,
//    metadata.duration_ns stores them (model::DurationNs reads it first)
//    unless the event sent its own metadata.duration_ns, which then wins.
//    The reverse direction prints durations as JSON numbers (doubles):
//    exact up to 2^53 ns.
//  - Strict JSON (RFC 8259, sdk_body_scanner.h), checked before any
//    parser runs: single quotes, bare keys, trailing commas, comments,
//    numbers such as `1.` / `.5` / `01`, bad escapes and raw control
//    characters make the body INVALID_ARGUMENT naming the byte offset.
//    Problems confined to one event reject that event only, naming its
//    field: NaN / Infinity literals outside the duration slots, numbers a
//    double cannot represent (1e400), a repeated key, and integers beyond
//    2^53 anywhere in an event (JSON values are kept as doubles, so
//    9007199254740993 would be stored as ...992: send such ids as strings).
//  - Nesting: the body may nest arrays/objects up to 100 levels;
//    deeper bodies are INVALID_ARGUMENT (checked before parsing: protobuf's
//    transcoder is quadratic in array depth). Per-event JSON depth, size,
//    UTF-8 and NUL rules are the validator's (model::ValidateEvent).
//  - Cost: protobuf's JSON parser reads about 3 MB/s (~5k SDK events/s per
//    core on this machine), so bound the request body size in the HTTP
//    layer; the gRPC path is the fast one.
//
// HTTP status mapping for POST /events (what the HTTP intake should send):
//   200  every event stored or already stored (also an empty batch)
//   207  partial success: some stored, some rejected (the body lists them)
//   422  every event of a non-empty batch rejected (as serde/axum's data error)
//   400  body is not JSON, not an object, or has no "events" array
//        (ParseSdkBatch: INVALID_ARGUMENT)
//   413  batch over max_batch_events / max_batch_bytes (OUT_OF_RANGE)
//   401  missing or wrong API key          (UNAUTHENTICATED)
//   429  backpressure, with Retry-After    (RESOURCE_EXHAUSTED)
//   503  storage unavailable / draining, with Retry-After (UNAVAILABLE)
//   500  anything else
// Note: the TypeScript SDK re-buffers and resends on any non-2xx answer, the
// Python SDK only logs non-200 answers; a 2xx with rejections is final.
//
// All functions are pure and thread-safe.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/struct.pb.h"
#include "libs/model/validation.h"
#include "raceway/v1/event.pb.h"
#include "raceway/v1/ingest.pb.h"

namespace raceway::ingest {

struct SdkBatch {
  // One slot per element of the body's "events" array, in body order. The
  // slot of a rejected event holds whatever could be converted: never store
  // it.
  google::protobuf::RepeatedPtrField<raceway::v1::Event> events;
  // Ascending by index. Conversion errors and model::ValidateBatch errors
  // (including a repeated id within the body). `field` is relative to the
  // event and uses the SDK JSON names, e.g. "kind", "metadata.thread_id",
  // "kind.StateChange.access_type", "causality_vector[2][1]".
  std::vector<model::Rejection> rejections;
  // Ascending: the events that passed conversion and validation.
  std::vector<uint32_t> valid_indices;

  // events[i] for valid i, nullptr for rejected ones: the shape
  // BatchIntake::SubmitConverted takes.
  std::vector<const raceway::v1::Event*> EventPointers() const;
};

// Parses and validates a POST /events body. INVALID_ARGUMENT when the body is
// not JSON, not an object, or lacks an "events" array (message says which and
// where); OUT_OF_RANGE when the batch exceeds limits.max_batch_events or
// max_batch_bytes (naming the limit). Otherwise every element is either valid
// or listed in `rejections`.
absl::StatusOr<SdkBatch> ParseSdkBatch(std::string_view body,
                                       const model::ValidationLimits& limits);

// Converts one SDK JSON event (already parsed). On failure returns the first
// problem with its SDK field path; `out` then holds a partial conversion.
// Durations come from the parsed doubles here (exact for every double, but
// not for integers beyond 2^53: ParseSdkBatch reads the body's text).
std::optional<model::FieldError> SdkValueToEvent(const google::protobuf::Value& value,
                                                 raceway::v1::Event* out);

// The reverse: an event in the reference SDK format (serde's output: absent
// optionals as null, the span-id metadata fields omitted when empty).
google::protobuf::Value EventToSdkValue(const raceway::v1::Event& event);

// {"events":[...]} with keys in sorted order (deterministic).
std::string EventsToSdkJson(std::span<const raceway::v1::Event> events);

// Response bodies for POST /events.
//   {"success":true,"accepted":n,"duplicate":n,"rejected":n,
//    "rejected_events":[{"index":3,"id":"...","field":"kind",
//                        "reason":"unknown kind \"Foo\" ...",
//                        "message":"events[3].kind: unknown kind ..."}]}
// ("success" is false when every event of a non-empty batch was rejected.)
std::string SdkResultJson(const raceway::v1::BatchResult& result);
//   {"success":false,"error":{"code":"INVALID_ARGUMENT","message":"..."}}
std::string SdkErrorJson(const absl::Status& status);

// 200 / 207 / 422 as described above.
int HttpStatusForResult(const raceway::v1::BatchResult& result);
// 400 / 401 / 413 / 429 / 503 / 500 for a non-OK status (200 for OK).
int HttpStatusForError(const absl::Status& status);

}  // namespace raceway::ingest

#endif  // RACEWAY_SERVICES_INGEST_SDK_JSON_H_
