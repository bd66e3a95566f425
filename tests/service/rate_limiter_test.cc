// GCRA arithmetic, per-client isolation, the bound on remembered clients,
// concurrency (also under ThreadSanitizer) and client identities of
// libs/service/rate_limiter.h, on a fake clock.

#include "libs/service/rate_limiter.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/tsan_uninstrumented.h"

namespace raceway::service {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// Time stands still unless a test moves it.
class FakeClock {
 public:
  RateLimiter::Clock clock() {
    return [this] { return nanoseconds(now_ns_.load()); };
  }
  void Set(nanoseconds t) { now_ns_.store(t.count()); }
  void Advance(nanoseconds d) { now_ns_.fetch_add(d.count()); }

 private:
  // Far from 0, as a steady clock is.
  std::atomic<int64_t> now_ns_{1'000'000'000'000};
};

std::shared_ptr<RateLimiter> Limiter(FakeClock& clock, uint32_t rpm, uint32_t burst,
                                     size_t max_clients = 65536) {
  return RateLimiter::Create(
      {.requests_per_minute = rpm, .burst = burst, .max_clients = max_clients}, clock.clock());
}

TEST(RateLimiterTest, ZeroRateIsNoLimiter) {
  EXPECT_EQ(RateLimiter::Create({.requests_per_minute = 0, .burst = 10}), nullptr);
}

TEST(RateLimiterTest, BurstThenRefusalWithTheExactDelay) {
  FakeClock clock;
  auto limiter = Limiter(clock, /*rpm=*/60, /*burst=*/3);  // T = 1 s, tolerance 2 s.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter->Admit("a"), nanoseconds(0)) << i;
  // TAT = now + 3 s: admitted again at TAT - 2 s.
  EXPECT_EQ(limiter->Admit("a"), seconds(1));
  clock.Advance(milliseconds(250));
  EXPECT_EQ(limiter->Admit("a"), milliseconds(750));
  // Refusals are not counted: the delay only shrinks with time.
  for (int i = 0; i < 100; ++i) limiter->Admit("a");
  EXPECT_EQ(limiter->Admit("a"), milliseconds(750));
  // One emission interval after the burst, exactly one more request.
  clock.Advance(milliseconds(750));
  EXPECT_EQ(limiter->Admit("a"), nanoseconds(0));
  EXPECT_EQ(limiter->Admit("a"), seconds(1));
  // Idle for longer than burst * T: a whole burst again.
  clock.Advance(seconds(10));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter->Admit("a"), nanoseconds(0)) << i;
  EXPECT_EQ(limiter->Admit("a"), seconds(1));
}

TEST(RateLimiterTest, SteadyRateAtTheEmissionInterval) {
  FakeClock clock;
  auto limiter = Limiter(clock, /*rpm=*/120, /*burst=*/1);  // T = 500 ms, no tolerance.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(limiter->Admit("a"), nanoseconds(0)) << i;
    clock.Advance(milliseconds(200));
    EXPECT_EQ(limiter->Admit("a"), milliseconds(300)) << i;
    clock.Advance(milliseconds(300));
  }
}

TEST(RateLimiterTest, DefaultBurstIsAMinutesWorth) {
  FakeClock clock;
  auto limiter = Limiter(clock, /*rpm=*/5, /*burst=*/0);  // T = 12 s.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(limiter->Admit("a"), nanoseconds(0)) << i;
  EXPECT_EQ(limiter->Admit("a"), seconds(12));
}

TEST(RateLimiterTest, ClientsAreIsolated) {
  FakeClock clock;
  auto limiter = Limiter(clock, 60, 2);
  EXPECT_EQ(limiter->Admit("key:a"), nanoseconds(0));
  EXPECT_EQ(limiter->Admit("key:a"), nanoseconds(0));
  EXPECT_GT(limiter->Admit("key:a"), nanoseconds(0));
  EXPECT_EQ(limiter->Admit("key:b"), nanoseconds(0));
  EXPECT_EQ(limiter->Admit("addr:10.0.0.1"), nanoseconds(0));
  EXPECT_EQ(limiter->Admit("key:b"), nanoseconds(0));
  EXPECT_GT(limiter->Admit("key:b"), nanoseconds(0));
  EXPECT_EQ(limiter->Admit("key:a"), seconds(1));  // b's traffic changed nothing for a.
}

TEST(RateLimiterTest, IdleClientsAreForgotten) {
  FakeClock clock;
  auto limiter = Limiter(clock, 60, 2);
  for (int i = 0; i < 10; ++i) limiter->Admit(absl::StrCat("c", i));
  EXPECT_EQ(limiter->clients(), 10u);
  clock.Advance(milliseconds(999));
  limiter->Admit("other");
  EXPECT_EQ(limiter->clients(), 11u);
  clock.Advance(milliseconds(1));  // c0..c9 reach their TAT (one request = 1 s).
  limiter->Admit("other");
  EXPECT_EQ(limiter->clients(), 1u);
}

TEST(RateLimiterTest, TableStaysBoundedUnder100kDistinctClients) {
  FakeClock clock;
  constexpr size_t kMax = 1000;
  auto limiter = Limiter(clock, 60, 10, kMax);
  for (int i = 0; i < 100000; ++i) {
    // Distinct clients, all within their window: nothing expires by itself.
    ASSERT_EQ(
        limiter->Admit(absl::StrCat("addr:10.", i / 65536, ".", (i / 256) % 256, ".", i % 256)),
        nanoseconds(0))
        << i;
    if (i % 997 == 0) clock.Advance(nanoseconds(1));
    ASSERT_LE(limiter->clients(), kMax) << i;
  }
  EXPECT_EQ(limiter->clients(), kMax);
}

TEST(RateLimiterTest, EvictionTakesTheClientClosestToBeingForgotten) {
  FakeClock clock;
  auto limiter = Limiter(clock, 60, 2, /*max_clients=*/2);
  EXPECT_EQ(limiter->Admit("light"), nanoseconds(0));  // TAT +1 s.
  EXPECT_EQ(limiter->Admit("heavy"), nanoseconds(0));
  EXPECT_EQ(limiter->Admit("heavy"), nanoseconds(0));  // TAT +2 s: over its rate.
  EXPECT_EQ(limiter->Admit("new"), nanoseconds(0));    // Evicts "light".
  EXPECT_EQ(limiter->clients(), 2u);
  // The client over its rate was kept, so it is still refused.
  EXPECT_EQ(limiter->Admit("heavy"), seconds(1));
}

TEST(RateLimiterTest, HugeBurstDoesNotOverflow) {
  FakeClock clock;
  auto limiter = Limiter(clock, 1, 0xffffffffu);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(limiter->Admit("a"), nanoseconds(0)) << i;
  auto fast = Limiter(clock, 0xffffffffu, 1);  // T = 13 ns.
  EXPECT_EQ(fast->Admit("a"), nanoseconds(0));
  EXPECT_EQ(fast->Admit("a"), nanoseconds(13));
}

// Many threads on shared and private clients at one instant: each shared
// client gets exactly its burst, however the requests interleave.
TEST(RateLimiterTest, ConcurrentRequestsGetExactlyTheBurst) {
  FakeClock clock;
  constexpr int kBurst = 100;
  constexpr int kShared = 8;
  constexpr int kThreads = 8;
  constexpr int kRequests = 4000;
  auto limiter = Limiter(clock, 60, kBurst);
  std::vector<std::atomic<int>> admitted(kShared);
  std::atomic<int> private_admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        const int shared = (i + t) % kShared;
        if (limiter->Admit(absl::StrCat("shared-", shared)).count() == 0) admitted[shared]++;
        if (i % 10 == 0 && limiter->Admit(absl::StrCat("private-", t, "-", i)).count() == 0) {
          private_admitted++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int s = 0; s < kShared; ++s) EXPECT_EQ(admitted[s].load(), kBurst) << s;
  EXPECT_EQ(private_admitted.load(), kThreads * kRequests / 10);
  EXPECT_EQ(limiter->clients(), static_cast<size_t>(kShared + kThreads * kRequests / 10));
}

// While time moves, no client gets more than burst + elapsed / T.
TEST(RateLimiterTest, ConcurrentRequestsWhileTimeMoves) {
  FakeClock clock;
  const nanoseconds start = clock.clock()();
  auto limiter = Limiter(clock, 600, 5);  // T = 100 ms.
  std::atomic<bool> done{false};
  std::atomic<int> admitted{0};
  std::thread ticker([&] {
    while (!done) clock.Advance(milliseconds(1));
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (limiter->Admit("one").count() == 0) admitted++;
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  ticker.join();
  const int64_t elapsed_intervals = (clock.clock()() - start) / milliseconds(100);
  EXPECT_GE(admitted.load(), 5);
  EXPECT_LE(admitted.load(), 5 + elapsed_intervals);
}

TEST(RateLimitClientTest, KeysOnlyWhenConfigured) {
  const std::vector<std::string> keys = {"key-1", "key-2"};
  EXPECT_EQ(RateLimitClient("10.0.0.7", "key-2", keys), "key:key-2");
  // Unknown keys are not identities: any client could mint one per request.
  EXPECT_EQ(RateLimitClient("10.0.0.7", "key-3", keys), "addr:10.0.0.7");
  EXPECT_EQ(RateLimitClient("10.0.0.7", "", keys), "addr:10.0.0.7");
  EXPECT_EQ(RateLimitClient("10.0.0.7", "key-1", {}), "addr:10.0.0.7");
}

TEST(RateLimitClientTest, Addresses) {
  EXPECT_EQ(RateLimitClient("2001:db8:1:2:3:4:5:6", "", {}), "addr:2001:db8:1:2::/64");
  EXPECT_EQ(RateLimitClient("2001:db8:1:2:ffff::1", "", {}), "addr:2001:db8:1:2::/64");
  EXPECT_EQ(RateLimitClient("::1", "", {}), "addr:::/64");
  EXPECT_EQ(RateLimitClient("::ffff:192.0.2.7", "", {}), "addr:192.0.2.7");
  EXPECT_EQ(RateLimitClient("not an address", "", {}), "addr:not an address");
}

}  // namespace
}  // namespace raceway::service
