#include "libs/client/status_details.h"

#include <string>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace raceway::client {

std::optional<std::chrono::milliseconds> ServerRetryDelay(const grpc::Status& status) {
  if (status.error_details().empty()) return std::nullopt;
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return std::nullopt;
  for (const auto& any : details.details()) {
    if (!any.Is<google::rpc::RetryInfo>()) continue;
    google::rpc::RetryInfo info;
    if (!any.UnpackTo(&info)) continue;
    const auto& d = info.retry_delay();
    if (d.seconds() < 0 || d.nanos() < 0) return std::nullopt;
    // Saturate absurd values at one hour: a hint, not a reason to stall.
    constexpr int64_t kMaxMs = 3600 * 1000;
    if (d.seconds() >= kMaxMs / 1000) return std::chrono::milliseconds(kMaxMs);
    return std::chrono::milliseconds(d.seconds() * 1000 + (d.nanos() + 999999) / 1000000);
  }
  return std::nullopt;
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace raceway::client
