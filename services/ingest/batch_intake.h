#ifndef RACEWAY_SERVICES_INGEST_BATCH_INTAKE_H_
#define RACEWAY_SERVICES_INGEST_BATCH_INTAKE_H_

// The transport-independent half of ingest shared by gRPC Submit, gRPC
// Stream and HTTP POST /events: validate a batch, queue its valid events
// for group commit, and report accepted / duplicate / rejected counts with
// every rejected event listed (partial success). Thread-safe.

#include <functional>

#include "absl/status/status.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "libs/model/validation.h"
#include "raceway/v1/ingest.pb.h"
#include "services/ingest/group_committer.h"
#include "services/ingest/ingest_metrics.h"

namespace raceway::ingest {

class BatchIntake {
 public:
  // `done` receives OK and the full result once the valid events are
  // committed, or an error (UNAVAILABLE, ...) meaning nothing was committed.
  using Done = std::function<void(const absl::Status&, raceway::v1::BatchResult)>;

  BatchIntake(GroupCommitter& committer, IngestMetrics& metrics, model::ValidationLimits limits)
      : committer_(committer), metrics_(metrics), limits_(limits) {}

  // `events` must stay alive until `done` runs. A non-OK return is a
  // whole-batch refusal and `done` will not run: INVALID_ARGUMENT (batch
  // over a limit), RESOURCE_EXHAUSTED (backpressure), UNAVAILABLE
  // (draining). An empty or all-invalid batch completes synchronously.
  absl::Status Submit(const google::protobuf::RepeatedPtrField<raceway::v1::Event>& events,
                      Done done);

  // Like Submit for events converted elsewhere (HTTP intake): `rejections`
  // are earlier failures (index into the original body), `events[i]` is
  // nullptr for those indices.
  absl::Status SubmitConverted(std::vector<const raceway::v1::Event*> events,
                               std::vector<model::Rejection> rejections, Done done);

  const model::ValidationLimits& limits() const { return limits_; }

 private:
  GroupCommitter& committer_;
  IngestMetrics& metrics_;
  const model::ValidationLimits limits_;
};

}  // namespace raceway::ingest

#endif  // RACEWAY_SERVICES_INGEST_BATCH_INTAKE_H_
