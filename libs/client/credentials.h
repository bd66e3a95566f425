#ifndef RACEWAY_LIBS_CLIENT_CREDENTIALS_H_
#define RACEWAY_LIBS_CLIENT_CREDENTIALS_H_

// Channel credentials for Raceway's gRPC clients (the agent client library,
// raceway-querygen): insecure, or TLS trusting the PEM roots in
// `root_certs_file` (empty = the system roots). INVALID_ARGUMENT when the
// file cannot be read. Thread-safe.

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace raceway::client {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    bool tls, const std::string& root_certs_file);

}  // namespace raceway::client

#endif  // RACEWAY_LIBS_CLIENT_CREDENTIALS_H_
