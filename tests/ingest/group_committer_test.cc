// GroupCommitter admission: the queue-delay bound refuses new work while
// the oldest queued request has waited too long (and only then), and the
// refused work commits once the database catches up. Also under TSan.

#include "services/ingest/group_committer.h"

#include <future>
#include <list>
#include <thread>

#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/storage/factory.h"
#include "libs/storage/fault_injection/fault_injection_storage.h"
#include "tests/support/events.h"
#include "tests/support/tsan_uninstrumented.h"

namespace raceway::ingest {
namespace {

template <typename Base>
class GroupCommitterFixture : public Base {
 protected:
  void SetUp() override {
    storage::StorageOptions options;
    options.backend = "memory";
    auto opened = storage::OpenStorage(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    inner_ = std::move(*opened);
    faults_ = std::make_shared<storage::FaultInjectionStorage>(inner_);
  }

  // One request of `n` events; the events live in `batches_` until the end.
  std::vector<const raceway::v1::Event*> NewRequest(int n) {
    batches_.emplace_back();
    const std::string trace = model::NewUuidV4();
    for (int i = 0; i < n; ++i)
      batches_.back().push_back(raceway::testing::MakeEvent(trace, "t", i));
    std::vector<const raceway::v1::Event*> out;
    for (const auto& e : batches_.back()) out.push_back(&e);
    return out;
  }

  // Enqueues a request; the future resolves with its commit status.
  absl::Status Enqueue(GroupCommitter& committer, std::future<absl::Status>* done) {
    auto promise = std::make_shared<std::promise<absl::Status>>();
    *done = promise->get_future();
    return committer.Enqueue(
        NewRequest(3), 100,
        [promise](const absl::Status& s, const CommitResult&) { promise->set_value(s); });
  }

  std::shared_ptr<storage::Storage> inner_;
  std::shared_ptr<storage::FaultInjectionStorage> faults_;
  std::list<std::vector<raceway::v1::Event>> batches_;
};

class GroupCommitterTest : public GroupCommitterFixture<::testing::TestWithParam<int>> {};
class GroupCommitterOutageTest : public GroupCommitterFixture<::testing::Test> {};

TEST_P(GroupCommitterTest, QueueDelayBoundRefusesWhileTheQueueIsBehind) {
  const int limit_ms = GetParam();
  CommitterOptions options;
  options.flushers = 1;
  options.flush_interval = std::chrono::milliseconds(1);
  options.max_queue_delay = std::chrono::milliseconds(limit_ms);
  GroupCommitter committer(faults_, options);

  // The database stalls on the first commit: A is taken by the only
  // flusher, B waits in the queue.
  faults_->SetStalled();
  std::future<absl::Status> a, b, c;
  ASSERT_TRUE(Enqueue(committer, &a).ok());
  ASSERT_TRUE(faults_->WaitForStalledWriters(1, absl::Seconds(10)));
  ASSERT_TRUE(Enqueue(committer, &b).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(80));

  const absl::Status refused = Enqueue(committer, &c);
  if (limit_ms == 0) {
    EXPECT_TRUE(refused.ok()) << refused;  // No bound: queued behind B.
  } else {
    // B has waited > 50 ms: C is refused, nothing of it queued.
    EXPECT_TRUE(absl::IsResourceExhausted(refused)) << refused;
    EXPECT_NE(refused.message().find("behind"), std::string::npos) << refused;
  }

  faults_->SetUp();
  EXPECT_TRUE(a.get().ok());
  EXPECT_TRUE(b.get().ok());
  if (limit_ms == 0) {
    EXPECT_TRUE(c.get().ok());
  } else {
    // Caught up: the retry is admitted and committed.
    ASSERT_TRUE(Enqueue(committer, &c).ok());
    EXPECT_TRUE(c.get().ok());
  }
  committer.Drain();
  auto count = inner_->CountEvents();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 9u);
}

// During an outage the queue ages while the committer backs off: that is
// answered UNAVAILABLE by the commit attempts, not refused as overload.
TEST_F(GroupCommitterOutageTest, QueueDelayBoundDoesNotTurnAnOutageIntoOverload) {
  CommitterOptions options;
  options.flushers = 1;
  options.flush_interval = std::chrono::milliseconds(1);
  options.max_queue_delay = std::chrono::milliseconds(20);
  options.min_backoff = std::chrono::milliseconds(500);
  GroupCommitter committer(faults_, options);
  faults_->SetDown();
  std::future<absl::Status> a, b, c;
  ASSERT_TRUE(Enqueue(committer, &a).ok());
  EXPECT_TRUE(absl::IsUnavailable(a.get()));
  ASSERT_TRUE(Enqueue(committer, &b).ok());  // Waits out the 500 ms backoff.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const absl::Status queued = Enqueue(committer, &c);
  EXPECT_TRUE(queued.ok()) << queued;
  faults_->SetUp();
  EXPECT_TRUE(b.get().ok());
  if (queued.ok()) {
    EXPECT_TRUE(c.get().ok());
  }
}

INSTANTIATE_TEST_SUITE_P(Limits, GroupCommitterTest, ::testing::Values(0, 50),
                         [](const auto& info) { return absl::StrCat("limit_ms_", info.param); });

}  // namespace
}  // namespace raceway::ingest
