#include "libs/service/rate_limiter.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/service/grpc_util.h"

namespace raceway::service {
namespace {

constexpr int64_t kMinuteNs = 60'000'000'000;

int64_t Interval(const RateLimiter::Options& o) {
  return kMinuteNs / std::max<int64_t>(o.requests_per_minute, 1);
}

// (burst - 1) * T, saturated far below int64 overflow: TAT stays within
// now + tolerance + T.
int64_t Tolerance(const RateLimiter::Options& o) {
  const int64_t burst = o.burst == 0 ? o.requests_per_minute : o.burst;
  const int64_t t = Interval(o);
  const int64_t cap = std::numeric_limits<int64_t>::max() / 4;
  const int64_t n = std::max<int64_t>(burst, 1) - 1;
  return n > cap / t ? cap : n * t;
}

}  // namespace

std::shared_ptr<RateLimiter> RateLimiter::Create(const Options& options, Clock clock) {
  if (options.requests_per_minute == 0) return nullptr;
  return std::make_shared<RateLimiter>(options, std::move(clock));
}

RateLimiter::RateLimiter(const Options& options, Clock clock)
    : options_(options),
      clock_(clock ? std::move(clock)
                   : Clock([] { return std::chrono::steady_clock::now().time_since_epoch(); })),
      interval_ns_(Interval(options)),
      tolerance_ns_(Tolerance(options)) {}

void RateLimiter::Expire(int64_t now) {
  while (!order_.empty() && order_.begin()->first <= now) {
    const std::string* client = order_.begin()->second;
    order_.erase(order_.begin());
    tat_.erase(*client);
  }
}

std::chrono::nanoseconds RateLimiter::Admit(std::string_view client) {
  storage::common::MutexLock lock(&mu_);
  // Read under the lock so concurrent callers see time move forward.
  const int64_t now = clock_().count();
  Expire(now);
  auto it = tat_.find(absl::string_view(client.data(), client.size()));
  // A forgotten client's TAT is `now`.
  const int64_t tat = it == tat_.end() ? now : it->second;
  if (tat - now > tolerance_ns_) {
    return std::chrono::nanoseconds(tat - tolerance_ns_ - now);
  }
  if (it == tat_.end()) {
    if (tat_.size() >= std::max<size_t>(options_.max_clients, 1)) {
      const std::string* evicted = order_.begin()->second;
      order_.erase(order_.begin());
      tat_.erase(*evicted);
    }
    it = tat_.emplace(std::string(client), 0).first;
  } else {
    order_.erase({it->second, &it->first});
  }
  it->second = tat + interval_ns_;
  order_.insert({it->second, &it->first});
  return std::chrono::nanoseconds(0);
}

size_t RateLimiter::clients() const {
  storage::common::MutexLock lock(&mu_);
  return tat_.size();
}

std::string RateLimitClient(std::string_view remote_addr, std::string_view presented_key,
                            const std::vector<std::string>& api_keys) {
  if (!presented_key.empty() && ApiKeyMatches(presented_key, api_keys)) {
    return absl::StrCat("key:", absl::string_view(presented_key.data(), presented_key.size()));
  }
  const std::string addr(remote_addr);
  in6_addr v6;
  if (inet_pton(AF_INET6, addr.c_str(), &v6) == 1) {
    char text[INET6_ADDRSTRLEN];
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      inet_ntop(AF_INET, &v6.s6_addr[12], text, sizeof text);
      return absl::StrCat("addr:", text);
    }
    std::memset(&v6.s6_addr[8], 0, 8);
    inet_ntop(AF_INET6, &v6, text, sizeof text);
    return absl::StrCat("addr:", text, "/64");
  }
  return absl::StrCat("addr:", addr);
}

}  // namespace raceway::service
