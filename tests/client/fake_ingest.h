#ifndef RACEWAY_TESTS_CLIENT_FAKE_INGEST_H_
#define RACEWAY_TESTS_CLIENT_FAKE_INGEST_H_

// A scriptable in-process IngestService for client tests: stores ids in a
// set (idempotent like the real service), and a policy decides per received
// batch whether to commit, refuse, break the stream, ... so that the
// client's retry paths can be driven deterministically.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "raceway/v1/ingest.grpc.pb.h"

namespace raceway::testing {

struct Decision {
  enum Kind {
    kCommit,           // Store, ack OK.
    kRefuse,           // Ack (stream) / status (unary) with `code`, nothing stored.
    kCommitThenBreak,  // Store, then end the stream with UNAVAILABLE (no ack).
    kHold,             // Store nothing, never ack (the stream stays open).
  };
  Kind kind = kCommit;
  grpc::StatusCode code = grpc::StatusCode::RESOURCE_EXHAUSTED;
  uint32_t retry_after_ms = 0;
};

class FakeIngest final : public raceway::v1::IngestService::Service {
 public:
  using Clock = std::chrono::steady_clock;
  // Called for every received batch (0-based arrival number across streams).
  using Policy = std::function<Decision(int batch_number, int event_count)>;

  explicit FakeIngest(
      std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials()) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeIngest() override { Shutdown(); }

  void Shutdown() {
    if (server_) {
      stopping_ = true;
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
      server_.reset();
    }
  }

  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  void set_policy(Policy policy) {
    std::lock_guard<std::mutex> lk(mu_);
    policy_ = std::move(policy);
  }
  void set_required_key(std::string key) { required_key_ = std::move(key); }
  void set_reverse_acks(bool on) { reverse_acks_ = on; }
  // Called with every committed batch (e.g. to write it to a real storage).
  using CommitHook =
      std::function<void(const google::protobuf::RepeatedPtrField<raceway::v1::Event>&)>;
  void set_on_commit(CommitHook hook) {
    std::lock_guard<std::mutex> lk(mu_);
    on_commit_ = std::move(hook);
  }

  size_t stored_count() {
    std::lock_guard<std::mutex> lk(mu_);
    return stored_.size();
  }
  bool has(const std::string& id) {
    std::lock_guard<std::mutex> lk(mu_);
    return stored_.count(id) > 0;
  }
  int batches_received() {
    std::lock_guard<std::mutex> lk(mu_);
    return batches_;
  }
  int streams_opened() const { return streams_opened_; }
  std::vector<uint64_t> sequences() {
    std::lock_guard<std::mutex> lk(mu_);
    return sequences_;
  }
  // Arrival times of batches keyed by their first event's id.
  std::vector<Clock::time_point> arrivals(const std::string& first_id) {
    std::lock_guard<std::mutex> lk(mu_);
    return arrivals_[first_id];
  }
  std::vector<std::string> first_ids_in_order() {
    std::lock_guard<std::mutex> lk(mu_);
    return first_ids_;
  }
  std::vector<std::string> authorization_seen() {
    std::lock_guard<std::mutex> lk(mu_);
    return authorization_;
  }

  grpc::Status Submit(grpc::ServerContext* context, const raceway::v1::SubmitRequest* request,
                      raceway::v1::SubmitResponse* response) override {
    if (auto s = Auth(*context); !s.ok()) return s;
    Decision d = Decide(request->events());
    switch (d.kind) {
      case Decision::kCommit:
      case Decision::kCommitThenBreak:
        Commit(request->events(), response->mutable_result());
        if (d.kind == Decision::kCommitThenBreak) {
          return grpc::Status(grpc::StatusCode::UNAVAILABLE, "committed, answer lost");
        }
        return grpc::Status::OK;
      case Decision::kRefuse:
        return WithRetryInfo(d.code, "refused by the fake", d.retry_after_ms);
      case Decision::kHold:
        while (!context->IsCancelled() && !stopping_) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return grpc::Status(grpc::StatusCode::CANCELLED, "held");
    }
    return grpc::Status::OK;
  }

  grpc::Status Stream(grpc::ServerContext* context,
                      grpc::ServerReaderWriter<raceway::v1::StreamAck, raceway::v1::StreamRequest>*
                          stream) override {
    ++streams_opened_;
    if (auto s = Auth(*context); !s.ok()) return s;
    raceway::v1::StreamRequest request;
    std::optional<raceway::v1::StreamAck> parked;  // reverse_acks_
    while (stream->Read(&request)) {
      {
        std::lock_guard<std::mutex> lk(mu_);
        sequences_.push_back(request.sequence());
      }
      Decision d = Decide(request.events());
      raceway::v1::StreamAck ack;
      ack.set_sequence(request.sequence());
      switch (d.kind) {
        case Decision::kCommit:
          Commit(request.events(), ack.mutable_result());
          break;
        case Decision::kRefuse:
          ack.set_code(static_cast<int32_t>(d.code));
          ack.set_message("refused by the fake");
          ack.set_retry_after_ms(d.retry_after_ms);
          break;
        case Decision::kCommitThenBreak:
          Commit(request.events(), ack.mutable_result());
          return grpc::Status(grpc::StatusCode::UNAVAILABLE, "committed, stream lost");
        case Decision::kHold:
          continue;
      }
      if (reverse_acks_) {
        if (!parked) {
          parked = ack;
          continue;
        }
        stream->Write(ack);
        stream->Write(*parked);
        parked.reset();
        continue;
      }
      stream->Write(ack);
    }
    if (parked) stream->Write(*parked);
    return grpc::Status::OK;
  }

  static grpc::Status WithRetryInfo(grpc::StatusCode code, const std::string& message,
                                    uint32_t retry_after_ms) {
    google::rpc::RetryInfo info;
    info.mutable_retry_delay()->set_seconds(retry_after_ms / 1000);
    info.mutable_retry_delay()->set_nanos(static_cast<int32_t>(retry_after_ms % 1000) * 1000000);
    google::rpc::Status details;
    details.set_code(static_cast<int32_t>(code));
    details.set_message(message);
    details.add_details()->PackFrom(info);
    return grpc::Status(code, message, details.SerializeAsString());
  }

 private:
  grpc::Status Auth(const grpc::ServerContext& context) {
    std::string seen;
    auto it = context.client_metadata().find("authorization");
    if (it != context.client_metadata().end()) seen.assign(it->second.data(), it->second.size());
    {
      std::lock_guard<std::mutex> lk(mu_);
      authorization_.push_back(seen);
    }
    if (!required_key_.empty() && seen != "Bearer " + required_key_) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or wrong API key");
    }
    return grpc::Status::OK;
  }

  Decision Decide(const google::protobuf::RepeatedPtrField<raceway::v1::Event>& events) {
    std::lock_guard<std::mutex> lk(mu_);
    const int n = batches_++;
    if (!events.empty()) {
      arrivals_[events.Get(0).id()].push_back(Clock::now());
      first_ids_.push_back(events.Get(0).id());
    }
    return policy_ ? policy_(n, events.size()) : Decision{};
  }

  void Commit(const google::protobuf::RepeatedPtrField<raceway::v1::Event>& events,
              raceway::v1::BatchResult* result) {
    std::lock_guard<std::mutex> lk(mu_);
    for (int i = 0; i < events.size(); ++i) {
      const auto& e = events.Get(i);
      if (e.metadata().thread_id().empty()) {
        auto* r = result->add_rejected_events();
        r->set_index(static_cast<uint32_t>(i));
        r->set_id(e.id());
        r->set_field("metadata.thread_id");
        r->set_reason("is required and must not be empty");
        result->set_rejected(result->rejected() + 1);
      } else if (stored_.insert(e.id()).second) {
        result->set_accepted(result->accepted() + 1);
      } else {
        result->set_duplicate(result->duplicate() + 1);
      }
    }
    if (on_commit_) on_commit_(events);
  }

  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> streams_opened_{0};
  std::string required_key_;
  bool reverse_acks_ = false;
  std::mutex mu_;
  Policy policy_;
  CommitHook on_commit_;
  int batches_ = 0;
  std::set<std::string> stored_;
  std::vector<uint64_t> sequences_;
  std::map<std::string, std::vector<Clock::time_point>> arrivals_;
  std::vector<std::string> first_ids_;
  std::vector<std::string> authorization_;
};

}  // namespace raceway::testing

#endif  // RACEWAY_TESTS_CLIENT_FAKE_INGEST_H_
