#include "services/ingest/batch_intake.h"

#include "absl/strings/str_cat.h"

namespace raceway::ingest {

absl::Status BatchIntake::Submit(
    const google::protobuf::RepeatedPtrField<raceway::v1::Event>& events, Done done) {
  auto validation = model::ValidateBatch(events, limits_);
  if (!validation.ok()) {
    metrics_.Refused("too_large");
    return validation.status();
  }
  std::vector<const raceway::v1::Event*> valid(events.size(), nullptr);
  for (uint32_t i : validation->valid_indices) valid[i] = &events.Get(static_cast<int>(i));
  return SubmitConverted(std::move(valid), std::move(validation->rejections), std::move(done));
}

absl::Status BatchIntake::SubmitConverted(std::vector<const raceway::v1::Event*> events,
                                          std::vector<model::Rejection> rejections, Done done) {
  raceway::v1::BatchResult result;
  for (auto& r : rejections) {
    auto* out = result.add_rejected_events();
    out->set_index(r.index);
    out->set_id(std::move(r.id));
    out->set_field(std::move(r.error.field));
    out->set_reason(std::move(r.error.reason));
  }
  result.set_rejected(static_cast<uint32_t>(rejections.size()));
  std::vector<const raceway::v1::Event*> valid;
  valid.reserve(events.size());
  uint64_t bytes = 0;
  for (const auto* e : events) {
    if (e == nullptr) continue;
    valid.push_back(e);
    // What the decoded event occupies in memory (about 6x its wire size,
    // measured), so max_buffered_bytes bounds the process's real footprint.
    bytes += e->SpaceUsedLong();
  }
  metrics_.Received(valid.size() + rejections.size());
  metrics_.Rejected(rejections.size());
  if (valid.empty()) {
    done(absl::OkStatus(), std::move(result));
    return absl::OkStatus();
  }
  absl::Status queued = committer_.Enqueue(
      std::move(valid), bytes,
      [this, result = std::move(result), done = std::move(done)](
          const absl::Status& status, const CommitResult& commit) mutable {
        if (!status.ok()) {
          metrics_.Refused(absl::IsUnavailable(status) ? "unavailable" : "storage_error");
          done(status, raceway::v1::BatchResult{});
          return;
        }
        result.set_accepted(commit.accepted);
        result.set_duplicate(commit.duplicate);
        metrics_.Accepted(commit.accepted);
        metrics_.Duplicate(commit.duplicate);
        done(status, std::move(result));
      });
  if (!queued.ok()) {
    metrics_.Refused(absl::IsResourceExhausted(queued) ? "backpressure" : "unavailable");
  }
  return queued;
}

}  // namespace raceway::ingest
