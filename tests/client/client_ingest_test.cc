// The agent client and the load generator against the real ingest service
// (raceway::ingest::IngestServer over the memory storage, in process).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/client/client.h"
#include "libs/model/uuid.h"
#include "libs/service/config.h"
#include "libs/storage/factory.h"
#include "services/ingest/ingest_server.h"
#include "tests/support/events.h"
#include "tests/support/tsan_uninstrumented.h"
#include "tools/loadgen/loadgen.h"

namespace raceway::client {
namespace {

using raceway::v1::Event;
using ::testing::HasSubstr;
using Ms = std::chrono::milliseconds;

class ClientIngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::StorageOptions options;
    options.backend = "memory";
    auto opened = storage::OpenStorage(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    storage_ = std::move(*opened);
    config_.ingest.listen = "127.0.0.1:0";
    config_.ingest.http_listen = "";
    config_.metrics.ingest_listen = "";
    config_.ingest.flush_interval_ms = 2;
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  void StartServer() {
    auto server = ingest::IngestServer::Start(config_, storage_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  ClientOptions Options() {
    ClientOptions o;
    o.target = absl::StrCat("127.0.0.1:", server_->grpc_port());
    o.backoff.initial = Ms(10);
    o.backoff.max = Ms(200);
    return o;
  }

  std::unique_ptr<RacewayClient> NewClient(ClientOptions o) {
    auto client = RacewayClient::Create(std::move(o));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  std::vector<Event> Events(int n, int traces = 5) {
    std::vector<std::string> trace_ids;
    for (int t = 0; t < traces; ++t) trace_ids.push_back(model::NewUuidV4());
    std::vector<Event> out;
    for (int i = 0; i < n; ++i) {
      out.push_back(raceway::testing::MakeEvent(trace_ids[static_cast<size_t>(i % traces)],
                                                absl::StrCat("t", i % 3), i));
    }
    return out;
  }

  void ExpectStored(const std::vector<Event>& events) {
    for (const auto& e : events) {
      auto got = storage_->GetEvent(e.id());
      ASSERT_TRUE(got.ok()) << e.id() << ": " << got.status();
      EXPECT_EQ(got->SerializeAsString(), e.SerializeAsString());
    }
  }

  std::shared_ptr<storage::Storage> storage_;
  service::Config config_;
  std::unique_ptr<ingest::IngestServer> server_;
};

TEST_F(ClientIngestTest, StreamedEventsAreAllAckedAndStored) {
  StartServer();
  ClientOptions o = Options();
  o.streams = 3;
  o.max_batch_events = 250;
  auto client = NewClient(o);
  const std::vector<Event> events = Events(5000);
  for (const auto& e : events) ASSERT_TRUE(client->Record(e).ok());
  ASSERT_TRUE(client->Flush(Ms(30000)).ok()) << client->Stats().last_error;
  ClientStats stats = client->Stats();
  EXPECT_EQ(stats.acked_accepted, 5000u);
  EXPECT_EQ(stats.acked_duplicate, 0u);
  EXPECT_EQ(stats.acked_rejected, 0u);
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(stats.buffered_events, 0u);
  ExpectStored(events);
  EXPECT_EQ(*storage_->CountEvents(), 5000u);
}

TEST_F(ClientIngestTest, UnaryTransport) {
  StartServer();
  ClientOptions o = Options();
  o.transport = ClientOptions::Transport::kUnary;
  o.streams = 2;
  o.max_batch_events = 100;
  auto client = NewClient(o);
  const std::vector<Event> events = Events(1000);
  for (const auto& e : events) ASSERT_TRUE(client->Record(e).ok());
  ASSERT_TRUE(client->Flush(Ms(30000)).ok()) << client->Stats().last_error;
  EXPECT_EQ(client->Stats().acked_accepted, 1000u);
  ExpectStored(events);
}

TEST_F(ClientIngestTest, ResourceExhaustedIsRetriedAfterTheServersDelay) {
  // A tiny byte bound: only one batch may wait for its commit at a time, so
  // concurrent batches are refused with RESOURCE_EXHAUSTED + retry delay.
  config_.ingest.max_buffered_bytes = 1;
  config_.ingest.flush_interval_ms = 20;
  config_.ingest.batch_size = 100000;
  config_.ingest.retry_after_ms = 60;
  StartServer();
  std::mutex mu;
  std::vector<BatchOutcome> retried;
  ClientOptions o = Options();
  o.streams = 4;
  o.max_batch_events = 50;
  o.backoff.initial = Ms(1);
  o.backoff.jitter = 0;
  o.on_batch_done = [&](const BatchOutcome& outcome) {
    EXPECT_TRUE(outcome.status.ok()) << outcome.status;
    if (outcome.attempts > 1) {
      std::lock_guard<std::mutex> lk(mu);
      retried.push_back(outcome);
    }
  };
  auto client = NewClient(o);
  const std::vector<Event> events = Events(1000);
  for (const auto& e : events) ASSERT_TRUE(client->Record(e).ok());
  ASSERT_TRUE(client->Flush(Ms(60000)).ok()) << client->Stats().last_error;
  ClientStats stats = client->Stats();
  EXPECT_GT(stats.server_refusals, 0u);
  EXPECT_GE(stats.retries, stats.server_refusals);
  EXPECT_EQ(stats.acked_accepted, 1000u);
  EXPECT_EQ(stats.failed, 0u);
  ASSERT_FALSE(retried.empty());
  for (const auto& outcome : retried) {
    // Each resend waited at least the server's 60 ms.
    EXPECT_GE(outcome.last_sent - outcome.first_sent, Ms(60) * (outcome.attempts - 1));
  }
  ExpectStored(events);
}

TEST_F(ClientIngestTest, LocalBufferBoundReportsRefusals) {
  config_.ingest.flush_interval_ms = 50;
  StartServer();
  ClientOptions o = Options();
  o.max_buffered_events = 64;
  auto client = NewClient(o);
  const std::vector<Event> events = Events(2000);
  std::vector<Event> taken;
  uint64_t refused = 0;
  for (const auto& e : events) {
    absl::Status s = client->Record(e);
    if (s.ok()) {
      taken.push_back(e);
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
      ++refused;
    }
  }
  ASSERT_TRUE(client->Flush(Ms(30000)).ok());
  ClientStats stats = client->Stats();
  EXPECT_GT(refused, 0u);
  EXPECT_EQ(stats.refused_local, refused);
  EXPECT_EQ(stats.recorded, taken.size());
  EXPECT_EQ(stats.recorded + stats.refused_local, 2000u) << "every event accounted for";
  EXPECT_EQ(stats.acked_accepted, taken.size());
  ExpectStored(taken);
  EXPECT_EQ(*storage_->CountEvents(), taken.size());
}

TEST_F(ClientIngestTest, ResendingTheSameEventsIsIdempotent) {
  StartServer();
  const std::vector<Event> events = Events(600);
  {
    auto client = NewClient(Options());
    for (int i = 0; i < 400; ++i) ASSERT_TRUE(client->Record(events[static_cast<size_t>(i)]).ok());
    ASSERT_TRUE(client->Flush(Ms(30000)).ok());
    EXPECT_EQ(client->Stats().acked_accepted, 400u);
  }
  // A second agent resends everything (as after a crash): 400 duplicates,
  // 200 new, nothing stored twice.
  auto client = NewClient(Options());
  for (const auto& e : events) ASSERT_TRUE(client->Record(e).ok());
  absl::Status flushed = client->Flush(Ms(30000));
  ClientStats stats = client->Stats();
  ASSERT_TRUE(flushed.ok()) << flushed << " acked " << stats.acked_accepted << "/"
                            << stats.acked_duplicate << " sent " << stats.batches_sent
                            << " retries " << stats.retries << " last " << stats.last_error;
  EXPECT_EQ(stats.acked_duplicate, 400u);
  EXPECT_EQ(stats.acked_accepted, 200u);
  EXPECT_EQ(*storage_->CountEvents(), 600u);
  ExpectStored(events);
}

TEST_F(ClientIngestTest, InvalidEventsAreRejectedIndividually) {
  StartServer();
  std::mutex mu;
  std::vector<raceway::v1::RejectedEvent> rejections;
  ClientOptions o = Options();
  o.on_batch_done = [&](const BatchOutcome& outcome) {
    std::lock_guard<std::mutex> lk(mu);
    for (const auto& r : outcome.result.rejected_events()) rejections.push_back(r);
  };
  auto client = NewClient(o);
  std::vector<Event> events = Events(10);
  events[3].mutable_metadata()->clear_thread_id();
  for (const auto& e : events) ASSERT_TRUE(client->Record(e).ok());
  ASSERT_TRUE(client->Flush(Ms(30000)).ok());
  ClientStats stats = client->Stats();
  EXPECT_EQ(stats.acked_accepted, 9u);
  EXPECT_EQ(stats.acked_rejected, 1u);
  EXPECT_EQ(stats.retries, 0u);
  ASSERT_EQ(rejections.size(), 1u);
  EXPECT_EQ(rejections[0].id(), events[3].id());
  EXPECT_EQ(rejections[0].field(), "metadata.thread_id");
  EXPECT_TRUE(absl::IsNotFound(storage_->GetEvent(events[3].id()).status()));
}

TEST_F(ClientIngestTest, ApiKey) {
  config_.auth.ingest_keys = {"k1"};
  StartServer();
  {
    ClientOptions o = Options();
    o.api_key = "k1";
    auto client = NewClient(o);
    ASSERT_TRUE(client->Record(Events(1)[0]).ok());
    EXPECT_TRUE(client->Flush(Ms(10000)).ok());
  }
  auto client = NewClient(Options());
  ASSERT_TRUE(client->Record(Events(1)[0]).ok());
  absl::Status s = client->Flush(Ms(10000));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_EQ(client->Stats().failed, 1u);
  EXPECT_EQ(*storage_->CountEvents(), 1u);
}

TEST_F(ClientIngestTest, ServerShutdownMidLoadLosesNoAckedEvent) {
  StartServer();
  std::mutex mu;
  std::set<std::string> acked;
  ClientOptions o = Options();
  o.streams = 2;
  o.max_batch_events = 100;
  o.on_batch_done = [&](const BatchOutcome& outcome) {
    if (!outcome.status.ok()) return;
    std::lock_guard<std::mutex> lk(mu);
    for (const auto& e : *outcome.events) acked.insert(e.id());
  };
  auto client = NewClient(o);
  const std::vector<Event> events = Events(3000);
  for (size_t i = 0; i < 1500; ++i) ASSERT_TRUE(client->Record(events[i]).ok());
  ASSERT_TRUE(client->Flush(Ms(30000)).ok());
  for (size_t i = 1500; i < events.size(); ++i) {
    ASSERT_TRUE(client->Record(events[i]).ok());
    if (i == 2200) server_->Shutdown();  // Drains: acks what it accepted.
  }
  (void)client->Flush(Ms(500));  // Cannot complete: the server is gone.
  (void)client->Close(Ms(0));
  std::lock_guard<std::mutex> lk(mu);
  EXPECT_GE(acked.size(), 1500u);
  for (const auto& id : acked) ASSERT_TRUE(storage_->GetEvent(id).ok()) << id;
  ClientStats stats = client->Stats();
  EXPECT_EQ(stats.acked_accepted + stats.failed, 3000u) << "nothing unaccounted for";
}

TEST_F(ClientIngestTest, LoadgenEndToEndWithVerification) {
  StartServer();
  loadgen::LoadOptions o;
  o.client = Options();
  o.client.streams = 2;
  o.client.max_batch_events = 500;
  o.events = 20000;
  o.verify = true;
  auto report = loadgen::RunLoad(o, storage_.get());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->flush_status.ok()) << report->flush_status;
  EXPECT_EQ(report->recorded, 20000u);
  EXPECT_EQ(report->acked, 20000u);
  EXPECT_EQ(report->rejected, 0u) << "generated events are valid";
  EXPECT_EQ(report->missing, 0u);
  EXPECT_EQ(report->verified_events, 20000u);
  EXPECT_EQ(*storage_->CountEvents(), 20000u);
  std::printf("%s", report->ToText().c_str());
}

}  // namespace
}  // namespace raceway::client
