// End-to-end tests of the ingest service over real gRPC on loopback, with
// the memory and SQLite backends behind the fault-injection wrapper.

#include "services/ingest/ingest_server.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/service/grpc_util.h"
#include "libs/storage/factory.h"
#include "libs/storage/fault_injection/fault_injection_storage.h"
#include "raceway/v1/ingest.grpc.pb.h"
#include "tests/support/events.h"
#include "tests/support/tsan_uninstrumented.h"

namespace raceway::ingest {
namespace {

using raceway::testing::MakeEvent;
using raceway::v1::Event;
using ::testing::HasSubstr;

class IngestServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    storage::StorageOptions options;
    options.backend = GetParam();
    if (GetParam() == "sqlite") {
      dir_ = std::filesystem::temp_directory_path() / ("raceway_ingest_" + model::NewUuidV4());
      std::filesystem::create_directories(dir_);
      options.sqlite_path = (dir_ / "raceway.db").string();
    }
    auto opened = storage::OpenStorage(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    inner_ = std::move(*opened);
    faults_ = std::make_shared<storage::FaultInjectionStorage>(inner_);
    config_.ingest.listen = "127.0.0.1:0";
    config_.ingest.http_listen = "127.0.0.1:0";
    config_.metrics.ingest_listen = "";
    config_.ingest.flush_interval_ms = 2;
  }

  void TearDown() override {
    server_.reset();
    faults_.reset();
    inner_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void StartServer() {
    auto server = IngestServer::Start(config_, faults_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = raceway::v1::IngestService::NewStub(channel_);
  }

  grpc::Status Submit(const std::vector<Event>& events, raceway::v1::SubmitResponse* response,
                      const std::string& key = "") {
    raceway::v1::SubmitRequest request;
    for (const auto& e : events) *request.add_events() = e;
    grpc::ClientContext context;
    if (!key.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", key));
    return stub_->Submit(&context, request, response);
  }

  std::vector<Event> Trace(int n, const std::string& trace_id = model::NewUuidV4()) {
    std::vector<Event> out;
    for (int i = 0; i < n; ++i) out.push_back(MakeEvent(trace_id, absl::StrCat("t", i % 3), i));
    return out;
  }

  void ExpectStored(const std::vector<Event>& events) {
    for (const auto& e : events) {
      auto got = inner_->GetEvent(e.id());
      ASSERT_TRUE(got.ok()) << e.id() << ": " << got.status();
      EXPECT_EQ(got->SerializeAsString(), e.SerializeAsString());
    }
  }

  std::filesystem::path dir_;
  std::shared_ptr<storage::Storage> inner_;
  std::shared_ptr<storage::FaultInjectionStorage> faults_;
  service::Config config_;
  std::unique_ptr<IngestServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<raceway::v1::IngestService::Stub> stub_;
};

TEST_P(IngestServerTest, SubmitStoresEventsBeforeAnswering) {
  StartServer();
  const auto events = Trace(25);
  raceway::v1::SubmitResponse response;
  ASSERT_TRUE(Submit(events, &response).ok());
  EXPECT_EQ(response.result().accepted(), 25u);
  EXPECT_EQ(response.result().duplicate(), 0u);
  EXPECT_EQ(response.result().rejected(), 0u);
  ExpectStored(events);  // The OK above means committed: visible now.
  auto summary = inner_->GetTraceSummary(events[0].trace_id());
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->event_count, 25u);
}

TEST_P(IngestServerTest, EmptyBatchIsOk) {
  StartServer();
  raceway::v1::SubmitResponse response;
  ASSERT_TRUE(Submit({}, &response).ok());
  EXPECT_EQ(response.result().accepted(), 0u);
}

TEST_P(IngestServerTest, PartialSuccessListsEachRejectedEvent) {
  StartServer();
  auto events = Trace(5);
  events[1].mutable_metadata()->clear_thread_id();
  events[3].set_id("not-a-uuid");
  raceway::v1::SubmitResponse response;
  ASSERT_TRUE(Submit(events, &response).ok());
  const auto& r = response.result();
  EXPECT_EQ(r.accepted(), 3u);
  EXPECT_EQ(r.rejected(), 2u);
  ASSERT_EQ(r.rejected_events_size(), 2);
  EXPECT_EQ(r.rejected_events(0).index(), 1u);
  EXPECT_EQ(r.rejected_events(0).id(), events[1].id());
  EXPECT_EQ(r.rejected_events(0).field(), "metadata.thread_id");
  EXPECT_EQ(r.rejected_events(1).index(), 3u);
  EXPECT_EQ(r.rejected_events(1).id(), "not-a-uuid");
  EXPECT_EQ(r.rejected_events(1).field(), "id");
  ExpectStored({events[0], events[2], events[4]});
  EXPECT_FALSE(inner_->GetEvent(events[1].id()).ok());
}

TEST_P(IngestServerTest, ResendCountsDuplicatesAndStoresOnce) {
  StartServer();
  const auto events = Trace(10);
  raceway::v1::SubmitResponse first, second;
  ASSERT_TRUE(Submit(events, &first).ok());
  auto mixed = events;
  mixed.resize(4);
  const auto fresh = Trace(3, events[0].trace_id());
  mixed.insert(mixed.end(), fresh.begin(), fresh.end());
  grpc::Status resent = Submit(mixed, &second);
  ASSERT_TRUE(resent.ok()) << resent.error_message();
  EXPECT_EQ(second.result().accepted(), 3u);
  EXPECT_EQ(second.result().duplicate(), 4u);
  auto count = inner_->CountEvents();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 13u);
}

TEST_P(IngestServerTest, BatchOverLimitIsInvalidArgumentNamingTheLimit) {
  config_.ingest.max_batch_events = 4;
  StartServer();
  raceway::v1::SubmitResponse response;
  grpc::Status s = Submit(Trace(5), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("limit is 4"));
}

TEST_P(IngestServerTest, StreamAcksEverySequenceAfterCommit) {
  StartServer();
  grpc::ClientContext context;
  auto stream = stub_->Stream(&context);
  std::vector<std::vector<Event>> batches;
  const std::string trace = model::NewUuidV4();
  // Children first, parents in later batches: order-free.
  for (int b = 0; b < 20; ++b) batches.push_back(Trace(10, trace));
  for (int b = 1; b < 20; ++b) batches[b - 1][0].set_parent_id(batches[b][0].id());
  for (int b = 0; b < 20; ++b) {
    raceway::v1::StreamRequest request;
    request.set_sequence(100 + b);
    for (const auto& e : batches[b]) *request.add_events() = e;
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  std::set<uint64_t> acked;
  raceway::v1::StreamAck ack;
  while (stream->Read(&ack)) {
    EXPECT_EQ(ack.code(), 0) << ack.message();
    EXPECT_EQ(ack.result().accepted(), 10u);
    acked.insert(ack.sequence());
  }
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(acked.size(), 20u);
  EXPECT_EQ(*acked.begin(), 100u);
  EXPECT_EQ(*acked.rbegin(), 119u);
  for (const auto& b : batches) ExpectStored(b);
}

TEST_P(IngestServerTest, ConcurrentClientsAreGroupCommitted) {
  config_.ingest.flush_interval_ms = 20;
  config_.ingest.batch_size = 100000;
  StartServer();
  const uint64_t writes_before = faults_->write_calls();
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        raceway::v1::SubmitResponse response;
        if (Submit(Trace(5), &response).ok() && response.result().accepted() == 5) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 80);
  EXPECT_EQ(*inner_->CountEvents(), 400u);
  // 80 requests, far fewer transactions: concurrent requests share commits.
  EXPECT_LT(faults_->write_calls() - writes_before, 80u);
}

TEST_P(IngestServerTest, BackpressureRefusesWithRetryInfoAndLosesNothing) {
  config_.ingest.max_buffered_bytes = 2000;
  config_.ingest.max_in_flight_flushes = 1;
  StartServer();
  faults_->SetStalled();
  const auto first = Trace(5);
  std::promise<grpc::Status> first_done;
  std::thread t([&] {
    raceway::v1::SubmitResponse response;
    first_done.set_value(Submit(first, &response));
  });
  // Wait until the first batch occupies the buffer (the write is stalled).
  ASSERT_TRUE(faults_->WaitForStalledWriters(1, absl::Seconds(5)));
  raceway::v1::SubmitResponse refused;
  std::vector<Event> big = Trace(20);
  grpc::Status s = Submit(big, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  auto delay = service::RetryDelay(s);
  ASSERT_TRUE(delay.has_value());
  EXPECT_GT(delay->count(), 0);
  faults_->SetUp();  // ends stalled mode, releases the writer
  t.join();
  EXPECT_TRUE(first_done.get_future().get().ok());
  ExpectStored(first);
  // The refused batch was not stored, and a retry succeeds.
  EXPECT_FALSE(inner_->GetEvent(big[0].id()).ok());
  ASSERT_TRUE(Submit(big, &refused).ok());
  ExpectStored(big);
}

TEST_P(IngestServerTest, StorageOutageAnswersUnavailableThenRecoversByItself) {
  StartServer();
  faults_->SetDown();
  const auto events = Trace(6);
  raceway::v1::SubmitResponse response;
  grpc::Status s = Submit(events, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(service::RetryDelay(s).has_value());
  EXPECT_FALSE(inner_->GetEvent(events[0].id()).ok());  // no ack, nothing stored
  faults_->SetUp();
  // Same server, no restart: the retry commits.
  grpc::Status retry;
  for (int i = 0; i < 100; ++i) {
    retry = Submit(events, &response);
    if (retry.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(retry.ok()) << retry.error_message();
  EXPECT_EQ(response.result().accepted(), 6u);
  ExpectStored(events);
}

TEST_P(IngestServerTest, ShutdownCommitsWhatWasAccepted) {
  config_.ingest.max_in_flight_flushes = 1;
  StartServer();
  faults_->SetStalled();
  const auto events = Trace(8);
  std::promise<grpc::Status> done;
  std::thread client([&] {
    raceway::v1::SubmitResponse response;
    done.set_value(Submit(events, &response));
  });
  ASSERT_TRUE(faults_->WaitForStalledWriters(1, absl::Seconds(5)));
  std::thread stopper([&] { server_->Shutdown(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  faults_->SetUp();  // ends stalled mode, releases the writer
  stopper.join();
  client.join();
  EXPECT_TRUE(done.get_future().get().ok());
  ExpectStored(events);
}

TEST_P(IngestServerTest, ApiKeysAreEnforced) {
  config_.auth.ingest_keys = {"secret-1", "secret-2"};
  StartServer();
  raceway::v1::SubmitResponse response;
  EXPECT_EQ(Submit(Trace(1), &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Submit(Trace(1), &response, "wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Submit(Trace(1), &response, "secret-2").ok());
  grpc::ClientContext context;
  auto stream = stub_->Stream(&context);
  stream->WritesDone();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  httplib::Client http("127.0.0.1", server_->http_port());
  auto res = http.Post("/events", R"({"events":[]})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  res = http.Post("/events", httplib::Headers{{"X-Raceway-Key", "secret-1"}}, R"({"events":[]})",
                  "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_P(IngestServerTest, HealthServiceReportsServing) {
  StartServer();
  grpc::GenericStub generic(channel_);
  grpc::ClientContext context;
  grpc::Slice empty(std::string{});
  grpc::ByteBuffer request(&empty, 1), response;  // HealthCheckRequest{} is empty.
  std::promise<grpc::Status> done;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) { done.set_value(s); });
  ASSERT_TRUE(done.get_future().get().ok());
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // status: SERVING
}

TEST_P(IngestServerTest, HttpIntakeAcceptsReferenceSdkBody) {
  StartServer();
  std::ifstream in(std::string(RACEWAY_SOURCE_DIR) + "/tests/ingest/fixtures/sdk_batch.json");
  ASSERT_TRUE(in) << "fixture missing";
  std::stringstream body;
  body << in.rdbuf();
  httplib::Client http("127.0.0.1", server_->http_port());
  auto res = http.Post("/events", body.str(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_THAT(res->body, HasSubstr("\"accepted\""));
  auto count = inner_->CountEvents();
  ASSERT_TRUE(count.ok());
  EXPECT_GT(*count, 0u);
  res = http.Post("/events", "{not json", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  res = http.Post("/events", R"({"events":[{"id":"x"}]})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 422);
}

INSTANTIATE_TEST_SUITE_P(Backends, IngestServerTest, ::testing::Values("memory", "sqlite"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace raceway::ingest
