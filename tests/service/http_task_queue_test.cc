// GrowingTaskQueue, the HTTP servers' connection pool: tasks that block
// (slow clients' connections) never keep a new task from running below
// max_threads, idle threads beyond min_threads exit, shutdown runs what is
// queued.

#include "libs/service/http_task_queue.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"

namespace raceway::service {
namespace {

using std::chrono::milliseconds;

// True once `done` holds, false if it still does not after 10 s (a hang).
bool Eventually(const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// Tasks that block until Open().
class Gate {
 public:
  std::function<void()> Task() {
    return [this] {
      std::unique_lock lock(mu_);
      ++waiting_;
      cv_.wait(lock, [this] { return open_; });
      --waiting_;
    };
  }
  int waiting() {
    std::lock_guard lock(mu_);
    return waiting_;
  }
  void Open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_ = 0;
  bool open_ = false;
};

TEST(GrowingTaskQueueTest, BlockedTasksDoNotKeepANewOneFromRunning) {
  GrowingTaskQueue queue(
      {.min_threads = 8, .max_threads = 200, .idle_timeout = milliseconds(30'000)});
  Gate gate;
  for (int i = 0; i < 100; ++i) queue.enqueue(gate.Task());
  ASSERT_TRUE(Eventually([&] { return gate.waiting() == 100; }));
  std::atomic<bool> ran{false};
  queue.enqueue([&] { ran = true; });
  EXPECT_TRUE(Eventually([&] { return ran.load(); }));
  EXPECT_GE(queue.threads(), 101u);
  gate.Open();
  queue.shutdown();
  EXPECT_EQ(queue.threads(), 0u);
}

TEST(GrowingTaskQueueTest, AtMaxThreadsTasksWaitForAFreeThread) {
  GrowingTaskQueue queue(
      {.min_threads = 1, .max_threads = 2, .idle_timeout = milliseconds(30'000)});
  Gate gate;
  queue.enqueue(gate.Task());
  queue.enqueue(gate.Task());
  std::atomic<bool> ran{false};
  queue.enqueue([&] { ran = true; });
  EXPECT_EQ(queue.threads(), 2u);
  ASSERT_TRUE(Eventually([&] { return gate.waiting() == 2; }));
  EXPECT_FALSE(ran.load());  // Both threads are blocked: it cannot have run.
  gate.Open();
  EXPECT_TRUE(Eventually([&] { return ran.load(); }));
}

TEST(GrowingTaskQueueTest, IdleThreadsBeyondTheMinimumExit) {
  GrowingTaskQueue queue({.min_threads = 2, .max_threads = 50, .idle_timeout = milliseconds(50)});
  Gate gate;
  for (int i = 0; i < 20; ++i) queue.enqueue(gate.Task());
  ASSERT_TRUE(Eventually([&] { return gate.waiting() == 20; }));
  EXPECT_EQ(queue.threads(), 20u);
  gate.Open();
  EXPECT_TRUE(Eventually([&] { return queue.threads() == 2; })) << queue.threads();
  // The exited threads are joined on the next enqueue; work still runs.
  std::atomic<int> ran{0};
  for (int i = 0; i < 5; ++i) queue.enqueue([&] { ran++; });
  EXPECT_TRUE(Eventually([&] { return ran.load() == 5; }));
}

TEST(GrowingTaskQueueTest, ShutdownRunsWhatIsQueued) {
  GrowingTaskQueue queue(
      {.min_threads = 1, .max_threads = 1, .idle_timeout = milliseconds(30'000)});
  Gate gate;
  queue.enqueue(gate.Task());
  std::atomic<int> ran{0};
  for (int i = 0; i < 5; ++i) queue.enqueue([&] { ran++; });
  ASSERT_TRUE(Eventually([&] { return gate.waiting() == 1; }));
  std::thread opener([&] {
    std::this_thread::sleep_for(milliseconds(20));
    gate.Open();
  });
  queue.shutdown();
  opener.join();
  EXPECT_EQ(ran.load(), 5);
  EXPECT_EQ(queue.threads(), 0u);
}

}  // namespace
}  // namespace raceway::service
