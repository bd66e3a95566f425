#ifndef RACEWAY_LIBS_SERVICE_GRPC_UTIL_H_
#define RACEWAY_LIBS_SERVICE_GRPC_UTIL_H_

// gRPC glue shared by the services: status conversion, retry hints, API-key
// auth, server credentials. Pure functions; thread-safe.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/service/config.h"

namespace raceway::service {

// Same code and message (absl and gRPC codes are numerically identical).
grpc::Status ToGrpcStatus(const absl::Status& status);

// RESOURCE_EXHAUSTED or UNAVAILABLE carrying google.rpc.RetryInfo in the
// status details (grpc-status-details-bin), so clients know when to retry.
grpc::Status WithRetryInfo(grpc::StatusCode code, const std::string& message,
                           std::chrono::milliseconds retry_after);

// Reads google.rpc.RetryInfo from a status's details; nullopt when absent.
std::optional<std::chrono::milliseconds> RetryDelay(const grpc::Status& status);

// OK when `keys` is empty (auth off) or the call carries one of the keys as
// "authorization: Bearer <key>" or "x-raceway-key: <key>"; otherwise
// UNAUTHENTICATED. Comparison is constant-time in the key length.
grpc::Status CheckApiKey(const grpc::ServerContextBase& context,
                         const std::vector<std::string>& keys);
bool ApiKeyMatches(std::string_view presented, const std::vector<std::string>& keys);

// Insecure credentials, or TLS from PEM files when both are set.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsConfig& tls);

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_GRPC_UTIL_H_
