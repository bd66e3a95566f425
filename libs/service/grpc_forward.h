#ifndef RACEWAY_LIBS_SERVICE_GRPC_FORWARD_H_
#define RACEWAY_LIBS_SERVICE_GRPC_FORWARD_H_

// Forwarding of one HTTP request to a gRPC method through a grpc::Channel,
// with serialized messages, so the HTTP gateway (gRPC-Web and Connect JSON,
// libs/service/grpc_web.h) needs no per-method code. Thread-safe: every
// call has its own completion queue.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace httplib {
struct Request;
}

namespace raceway::service {

// Copies the request's headers into `context` as call metadata (lowercased),
// except those that describe the HTTP hop, CORS, the wire protocol or
// binary ("-bin") values. INVALID_ARGUMENT naming the header when a name or
// value is not legal gRPC metadata (nothing is added then).
absl::Status AddForwardedMetadata(const httplib::Request& req, grpc::ClientContext& context);

// Whether gRPC core accepts `key` (lowercased by the caller) with the
// non-binary `value` as call metadata; it aborts the process on metadata it
// refuses, so bytes from the network are checked with this first.
bool LegalMetadata(std::string_view key, std::string_view value);

// Calls `method` ("/package.Service/Method") with one serialized request
// message and hands each serialized response message to `on_message`, in
// order. When `on_message` returns false (the HTTP client is gone) the call
// is cancelled and no further message is delivered. Returns the call's
// final status.
grpc::Status ForwardCall(grpc::Channel& channel, const std::string& method,
                         std::string_view request, grpc::ClientContext& context,
                         const std::function<bool(std::string)>& on_message);

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_GRPC_FORWARD_H_
