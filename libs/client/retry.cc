#include "libs/client/retry.h"

#include <algorithm>
#include <cmath>

namespace raceway::client {

std::chrono::milliseconds RetryDelay(const BackoffPolicy& policy, int retry,
                                     std::optional<std::chrono::milliseconds> server_delay,
                                     double unit_random) {
  const double initial = static_cast<double>(std::max<int64_t>(0, policy.initial.count()));
  const double cap = std::max(initial, static_cast<double>(policy.max.count()));
  const double multiplier = std::max(1.0, policy.multiplier);
  // Exponent bounded so that pow() stays finite for absurd retry counts.
  const int exponent = std::clamp(retry - 1, 0, 64);
  double delay = std::min(cap, initial * std::pow(multiplier, exponent));
  const double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  const double u = std::clamp(unit_random, 0.0, 1.0);
  delay *= 1.0 - jitter + 2.0 * jitter * u;
  auto out = std::chrono::milliseconds(static_cast<int64_t>(std::llround(delay)));
  if (server_delay && *server_delay > out) out = *server_delay;
  return out;
}

FailureKind ClassifyFailure(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
      return FailureKind::kRetry;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return FailureKind::kSplit;
    default:
      return FailureKind::kFatal;
  }
}

}  // namespace raceway::client
