#ifndef RACEWAY_SERVICES_INGEST_GROUP_COMMITTER_H_
#define RACEWAY_SERVICES_INGEST_GROUP_COMMITTER_H_

// Group commit (ARCHITECTURE §5): merges the batches of all concurrent
// clients into one EventWriter transaction, flushed when `batch_size`
// events wait or the oldest request has waited `flush_interval`. A request's
// callback runs exactly once, after its events are committed (OK) or
// definitely not committed (error). Nothing is dropped silently: beyond the
// byte bound Enqueue refuses with RESOURCE_EXHAUSTED.
//
// Thread safety: Enqueue/Drain/BufferedBytes may be called from any thread.
// Callbacks run on the committer's flusher threads and must not block.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "libs/service/log.h"
#include "libs/storage/common/mutex.h"
#include "libs/storage/storage.h"
#include "raceway/v1/event.pb.h"

namespace raceway::ingest {

struct CommitterOptions {
  uint32_t batch_size = 1000;
  std::chrono::milliseconds flush_interval{5};
  uint64_t max_buffered_bytes = 256ull << 20;
  // Refuse new work while the oldest queued request has waited longer than
  // this (0 = no limit): bounds ack latency under overload, where the byte
  // bound alone would let the queue hold minutes of work on a slow database.
  std::chrono::milliseconds max_queue_delay{0};
  uint32_t flushers = 2;  // Transactions that may be in flight at once.
  // The retry delay every refusal carries (service::RetryAfter) while the
  // database is healthy (full buffer, shutting down); an outage's
  // refusals carry the current backoff instead, when longer.
  std::chrono::milliseconds retry_after{200};
  // Backoff between attempts while the database is failing.
  std::chrono::milliseconds min_backoff{50};
  std::chrono::milliseconds max_backoff{2000};
};

// Per-request outcome of a commit.
struct CommitResult {
  uint32_t accepted = 0;
  uint32_t duplicate = 0;
};

// Observer for metrics; every hook may be called from any flusher thread.
class CommitterObserver {
 public:
  virtual ~CommitterObserver() = default;
  virtual void OnCommit(size_t events, size_t requests, double seconds) = 0;
  virtual void OnStorageError(const absl::Status& status) = 0;
  virtual void OnBufferedBytes(uint64_t bytes) = 0;
};

class GroupCommitter {
 public:
  using Done = std::function<void(const absl::Status&, const CommitResult&)>;

  GroupCommitter(std::shared_ptr<storage::EventWriter> writer, CommitterOptions options,
                 CommitterObserver* observer = nullptr);
  ~GroupCommitter();  // Drains.

  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Queues `events` (valid, ids distinct within the request; the pointees
  // must stay alive until `done` runs). `bytes` is their in-memory size.
  // On a non-OK return nothing was queued and `done` will not run:
  // RESOURCE_EXHAUSTED (byte bound; retry later), UNAVAILABLE (draining).
  absl::Status Enqueue(std::vector<const raceway::v1::Event*> events, uint64_t bytes, Done done);

  // Stops accepting, commits everything queued, waits for the flushers.
  void Drain();

  uint64_t BufferedBytes() const;
  // True while the last commit attempt failed with UNAVAILABLE.
  bool StorageDown() const;

 private:
  struct Request {
    std::vector<const raceway::v1::Event*> events;
    uint64_t bytes = 0;
    Done done;
    std::chrono::steady_clock::time_point enqueued;
  };

  void FlusherLoop();
  // Takes whole requests from the queue up to batch_size events (at least
  // one request). Requires mu_.
  std::vector<Request> TakeBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Commits a group; on a non-retryable error re-commits each request alone
  // so one bad request cannot fail the others.
  void Commit(std::vector<Request>& group);
  absl::Status CommitOnce(std::vector<Request>& group, std::vector<CommitResult>& results);
  void Release(const std::vector<Request>& group);

  const std::shared_ptr<storage::EventWriter> writer_;
  const CommitterOptions options_;
  CommitterObserver* const observer_;

  // pthread-based (visible to ThreadSanitizer, unlike Debian's absl::Mutex).
  mutable storage::common::Mutex mu_;
  std::deque<Request> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t queued_events_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t buffered_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // Queued + in flight.
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool storage_down_ ABSL_GUARDED_BY(mu_) = false;
  // Failed commits are logged with their cause, at most one line per 5 s.
  service::LogThrottle failure_log_{std::chrono::seconds(5)};
  std::chrono::milliseconds backoff_ ABSL_GUARDED_BY(mu_){0};
  std::vector<std::thread> flushers_;
};

}  // namespace raceway::ingest

#endif  // RACEWAY_SERVICES_INGEST_GROUP_COMMITTER_H_
