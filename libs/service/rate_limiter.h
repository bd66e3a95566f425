#ifndef RACEWAY_LIBS_SERVICE_RATE_LIMITER_H_
#define RACEWAY_LIBS_SERVICE_RATE_LIMITER_H_

// Per-client request rate limit: GCRA (the generic cell rate algorithm, a
// token bucket kept as one "theoretical arrival time" (TAT) per client). A
// client may send `burst` requests at once, then one per emission interval
// T = 60 s / requests_per_minute. A request at time t is admitted when
// TAT - t <= (burst - 1) * T (TAT starts at t), which moves TAT to
// max(TAT, t) + T; a refused request is not counted and learns how long until
// it would be admitted: TAT - (burst - 1) * T - t.
//
// Bounded memory: a client whose TAT has passed is indistinguishable from a
// new one, so it is forgotten; when max_clients clients are still remembered,
// the one closest to being forgotten is evicted (it gets a fresh burst).
// Thread-safe.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/container/node_hash_map.h"
#include "libs/storage/common/mutex.h"

namespace raceway::service {

class RateLimiter {
 public:
  // Monotonic time since an arbitrary origin; injectable for tests (must be
  // thread-safe). The default reads std::chrono::steady_clock.
  using Clock = std::function<std::chrono::nanoseconds()>;

  struct Options {
    uint32_t requests_per_minute = 0;  // > 0.
    uint32_t burst = 0;                // 0 = requests_per_minute (the reference's quota).
    size_t max_clients = 65536;        // > 0.
  };

  // nullptr when options.requests_per_minute is 0 (no limit).
  static std::shared_ptr<RateLimiter> Create(const Options& options, Clock clock = {});

  RateLimiter(const Options& options, Clock clock);

  // Counts one request of `client` and returns zero, or, when the client is
  // over its rate, counts nothing and returns the delay until a request of
  // it would be admitted (> 0).
  std::chrono::nanoseconds Admit(std::string_view client);

  // Clients remembered now (for tests and metrics).
  size_t clients() const;

  const Options& options() const { return options_; }

 private:
  // Forgets clients whose TAT is at or before `now`.
  void Expire(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const Clock clock_;
  const int64_t interval_ns_;   // T.
  const int64_t tolerance_ns_;  // (burst - 1) * T.

  // pthread-based (visible to ThreadSanitizer, unlike Debian's absl::Mutex).
  mutable storage::common::Mutex mu_;
  // Client -> TAT (ns). Node-based: order_ points at its keys.
  absl::node_hash_map<std::string, int64_t> tat_ ABSL_GUARDED_BY(mu_);
  // (TAT, client) in TAT order: the front expires (or is evicted) first.
  absl::btree_set<std::pair<int64_t, const std::string*>> order_ ABSL_GUARDED_BY(mu_);
};

// The identity a request is limited under: "key:<k>" when `presented_key`
// is one of `api_keys` (unverified keys are not identities: a client could
// pick a fresh one per request), else "addr:<remote_addr>", where an IPv6
// address stands for its /64 (one host usually owns a whole /64) and an
// IPv4-mapped IPv6 address for the IPv4 address.
std::string RateLimitClient(std::string_view remote_addr, std::string_view presented_key,
                            const std::vector<std::string>& api_keys);

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_RATE_LIMITER_H_
