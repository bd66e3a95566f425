#include "libs/service/grpc_util.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace raceway::service {

namespace {
constexpr char kRetryAfterPayload[] = "type.raceway.dev/retry-after-ms";
}  // namespace

absl::Status WithRetryAfter(absl::Status status, std::chrono::milliseconds delay) {
  status.SetPayload(kRetryAfterPayload, absl::Cord(absl::StrCat(delay.count())));
  return status;
}

std::optional<std::chrono::milliseconds> RetryAfter(const absl::Status& status) {
  const auto payload = status.GetPayload(kRetryAfterPayload);
  int64_t ms = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &ms) || ms < 0) return std::nullopt;
  return std::chrono::milliseconds(ms);
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  if (const auto delay = RetryAfter(status)) {
    return WithRetryInfo(code, std::string(status.message()), *delay);
  }
  return grpc::Status(code, std::string(status.message()));
}

grpc::Status WithRetryInfo(grpc::StatusCode code, const std::string& message,
                           std::chrono::milliseconds retry_after) {
  google::rpc::RetryInfo info;
  const auto ms = retry_after.count();
  info.mutable_retry_delay()->set_seconds(ms / 1000);
  info.mutable_retry_delay()->set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
  google::rpc::Status details;
  details.set_code(static_cast<int32_t>(code));
  details.set_message(message);
  details.add_details()->PackFrom(info);
  return grpc::Status(code, message, details.SerializeAsString());
}

std::optional<std::chrono::milliseconds> RetryDelay(const grpc::Status& status) {
  if (status.error_details().empty()) return std::nullopt;
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return std::nullopt;
  for (const auto& any : details.details()) {
    google::rpc::RetryInfo info;
    if (any.UnpackTo(&info)) {
      return std::chrono::milliseconds(info.retry_delay().seconds() * 1000 +
                                       info.retry_delay().nanos() / 1000000);
    }
  }
  return std::nullopt;
}

bool ApiKeyMatches(std::string_view presented, const std::vector<std::string>& keys) {
  bool match = false;
  for (const std::string& key : keys) {
    // Constant time in the key length: no early exit on the first mismatch.
    unsigned diff = key.size() != presented.size();
    for (size_t i = 0; i < key.size(); ++i) {
      diff |= static_cast<unsigned char>(key[i]) ^
              static_cast<unsigned char>(i < presented.size() ? presented[i] : 0);
    }
    match |= diff == 0;
  }
  return match;
}

std::string_view SelectApiKey(std::string_view x_raceway_key, std::string_view authorization) {
  if (!x_raceway_key.empty()) return x_raceway_key;
  constexpr std::string_view kBearer = "bearer";
  if (authorization.size() <= kBearer.size() || authorization[kBearer.size()] != ' ') return "";
  for (size_t i = 0; i < kBearer.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(authorization[i])) != kBearer[i]) return "";
  }
  std::string_view key = authorization.substr(kBearer.size());
  while (!key.empty() && key.front() == ' ') key.remove_prefix(1);  // RFC 7235: 1*SP.
  return key;
}

grpc::Status CheckApiKey(const grpc::ServerContextBase& context,
                         const std::vector<std::string>& keys) {
  if (keys.empty()) return grpc::Status::OK;
  const auto& md = context.client_metadata();
  auto first = [&md](const char* name) {
    auto it = md.find(name);
    return it == md.end() ? std::string_view()
                          : std::string_view(it->second.data(), it->second.size());
  };
  if (ApiKeyMatches(SelectApiKey(first("x-raceway-key"), first("authorization")), keys)) {
    return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      "missing or wrong API key: send \"authorization: Bearer <key>\"");
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsConfig& tls) {
  if (tls.cert_file.empty()) return grpc::InsecureServerCredentials();
  auto read = [](const std::string& path) -> absl::StatusOr<std::string> {
    std::ifstream in(path);
    if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read TLS file ", path));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  auto cert = read(tls.cert_file);
  if (!cert.ok()) return cert.status();
  auto key = read(tls.key_file);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(options);
}

}  // namespace raceway::service
