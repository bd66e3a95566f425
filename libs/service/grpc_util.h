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

// A retry delay carried inside an absl::Status (as a payload) from the
// layer that knows it (the ingest committer: its current backoff, or the
// configured hint when it is full) to every layer that answers a client
// (gRPC RetryInfo, stream acks' retry_after_ms, HTTP Retry-After), so all
// of them send the same figure.
absl::Status WithRetryAfter(absl::Status status, std::chrono::milliseconds delay);
std::optional<std::chrono::milliseconds> RetryAfter(const absl::Status& status);

// Same code and message (absl and gRPC codes are numerically identical);
// RetryInfo in the details when the status carries a retry delay.
grpc::Status ToGrpcStatus(const absl::Status& status);

// RESOURCE_EXHAUSTED or UNAVAILABLE carrying google.rpc.RetryInfo in the
// status details (grpc-status-details-bin), so clients know when to retry.
grpc::Status WithRetryInfo(grpc::StatusCode code, const std::string& message,
                           std::chrono::milliseconds retry_after);

// Reads google.rpc.RetryInfo from a status's details; nullopt when absent.
std::optional<std::chrono::milliseconds> RetryDelay(const grpc::Status& status);

// The API key a request presents, by the one rule HTTP and gRPC share: the
// X-Raceway-Key value when non-empty, else the credentials of
// "Authorization: Bearer <key>" (scheme case-insensitive, RFC 7235), else "".
// Callers pass the first value of each header.
std::string_view SelectApiKey(std::string_view x_raceway_key, std::string_view authorization);

// OK when `keys` is empty (auth off) or the key the call presents
// (SelectApiKey over the first "x-raceway-key" and "authorization" values) is
// one of `keys`; otherwise UNAUTHENTICATED. Comparison is constant-time in
// the key length.
grpc::Status CheckApiKey(const grpc::ServerContextBase& context,
                         const std::vector<std::string>& keys);
bool ApiKeyMatches(std::string_view presented, const std::vector<std::string>& keys);

// Insecure credentials, or TLS from PEM files when both are set.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsConfig& tls);

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_GRPC_UTIL_H_
