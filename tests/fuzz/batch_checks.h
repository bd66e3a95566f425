#ifndef RACEWAY_TESTS_FUZZ_BATCH_CHECKS_H_
#define RACEWAY_TESTS_FUZZ_BATCH_CHECKS_H_

// Invariants shared by the targets that produce a validated batch
// (model::ValidateBatch, ingest::ParseSdkBatch).

#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/model/timestamp.h"
#include "libs/model/validation.h"
#include "libs/storage/common/ids.h"
#include "raceway/v1/event.pb.h"
#include "raceway/v1/ingest.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace raceway::fuzz {

// Valid indices and rejections are each ascending and together are exactly
// 0..n-1; every rejection's text survives a proto3 round trip in a
// BatchResult (valid UTF-8, which gRPC needs to send it back to the client).
inline void CheckBatchPartition(size_t n, const std::vector<uint32_t>& valid,
                                const std::vector<model::Rejection>& rejections) {
  std::vector<int> seen(n, 0);
  for (size_t k = 0; k < valid.size(); ++k) {
    FUZZ_CHECK(valid[k] < n, absl::StrCat("valid index ", valid[k], " of ", n));
    FUZZ_CHECK(k == 0 || valid[k - 1] < valid[k], "valid indices not ascending");
    ++seen[valid[k]];
  }
  v1::BatchResult result;
  for (size_t k = 0; k < rejections.size(); ++k) {
    const model::Rejection& r = rejections[k];
    FUZZ_CHECK(r.index < n, absl::StrCat("rejected index ", r.index, " of ", n));
    FUZZ_CHECK(k == 0 || rejections[k - 1].index < r.index, "rejections not ascending");
    // An empty field is the event itself (e.g. not a JSON object).
    FUZZ_CHECK(!r.error.reason.empty(), absl::StrCat("rejection ", r.index, " without a reason"));
    ++seen[r.index];
    v1::RejectedEvent* out = result.add_rejected_events();
    out->set_index(r.index);
    out->set_id(r.id);
    out->set_field(r.error.field);
    out->set_reason(r.error.reason);
  }
  for (size_t i = 0; i < n; ++i) {
    FUZZ_CHECK(seen[i] == 1, absl::StrCat("event ", i, " is valid+rejected ", seen[i], " times"));
  }
  v1::BatchResult back;
  FUZZ_CHECK(back.ParseFromString(result.SerializeAsString()),
             "a rejection's id, field or reason is not valid UTF-8");
}

// What storage relies on for every event the validator lets through: it is
// valid on its own, its timestamp has int64 nanoseconds, and its ids pass the
// writers' precondition (storage::common::CheckBatchIds).
inline void CheckValidEvents(const std::vector<const v1::Event*>& events,
                             const model::ValidationLimits& limits) {
  for (const v1::Event* e : events) {
    const auto error = model::ValidateEvent(*e, limits);
    FUZZ_CHECK(!error, absl::StrCat("accepted event fails ValidateEvent: ", error->field, ": ",
                                    error->reason));
    FUZZ_CHECK(model::ToUnixNanos(e->timestamp()).has_value(),
               "accepted event's timestamp has no int64 nanoseconds");
  }
  const absl::Status ids = storage::common::CheckBatchIds(events);
  FUZZ_CHECK(ids.ok(), absl::StrCat("accepted events fail CheckBatchIds: ", ids.ToString()));
}

}  // namespace raceway::fuzz

#endif  // RACEWAY_TESTS_FUZZ_BATCH_CHECKS_H_
