#include "services/query/query_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "libs/graph/client_clock.h"
#include "libs/service/grpc_util.h"
#include "libs/service/grpc_web.h"
#include "libs/service/log.h"
#include "libs/service/metrics.h"
#include "services/query/dashboard_bundle.h"
#include "services/query/query_metrics.h"
#include "services/query/query_service.h"

namespace raceway::query {
namespace {

class QueryServerImpl final : public QueryServer {
 public:
  QueryServerImpl(const service::Config& config, graph::ClientClockMode client_clocks,
                  std::shared_ptr<storage::EventReader> reader)
      : config_(config),
        metrics_(metrics_endpoint_.registry()),
        service_(std::move(reader), config, client_clocks, metrics_) {}

  ~QueryServerImpl() override { Shutdown(); }

  absl::Status Init() {
    if (absl::Status s = metrics_endpoint_.Start(config_.metrics.query_listen); !s.ok()) return s;
    auto creds = service::ServerCredentials(config_.query.tls);
    if (!creds.ok()) return creds.status();
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    builder.AddListeningPort(config_.query.listen, *creds, &grpc_port_);
    builder.RegisterService(&service_);
    builder.SetMaxSendMessageSize(256 << 20);
    server_ = builder.BuildAndStart();
    if (!server_ || grpc_port_ == 0) {
      return absl::UnavailableError(absl::StrCat("query: cannot listen on ", config_.query.listen));
    }
    server_->GetHealthCheckService()->SetServingStatus(true);
    if (!config_.query.grpc_web_listen.empty()) {
      std::shared_ptr<const service::StaticSite> site;
      if (config_.query.web_dir.empty()) {
        site = service::StaticSite::FromEmbedded(kDashboardFiles, kDashboardFileCount);
      } else {
        auto dir = service::StaticSite::FromDirectory(config_.query.web_dir);
        if (!dir.ok()) return dir.status();
        site = std::move(*dir);
      }
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(256 << 20);
      auto gw = service::GrpcWebGateway::Start(
          config_.query.grpc_web_listen, server_->InProcessChannel(args),
          config_.query.cors_origins,
          service::RateLimiter::Create({.requests_per_minute = config_.query.rate_limit_rpm,
                                        .burst = config_.query.rate_limit_burst}),
          config_.auth.query_keys, site);
      if (!gw.ok()) return gw.status();
      grpc_web_ = std::move(*gw);
    }
    service::Log(service::LogLevel::kInfo, "query started",
                 {{"grpc_port", absl::StrCat(grpc_port_)},
                  {"grpc_web_port", absl::StrCat(grpc_web_port())},
                  {"dashboard", DashboardText()},
                  {"metrics_port", absl::StrCat(metrics_port())}});
    return absl::OkStatus();
  }

  // Where the page on the gRPC-Web port comes from, for the start log line.
  std::string DashboardText() const {
    if (!grpc_web_) return "off";
    if (!config_.query.web_dir.empty()) return config_.query.web_dir;
    return kDashboardFileCount > 0 ? "built in" : "not built (npm was missing at build time)";
  }

  int grpc_port() const override { return grpc_port_; }
  int grpc_web_port() const override { return grpc_web_ ? grpc_web_->port() : 0; }
  int metrics_port() const override { return metrics_endpoint_.port(); }

  void Shutdown() override {
    if (shut_down_) return;
    shut_down_ = true;
    if (server_) server_->GetHealthCheckService()->SetServingStatus(false);
    if (grpc_web_) grpc_web_->Stop();
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
      server_->Wait();
    }
    service::Log(service::LogLevel::kInfo, "query stopped");
  }

 private:
  const service::Config config_;
  service::MetricsEndpoint metrics_endpoint_;
  QueryMetrics metrics_;
  QueryServiceImpl service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<service::GrpcWebGateway> grpc_web_;
  int grpc_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<QueryServer>> QueryServer::Start(
    const service::Config& config, std::shared_ptr<storage::EventReader> reader) {
  auto client_clocks = graph::ParseClientClockMode(config.analysis.client_clocks);
  if (!client_clocks.ok()) return client_clocks.status();  // Names the key.
  auto server = std::make_unique<QueryServerImpl>(config, *client_clocks, std::move(reader));
  if (absl::Status s = server->Init(); !s.ok()) return s;
  return server;
}

}  // namespace raceway::query
