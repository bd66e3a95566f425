#ifndef RACEWAY_LIBS_SERVICE_GRPC_WEB_H_
#define RACEWAY_LIBS_SERVICE_GRPC_WEB_H_

// gRPC-Web gateway served by the service itself, so a browser needs no
// proxy: HTTP/1.1 POST /<package.Service>/<Method> with
// Content-Type application/grpc-web or application/grpc-web+proto, one
// length-prefixed request frame; the reply is chunked: one data frame per
// response message (server streaming streams), then a trailers frame
// (flag 0x80) with grpc-status / grpc-message. Every call is forwarded
// unchanged through a gRPC channel (normally the server's in-process
// channel), so every RPC is available with no per-method code and auth,
// metrics and validation stay in one place. CORS: preflight answered for
// the configured origins ("*" = any). Start/Stop from one thread; requests
// are served concurrently.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/service/http_server.h"

namespace raceway::service {

class GrpcWebGateway {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcWebGateway>> Start(
      const std::string& listen, std::shared_ptr<grpc::Channel> channel,
      std::vector<std::string> cors_origins);

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
