#ifndef RACEWAY_LIBS_SERVICE_GRPC_WEB_H_
#define RACEWAY_LIBS_SERVICE_GRPC_WEB_H_

// The query service's HTTP/1.1 gateway, so a browser needs no proxy and
// curl no gRPC: POST /<package.Service>/<Method> speaks two protocols,
// chosen by Content-Type.
// - gRPC-Web (application/grpc-web, application/grpc-web+proto): one
//   length-prefixed request frame; the reply is chunked: one data frame per
//   response message (server streaming streams), then a trailers frame
//   (flag 0x80) with grpc-status / grpc-message.
// - Connect unary JSON (application/json): proto3 JSON in and out, errors
//   as Connect JSON errors; see libs/service/connect_json.h.
// Any other Content-Type: 415. Bodies above 4 MiB: 413. Every call is
// forwarded through a gRPC channel (normally the server's in-process
// channel; libs/service/grpc_forward.h), so every RPC is available with no
// per-method code and auth, metrics and validation stay in one place. CORS:
// preflight answered for the configured origins ("*" = any), for both
// protocols. Start/Stop from one thread; requests are served concurrently.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/service/http_server.h"

namespace raceway::service {

class GrpcWebGateway {
 public:
  // `limiter` (nullptr = none) limits each client (the holder of one of
  // `api_keys`, else an address) before anything is read: a gRPC-Web call
  // over its rate gets HTTP 200 with grpc-status 8 (RESOURCE_EXHAUSTED) and
  // RetryInfo in its trailers (connect-web reads an HTTP 429 as UNAVAILABLE),
  // any other request a Connect error (HTTP 429); both with Retry-After.
  static absl::StatusOr<std::unique_ptr<GrpcWebGateway>> Start(
      const std::string& listen, std::shared_ptr<grpc::Channel> channel,
      std::vector<std::string> cors_origins, std::shared_ptr<RateLimiter> limiter = nullptr,
      std::vector<std::string> api_keys = {});

  int port() const { return http_.port(); }
  void Stop() { http_.Stop(); }

 private:
  GrpcWebGateway(std::shared_ptr<grpc::Channel> channel, std::vector<std::string> origins)
      : channel_(std::move(channel)), origins_(std::move(origins)) {}

  std::shared_ptr<grpc::Channel> channel_;
  const std::vector<std::string> origins_;
  HttpServerThread http_;
};

// Frame helpers (exposed for tests): 1 flag byte, 4-byte big-endian length.
std::string GrpcWebFrame(uint8_t flag, std::string_view payload);

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_GRPC_WEB_H_
