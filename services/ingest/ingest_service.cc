#include "services/ingest/ingest_service.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "libs/service/grpc_util.h"
#include "libs/storage/common/mutex.h"

namespace raceway::ingest {

grpc::ServerUnaryReactor* IngestServiceImpl::Submit(grpc::CallbackServerContext* context,
                                                    const raceway::v1::SubmitRequest* request,
                                                    raceway::v1::SubmitResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (grpc::Status auth = service::CheckApiKey(*context, api_keys_); !auth.ok()) {
    metrics_.Refused("unauthenticated");
    reactor->Finish(auth);
    return reactor;
  }
  // Refusals carry RetryInfo when a retry can succeed (the committer's
  // delay, service::RetryAfter).
  absl::Status queued =
      intake_.Submit(request->events(),
                     [reactor, response](const absl::Status& status, raceway::v1::BatchResult r) {
                       if (!status.ok()) {
                         reactor->Finish(service::ToGrpcStatus(status));
                         return;
                       }
                       *response->mutable_result() = std::move(r);
                       reactor->Finish(grpc::Status::OK);
                     });
  if (!queued.ok()) reactor->Finish(service::ToGrpcStatus(queued));
  return reactor;
}

// One bidirectional stream. Reads run ahead of acks up to
// max_in_flight_per_stream; acks are written one at a time in completion
// order. Finish is called only when reads are over and no batch of this
// stream is still waiting for its commit, so no callback outlives the
// reactor. A cancelled stream ends its reads at once (paused or not) and
// finishes when its last batch has been answered.
class IngestServiceImpl::StreamReactor final
    : public grpc::ServerBidiReactor<raceway::v1::StreamRequest, raceway::v1::StreamAck> {
 public:
  StreamReactor(IngestServiceImpl& service, grpc::CallbackServerContext* context)
      : service_(service) {
    if (grpc::Status auth = service::CheckApiKey(*context, service_.api_keys_); !auth.ok()) {
      service_.metrics_.Refused("unauthenticated");
      storage::common::MutexLock lock(&mu_);
      finished_ = true;  // A later OnCancel must not finish twice.
      Finish(auth);
      return;
    }
    storage::common::MutexLock lock(&mu_);
    StartNextReadLocked();
  }

  void OnReadDone(bool ok) override {
    std::unique_ptr<raceway::v1::StreamRequest> request;
    {
      storage::common::MutexLock lock(&mu_);
      reading_ = false;
      if (!ok) {
        reads_done_ = true;
        MaybeFinishLocked();
        return;
      }
      request = std::move(read_buffer_);
      ++in_flight_;
    }
    const raceway::v1::StreamRequest* raw = request.get();
    const uint64_t sequence = raw->sequence();
    auto holder = std::make_shared<std::unique_ptr<raceway::v1::StreamRequest>>(std::move(request));
    absl::Status queued = service_.intake_.Submit(
        raw->events(),
        [this, sequence, holder](const absl::Status& status, raceway::v1::BatchResult result) {
          CompleteBatch(sequence, status, std::move(result));
        });
    if (!queued.ok()) CompleteBatch(sequence, queued, {});
    storage::common::MutexLock lock(&mu_);
    StartNextReadLocked();
  }

  void OnWriteDone(bool ok) override {
    storage::common::MutexLock lock(&mu_);
    writing_ = false;
    acks_.pop_front();
    if (!ok) {
      // The client is gone: later acks cannot be delivered either.
      write_failed_ = true;
      acks_.clear();
    }
    StartNextWriteLocked();
    StartNextReadLocked();
    MaybeFinishLocked();
  }

  void OnCancel() override {
    storage::common::MutexLock lock(&mu_);
    cancelled_ = true;
    // Reads paused at the in-flight limit have no read outstanding, so no
    // OnReadDone(false) will end them: end them here.
    StartNextReadLocked();
    MaybeFinishLocked();
  }

  void OnDone() override { delete this; }

 private:
  void CompleteBatch(uint64_t sequence, const absl::Status& status,
                     raceway::v1::BatchResult result) {
    raceway::v1::StreamAck ack;
    ack.set_sequence(sequence);
    ack.set_code(static_cast<int32_t>(status.code()));
    if (status.ok()) {
      *ack.mutable_result() = std::move(result);
    } else {
      ack.set_message(std::string(status.message()));
      if (const auto delay = service::RetryAfter(status)) {
        ack.set_retry_after_ms(static_cast<uint32_t>(
            std::min<int64_t>(delay->count(), std::numeric_limits<uint32_t>::max())));
      }
    }
    storage::common::MutexLock lock(&mu_);
    --in_flight_;
    if (!write_failed_) acks_.push_back(std::move(ack));
    StartNextWriteLocked();
    StartNextReadLocked();
    MaybeFinishLocked();
  }

  void StartNextReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reading_ || reads_done_ || finished_) return;
    if (cancelled_) {
      // No read is started after a cancel, so none will report the end.
      reads_done_ = true;
      return;
    }
    if (in_flight_ + acks_.size() >= service_.limits_.max_in_flight_per_stream) return;
    read_buffer_ = std::make_unique<raceway::v1::StreamRequest>();
    reading_ = true;
    StartRead(read_buffer_.get());
  }

  void StartNextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || acks_.empty() || finished_) return;
    writing_ = true;
    StartWrite(&acks_.front());
  }

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || !reads_done_ || in_flight_ > 0 || writing_ || !acks_.empty()) return;
    finished_ = true;
    Finish(grpc::Status::OK);
  }

  IngestServiceImpl& service_;
  storage::common::Mutex mu_;  // Visible to ThreadSanitizer.
  std::unique_ptr<raceway::v1::StreamRequest> read_buffer_ ABSL_GUARDED_BY(mu_);
  std::deque<raceway::v1::StreamAck> acks_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
};

grpc::ServerBidiReactor<raceway::v1::StreamRequest, raceway::v1::StreamAck>*
IngestServiceImpl::Stream(grpc::CallbackServerContext* context) {
  return new StreamReactor(*this, context);
}

}  // namespace raceway::ingest
