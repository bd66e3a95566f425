#include "libs/client/client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/client/credentials.h"
#include "libs/client/status_details.h"
#include "libs/model/uuid.h"
#include "libs/model/validation.h"
#include "raceway/v1/ingest.grpc.pb.h"

namespace raceway::client {
namespace {

using raceway::v1::Event;
using Ms = std::chrono::milliseconds;

constexpr Clock::duration kIdleWait = std::chrono::hours(1);

double UnitRandom() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

struct Batch {
  raceway::v1::StreamRequest request;  // events; sequence set per attempt
  size_t bytes = 0;
  uint64_t min_ticket = 0;  // Tickets of its events: [min_ticket, min_ticket + size).
  int attempts = 0;
  uint64_t sequence = 0;
  Clock::time_point first_sent{};
  Clock::time_point last_sent{};
  // Set while a writer thread serialises the request outside the lock; an
  // ack arriving meanwhile is parked in early_ack for the writer to apply.
  bool writing = false;
  std::unique_ptr<raceway::v1::StreamAck> early_ack;
};
using BatchPtr = std::unique_ptr<Batch>;

struct PendingEvent {
  Event event;
  size_t bytes = 0;
  Clock::time_point recorded;
};

// A batch that reached its final state: stats are updated under the lock,
// the callback runs without it, then the batch is released (Flush waiters
// therefore see every callback of the events they wait for).
struct Finished {
  BatchPtr batch;
  absl::Status status;
  raceway::v1::BatchResult result;
  Clock::time_point completed;
};

}  // namespace

class RacewayClient::Impl {
 public:
  Impl(ClientOptions options, std::shared_ptr<grpc::Channel> channel)
      : options_(std::move(options)),
        channel_(std::move(channel)),
        stub_(raceway::v1::IngestService::NewStub(channel_)) {}

  ~Impl() { (void)Close(options_.close_timeout); }

  void Start() {
    std::lock_guard<std::mutex> lk(mu_);
    for (uint32_t i = 0; i < options_.streams; ++i) {
      auto slot = std::make_unique<Slot>();
      Slot* raw = slot.get();
      if (options_.transport == ClientOptions::Transport::kStream) {
        slot->thread = std::thread([this, raw] { RunStreamSlot(*raw); });
      } else {
        slot->thread = std::thread([this, raw] { RunUnarySlot(*raw); });
      }
      slots_.push_back(std::move(slot));
    }
  }

  absl::Status Record(Event event, std::optional<Clock::time_point> wait_until) {
    if (event.id().empty()) event.set_id(model::NewUuidV4());
    if (options_.validate_locally) {
      if (auto error = model::ValidateEvent(event, limits_)) {
        std::lock_guard<std::mutex> lk(mu_);
        ++stats_.refused_local;
        return absl::InvalidArgumentError(absl::StrCat(error->field, ": ", error->reason));
      }
    }
    const size_t bytes = event.ByteSizeLong();
    std::unique_lock<std::mutex> lk(mu_);
    if (closing_) {
      ++stats_.refused_local;
      return absl::FailedPreconditionError("client is closed: event not recorded");
    }
    if (bytes > options_.max_buffered_bytes) {
      ++stats_.refused_local;
      return absl::ResourceExhaustedError(
          absl::StrCat("event is ", bytes, " bytes, more than the whole client buffer (",
                       options_.max_buffered_bytes, " bytes): event not recorded"));
    }
    while (!Fits(bytes)) {
      if (!wait_until) {
        ++stats_.refused_local;
        return absl::ResourceExhaustedError(BufferFullMessage());
      }
      if (space_cv_.wait_until(lk, *wait_until) == std::cv_status::timeout && !Fits(bytes)) {
        ++stats_.refused_local;
        return absl::DeadlineExceededError(
            absl::StrCat("no room within the timeout: ", BufferFullMessage()));
      }
      if (closing_) {
        ++stats_.refused_local;
        return absl::FailedPreconditionError("client is closed: event not recorded");
      }
    }
    pending_.push_back(PendingEvent{std::move(event), bytes, Clock::now()});
    pending_bytes_ += bytes;
    ++next_ticket_;
    ++stats_.recorded;
    ++stats_.buffered_events;
    stats_.buffered_bytes += bytes;
    // Wake the senders when a linger timer must start or a batch is full.
    if (pending_.size() == 1 || pending_.size() == options_.max_batch_events ||
        (pending_bytes_ >= options_.max_batch_bytes &&
         pending_bytes_ - bytes < options_.max_batch_bytes)) {
      work_cv_.notify_all();
    }
    return absl::OkStatus();
  }

  absl::Status Flush(Ms timeout) {
    const Clock::time_point deadline = SaturatingDeadline(timeout);
    std::unique_lock<std::mutex> lk(mu_);
    const uint64_t target = next_ticket_;
    const uint64_t epoch = failure_epoch_;
    ++flushers_;
    work_cv_.notify_all();
    bool done = true;
    while (LowestOutstanding() < target) {
      if (done_cv_.wait_until(lk, deadline) == std::cv_status::timeout &&
          LowestOutstanding() < target) {
        done = false;
        break;
      }
    }
    --flushers_;
    if (!done) {
      return absl::DeadlineExceededError(
          absl::StrCat("flush timed out with ", stats_.buffered_events, " events not yet acked",
                       stats_.last_error.empty() ? "" : "; last error: ", stats_.last_error));
    }
    if (failure_epoch_ != epoch) return last_failure_;
    return absl::OkStatus();
  }

  absl::Status Close(Ms timeout) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (closed_) return close_status_;
      closing_ = true;
      work_cv_.notify_all();
      space_cv_.notify_all();
    }
    std::lock_guard<std::mutex> close_lock(close_mu_);
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (closed_) return close_status_;
    }
    absl::Status status = Flush(timeout);
    {
      std::lock_guard<std::mutex> lk(mu_);
      shutdown_ = true;
      if (!status.ok()) {
        abort_ = true;
        for (auto& slot : slots_) {
          if (slot->ctx != nullptr) slot->ctx->TryCancel();
        }
      }
      work_cv_.notify_all();
    }
    for (auto& slot : slots_) {
      if (slot->thread.joinable()) slot->thread.join();
    }
    std::vector<Finished> finished;
    {
      std::lock_guard<std::mutex> lk(mu_);
      const absl::Status abandoned =
          absl::CancelledError("client closed before the batch was acked");
      while (!retry_.empty()) {
        BatchPtr batch = std::move(retry_.begin()->second);
        retry_.erase(retry_.begin());
        FailLocked(std::move(batch), abandoned, &finished);
      }
      while (!pending_.empty()) {
        FailLocked(FormBatchLocked(options_.max_batch_events), abandoned, &finished);
      }
    }
    DeliverFinished(finished);
    std::lock_guard<std::mutex> lk(mu_);
    closed_ = true;
    close_status_ = status;
    return status;
  }

  ClientStats Stats() const {
    std::lock_guard<std::mutex> lk(mu_);
    return stats_;
  }

 private:
  struct Slot {
    std::map<uint64_t, BatchPtr> in_flight;  // By sequence; stream mode only.
    grpc::ClientContext* ctx = nullptr;      // Current call, for TryCancel.
    bool broken = false;                     // The reader saw the stream end.
    bool timed_out = false;                  // We cancelled: no ack in time.
    int consecutive_failures = 0;
    Clock::time_point reconnect_at{};
    std::thread thread;
  };

  static Clock::time_point SaturatingDeadline(Ms timeout) {
    const auto now = Clock::now();
    const auto max_ahead = std::chrono::duration_cast<Ms>(std::chrono::hours(24 * 365));
    return now + std::min(std::max(timeout, Ms(0)), max_ahead);
  }

  bool Fits(size_t bytes) const {
    return stats_.buffered_events + 1 <= options_.max_buffered_events &&
           stats_.buffered_bytes + bytes <= options_.max_buffered_bytes;
  }

  std::string BufferFullMessage() const {
    return absl::StrCat("client buffer full (", stats_.buffered_events, " events, ",
                        stats_.buffered_bytes, " bytes waiting for acks; limits ",
                        options_.max_buffered_events, " events, ", options_.max_buffered_bytes,
                        " bytes): event not recorded, counted in refused_local");
  }

  bool HasWorkLocked() const { return !pending_.empty() || !retry_.empty(); }

  uint64_t LowestOutstanding() const {
    uint64_t lowest = next_ticket_;
    if (!pending_.empty()) lowest = next_ticket_ - pending_.size();
    if (!batch_tickets_.empty()) lowest = std::min(lowest, *batch_tickets_.begin());
    return lowest;
  }

  // Moves up to `max_events` (and max_batch_bytes, at least one event) from
  // the pending queue into a new batch.
  BatchPtr FormBatchLocked(size_t max_events) {
    auto batch = std::make_unique<Batch>();
    batch->min_ticket = next_ticket_ - pending_.size();
    auto* events = batch->request.mutable_events();
    while (!pending_.empty() && static_cast<size_t>(events->size()) < max_events) {
      PendingEvent& p = pending_.front();
      if (!events->empty() && batch->bytes + p.bytes > options_.max_batch_bytes) break;
      *events->Add() = std::move(p.event);
      batch->bytes += p.bytes;
      pending_bytes_ -= p.bytes;
      pending_.pop_front();
    }
    batch_tickets_.insert(batch->min_ticket);
    return batch;
  }

  // A batch that may be sent now, or nullptr with *wake lowered to when one
  // could be.
  BatchPtr TakeBatchLocked(Clock::time_point now, Clock::time_point* wake) {
    if (now < throttle_until_) {
      if (HasWorkLocked()) *wake = std::min(*wake, throttle_until_);
      return nullptr;
    }
    if (!retry_.empty()) {
      auto it = retry_.begin();
      if (it->first <= now) {
        BatchPtr batch = std::move(it->second);
        retry_.erase(it);
        return batch;
      }
      *wake = std::min(*wake, it->first);
    }
    if (!pending_.empty()) {
      const bool full = pending_.size() >= options_.max_batch_events ||
                        pending_bytes_ >= options_.max_batch_bytes;
      const auto due_at = pending_.front().recorded + options_.linger;
      if (full || flushers_ > 0 || closing_ || due_at <= now) {
        return FormBatchLocked(options_.max_batch_events);
      }
      *wake = std::min(*wake, due_at);
    }
    return nullptr;
  }

  void MarkSentLocked(Batch& batch, Clock::time_point now) {
    ++batch.attempts;
    if (batch.attempts == 1) batch.first_sent = now;
    batch.last_sent = now;
    ++stats_.batches_sent;
    stats_.events_sent += static_cast<uint64_t>(batch.request.events_size());
  }

  void CompleteLocked(BatchPtr batch, const raceway::v1::BatchResult& result,
                      std::vector<Finished>* finished) {
    ++stats_.batches_acked;
    stats_.acked_accepted += result.accepted();
    stats_.acked_duplicate += result.duplicate();
    stats_.acked_rejected += result.rejected();
    finished->push_back(Finished{std::move(batch), absl::OkStatus(), result, Clock::now()});
  }

  void FailLocked(BatchPtr batch, const absl::Status& status, std::vector<Finished>* finished) {
    stats_.failed += static_cast<uint64_t>(batch->request.events_size());
    stats_.last_error = status.ToString();
    last_failure_ = status;
    ++failure_epoch_;
    finished->push_back(Finished{std::move(batch), status, {}, Clock::now()});
  }

  // A send attempt failed with `status`: retry, split or give up.
  void HandleFailureLocked(BatchPtr batch, const absl::Status& status,
                           std::optional<Ms> server_delay, std::vector<Finished>* finished) {
    const auto now = Clock::now();
    const FailureKind kind = ClassifyFailure(status.code());
    if (status.code() == absl::StatusCode::kResourceExhausted) {
      ++stats_.server_refusals;
    } else if (kind == FailureKind::kRetry) {
      ++stats_.transient_errors;
    }
    stats_.last_error = status.ToString();
    const bool attempts_left = options_.max_attempts == 0 ||
                               static_cast<uint32_t>(batch->attempts) < options_.max_attempts;
    if (kind == FailureKind::kSplit && batch->request.events_size() > 1 && attempts_left) {
      // The batch as a whole is over a server limit: resend it as halves.
      auto second = std::make_unique<Batch>();
      auto* events = batch->request.mutable_events();
      const int half = events->size() / 2;
      for (int i = half; i < events->size(); ++i) {
        const size_t b = events->Get(i).ByteSizeLong();
        second->bytes += b;
        *second->request.add_events() = std::move(*events->Mutable(i));
      }
      events->DeleteSubrange(half, events->size() - half);
      batch->bytes -= std::min(batch->bytes, second->bytes);
      second->min_ticket = batch->min_ticket + static_cast<uint64_t>(half);
      second->attempts = batch->attempts;
      second->first_sent = batch->first_sent;
      batch_tickets_.insert(second->min_ticket);
      stats_.retries += 2;
      retry_.emplace(now, std::move(batch));
      retry_.emplace(now, std::move(second));
      work_cv_.notify_all();
      return;
    }
    if (kind != FailureKind::kRetry || !attempts_left) {
      FailLocked(std::move(batch), status, finished);
      return;
    }
    const Ms delay = RetryDelay(options_.backoff, batch->attempts, server_delay, UnitRandom());
    if (status.code() == absl::StatusCode::kResourceExhausted) {
      // Backpressure applies to the client, not just this batch.
      throttle_until_ = std::max(throttle_until_, now + delay);
    }
    ++stats_.retries;
    retry_.emplace(now + delay, std::move(batch));
    work_cv_.notify_all();
  }

  void ApplyAckLocked(BatchPtr batch, const raceway::v1::StreamAck& ack,
                      std::vector<Finished>* finished) {
    if (ack.code() == 0) {
      CompleteLocked(std::move(batch), ack.result(), finished);
      return;
    }
    const absl::Status status(static_cast<absl::StatusCode>(ack.code()),
                              ack.message().empty() ? "batch not stored" : ack.message());
    std::optional<Ms> server_delay;
    if (ack.retry_after_ms() > 0) server_delay = Ms(ack.retry_after_ms());
    HandleFailureLocked(std::move(batch), status, server_delay, finished);
  }

  // Runs callbacks without the lock, then releases the batches' buffer
  // space and wakes Flush / RecordWait waiters.
  void DeliverFinished(std::vector<Finished>& finished) {
    if (finished.empty()) return;
    if (options_.on_batch_done) {
      for (auto& f : finished) {
        BatchOutcome outcome;
        outcome.status = f.status;
        outcome.result = f.result;
        outcome.events = &f.batch->request.events();
        outcome.sequence = f.batch->sequence;
        outcome.attempts = f.batch->attempts;
        outcome.first_sent = f.batch->first_sent;
        outcome.last_sent = f.batch->last_sent;
        outcome.completed = f.completed;
        options_.on_batch_done(outcome);
      }
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (auto& f : finished) {
        auto it = batch_tickets_.find(f.batch->min_ticket);
        if (it != batch_tickets_.end()) batch_tickets_.erase(it);
        stats_.buffered_events -= static_cast<uint64_t>(f.batch->request.events_size());
        stats_.buffered_bytes -= f.batch->bytes;
      }
    }
    done_cv_.notify_all();
    space_cv_.notify_all();
    work_cv_.notify_all();  // Windows opened.
    finished.clear();
  }

  void AddAuth(grpc::ClientContext& ctx) const {
    if (!options_.api_key.empty()) ctx.AddMetadata("authorization", "Bearer " + options_.api_key);
  }

  // ------------------------------------------------------------ streams

  void RunStreamSlot(Slot& slot) {
    std::unique_lock<std::mutex> lk(mu_);
    while (true) {
      // Open a stream only when there is something to send.
      while (!shutdown_ && !HasWorkLocked()) work_cv_.wait(lk);
      if (shutdown_ && (abort_ || !HasWorkLocked())) break;
      while (!abort_ && slot.consecutive_failures > 0 && Clock::now() < slot.reconnect_at) {
        work_cv_.wait_until(lk, slot.reconnect_at);
      }
      if (abort_) break;

      grpc::ClientContext ctx;
      AddAuth(ctx);
      slot.ctx = &ctx;
      slot.broken = false;
      slot.timed_out = false;
      lk.unlock();
      std::unique_ptr<grpc::ClientReaderWriter<raceway::v1::StreamRequest, raceway::v1::StreamAck>>
          stream = stub_->Stream(&ctx);
      std::thread reader([this, &slot, &stream] { ReadAcks(slot, *stream); });
      SendLoop(slot, *stream, ctx);
      reader.join();
      const grpc::Status status = stream->Finish();
      lk.lock();
      slot.ctx = nullptr;
      std::vector<Finished> finished;
      OnStreamEndLocked(slot, status, &finished);
      if (!finished.empty()) {
        lk.unlock();
        DeliverFinished(finished);
        lk.lock();
      }
    }
  }

  // Writes batches while the stream lives; returns when it ended, was
  // cancelled, or was closed gracefully (WritesDone).
  void SendLoop(
      Slot& slot,
      grpc::ClientReaderWriter<raceway::v1::StreamRequest, raceway::v1::StreamAck>& stream,
      grpc::ClientContext& ctx) {
    std::unique_lock<std::mutex> lk(mu_);
    while (true) {
      if (slot.broken) return;
      if (abort_) {
        ctx.TryCancel();
        return;
      }
      const auto now = Clock::now();
      Clock::time_point wake = now + kIdleWait;
      if (!slot.in_flight.empty()) {
        const auto oldest = slot.in_flight.begin()->second->last_sent;
        if (now - oldest >= options_.ack_timeout) {
          slot.timed_out = true;
          ctx.TryCancel();
          return;
        }
        wake = oldest + options_.ack_timeout;
      }
      if (shutdown_ && !HasWorkLocked() && slot.in_flight.empty()) {
        lk.unlock();
        stream.WritesDone();
        return;
      }
      if (slot.in_flight.size() < options_.max_in_flight_per_stream) {
        if (BatchPtr batch = TakeBatchLocked(now, &wake)) {
          Batch* raw = batch.get();
          raw->sequence = next_sequence_++;
          raw->request.set_sequence(raw->sequence);
          raw->writing = true;
          MarkSentLocked(*raw, now);
          slot.in_flight.emplace(raw->sequence, std::move(batch));
          lk.unlock();
          const bool ok = stream.Write(raw->request);
          lk.lock();
          raw->writing = false;
          if (raw->early_ack) {
            auto it = slot.in_flight.find(raw->sequence);
            BatchPtr done = std::move(it->second);
            slot.in_flight.erase(it);
            std::unique_ptr<raceway::v1::StreamAck> ack = std::move(done->early_ack);
            std::vector<Finished> finished;
            ApplyAckLocked(std::move(done), *ack, &finished);
            if (!finished.empty()) {
              lk.unlock();
              DeliverFinished(finished);
              lk.lock();
            }
          }
          if (!ok) return;  // The stream is over; the reader collects the status.
          continue;
        }
      }
      work_cv_.wait_until(lk, wake);
    }
  }

  void ReadAcks(
      Slot& slot,
      grpc::ClientReaderWriter<raceway::v1::StreamRequest, raceway::v1::StreamAck>& stream) {
    raceway::v1::StreamAck ack;
    std::vector<Finished> finished;
    while (stream.Read(&ack)) {
      {
        std::lock_guard<std::mutex> lk(mu_);
        auto it = slot.in_flight.find(ack.sequence());
        if (it == slot.in_flight.end()) continue;  // Not ours (or already resolved).
        if (it->second->writing) {
          it->second->early_ack = std::make_unique<raceway::v1::StreamAck>(std::move(ack));
          continue;
        }
        BatchPtr batch = std::move(it->second);
        slot.in_flight.erase(it);
        ApplyAckLocked(std::move(batch), ack, &finished);
      }
      DeliverFinished(finished);
    }
    std::lock_guard<std::mutex> lk(mu_);
    slot.broken = true;
    work_cv_.notify_all();
  }

  void OnStreamEndLocked(Slot& slot, const grpc::Status& grpc_status,
                         std::vector<Finished>* finished) {
    if (grpc_status.ok() && slot.in_flight.empty()) {
      slot.consecutive_failures = 0;
      return;
    }
    absl::Status status = FromGrpcStatus(grpc_status);
    if (slot.timed_out) {
      status = absl::DeadlineExceededError(absl::StrCat(
          "no ack within ack_timeout (", options_.ack_timeout.count(), " ms); stream restarted"));
    } else if (status.ok()) {
      status = absl::UnavailableError("stream ended before every batch was acked");
    }
    const std::optional<Ms> server_delay = ServerRetryDelay(grpc_status);
    for (auto& [sequence, batch] : slot.in_flight) {
      HandleFailureLocked(std::move(batch), status, server_delay, finished);
    }
    slot.in_flight.clear();
    if (!status.ok() && ClassifyFailure(status.code()) != FailureKind::kSplit) {
      if (!grpc_status.ok()) stats_.last_error = status.ToString();
      ++slot.consecutive_failures;
      ++stats_.stream_restarts;
      slot.reconnect_at = Clock::now() + RetryDelay(options_.backoff, slot.consecutive_failures,
                                                    server_delay, UnitRandom());
    }
  }

  // ------------------------------------------------------------ unary

  void RunUnarySlot(Slot& slot) {
    std::unique_lock<std::mutex> lk(mu_);
    while (true) {
      if (shutdown_ && (abort_ || !HasWorkLocked())) break;
      const auto now = Clock::now();
      Clock::time_point wake = now + kIdleWait;
      BatchPtr batch = TakeBatchLocked(now, &wake);
      if (!batch) {
        work_cv_.wait_until(lk, wake);
        continue;
      }
      MarkSentLocked(*batch, now);
      grpc::ClientContext ctx;
      AddAuth(ctx);
      ctx.set_deadline(std::chrono::system_clock::now() + options_.ack_timeout);
      slot.ctx = &ctx;
      lk.unlock();
      raceway::v1::SubmitRequest request;
      request.mutable_events()->Swap(batch->request.mutable_events());
      raceway::v1::SubmitResponse response;
      const grpc::Status status = stub_->Submit(&ctx, request, &response);
      batch->request.mutable_events()->Swap(request.mutable_events());
      lk.lock();
      slot.ctx = nullptr;
      std::vector<Finished> finished;
      if (status.ok()) {
        CompleteLocked(std::move(batch), response.result(), &finished);
      } else {
        HandleFailureLocked(std::move(batch), FromGrpcStatus(status), ServerRetryDelay(status),
                            &finished);
      }
      if (!finished.empty()) {
        lk.unlock();
        DeliverFinished(finished);
        lk.lock();
      }
    }
  }

  const ClientOptions options_;
  const model::ValidationLimits limits_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<raceway::v1::IngestService::Stub> stub_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // Senders: new work, acks, shutdown.
  std::condition_variable done_cv_;   // Flush: batches finished.
  std::condition_variable space_cv_;  // RecordWait: buffer space.
  std::deque<PendingEvent> pending_;
  size_t pending_bytes_ = 0;
  // Events get consecutive tickets in Record order; pending_ holds
  // [next_ticket_ - pending_.size(), next_ticket_).
  uint64_t next_ticket_ = 0;
  std::multiset<uint64_t> batch_tickets_;  // min_ticket of unfinished batches.
  std::multimap<Clock::time_point, BatchPtr> retry_;
  Clock::time_point throttle_until_{};
  int flushers_ = 0;
  uint64_t next_sequence_ = 1;
  bool closing_ = false;   // Record refused; batches due at once.
  bool shutdown_ = false;  // Senders finish and exit.
  bool abort_ = false;     // ... without waiting for acks.
  bool closed_ = false;
  absl::Status close_status_;
  uint64_t failure_epoch_ = 0;
  absl::Status last_failure_;
  ClientStats stats_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::mutex close_mu_;
};

absl::StatusOr<std::unique_ptr<RacewayClient>> RacewayClient::Create(ClientOptions options) {
  if (options.target.empty()) return absl::InvalidArgumentError("target is required (host:port)");
  if (options.streams == 0) return absl::InvalidArgumentError("streams must be at least 1");
  if (options.max_in_flight_per_stream == 0) {
    return absl::InvalidArgumentError("max_in_flight_per_stream must be at least 1");
  }
  if (options.max_batch_events == 0) {
    return absl::InvalidArgumentError("max_batch_events must be at least 1");
  }
  if (options.max_buffered_events == 0 || options.max_buffered_bytes == 0) {
    return absl::InvalidArgumentError("max_buffered_events and max_buffered_bytes must be > 0");
  }
  if (options.ack_timeout <= Ms(0)) return absl::InvalidArgumentError("ack_timeout must be > 0");

  auto credentials = ChannelCredentials(options.tls, options.root_certs_file);
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments args;
  if (options.tls && !options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  args.SetMaxSendMessageSize(-1);
  args.SetMaxReceiveMessageSize(-1);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);  // Retries are ours (idempotent ids).
  args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, "raceway-client/1");
  auto channel = grpc::CreateCustomChannel(options.target, *credentials, args);
  auto impl = std::make_unique<Impl>(std::move(options), std::move(channel));
  impl->Start();
  return std::unique_ptr<RacewayClient>(new RacewayClient(std::move(impl)));
}

RacewayClient::RacewayClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RacewayClient::~RacewayClient() = default;

absl::Status RacewayClient::Record(raceway::v1::Event event) {
  return impl_->Record(std::move(event), std::nullopt);
}

absl::Status RacewayClient::RecordWait(raceway::v1::Event event,
                                       std::chrono::milliseconds timeout) {
  const auto now = Clock::now();
  return impl_->Record(std::move(event),
                       now + std::min(std::max(timeout, Ms(0)), std::chrono::duration_cast<Ms>(
                                                                    std::chrono::hours(24 * 365))));
}

absl::Status RacewayClient::Flush(std::chrono::milliseconds timeout) {
  return impl_->Flush(timeout);
}

absl::Status RacewayClient::Close(std::chrono::milliseconds timeout) {
  return impl_->Close(timeout);
}

ClientStats RacewayClient::Stats() const { return impl_->Stats(); }

}  // namespace raceway::client
