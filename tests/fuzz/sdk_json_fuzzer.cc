// ingest::ParseSdkBatch: the POST /events body, as any client may send it.
// Invariants: refusals are INVALID_ARGUMENT / OUT_OF_RANGE with an answer
// body that is JSON; otherwise the batch partition (batch_checks.h), every
// accepted event is fit for storage, the answer body is JSON, and the
// accepted events printed back in the SDK format (EventsToSdkJson) parse to
// the same events, all accepted, unless a duration exceeds 2^53 (the header
// promises exact printing only up to there; an absent JSON-valued field
// comes back as null, as documented).

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/ingest/sdk_json.h"
#include "tests/fuzz/batch_checks.h"
#include "tests/fuzz/fuzz_check.h"

namespace raceway::fuzz {
namespace {

constexpr uint64_t kExactDouble = uint64_t{1} << 53;

bool IsJson(const std::string& text) {
  google::protobuf::Value v;
  return google::protobuf::util::JsonStringToMessage(text, &v).ok();
}

bool DurationsExact(const v1::Event& e) {
  if (e.metadata().has_duration_ns() && e.metadata().duration_ns() > kExactDouble) return false;
  if (e.has_http_response() && e.http_response().duration_ms() > kExactDouble) return false;
  if (e.has_database_query() && e.database_query().duration_ms() > kExactDouble) return false;
  return true;
}

// EventToSdkValue prints an absent args / new_value / data as null, which
// the parser keeps as a JSON null (both as sdk_json.h says): compare them
// as equal.
void NullForAbsent(v1::Event& e) {
  if (e.has_function_call() && !e.function_call().has_args()) {
    e.mutable_function_call()->mutable_args()->set_null_value(google::protobuf::NULL_VALUE);
  }
  if (e.has_state_change() && !e.state_change().has_new_value()) {
    e.mutable_state_change()->mutable_new_value()->set_null_value(google::protobuf::NULL_VALUE);
  }
  if (e.has_custom() && !e.custom().has_data()) {
    e.mutable_custom()->mutable_data()->set_null_value(google::protobuf::NULL_VALUE);
  }
}

void Check(std::string_view body) {
  const model::ValidationLimits limits;
  const auto batch = ingest::ParseSdkBatch(body, limits);
  if (!batch.ok()) {
    const absl::StatusCode code = batch.status().code();
    FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kOutOfRange,
               batch.status().ToString());
    FUZZ_CHECK(IsJson(ingest::SdkErrorJson(batch.status())), "error answer is not JSON");
    return;
  }
  const size_t n = static_cast<size_t>(batch->events.size());
  CheckBatchPartition(n, batch->valid_indices, batch->rejections);
  const std::vector<const v1::Event*> pointers = batch->EventPointers();
  FUZZ_CHECK(pointers.size() == n, "EventPointers size");
  std::vector<const v1::Event*> valid;
  std::vector<v1::Event> copies;
  bool exact = true;
  for (uint32_t i : batch->valid_indices) {
    valid.push_back(pointers[i]);
    copies.push_back(*pointers[i]);
    exact = exact && DurationsExact(*pointers[i]);
  }
  CheckValidEvents(valid, limits);

  v1::BatchResult result;
  result.set_accepted(static_cast<uint32_t>(valid.size()));
  result.set_rejected(static_cast<uint32_t>(batch->rejections.size()));
  for (const model::Rejection& r : batch->rejections) {
    v1::RejectedEvent* out = result.add_rejected_events();
    out->set_index(r.index);
    out->set_id(r.id);
    out->set_field(r.error.field);
    out->set_reason(r.error.reason);
  }
  FUZZ_CHECK(IsJson(ingest::SdkResultJson(result)), "result answer is not JSON");

  if (!exact) return;
  const std::string printed = ingest::EventsToSdkJson(copies);
  const auto again = ingest::ParseSdkBatch(printed, limits);
  FUZZ_CHECK(again.ok(), absl::StrCat("printed batch refused: ", again.status().ToString()));
  FUZZ_CHECK(again->rejections.empty(),
             absl::StrCat("printed event rejected: ", again->rejections[0].error.field, ": ",
                          again->rejections[0].error.reason, "\n", printed));
  FUZZ_CHECK(static_cast<size_t>(again->events.size()) == copies.size(), "printed batch size");
  for (size_t i = 0; i < copies.size(); ++i) {
    NullForAbsent(copies[i]);
    std::string diff;
    google::protobuf::util::MessageDifferencer differ;
    differ.ReportDifferencesToString(&diff);
    FUZZ_CHECK(differ.Compare(copies[i], again->events.Get(static_cast<int>(i))),
               absl::StrCat("event ", i, " changed through EventsToSdkJson: ", diff));
  }
}

}  // namespace
}  // namespace raceway::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  raceway::fuzz::Check(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
