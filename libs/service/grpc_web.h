#ifndef RACEWAY_LIBS_SERVICE_GRPC_WEB_H_
#define RACEWAY_LIBS_SERVICE_GRPC_WEB_H_

// The query service's HTTP/1.1 gateway, so a browser needs no proxy and
// curl no gRPC: POST /<package.Service>/<Method> speaks two protocols,
// chosen by Content-Type.
// - gRPC-Web (application/grpc-web, application/grpc-web+proto): one
//   length-prefixed request frame; the reply is chunked: one data frame per
//   response message (server streaming streams), then a trailers frame
//   (flag 0x80) with grpc-status / grpc-message. A body that is not one
//   acceptable frame (ParseGrpcWebRequest) gets a trailers-only answer:
//   HTTP 200 and one trailers frame with its code (3 or 12) and message, as
//   a rate-limit refusal does, because gRPC-Web clients read an HTTP 400 as
//   INTERNAL; a compressed frame also gets "grpc-accept-encoding: identity".
// - Connect unary JSON (application/json): proto3 JSON in and out, errors
//   as Connect JSON errors; see libs/service/connect_json.h.
// Any other Content-Type: 415. Bodies above 4 MiB: 413. Every call is
// forwarded through a gRPC channel (normally the server's in-process
// channel; libs/service/grpc_forward.h), so every RPC is available with no
// per-method code and auth, metrics and validation stay in one place. CORS:
// preflight answered for the configured origins ("*" = any), for both
// protocols. Start/Stop from one thread; requests are served concurrently.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/service/http_server.h"
#include "libs/service/static_site.h"

namespace raceway::service {

class GrpcWebGateway {
 public:
  // `limiter` (nullptr = none) limits each client (the holder of one of
  // `api_keys`, else an address) before anything is read: a gRPC-Web call
  // over its rate gets HTTP 200 with grpc-status 8 (RESOURCE_EXHAUSTED) and
  // RetryInfo in its trailers (connect-web reads an HTTP 429 as UNAVAILABLE),
  // any other request a Connect error (HTTP 429); both with Retry-After.
  // `site` (nullptr = none) answers GET and HEAD: the web dashboard; `/`
  // explains how to build it when the site has no page.
  static absl::StatusOr<std::unique_ptr<GrpcWebGateway>> Start(
      const std::string& listen, std::shared_ptr<grpc::Channel> channel,
      std::vector<std::string> cors_origins, std::shared_ptr<RateLimiter> limiter = nullptr,
      std::vector<std::string> api_keys = {}, std::shared_ptr<const StaticSite> site = nullptr);

  int port() const { return http_.port(); }
  void Stop() { http_.Stop(); }

 private:
  GrpcWebGateway(std::shared_ptr<grpc::Channel> channel, std::vector<std::string> origins,
                 std::shared_ptr<const StaticSite> site)
      : channel_(std::move(channel)), origins_(std::move(origins)), site_(std::move(site)) {}

  std::shared_ptr<grpc::Channel> channel_;
  const std::vector<std::string> origins_;
  const std::shared_ptr<const StaticSite> site_;
  HttpServerThread http_;
};

// Frame helpers (exposed for tests): 1 flag byte, 4-byte big-endian length.
std::string GrpcWebFrame(uint8_t flag, std::string_view payload);

// The longest grpc-timeout that becomes a deadline (100 years); a longer
// one means no deadline, as gRPC core saturates a timeout it cannot
// represent to infinity.
inline constexpr std::chrono::nanoseconds kMaxGrpcTimeout = std::chrono::hours(24 * 365 * 100);

// A grpc-timeout header value: 1-8 ASCII digits and a unit (H M S m u n).
// nullopt when it is malformed or longer than kMaxGrpcTimeout. Pure;
// thread-safe.
std::optional<std::chrono::nanoseconds> ParseGrpcTimeout(std::string_view value);

// The request message of a gRPC-Web request body, which must be exactly one
// uncompressed data frame (flag 0x00): a view into `body`. UNIMPLEMENTED for
// a compressed frame (flag 0x01; the gateway accepts no grpc-encoding);
// INVALID_ARGUMENT for any other flag (the byte named, e.g. 0x7f, or 0x80 for
// a trailers frame), fewer than 5 bytes, or a length that is not the rest of
// the body. Pure; thread-safe.
absl::StatusOr<std::string_view> ParseGrpcWebRequest(std::string_view body);

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_GRPC_WEB_H_
