#ifndef RACEWAY_LIBS_CLIENT_RETRY_H_
#define RACEWAY_LIBS_CLIENT_RETRY_H_

// Retry policy of the agent client: which failures are retried and how long
// to wait. Pure functions; thread-safe.

#include <chrono>
#include <optional>

#include "absl/status/status.h"

namespace raceway::client {

struct BackoffPolicy {
  std::chrono::milliseconds initial{50};  // Delay before the first retry.
  std::chrono::milliseconds max{5000};    // Cap of the exponential part.
  double multiplier = 2.0;
  // Each delay is scaled by a uniform factor in [1 - jitter, 1 + jitter] so
  // that many clients refused together do not come back together.
  double jitter = 0.2;
};

// Delay before retry number `retry` (1 = first retry) of one batch:
// min(max, initial * multiplier^(retry-1)) with jitter applied, and never
// less than `server_delay` (the server's google.rpc.RetryInfo /
// StreamAck.retry_after_ms), which is honoured exactly when it is the larger.
// `unit_random` is a uniform sample in [0, 1) (injected for tests).
std::chrono::milliseconds RetryDelay(const BackoffPolicy& policy, int retry,
                                     std::optional<std::chrono::milliseconds> server_delay,
                                     double unit_random);

enum class FailureKind {
  kRetry,  // Transient: resend the same events (ids make it idempotent).
  kSplit,  // INVALID_ARGUMENT for the whole batch (over a size limit):
           // resend as two halves; a single event is kFatal.
  kFatal,  // Resending unchanged cannot help (auth, unimplemented, ...).
};

// UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED, DEADLINE_EXCEEDED, CANCELLED,
// INTERNAL, UNKNOWN -> kRetry; INVALID_ARGUMENT, OUT_OF_RANGE -> kSplit;
// everything else (UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED,
// FAILED_PRECONDITION, NOT_FOUND, ...) -> kFatal.
FailureKind ClassifyFailure(absl::StatusCode code);

}  // namespace raceway::client

#endif  // RACEWAY_LIBS_CLIENT_RETRY_H_
