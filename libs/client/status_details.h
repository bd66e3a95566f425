#ifndef RACEWAY_LIBS_CLIENT_STATUS_DETAILS_H_
#define RACEWAY_LIBS_CLIENT_STATUS_DETAILS_H_

// The server's retry hint in a gRPC status: google.rpc.Status in
// grpc-status-details-bin carrying google.rpc.RetryInfo. Pure functions;
// thread-safe.

#include <grpcpp/support/status.h>

#include <chrono>
#include <optional>

#include "absl/status/status.h"

namespace raceway::client {

// RetryInfo.retry_delay (rounded up to whole milliseconds); nullopt when the
// status carries no (parsable) RetryInfo or a negative delay.
std::optional<std::chrono::milliseconds> ServerRetryDelay(const grpc::Status& status);

// Same code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace raceway::client

#endif  // RACEWAY_LIBS_CLIENT_STATUS_DETAILS_H_
