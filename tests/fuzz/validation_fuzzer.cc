// model::ValidateBatch / ValidateEvent on arbitrary protos: the input is a
// binary raceway.v1.SubmitRequest (what a gRPC client sends), validated once
// with the default limits and once with small ones so every limit is
// reachable. Invariants: the batch partition (batch_checks.h); an accepted
// event is valid alone and fit for storage; a rejection is either the
// event's own ValidateEvent error or a repeated id of an earlier valid event.

#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "libs/model/validation.h"
#include "raceway/v1/ingest.pb.h"
#include "tests/fuzz/batch_checks.h"
#include "tests/fuzz/fuzz_check.h"

namespace raceway::fuzz {
namespace {

model::ValidationLimits SmallLimits() {
  model::ValidationLimits l;
  l.max_identifier_bytes = 40;
  l.max_text_bytes = 64;
  l.max_json_bytes = 128;
  l.max_json_depth = 3;
  l.max_list_entries = 4;
  l.max_event_bytes = 512;
  l.max_batch_events = 8;
  l.max_batch_bytes = 2048;
  return l;
}

void Check(const v1::SubmitRequest& request, const model::ValidationLimits& limits) {
  const auto& events = request.events();
  const auto batch = model::ValidateBatch(events, limits);
  if (!batch.ok()) {
    size_t bytes = 0;
    for (const auto& e : events) bytes += e.ByteSizeLong();
    FUZZ_CHECK(static_cast<size_t>(events.size()) > limits.max_batch_events ||
                   bytes > limits.max_batch_bytes,
               absl::StrCat("batch refused within its limits: ", batch.status().ToString()));
    return;
  }
  const size_t n = static_cast<size_t>(events.size());
  CheckBatchPartition(n, batch->valid_indices, batch->rejections);
  std::vector<const v1::Event*> valid;
  for (uint32_t i : batch->valid_indices) valid.push_back(&events.Get(static_cast<int>(i)));
  CheckValidEvents(valid, limits);

  absl::flat_hash_map<std::string, uint32_t> first_valid;
  for (uint32_t i : batch->valid_indices) {
    const bool inserted = first_valid.try_emplace(events.Get(static_cast<int>(i)).id(), i).second;
    FUZZ_CHECK(inserted, absl::StrCat("two accepted events share an id (index ", i, ")"));
  }
  for (const model::Rejection& r : batch->rejections) {
    const v1::Event& e = events.Get(static_cast<int>(r.index));
    FUZZ_CHECK(r.id == model::EchoSafe(e.id(), 128), "rejection id is not EchoSafe(id)");
    const auto own = model::ValidateEvent(e, limits);
    if (own) {
      FUZZ_CHECK(
          own->field == r.error.field && own->reason == r.error.reason,
          absl::StrCat("rejection ", r.error.field, " differs from ValidateEvent's ", own->field));
    } else {
      auto it = first_valid.find(e.id());
      FUZZ_CHECK(r.error.field == "id" && it != first_valid.end() && it->second < r.index,
                 absl::StrCat("valid event ", r.index,
                              " rejected without an earlier twin: ", r.error.reason));
    }
  }
}

}  // namespace
}  // namespace raceway::fuzz

// protobuf logs every string field with invalid UTF-8 it refuses to parse;
// on fuzzed input that is most of the time spent.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  raceway::v1::SubmitRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  raceway::fuzz::Check(request, raceway::model::ValidationLimits{});
  raceway::fuzz::Check(request, raceway::fuzz::SmallLimits());
  return 0;
}
