#include "libs/client/credentials.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace raceway::client {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    bool tls, const std::string& root_certs_file) {
  if (!tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!root_certs_file.empty()) {
    std::ifstream in(root_certs_file, std::ios::binary);
    if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", root_certs_file));
    std::stringstream pem;
    pem << in.rdbuf();
    ssl.pem_root_certs = pem.str();
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace raceway::client
