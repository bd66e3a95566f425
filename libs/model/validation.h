#ifndef RACEWAY_LIBS_MODEL_VALIDATION_H_
#define RACEWAY_LIBS_MODEL_VALIDATION_H_

// Validation of incoming events at the service edge (ARCHITECTURE §3, §5).
// Every rule reports the first violation with a field path such as
// "metadata.thread_id" or "causality_vector[2].component". Pure functions;
// thread-safe.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "raceway/v1/event.pb.h"

namespace raceway::model {

struct ValidationLimits {
  // Ids, thread ids, service names, variables, lock ids, tag keys.
  size_t max_identifier_bytes = 1024;
  // Free text: messages, urls, queries, locations, header values, ...
  size_t max_text_bytes = 256 * 1024;
  // Serialized size of one JSON-valued field.
  size_t max_json_bytes = 4 * 1024 * 1024;
  // Nesting depth of one JSON-valued field.
  int max_json_depth = 64;
  // Entries in causality_vector, lock_set, tags, headers, stack_trace.
  size_t max_list_entries = 4096;
  // Serialized size of one event.
  size_t max_event_bytes = 8 * 1024 * 1024;
  // Whole-batch limits (violations reject the batch, not one event).
  size_t max_batch_events = 10000;
  size_t max_batch_bytes = 64 * 1024 * 1024;
};

// Why one event is invalid.
struct FieldError {
  std::string field;   // Path, e.g. "state_change.variable".
  std::string reason;  // e.g. "must not be empty".
};

// nullopt when the event is valid.
std::optional<FieldError> ValidateEvent(const raceway::v1::Event& event,
                                        const ValidationLimits& limits);

// One rejected event of a batch.
struct Rejection {
  uint32_t index = 0;
  std::string id;  // As sent, passed through EchoSafe(id, 128).
  FieldError error;
};

struct BatchValidation {
  std::vector<uint32_t> valid_indices;  // Ascending.
  std::vector<Rejection> rejections;    // Ascending by index.
};

// Whole-batch checks: INVALID_ARGUMENT naming the limit when the batch has
// too many events or bytes. Otherwise validates each event; a second event
// with an id already seen in the same batch is rejected ("id", duplicate).
absl::StatusOr<BatchValidation> ValidateBatch(
    const google::protobuf::RepeatedPtrField<raceway::v1::Event>& events,
    const ValidationLimits& limits);

// `s` unchanged when it is valid UTF-8 without NUL and at most max_bytes;
// otherwise an ASCII-only prefix ('?' for other bytes) ending in "...", so an
// invalid value can be quoted back in an error without breaking proto3's
// UTF-8 rule for string fields.
std::string EchoSafe(std::string_view s, size_t max_bytes);

}  // namespace raceway::model

#endif  // RACEWAY_LIBS_MODEL_VALIDATION_H_
