#ifndef RACEWAY_SERVICES_INGEST_INGEST_SERVICE_H_
#define RACEWAY_SERVICES_INGEST_INGEST_SERVICE_H_

// raceway.v1.IngestService on gRPC's callback API. Replies are sent only
// after commit (BatchIntake). Thread-safe: gRPC calls the handlers from its
// own threads.

#include <chrono>
#include <string>
#include <vector>

#include "raceway/v1/ingest.grpc.pb.h"
#include "services/ingest/batch_intake.h"

namespace raceway::ingest {

struct StreamLimits {
  // Batches of one stream queued or committing at once; further reads wait,
  // which pushes back through HTTP/2 flow control.
  size_t max_in_flight_per_stream = 32;
};

class IngestServiceImpl final : public raceway::v1::IngestService::CallbackService {
 public:
  IngestServiceImpl(BatchIntake& intake, IngestMetrics& metrics, std::vector<std::string> api_keys,
                    StreamLimits limits)
      : intake_(intake), metrics_(metrics), api_keys_(std::move(api_keys)), limits_(limits) {}

  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context,
                                   const raceway::v1::SubmitRequest* request,
                                   raceway::v1::SubmitResponse* response) override;

  grpc::ServerBidiReactor<raceway::v1::StreamRequest, raceway::v1::StreamAck>* Stream(
      grpc::CallbackServerContext* context) override;

 private:
  class StreamReactor;

  BatchIntake& intake_;
  IngestMetrics& metrics_;
  const std::vector<std::string> api_keys_;
  const StreamLimits limits_;
};

}  // namespace raceway::ingest

#endif  // RACEWAY_SERVICES_INGEST_INGEST_SERVICE_H_
