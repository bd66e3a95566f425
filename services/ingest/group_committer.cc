#include "services/ingest/group_committer.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libs/service/grpc_util.h"

namespace raceway::ingest {

using Clock = std::chrono::steady_clock;

GroupCommitter::GroupCommitter(std::shared_ptr<storage::EventWriter> writer,
                               CommitterOptions options, CommitterObserver* observer)
    : writer_(std::move(writer)), options_(options), observer_(observer) {
  const uint32_t n = std::max<uint32_t>(1, options_.flushers);
  for (uint32_t i = 0; i < n; ++i) flushers_.emplace_back([this] { FlusherLoop(); });
}

GroupCommitter::~GroupCommitter() { Drain(); }

absl::Status GroupCommitter::Enqueue(std::vector<const raceway::v1::Event*> events, uint64_t bytes,
                                     Done done) {
  uint64_t buffered;
  {
    storage::common::MutexLock lock(&mu_);
    if (draining_)
      return service::WithRetryAfter(
          absl::UnavailableError("ingest is shutting down; retry on another replica"),
          options_.retry_after);
    // A request larger than the whole bound is still admitted into an
    // empty buffer, so a legal batch can never be refused forever.
    if (buffered_bytes_ > 0 && buffered_bytes_ + bytes > options_.max_buffered_bytes) {
      return service::WithRetryAfter(
          absl::ResourceExhaustedError(absl::StrCat("ingest buffer full (", buffered_bytes_, " of ",
                                                    options_.max_buffered_bytes,
                                                    " bytes buffered); retry later")),
          options_.retry_after);
    }
    // While the database is down the queue ages because of the outage, not
    // load: the commit attempts answer UNAVAILABLE, the outage contract.
    if (options_.max_queue_delay.count() > 0 && !storage_down_ && !queue_.empty()) {
      const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
          Clock::now() - queue_.front().enqueued);
      if (waited > options_.max_queue_delay) {
        return service::WithRetryAfter(
            absl::ResourceExhaustedError(absl::StrCat(
                "ingest is behind: the oldest queued batch has waited ", waited.count(),
                " ms (limit ", options_.max_queue_delay.count(), " ms); retry later")),
            options_.retry_after);
      }
    }
    queued_events_ += events.size();
    buffered_bytes_ += bytes;
    buffered = buffered_bytes_;
    queue_.push_back(Request{std::move(events), bytes, std::move(done), Clock::now()});
    mu_.SignalAll();
  }
  if (observer_) observer_->OnBufferedBytes(buffered);
  return absl::OkStatus();
}

void GroupCommitter::Drain() {
  {
    storage::common::MutexLock lock(&mu_);
    if (draining_ && flushers_.empty()) return;
    draining_ = true;
    mu_.SignalAll();
  }
  for (auto& t : flushers_) {
    if (t.joinable()) t.join();
  }
  flushers_.clear();
}

uint64_t GroupCommitter::BufferedBytes() const {
  storage::common::MutexLock lock(&mu_);
  return buffered_bytes_;
}

bool GroupCommitter::StorageDown() const {
  storage::common::MutexLock lock(&mu_);
  return storage_down_;
}

std::vector<GroupCommitter::Request> GroupCommitter::TakeBatch() {
  std::vector<Request> group;
  size_t events = 0;
  while (!queue_.empty()) {
    const size_t next = queue_.front().events.size();
    if (!group.empty() && events + next > options_.batch_size) break;
    events += next;
    queued_events_ -= next;
    group.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return group;
}

void GroupCommitter::FlusherLoop() {
  for (;;) {
    std::vector<Request> group;
    {
      storage::common::MutexLock lock(&mu_);
      for (;;) {
        mu_.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !queue_.empty() || draining_; });
        if (queue_.empty()) return;  // Drained.
        // While the database is failing, wait out the backoff first. A drain
        // skips the wait: each attempt answers its requests (OK or
        // UNAVAILABLE), so shutdown never retries forever.
        if (backoff_.count() > 0 && !draining_) {
          mu_.AwaitWithTimeout([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return draining_; },
                               backoff_);
        }
        // Flush at batch_size events, or when the oldest request is due.
        auto full = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return queue_.empty() || queued_events_ >= options_.batch_size || draining_;
        };
        while (!full() && Clock::now() < queue_.front().enqueued + options_.flush_interval) {
          mu_.AwaitWithTimeout(full,
                               queue_.front().enqueued + options_.flush_interval - Clock::now());
        }
        if (!queue_.empty()) break;  // Else another flusher took it: wait again.
      }
      group = TakeBatch();
      // More waiting work: let another flusher start on it right away.
      if (!queue_.empty()) mu_.SignalAll();
    }
    Commit(group);
  }
}

absl::Status GroupCommitter::CommitOnce(std::vector<Request>& group,
                                        std::vector<CommitResult>& results) {
  // Merge; an id sent by two requests of the same group is written once and
  // counted as a duplicate for the later request.
  std::vector<const raceway::v1::Event*> merged;
  std::vector<uint32_t> owner;  // merged index -> request index
  absl::flat_hash_set<std::string_view> seen;
  results.assign(group.size(), CommitResult{});
  for (uint32_t r = 0; r < group.size(); ++r) {
    for (const auto* e : group[r].events) {
      if (!seen.insert(e->id()).second) {
        ++results[r].duplicate;
        continue;
      }
      merged.push_back(e);
      owner.push_back(r);
    }
  }
  const auto start = Clock::now();
  absl::StatusOr<storage::WriteResult> written =
      merged.empty() ? absl::StatusOr<storage::WriteResult>(storage::WriteResult{})
                     : writer_->WriteBatch(merged);
  if (!written.ok()) return written.status();
  if (written->duplicate_indices.size() != written->duplicate) {
    return absl::InternalError("storage backend did not report duplicate positions");
  }
  for (uint32_t owner_index : owner) ++results[owner_index].accepted;
  for (uint32_t i : written->duplicate_indices) {
    if (i >= owner.size()) return absl::InternalError("storage reported a bad duplicate position");
    --results[owner[i]].accepted;
    ++results[owner[i]].duplicate;
  }
  if (observer_) {
    observer_->OnCommit(merged.size(), group.size(),
                        std::chrono::duration<double>(Clock::now() - start).count());
  }
  return absl::OkStatus();
}

void GroupCommitter::Commit(std::vector<Request>& group) {
  std::vector<CommitResult> results;
  absl::Status status = CommitOnce(group, results);
  if (status.ok()) {
    bool recovered;
    {
      storage::common::MutexLock lock(&mu_);
      recovered = storage_down_;
      storage_down_ = false;
      backoff_ = std::chrono::milliseconds(0);
    }
    if (recovered) service::Log(service::LogLevel::kInfo, "storage commits again");
    Release(group);
    for (size_t i = 0; i < group.size(); ++i) group[i].done(absl::OkStatus(), results[i]);
    return;
  }
  if (observer_) observer_->OnStorageError(status);
  if (uint64_t suppressed = 0; failure_log_.Admit(&suppressed)) {
    size_t events = 0;
    for (const auto& r : group) events += r.events.size();
    service::Log(service::LogLevel::kError, "storage commit failed",
                 {{"error", status.ToString()},
                  {"requests", absl::StrCat(group.size())},
                  {"events", absl::StrCat(events)},
                  {"similar_failures_not_logged", absl::StrCat(suppressed)}});
  }
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) || absl::IsAborted(status) ||
      absl::IsResourceExhausted(status)) {
    // Transient: nothing was committed. Tell the clients to retry (their
    // ids make the retry idempotent) and back off before the next attempt.
    std::chrono::milliseconds retry;
    {
      storage::common::MutexLock lock(&mu_);
      storage_down_ = true;
      backoff_ = std::clamp(backoff_ * 2, options_.min_backoff, options_.max_backoff);
      retry = std::max(backoff_, options_.retry_after);
    }
    Release(group);
    const absl::Status answer = service::WithRetryAfter(
        absl::UnavailableError(absl::StrCat("storage unavailable, nothing committed (retry in ",
                                            retry.count(), " ms): ", status.message())),
        retry);
    for (auto& r : group) r.done(answer, CommitResult{});
    return;
  }
  if (group.size() > 1) {
    // Permanent error: isolate the request that causes it.
    for (auto& r : group) {
      std::vector<Request> alone;
      alone.push_back(std::move(r));
      Commit(alone);
    }
    return;
  }
  Release(group);
  group[0].done(status, CommitResult{});
}

void GroupCommitter::Release(const std::vector<Request>& group) {
  uint64_t bytes = 0;
  for (const auto& r : group) bytes += r.bytes;
  uint64_t buffered;
  {
    storage::common::MutexLock lock(&mu_);
    buffered_bytes_ -= bytes;
    buffered = buffered_bytes_;
  }
  if (observer_) observer_->OnBufferedBytes(buffered);
}

}  // namespace raceway::ingest
