#include "libs/service/http_task_queue.h"

#include <system_error>
#include <utility>

namespace raceway::service {

GrowingTaskQueue::GrowingTaskQueue(Options options) : options_(options) {}

GrowingTaskQueue::~GrowingTaskQueue() { shutdown(); }

void GrowingTaskQueue::enqueue(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  JoinExitedLocked();
  tasks_.push_back(std::move(fn));
  // Every idle thread will take one queued task; start one more for the rest.
  if (tasks_.size() > idle_ && live_ < options_.max_threads) {
    try {
      std::thread thread([this] { Work(); });
      threads_.emplace(thread.get_id(), std::move(thread));
      ++live_;
      return;
    } catch (const std::system_error&) {
      // No thread now (resource limits): the task waits for a running one.
    }
  }
  cv_.notify_one();
}

void GrowingTaskQueue::Work() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (tasks_.empty() && !shutdown_) {
      ++idle_;
      const bool woken = cv_.wait_for(lock, options_.idle_timeout,
                                      [this] { return !tasks_.empty() || shutdown_; });
      --idle_;
      if (!woken && live_ > options_.min_threads) break;
      continue;
    }
    if (tasks_.empty()) break;  // Shut down and drained.
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    task = nullptr;  // Its captures are released outside the lock too.
    lock.lock();
  }
  --live_;
  exited_.push_back(std::this_thread::get_id());
}

void GrowingTaskQueue::JoinExitedLocked() {
  for (const std::thread::id id : exited_) {
    auto it = threads_.find(id);
    it->second.join();
    threads_.erase(it);
  }
  exited_.clear();
}

void GrowingTaskQueue::shutdown() {
  std::map<std::thread::id, std::thread> threads;
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
    threads.swap(threads_);
    exited_.clear();
  }
  cv_.notify_all();
  for (auto& [id, thread] : threads) thread.join();
  // Tasks no thread could be started for (each closes its connection).
  std::deque<std::function<void()>> left;
  {
    std::lock_guard lock(mu_);
    left.swap(tasks_);
  }
  for (auto& task : left) task();
}

size_t GrowingTaskQueue::threads() const {
  std::lock_guard lock(mu_);
  return live_;
}

}  // namespace raceway::service
