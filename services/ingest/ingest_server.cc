#include "services/ingest/ingest_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "libs/service/grpc_util.h"
#include "libs/service/log.h"
#include "libs/service/metrics.h"
#include "services/ingest/batch_intake.h"
#include "services/ingest/group_committer.h"
#include "services/ingest/http_intake.h"
#include "services/ingest/ingest_metrics.h"
#include "services/ingest/ingest_service.h"
#include "services/ingest/sdk_json.h"

namespace raceway::ingest {
namespace {

class IngestServerImpl final : public IngestServer {
 public:
  IngestServerImpl(const service::Config& config, std::shared_ptr<storage::Storage> storage)
      : config_(config),
        storage_(std::move(storage)),
        metrics_(metrics_endpoint_.registry()),
        committer_(storage_, CommitterOptionsFrom(config.ingest), &metrics_),
        intake_(committer_, metrics_, LimitsFrom(config.ingest)),
        service_(intake_, metrics_, config.auth.ingest_keys,
                 StreamLimits{.max_in_flight_per_stream = 32}) {}

  ~IngestServerImpl() override { Shutdown(); }

  absl::Status Init() {
    if (absl::Status s = metrics_endpoint_.Start(config_.metrics.ingest_listen); !s.ok()) return s;
    auto creds = service::ServerCredentials(config_.ingest.tls);
    if (!creds.ok()) return creds.status();
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    builder.AddListeningPort(config_.ingest.listen, *creds, &grpc_port_);
    builder.RegisterService(&service_);
    // Room for a maximal batch plus framing; larger messages fail with
    // RESOURCE_EXHAUSTED from gRPC itself.
    const uint64_t max_message = config_.ingest.max_batch_bytes + (1 << 20);
    builder.SetMaxReceiveMessageSize(
        static_cast<int>(std::min<uint64_t>(max_message, std::numeric_limits<int>::max())));
    server_ = builder.BuildAndStart();
    if (!server_ || grpc_port_ == 0) {
      return absl::UnavailableError(
          absl::StrCat("ingest: cannot listen on ", config_.ingest.listen));
    }
    server_->GetHealthCheckService()->SetServingStatus(true);
    if (!config_.ingest.http_listen.empty()) {
      auto http = HttpIntake::Start(config_.ingest.http_listen, intake_, committer_, *storage_,
                                    config_.auth.ingest_keys, HttpRateLimit());
      if (!http.ok()) return http.status();
      http_ = std::move(*http);
    }
    service::Log(service::LogLevel::kInfo, "ingest started",
                 {{"grpc_port", absl::StrCat(grpc_port_)},
                  {"http_port", absl::StrCat(http_port())},
                  {"metrics_port", absl::StrCat(metrics_port())}});
    return absl::OkStatus();
  }

  int grpc_port() const override { return grpc_port_; }
  int http_port() const override { return http_ ? http_->port() : 0; }
  int metrics_port() const override { return metrics_endpoint_.port(); }

  void Shutdown() override {
    if (shut_down_) return;
    shut_down_ = true;
    if (server_) server_->GetHealthCheckService()->SetServingStatus(false);
    // 1. Stop the HTTP intake (its handlers wait for their commits).
    if (http_) http_->Stop();
    // 2. Commit everything queued and answer those clients; new batches
    //    are refused with UNAVAILABLE from here on.
    committer_.Drain();
    // 3. Close the gRPC server; idle streams are cancelled after a short
    //    grace period (every accepted batch is already answered).
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
      server_->Wait();
    }
    service::Log(service::LogLevel::kInfo, "ingest stopped");
  }

 private:
  static CommitterOptions CommitterOptionsFrom(const service::IngestConfig& c) {
    CommitterOptions o;
    o.batch_size = c.batch_size;
    o.flush_interval = std::chrono::milliseconds(c.flush_interval_ms);
    o.max_buffered_bytes = c.max_buffered_bytes;
    o.max_queue_delay = std::chrono::milliseconds(c.max_queue_delay_ms);
    o.flushers = c.max_in_flight_flushes;
    o.retry_after = std::chrono::milliseconds(c.retry_after_ms);
    return o;
  }
  // The HTTP port's per-client limit; a refusal answers as every ingest
  // HTTP error does and is counted.
  service::HttpRateLimit HttpRateLimit() {
    return {.limiter =
                service::RateLimiter::Create({.requests_per_minute = config_.ingest.rate_limit_rpm,
                                              .burst = config_.ingest.rate_limit_burst}),
            .api_keys = config_.auth.ingest_keys,
            .refuse = [this](const httplib::Request&, httplib::Response& res,
                             const absl::Status& status, std::chrono::milliseconds) {
              metrics_.Refused("rate_limited");
              res.status = HttpStatusForError(status);
              res.set_content(SdkErrorJson(status), "application/json");
            }};
  }
  static model::ValidationLimits LimitsFrom(const service::IngestConfig& c) {
    model::ValidationLimits l;
    l.max_batch_events = c.max_batch_events;
    l.max_batch_bytes = c.max_batch_bytes;
    return l;
  }

  const service::Config config_;
  const std::shared_ptr<storage::Storage> storage_;
  service::MetricsEndpoint metrics_endpoint_;
  IngestMetrics metrics_;
  GroupCommitter committer_;
  BatchIntake intake_;
  IngestServiceImpl service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpIntake> http_;
  int grpc_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<IngestServer>> IngestServer::Start(
    const service::Config& config, std::shared_ptr<storage::Storage> storage) {
  auto server = std::make_unique<IngestServerImpl>(config, std::move(storage));
  if (absl::Status s = server->Init(); !s.ok()) return s;
  return server;
}

}  // namespace raceway::ingest
