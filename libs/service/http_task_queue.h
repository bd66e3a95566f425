#ifndef RACEWAY_LIBS_SERVICE_HTTP_TASK_QUEUE_H_
#define RACEWAY_LIBS_SERVICE_HTTP_TASK_QUEUE_H_

// The task queue of an HttpServerThread. httplib runs each accepted
// connection as one task that lasts as long as the connection, so its fixed
// pool lets a few slow clients hold every thread. This queue starts a thread
// whenever no idle thread can take a task, up to max_threads, and lets the
// threads beyond min_threads exit after idle_timeout without work.
// Thread-safe; httplib calls enqueue and then shutdown from its accept
// thread.

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace raceway::service {

class GrowingTaskQueue final : public httplib::TaskQueue {
 public:
  struct Options {
    size_t min_threads = 8;  // Kept while idle (started on demand).
    size_t max_threads = 512;
    std::chrono::milliseconds idle_timeout{30'000};
  };

  explicit GrowingTaskQueue(Options options);
  ~GrowingTaskQueue() override;  // shutdown().

  // Runs `fn` on an idle thread, else on a new one; with max_threads busy it
  // waits for the first thread that frees up (FIFO).
  void enqueue(std::function<void()> fn) override;
  // Runs every task already queued, then joins all threads. Idempotent; no
  // enqueue after it.
  void shutdown() override;

  // Threads alive now.
  size_t threads() const;

 private:
  void Work();
  // Joins the threads that left Work (they no longer need mu_).
  void JoinExitedLocked();

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::map<std::thread::id, std::thread> threads_;
  std::vector<std::thread::id> exited_;
  size_t live_ = 0;  // Threads in Work.
  size_t idle_ = 0;  // Threads waiting for a task.
  bool shutdown_ = false;
};

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_HTTP_TASK_QUEUE_H_
