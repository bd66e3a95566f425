// The agent client library against a scriptable fake IngestService: batching,
// acks, retries (RESOURCE_EXHAUSTED with the server's delay, broken streams,
// missing acks), splitting, auth, buffer bounds. The real service is used by
// client_ingest_test.cc.

#include "libs/client/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "libs/client/retry.h"
#include "libs/client/status_details.h"
#include "libs/model/uuid.h"
#include "tests/client/fake_ingest.h"
#include "tests/support/events.h"
#include "tests/support/tsan_uninstrumented.h"

namespace raceway::client {
namespace {

using raceway::testing::Decision;
using raceway::testing::FakeIngest;
using ::testing::HasSubstr;
using Ms = std::chrono::milliseconds;

// ThreadSanitizer slows gRPC down by an order of magnitude: smaller loads.
#if defined(RACEWAY_TSAN)
constexpr int kScale = 10;
#else
constexpr int kScale = 1;
#endif

raceway::v1::Event NewEvent(const std::string& trace = "") {
  static const std::string default_trace = model::NewUuidV4();
  return raceway::testing::MakeEvent(trace.empty() ? default_trace : trace, "t1", 0);
}

std::unique_ptr<RacewayClient> MustCreate(ClientOptions options) {
  auto client = RacewayClient::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(*client) : nullptr;
}

ClientOptions FastOptions(const std::string& target) {
  ClientOptions o;
  o.target = target;
  o.backoff.initial = Ms(10);
  o.backoff.max = Ms(100);
  o.close_timeout = Ms(2000);
  return o;
}

// ------------------------------------------------------------------ retry math

TEST(RetryDelayTest, ExponentialWithCapAndJitter) {
  BackoffPolicy p;
  p.initial = Ms(100);
  p.max = Ms(1000);
  p.multiplier = 2;
  p.jitter = 0;
  EXPECT_EQ(RetryDelay(p, 1, std::nullopt, 0.5), Ms(100));
  EXPECT_EQ(RetryDelay(p, 2, std::nullopt, 0.5), Ms(200));
  EXPECT_EQ(RetryDelay(p, 4, std::nullopt, 0.5), Ms(800));
  EXPECT_EQ(RetryDelay(p, 5, std::nullopt, 0.5), Ms(1000));
  EXPECT_EQ(RetryDelay(p, 1000000, std::nullopt, 0.5), Ms(1000));
  p.jitter = 0.2;
  EXPECT_EQ(RetryDelay(p, 1, std::nullopt, 0.0), Ms(80));
  EXPECT_EQ(RetryDelay(p, 1, std::nullopt, 0.5), Ms(100));
  EXPECT_EQ(RetryDelay(p, 1, std::nullopt, 0.999999), Ms(120));
  EXPECT_EQ(RetryDelay(p, 9, std::nullopt, 0.0), Ms(800));
  for (int i = 0; i < 100; ++i) {
    const Ms d = RetryDelay(p, 3, std::nullopt, i / 100.0);
    EXPECT_GE(d, Ms(320));
    EXPECT_LE(d, Ms(480));
  }
}

TEST(RetryDelayTest, ServerDelayIsALowerBound) {
  BackoffPolicy p;
  p.initial = Ms(50);
  p.max = Ms(5000);
  p.jitter = 0.2;
  EXPECT_EQ(RetryDelay(p, 1, Ms(300), 0.0), Ms(300));
  EXPECT_EQ(RetryDelay(p, 1, Ms(300), 0.99), Ms(300));
  // Once the backoff is longer, it wins.
  EXPECT_GT(RetryDelay(p, 8, Ms(300), 0.5), Ms(300));
  EXPECT_EQ(RetryDelay(p, 1, Ms(0), 0.5), Ms(50));
}

TEST(RetryDelayTest, Classification) {
  EXPECT_EQ(ClassifyFailure(absl::StatusCode::kUnavailable), FailureKind::kRetry);
  EXPECT_EQ(ClassifyFailure(absl::StatusCode::kResourceExhausted), FailureKind::kRetry);
  EXPECT_EQ(ClassifyFailure(absl::StatusCode::kDeadlineExceeded), FailureKind::kRetry);
  EXPECT_EQ(ClassifyFailure(absl::StatusCode::kInvalidArgument), FailureKind::kSplit);
  EXPECT_EQ(ClassifyFailure(absl::StatusCode::kUnauthenticated), FailureKind::kFatal);
  EXPECT_EQ(ClassifyFailure(absl::StatusCode::kPermissionDenied), FailureKind::kFatal);
  EXPECT_EQ(ClassifyFailure(absl::StatusCode::kUnimplemented), FailureKind::kFatal);
}

TEST(StatusDetailsTest, ReadsRetryInfo) {
  EXPECT_EQ(ServerRetryDelay(
                FakeIngest::WithRetryInfo(grpc::StatusCode::RESOURCE_EXHAUSTED, "busy", 1250)),
            Ms(1250));
  EXPECT_EQ(ServerRetryDelay(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")), std::nullopt);
  EXPECT_EQ(ServerRetryDelay(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down", "\xff garbage")),
            std::nullopt);
  // Sub-millisecond delays round up; other detail types are skipped.
  google::rpc::RetryInfo info;
  info.mutable_retry_delay()->set_nanos(1);
  google::rpc::BadRequest bad;
  google::rpc::Status details;
  details.add_details()->PackFrom(bad);
  details.add_details()->PackFrom(info);
  EXPECT_EQ(ServerRetryDelay(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "x",
                                          details.SerializeAsString())),
            Ms(1));
  absl::Status s = FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no key"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(s.message(), "no key");
}

// ------------------------------------------------------------------ options

TEST(ClientCreateTest, RejectsUnusableOptions) {
  ClientOptions o;
  o.streams = 0;
  EXPECT_EQ(RacewayClient::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = ClientOptions{};
  o.max_batch_events = 0;
  EXPECT_EQ(RacewayClient::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = ClientOptions{};
  o.tls = true;
  o.root_certs_file = "/nonexistent/ca.pem";
  EXPECT_EQ(RacewayClient::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------------ buffer bound

TEST(ClientBufferTest, BoundRefusesAndCountsDroppedAtSource) {
  // Nothing listens on port 1: events stay buffered (and are retried).
  ClientOptions o = FastOptions("127.0.0.1:1");
  o.max_buffered_events = 100;
  auto client = MustCreate(o);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(client->Record(NewEvent()).ok()) << i;
  absl::Status refused = client->Record(NewEvent());
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("client buffer full"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("refused_local"));
  for (int i = 0; i < 9; ++i) EXPECT_FALSE(client->Record(NewEvent()).ok());
  const auto start = Clock::now();
  EXPECT_EQ(client->RecordWait(NewEvent(), Ms(100)).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(Clock::now() - start, Ms(100));
  ClientStats stats = client->Stats();
  EXPECT_EQ(stats.recorded, 100u);
  EXPECT_EQ(stats.refused_local, 11u);
  EXPECT_EQ(stats.buffered_events, 100u);
  EXPECT_EQ(stats.acked_accepted, 0u);

  EXPECT_EQ(client->Flush(Ms(100)).code(), absl::StatusCode::kDeadlineExceeded);
  // The failed connection attempts are visible (and retried).
  const auto deadline = Clock::now() + Ms(10000);
  while (client->Stats().transient_errors == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(Ms(10));
  }
  EXPECT_EQ(client->Close(Ms(50)).code(), absl::StatusCode::kDeadlineExceeded);
  stats = client->Stats();
  EXPECT_EQ(stats.failed, 100u) << "unacked events at Close are reported, not dropped silently";
  EXPECT_EQ(stats.buffered_events, 0u);
  EXPECT_GT(stats.transient_errors, 0u);
  EXPECT_EQ(client->Record(NewEvent()).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ClientBufferTest, ByteBound) {
  ClientOptions o = FastOptions("127.0.0.1:1");
  raceway::v1::Event e = NewEvent();
  const size_t size = e.ByteSizeLong();
  o.max_buffered_bytes = size * 3 + size / 2;
  auto client = MustCreate(o);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->Record(NewEvent()).ok());
  EXPECT_EQ(client->Record(NewEvent()).code(), absl::StatusCode::kResourceExhausted);
  raceway::v1::Event huge = NewEvent();
  huge.mutable_function_call()->set_module(std::string(o.max_buffered_bytes, 'x'));
  absl::Status s = client->RecordWait(huge, Ms(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()), HasSubstr("more than the whole client buffer"));
  EXPECT_EQ(client->Stats().refused_local, 2u);
  (void)client->Close(Ms(0));
}

TEST(ClientBufferTest, RecordWaitProceedsAsAcksFreeSpace) {
  FakeIngest server;
  ClientOptions o = FastOptions(server.target());
  o.max_buffered_events = 10;
  o.max_batch_events = 4;
  auto client = MustCreate(o);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(client->RecordWait(NewEvent(), Ms(5000)).ok()) << i;
  ASSERT_TRUE(client->Flush(Ms(5000)).ok());
  EXPECT_EQ(server.stored_count(), 200u);
  EXPECT_EQ(client->Stats().refused_local, 0u);
}

TEST(ClientBufferTest, LocalValidation) {
  ClientOptions o = FastOptions("127.0.0.1:1");
  o.validate_locally = true;
  auto client = MustCreate(o);
  raceway::v1::Event bad = NewEvent();
  bad.mutable_metadata()->clear_thread_id();
  absl::Status s = client->Record(bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("metadata.thread_id"));
  EXPECT_EQ(client->Stats().refused_local, 1u);
  (void)client->Close(Ms(0));
}

// ------------------------------------------------------------------ streaming

TEST(ClientStreamTest, SendsEverythingAndFlushWaitsForAcks) {
  FakeIngest server;
  std::atomic<uint64_t> callback_events{0};
  std::atomic<int> callbacks{0};
  ClientOptions o = FastOptions(server.target());
  o.streams = 3;
  o.max_batch_events = 100;
  o.on_batch_done = [&](const BatchOutcome& outcome) {
    EXPECT_TRUE(outcome.status.ok());
    EXPECT_EQ(outcome.attempts, 1);
    EXPECT_GE(outcome.completed, outcome.last_sent);
    callback_events += static_cast<uint64_t>(outcome.events->size());
    ++callbacks;
  };
  auto client = MustCreate(o);
  std::vector<std::string> ids;
  std::vector<std::thread> producers;
  std::mutex ids_mu;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&] {
      for (int i = 0; i < 2500 / kScale; ++i) {
        raceway::v1::Event e = NewEvent();
        {
          std::lock_guard<std::mutex> lk(ids_mu);
          ids.push_back(e.id());
        }
        ASSERT_TRUE(client->Record(std::move(e)).ok());
      }
    });
  }
  for (auto& p : producers) p.join();
  ASSERT_TRUE(client->Flush(Ms(60000)).ok());
  ClientStats stats = client->Stats();
  const uint64_t total = 4 * (2500 / kScale);
  EXPECT_EQ(stats.recorded, total);
  EXPECT_EQ(stats.acked_accepted, total);
  EXPECT_EQ(stats.acked_duplicate, 0u);
  EXPECT_EQ(stats.buffered_events, 0u);
  EXPECT_EQ(stats.buffered_bytes, 0u);
  EXPECT_EQ(stats.retries, 0u);
  EXPECT_EQ(callback_events.load(), total) << "Flush returns after the callbacks ran";
  EXPECT_EQ(static_cast<uint64_t>(callbacks.load()), stats.batches_acked);
  EXPECT_EQ(server.stored_count(), total);
  for (const auto& id : ids) ASSERT_TRUE(server.has(id)) << id;
  auto sequences = server.sequences();
  EXPECT_EQ(std::set<uint64_t>(sequences.begin(), sequences.end()).size(), sequences.size())
      << "sequence numbers are unique";
  EXPECT_GE(server.streams_opened(), 1);
  EXPECT_LE(server.streams_opened(), 3);
  EXPECT_TRUE(client->Close(Ms(1000)).ok());
}

TEST(ClientStreamTest, EmptyIdIsFilledAndLingerSendsPartialBatches) {
  FakeIngest server;
  ClientOptions o = FastOptions(server.target());
  o.linger = Ms(20);
  auto client = MustCreate(o);
  raceway::v1::Event e = NewEvent();
  e.clear_id();
  ASSERT_TRUE(client->Record(e).ok());
  // No Flush: the linger timer alone must send the one-event batch.
  const auto deadline = Clock::now() + Ms(3000);
  while (server.stored_count() < 1 && Clock::now() < deadline) {
    std::this_thread::sleep_for(Ms(5));
  }
  ASSERT_EQ(server.stored_count(), 1u);
  const auto first = server.first_ids_in_order();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(model::IsCanonicalUuid(first[0]));
}

TEST(ClientStreamTest, OutOfOrderAcksAreMatchedBySequence) {
  FakeIngest server;
  server.set_reverse_acks(true);
  ClientOptions o = FastOptions(server.target());
  o.max_batch_events = 10;
  o.max_in_flight_per_stream = 4;
  auto client = MustCreate(o);
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(client->Record(NewEvent()).ok());
  ASSERT_TRUE(client->Flush(Ms(60000)).ok());
  EXPECT_EQ(client->Stats().acked_accepted, 500u);
  EXPECT_EQ(server.stored_count(), 500u);
}

TEST(ClientStreamTest, ResourceExhaustedHonoursRetryAfter) {
  FakeIngest server;
  server.set_policy([](int n, int) {
    if (n < 2) return Decision{Decision::kRefuse, grpc::StatusCode::RESOURCE_EXHAUSTED, 300};
    return Decision{};
  });
  ClientOptions o = FastOptions(server.target());
  o.max_batch_events = 50;
  auto client = MustCreate(o);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(client->Record(NewEvent()).ok());
  ASSERT_TRUE(client->Flush(Ms(60000)).ok());
  ClientStats stats = client->Stats();
  EXPECT_EQ(stats.server_refusals, 2u);
  EXPECT_EQ(stats.retries, 2u);
  EXPECT_EQ(stats.batches_sent, 3u);
  EXPECT_EQ(stats.acked_accepted, 50u);
  const auto first = server.first_ids_in_order();
  ASSERT_FALSE(first.empty());
  const auto times = server.arrivals(first[0]);
  ASSERT_EQ(times.size(), 3u) << "the same batch, sent three times";
  EXPECT_GE(times[1] - times[0], Ms(300));
  EXPECT_GE(times[2] - times[1], Ms(300));
}

TEST(ClientStreamTest, BackpressureHoldsBackOtherBatchesToo) {
  FakeIngest server;
  server.set_policy([](int n, int) {
    if (n == 0) return Decision{Decision::kRefuse, grpc::StatusCode::RESOURCE_EXHAUSTED, 250};
    return Decision{};
  });
  ClientOptions o = FastOptions(server.target());
  o.max_batch_events = 10;
  o.max_in_flight_per_stream = 1;
  o.linger = Ms(60000);  // Batches are formed by size (or Flush) only.
  auto client = MustCreate(o);
  const auto start = FakeIngest::Clock::now();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(client->Record(NewEvent()).ok());
  ASSERT_TRUE(client->Flush(Ms(60000)).ok());
  const auto first = server.first_ids_in_order();
  ASSERT_GE(first.size(), 2u);
  // Every send after the refusal (the refused batch's and the others')
  // arrived at least 250 ms after it.
  const auto refused_at = server.arrivals(first[0])[0];
  int later_sends = 0;
  for (const auto& id : std::set<std::string>(first.begin(), first.end())) {
    for (auto t : server.arrivals(id)) {
      if (t == refused_at) continue;
      EXPECT_GE(t - refused_at, Ms(250));
      ++later_sends;
    }
  }
  EXPECT_EQ(later_sends, server.batches_received() - 1);
  EXPECT_GE(FakeIngest::Clock::now() - start, Ms(250));
  EXPECT_EQ(server.stored_count(), 30u);
}

TEST(ClientStreamTest, UnavailableAckIsRetriedWithBackoff) {
  FakeIngest server;
  server.set_policy([](int n, int) {
    if (n < 3) return Decision{Decision::kRefuse, grpc::StatusCode::UNAVAILABLE, 0};
    return Decision{};
  });
  auto client = MustCreate(FastOptions(server.target()));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(client->Record(NewEvent()).ok());
  ASSERT_TRUE(client->Flush(Ms(60000)).ok());
  ClientStats stats = client->Stats();
  EXPECT_EQ(stats.transient_errors, 3u);
  EXPECT_EQ(stats.acked_accepted, 20u);
  EXPECT_EQ(server.stored_count(), 20u);
}

TEST(ClientStreamTest, BrokenStreamResendIsIdempotent) {
  FakeIngest server;
  // The first batch is committed but its ack is lost with the stream.
  server.set_policy(
      [](int n, int) { return n == 0 ? Decision{Decision::kCommitThenBreak} : Decision{}; });
  std::atomic<int> duplicates_seen{0};
  ClientOptions o = FastOptions(server.target());
  o.max_batch_events = 25;
  o.max_in_flight_per_stream = 1;
  o.on_batch_done = [&](const BatchOutcome& outcome) {
    if (outcome.result.duplicate() > 0) {
      EXPECT_EQ(outcome.attempts, 2);
      duplicates_seen += static_cast<int>(outcome.result.duplicate());
    }
  };
  o.linger = Ms(60000);  // Batches are formed by size (or Flush) only.
  auto client = MustCreate(o);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(client->Record(NewEvent()).ok());
  ASSERT_TRUE(client->Flush(Ms(60000)).ok());
  ClientStats stats = client->Stats();
  EXPECT_EQ(stats.acked_accepted + stats.acked_duplicate, 100u);
  EXPECT_EQ(stats.acked_duplicate, 25u) << "the lost-ack batch came back as duplicates";
  EXPECT_EQ(duplicates_seen.load(), 25);
  EXPECT_GE(stats.stream_restarts, 1u);
  EXPECT_EQ(server.stored_count(), 100u) << "nothing stored twice";
  EXPECT_GE(server.streams_opened(), 2);
}

TEST(ClientStreamTest, MissingAckTimesOutAndResends) {
  FakeIngest server;
  server.set_policy([](int n, int) { return n == 0 ? Decision{Decision::kHold} : Decision{}; });
  ClientOptions o = FastOptions(server.target());
  o.ack_timeout = Ms(200);
  o.linger = Ms(60000);  // Batches are formed by size (or Flush) only.
  auto client = MustCreate(o);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(client->Record(NewEvent()).ok());
  const auto start = Clock::now();
  ASSERT_TRUE(client->Flush(Ms(60000)).ok());
  EXPECT_GE(Clock::now() - start, Ms(200));
  EXPECT_EQ(server.stored_count(), 10u);
  EXPECT_THAT(client->Stats().last_error, HasSubstr("ack_timeout"));
}

TEST(ClientStreamTest, OversizedBatchIsSplit) {
  FakeIngest server;
  std::atomic<int> max_accepted_size{0};
  server.set_policy([&](int, int events) {
    if (events > 10) return Decision{Decision::kRefuse, grpc::StatusCode::INVALID_ARGUMENT, 0};
    max_accepted_size = std::max(max_accepted_size.load(), events);
    return Decision{};
  });
  ClientOptions o = FastOptions(server.target());
  o.max_batch_events = 64;
  auto client = MustCreate(o);
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(client->Record(NewEvent()).ok());
  ASSERT_TRUE(client->Flush(Ms(60000)).ok());
  EXPECT_EQ(server.stored_count(), 64u);
  EXPECT_LE(max_accepted_size.load(), 10);
  EXPECT_EQ(client->Stats().failed, 0u);
}

TEST(ClientStreamTest, ServerRejectionsArePartialSuccessNotRetried) {
  FakeIngest server;
  std::vector<std::string> rejected_ids;
  std::mutex mu;
  ClientOptions o = FastOptions(server.target());
  o.on_batch_done = [&](const BatchOutcome& outcome) {
    std::lock_guard<std::mutex> lk(mu);
    for (const auto& r : outcome.result.rejected_events()) {
      EXPECT_EQ(outcome.events->Get(static_cast<int>(r.index())).id(), r.id());
      rejected_ids.push_back(r.id());
    }
  };
  auto client = MustCreate(o);
  raceway::v1::Event bad = NewEvent();
  bad.mutable_metadata()->clear_thread_id();
  ASSERT_TRUE(client->Record(NewEvent()).ok());
  ASSERT_TRUE(client->Record(bad).ok());
  ASSERT_TRUE(client->Record(NewEvent()).ok());
  ASSERT_TRUE(client->Flush(Ms(5000)).ok());
  ClientStats stats = client->Stats();
  EXPECT_EQ(stats.acked_accepted, 2u);
  EXPECT_EQ(stats.acked_rejected, 1u);
  EXPECT_EQ(stats.retries, 0u);
  EXPECT_EQ(rejected_ids, std::vector<std::string>{bad.id()});
}

TEST(ClientStreamTest, ApiKeyIsSentAndWrongKeyFailsLoudly) {
  FakeIngest server;
  server.set_required_key("s3cret");
  {
    ClientOptions o = FastOptions(server.target());
    o.api_key = "s3cret";
    auto client = MustCreate(o);
    ASSERT_TRUE(client->Record(NewEvent()).ok());
    ASSERT_TRUE(client->Flush(Ms(5000)).ok());
    EXPECT_EQ(server.stored_count(), 1u);
    EXPECT_THAT(server.authorization_seen(), ::testing::Contains("Bearer s3cret"));
  }
  ClientOptions o = FastOptions(server.target());
  o.api_key = "wrong";
  auto client = MustCreate(o);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client->Record(NewEvent()).ok());
  absl::Status flushed = client->Flush(Ms(5000));
  EXPECT_EQ(flushed.code(), absl::StatusCode::kUnauthenticated) << flushed;
  ClientStats stats = client->Stats();
  EXPECT_EQ(stats.failed, 5u);
  EXPECT_EQ(stats.acked_accepted, 0u);
  EXPECT_THAT(stats.last_error, HasSubstr("UNAUTHENTICATED"));
  EXPECT_EQ(server.stored_count(), 1u);
}

TEST(ClientStreamTest, MaxAttemptsGivesUp) {
  FakeIngest server;
  server.set_policy([](int, int) {
    return Decision{Decision::kRefuse, grpc::StatusCode::UNAVAILABLE, 0};
  });
  std::atomic<int> failures{0};
  ClientOptions o = FastOptions(server.target());
  o.max_attempts = 3;
  o.on_batch_done = [&](const BatchOutcome& outcome) {
    EXPECT_EQ(outcome.status.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(outcome.attempts, 3);
    ++failures;
  };
  auto client = MustCreate(o);
  ASSERT_TRUE(client->Record(NewEvent()).ok());
  EXPECT_EQ(client->Flush(Ms(5000)).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(failures.load(), 1);
  EXPECT_EQ(server.batches_received(), 3);
  EXPECT_EQ(client->Stats().failed, 1u);
}

TEST(ClientStreamTest, ServerDownThenUpDeliversEverything) {
  std::string target;
  int port = 0;
  {
    FakeIngest probe;  // Reserve a port number, then free it.
    target = probe.target();
    port = std::stoi(target.substr(target.find(':') + 1));
  }
  auto client = MustCreate(FastOptions(target));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(client->Record(NewEvent()).ok());
  const auto deadline = Clock::now() + Ms(10000);
  while (client->Stats().transient_errors == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(Ms(10));
  }
  EXPECT_GT(client->Stats().transient_errors, 0u);
  // Start a server on the same port.
  std::unique_ptr<grpc::Server> grpc_server;
  class Service final : public raceway::v1::IngestService::Service {
   public:
    std::atomic<int> stored{0};
    grpc::Status Stream(grpc::ServerContext*,
                        grpc::ServerReaderWriter<raceway::v1::StreamAck,
                                                 raceway::v1::StreamRequest>* stream) override {
      raceway::v1::StreamRequest request;
      while (stream->Read(&request)) {
        raceway::v1::StreamAck ack;
        ack.set_sequence(request.sequence());
        ack.mutable_result()->set_accepted(static_cast<uint32_t>(request.events_size()));
        stored += request.events_size();
        stream->Write(ack);
      }
      return grpc::Status::OK;
    }
  } service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  grpc_server = builder.BuildAndStart();
  ASSERT_NE(grpc_server, nullptr);
  ASSERT_TRUE(client->Flush(Ms(60000)).ok());
  EXPECT_EQ(service.stored.load(), 50);
  EXPECT_EQ(client->Stats().acked_accepted, 50u);
  ASSERT_TRUE(client->Close(Ms(1000)).ok());
  grpc_server->Shutdown();
}

// ------------------------------------------------------------------ TLS

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(RACEWAY_CLIENT_FIXTURE_DIR) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ClientTlsTest, VerifiesTheServerWithTheGivenRoots) {
  // fixtures/server.{crt,key}: a self-signed test certificate (CN and SAN
  // raceway-test, localhost, 127.0.0.1), generated once with openssl.
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({ReadFixture("server.key"), ReadFixture("server.crt")});
  FakeIngest server(grpc::SslServerCredentials(ssl));
  {
    ClientOptions o = FastOptions(server.target());
    o.tls = true;
    o.root_certs_file = std::string(RACEWAY_CLIENT_FIXTURE_DIR) + "/server.crt";
    o.tls_server_name = "raceway-test";
    auto client = MustCreate(o);
    ASSERT_TRUE(client->Record(NewEvent()).ok());
    absl::Status s = client->Flush(Ms(30000));
    ASSERT_TRUE(s.ok()) << s << " " << client->Stats().last_error;
    EXPECT_EQ(server.stored_count(), 1u);
  }
  // A plaintext client cannot talk to it; the failure is reported.
  ClientOptions o = FastOptions(server.target());
  o.max_attempts = 2;
  auto client = MustCreate(o);
  ASSERT_TRUE(client->Record(NewEvent()).ok());
  EXPECT_FALSE(client->Flush(Ms(30000)).ok());
  EXPECT_EQ(client->Stats().failed, 1u);
  EXPECT_EQ(server.stored_count(), 1u);
}

// ------------------------------------------------------------------ unary

TEST(ClientUnaryTest, SubmitRetriesHonourRetryInfo) {
  FakeIngest server;
  server.set_policy([](int n, int) {
    if (n == 0) return Decision{Decision::kRefuse, grpc::StatusCode::RESOURCE_EXHAUSTED, 200};
    if (n == 1) return Decision{Decision::kCommitThenBreak};  // Committed; answer lost.
    return Decision{};
  });
  ClientOptions o = FastOptions(server.target());
  o.transport = ClientOptions::Transport::kUnary;
  o.streams = 2;
  o.max_batch_events = 100;
  auto client = MustCreate(o);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(client->Record(NewEvent()).ok());
  ASSERT_TRUE(client->Flush(Ms(60000)).ok());
  ClientStats stats = client->Stats();
  EXPECT_EQ(stats.server_refusals, 1u);
  EXPECT_EQ(stats.acked_accepted + stats.acked_duplicate, 100u);
  EXPECT_EQ(stats.acked_duplicate, 100u);
  EXPECT_EQ(server.stored_count(), 100u);
  const auto first = server.first_ids_in_order();
  const auto times = server.arrivals(first[0]);
  ASSERT_EQ(times.size(), 3u);
  EXPECT_GE(times[1] - times[0], Ms(200));
}

TEST(ClientUnaryTest, ManyEventsManyWorkers) {
  FakeIngest server;
  ClientOptions o = FastOptions(server.target());
  o.transport = ClientOptions::Transport::kUnary;
  o.streams = 4;
  o.max_batch_events = 50;
  o.linger = Ms(60000);  // Batches are formed by size (or Flush) only.
  auto client = MustCreate(o);
  const int n = 3000 / kScale;
  for (int i = 0; i < n; ++i) ASSERT_TRUE(client->Record(NewEvent()).ok());
  ASSERT_TRUE(client->Flush(Ms(60000)).ok());
  EXPECT_EQ(server.stored_count(), static_cast<size_t>(n));
  EXPECT_EQ(client->Stats().acked_accepted, static_cast<uint64_t>(n));
}

// ------------------------------------------------------------------ lifecycle

TEST(ClientLifecycleTest, CloseFlushesThenRefuses) {
  FakeIngest server;
  ClientOptions o = FastOptions(server.target());
  o.linger = Ms(10000);  // Only Close's flush sends these.
  auto client = MustCreate(o);
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(client->Record(NewEvent()).ok());
  ASSERT_TRUE(client->Close(Ms(5000)).ok());
  EXPECT_EQ(server.stored_count(), 7u);
  EXPECT_EQ(client->Record(NewEvent()).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(client->Close(Ms(5000)).ok()) << "idempotent";
  EXPECT_EQ(client->Stats().refused_local, 1u);
}

TEST(ClientLifecycleTest, DestructorDeliversBufferedEvents) {
  FakeIngest server;
  {
    ClientOptions o = FastOptions(server.target());
    o.linger = Ms(10000);
    auto client = MustCreate(o);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->Record(NewEvent()).ok());
  }
  EXPECT_EQ(server.stored_count(), 3u);
}

TEST(ClientLifecycleTest, ConcurrentFlushesAndRecords) {
  FakeIngest server;
  ClientOptions o = FastOptions(server.target());
  o.streams = 2;
  o.max_batch_events = 16;
  auto client = MustCreate(o);
  std::vector<std::thread> threads;
  std::atomic<int> recorded{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        ASSERT_TRUE(client->Record(NewEvent()).ok());
        ++recorded;
        if (i % 50 == 0) {
          ASSERT_TRUE(client->Flush(Ms(60000)).ok());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(client->Flush(Ms(60000)).ok());
  EXPECT_EQ(server.stored_count(), 1200u);
}

}  // namespace
}  // namespace raceway::client
