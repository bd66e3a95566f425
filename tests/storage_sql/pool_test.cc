// Unit tests of the connection pool shared by the SQL backends
// (libs/storage/postgres/pool.h), with a fake connection type: limits,
// waiting and timeout, broken connections, validation, idle reaping, and a
// multi-threaded stress run (also under ThreadSanitizer).

#include "libs/storage/postgres/pool.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/tsan_uninstrumented.h"

namespace raceway::storage::dbutil {
namespace {

struct FakeConn {
  int id = 0;
  std::atomic<bool> alive{true};
};

class Factory {
 public:
  absl::StatusOr<std::unique_ptr<FakeConn>> operator()() {
    if (fail.load()) return absl::UnavailableError("server down");
    auto c = std::make_unique<FakeConn>();
    c->id = ++opened;
    return c;
  }
  std::atomic<int> opened{0};
  std::atomic<bool> fail{false};
};

std::unique_ptr<ConnectionPool<FakeConn>> MakePool(Factory& f, uint32_t max, uint32_t min,
                                                   absl::Duration timeout) {
  PoolOptions o;
  o.name = "test pool";
  o.max_connections = max;
  o.min_connections = min;
  o.acquire_timeout = timeout;
  auto pool = ConnectionPool<FakeConn>::Create(
      o, [&f] { return f(); }, [](FakeConn& c, absl::Duration) { return c.alive.load(); });
  EXPECT_TRUE(pool.ok()) << pool.status();
  return std::move(*pool);
}

TEST(ConnectionPoolTest, OpensMinimumEagerlyAndReusesConnections) {
  Factory f;
  auto pool = MakePool(f, 4, 2, absl::Seconds(1));
  EXPECT_EQ(f.opened.load(), 2);
  EXPECT_EQ(pool->Stats().idle, 2u);
  int first_id;
  {
    auto lease = pool->Acquire();
    ASSERT_TRUE(lease.ok());
    first_id = (*lease)->id;
  }
  auto again = pool->Acquire();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->id, first_id);  // Most recently used first.
  EXPECT_EQ(f.opened.load(), 2);
}

TEST(ConnectionPoolTest, ExhaustedPoolWaitsForTimeoutThenUnavailable) {
  Factory f;
  auto pool = MakePool(f, 2, 0, absl::Milliseconds(300));
  auto a = pool->Acquire();
  auto b = pool->Acquire();
  ASSERT_TRUE(a.ok() && b.ok());
  const auto start = std::chrono::steady_clock::now();
  auto c = pool->Acquire();
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(c.status().message().find("exhausted"), std::string_view::npos) << c.status();
  EXPECT_GE(waited, std::chrono::milliseconds(290));
  EXPECT_LT(waited, std::chrono::seconds(5));
  EXPECT_EQ(pool->Stats().timeouts, 1u);
  EXPECT_EQ(f.opened.load(), 2);  // Never above max_connections.
}

TEST(ConnectionPoolTest, WaiterGetsConnectionReleasedByAnotherThread) {
  Factory f;
  auto pool = MakePool(f, 1, 1, absl::Seconds(10));
  auto held = std::make_unique<ConnectionPool<FakeConn>::Lease>(*pool->Acquire());
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    held.reset();
  });
  const auto start = std::chrono::steady_clock::now();
  auto lease = pool->Acquire();
  releaser.join();
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(f.opened.load(), 1);
}

TEST(ConnectionPoolTest, BrokenConnectionIsReplaced) {
  Factory f;
  auto pool = MakePool(f, 1, 1, absl::Seconds(1));
  int id;
  {
    auto lease = pool->Acquire();
    ASSERT_TRUE(lease.ok());
    id = (*lease)->id;
    lease->MarkBroken();
  }
  EXPECT_EQ(pool->Stats().total, 0u);  // The slot is free again.
  auto lease = pool->Acquire();
  ASSERT_TRUE(lease.ok());
  EXPECT_NE((*lease)->id, id);
  EXPECT_EQ(pool->Stats().discarded, 1u);
}

TEST(ConnectionPoolTest, IdleConnectionFailingValidationIsReplaced) {
  Factory f;
  auto pool = MakePool(f, 2, 1, absl::Seconds(1));
  {
    auto lease = pool->Acquire();
    ASSERT_TRUE(lease.ok());
    (*lease)->alive = false;  // E.g. the server closed the socket while idle.
  }
  auto lease = pool->Acquire();
  ASSERT_TRUE(lease.ok());
  EXPECT_TRUE((*lease)->alive.load());
  EXPECT_EQ(pool->Stats().discarded, 1u);
  EXPECT_EQ(f.opened.load(), 2);
}

TEST(ConnectionPoolTest, OpenFailureIsUnavailableAndFreesTheSlot) {
  Factory f;
  auto pool = MakePool(f, 1, 0, absl::Seconds(1));
  f.fail = true;
  auto lease = pool->Acquire();
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.status().code(), absl::StatusCode::kUnavailable);
  f.fail = false;  // Server back: the pool recovers by itself.
  auto again = pool->Acquire();
  ASSERT_TRUE(again.ok()) << again.status();
}

TEST(ConnectionPoolTest, CreateFailsWhenTheDatabaseIsUnreachable) {
  Factory f;
  f.fail = true;
  PoolOptions o;
  o.min_connections = 1;
  auto pool = ConnectionPool<FakeConn>::Create(
      o, [&f] { return f(); }, [](FakeConn&, absl::Duration) { return true; });
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kUnavailable);
}

TEST(ConnectionPoolTest, IdleConnectionsAboveMinimumAreClosed) {
  Factory f;
  PoolOptions o;
  o.max_connections = 4;
  o.min_connections = 1;
  o.idle_timeout = absl::Milliseconds(50);
  auto pool = *ConnectionPool<FakeConn>::Create(
      o, [&f] { return f(); }, [](FakeConn&, absl::Duration) { return true; });
  {
    std::vector<ConnectionPool<FakeConn>::Lease> leases;
    for (int i = 0; i < 4; ++i) leases.push_back(*pool->Acquire());
  }
  EXPECT_EQ(pool->Stats().total, 4u);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  { auto lease = pool->Acquire(); }
  EXPECT_LE(pool->Stats().total, 2u);
  EXPECT_GE(pool->Stats().total, 1u);
}

TEST(ConnectionPoolTest, ManyThreadsNeverExceedMax) {
  Factory f;
  auto pool = MakePool(f, 3, 1, absl::Seconds(30));
  std::atomic<int> in_use{0}, peak{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        auto lease = pool->Acquire();
        if (!lease.ok()) {
          ++failures;
          continue;
        }
        const int now = ++in_use;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        if ((i + t) % 37 == 0) lease->MarkBroken();
        --in_use;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(peak.load(), 3);
  const PoolStats s = pool->Stats();
  EXPECT_LE(s.total, 3u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_GT(s.discarded, 0u);
}

}  // namespace
}  // namespace raceway::storage::dbutil
