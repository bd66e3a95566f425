// TraceCache: single flight under concurrent misses, invalidation when the
// trace grows (as another ingest replica would make it), LRU bound, and
// eviction of deleted traces. Also run under ThreadSanitizer.

#include "services/query/trace_cache.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/storage/factory.h"
#include "tests/support/events.h"

namespace raceway::query {
namespace {

using raceway::testing::MakeEvent;

class CountingObserver : public CacheObserver {
 public:
  void OnCacheHit() override { ++hits; }
  void OnCacheMiss() override { ++misses; }
  std::atomic<int> hits{0}, misses{0};
};

class TraceCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::StorageOptions options;
    options.backend = "memory";
    auto opened = storage::OpenStorage(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    storage_ = std::move(*opened);
  }

  void Write(const std::vector<raceway::v1::Event>& events) {
    std::vector<const raceway::v1::Event*> ptrs;
    for (const auto& e : events) ptrs.push_back(&e);
    ASSERT_TRUE(storage_->WriteBatch(ptrs).ok());
  }

  std::unique_ptr<storage::Storage> storage_;
  CountingObserver observer_;
};

TEST_F(TraceCacheTest, ConcurrentMissesShareOneAnalysis) {
  const std::string trace = model::NewUuidV4();
  std::vector<raceway::v1::Event> events;
  for (int i = 0; i < 200; ++i) events.push_back(MakeEvent(trace, absl::StrCat("t", i % 4), i));
  Write(events);
  TraceCache cache(*storage_, 8, 1 << 20, {}, &observer_);

  constexpr int kThreads = 8;
  std::vector<std::shared_ptr<const AnalyzedTrace>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto r = cache.Get(trace);
      ASSERT_TRUE(r.ok()) << r.status();
      got[t] = *r;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(observer_.misses.load(), 1);
  EXPECT_EQ(observer_.hits.load(), kThreads - 1);
  for (const auto& g : got) {
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g.get(), got[0].get());  // One analysis object for everyone.
    EXPECT_EQ(g->events.size(), 200u);
  }
}

TEST_F(TraceCacheTest, NewEventsInvalidateTheEntry) {
  const std::string trace = model::NewUuidV4();
  Write({MakeEvent(trace, "t1", 1), MakeEvent(trace, "t2", 2)});
  TraceCache cache(*storage_, 8, 1 << 20, {}, &observer_);
  auto first = cache.Get(trace);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)->summary.event_count, 2u);
  auto again = cache.Get(trace);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), first->get());  // Unchanged: a hit.

  Write({MakeEvent(trace, "t3", 3)});  // Any writer, any process.
  auto grown = cache.Get(trace);
  ASSERT_TRUE(grown.ok());
  EXPECT_NE(grown->get(), first->get());
  EXPECT_EQ((*grown)->summary.event_count, 3u);
  EXPECT_EQ((*grown)->events.size(), 3u);
  EXPECT_EQ(observer_.misses.load(), 2);
  EXPECT_EQ(cache.size(), 1u);
}

TEST_F(TraceCacheTest, KeepsAtMostMaxTracesAndForgetsDeletedOnes) {
  std::vector<std::string> traces;
  for (int i = 0; i < 5; ++i) {
    traces.push_back(model::NewUuidV4());
    Write({MakeEvent(traces.back(), "t", i)});
  }
  TraceCache cache(*storage_, 3, 1 << 20, {}, &observer_);
  for (const auto& t : traces) ASSERT_TRUE(cache.Get(t).ok());
  EXPECT_EQ(cache.size(), 3u);
  // traces[0] was least recently used: gone, so this is a miss again.
  const int misses = observer_.misses.load();
  ASSERT_TRUE(cache.Get(traces[0]).ok());
  EXPECT_EQ(observer_.misses.load(), misses + 1);

  ASSERT_TRUE(storage_->Clear().ok());
  EXPECT_TRUE(absl::IsNotFound(cache.Get(traces[0]).status()));
  EXPECT_EQ(cache.size(), 2u);
}

}  // namespace
}  // namespace raceway::query
