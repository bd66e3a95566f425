// End-to-end tests of the ingest service over real gRPC on loopback.
//
// Compiled twice (tests/ingest/CMakeLists.txt):
//  * ingest_server_test (label unit): the suite on "memory" and "sqlite";
//  * ingest_server_db_test (label db, RACEWAY_INGEST_TEST_POSTGRES): the
//    same suite on "postgres" (the tests/support/testdb.sh server, in a
//    database of its own, cleared at each test's start), plus a real
//    database-down test that stops and restarts that PostgreSQL.
// Every backend sits behind storage::FaultInjectionStorage in the suite.

#include "services/ingest/ingest_server.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "libs/graph/causal_graph.h"
#include "libs/graph/critical_path.h"
#include "libs/model/operation_key.h"
#include "libs/model/uuid.h"
#include "libs/service/grpc_util.h"
#include "libs/service/version.h"
#include "libs/storage/factory.h"
#include "libs/storage/fault_injection/fault_injection_storage.h"
#include "raceway/v1/ingest.grpc.pb.h"
#include "tests/support/events.h"
#include "tests/support/test_env.h"
#include "tests/support/tsan_uninstrumented.h"
#if defined(RACEWAY_INGEST_TEST_POSTGRES)
#include "tests/storage_sql/sql_test_util.h"
#endif

namespace raceway::ingest {
namespace {

using raceway::testing::MakeEvent;
using raceway::testing::MakeStateChange;
using raceway::v1::Event;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

#if defined(RACEWAY_INGEST_TEST_POSTGRES)
// The database of this test binary on the harness server.
constexpr char kPostgresDatabase[] = "raceway_pg_ingest";
#endif

// google.rpc.Code values carried by StreamAck.code.
constexpr int kCodeOk = 0;
constexpr int kCodeResourceExhausted = 8;
constexpr int kCodeUnavailable = 14;

int64_t Nanos(const Event& e) {
  return e.timestamp().seconds() * 1000000000 + e.timestamp().nanos();
}

// A parent -> child -> grandchild chain, each on its own service and thread
// (so only the parent edges connect them), with durations so the critical
// path follows the chain: {parent, child, grandchild}.
std::vector<Event> MakeChain(const std::string& trace) {
  Event parent = MakeEvent(trace, "main", 0, "api");
  parent.mutable_metadata()->set_duration_ns(10000000);
  Event child = MakeEvent(trace, "worker", 1, "db");
  child.set_parent_id(parent.id());
  child.mutable_metadata()->set_duration_ns(5000000);
  Event grandchild = MakeEvent(trace, "io", 2, "cache");
  grandchild.set_parent_id(child.id());
  grandchild.mutable_metadata()->set_duration_ns(3000000);
  return {parent, child, grandchild};
}

raceway::v1::StreamRequest MakeRequest(uint64_t sequence, const std::vector<Event>& events) {
  raceway::v1::StreamRequest request;
  request.set_sequence(sequence);
  for (const auto& e : events) *request.add_events() = e;
  return request;
}

// The reference SDKs' JSON body of tests/ingest/fixtures (20 events); "" when missing.
std::string SdkFixtureBody() {
  std::ifstream in(std::string(RACEWAY_SOURCE_DIR) + "/tests/ingest/fixtures/sdk_batch.json");
  std::stringstream body;
  body << in.rdbuf();
  return body.str();
}

class IngestServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    config_.ingest.listen = "127.0.0.1:0";
    config_.ingest.http_listen = "127.0.0.1:0";
    config_.metrics.ingest_listen = "";
    config_.ingest.flush_interval_ms = 2;
    if (GetParam() == "postgres") {
#if defined(RACEWAY_INGEST_TEST_POSTGRES)
      RACEWAY_REQUIRE_ENV(base, "RACEWAY_TEST_POSTGRES_URL");
      const std::string url = storage::testing::WithDatabase(base, kPostgresDatabase);
      absl::Status ensured = storage::testing::EnsurePostgresDatabase(url);
      ASSERT_TRUE(ensured.ok()) << ensured;
      auto opened = storage::testing::OpenCleared("postgres", url);
      ASSERT_TRUE(opened.ok()) << opened.status();
      inner_ = std::move(*opened);
#else
      FAIL() << "postgres cases are built into ingest_server_db_test only";
#endif
    } else {
      storage::StorageOptions options;
      options.backend = GetParam();
      if (GetParam() == "sqlite") {
        dir_ = std::filesystem::temp_directory_path() /
               absl::StrCat("raceway_ingest_", model::NewUuidV4());
        std::filesystem::create_directories(dir_);
        options.sqlite_path = (dir_ / "raceway.db").string();
      }
      auto opened = storage::OpenStorage(options);
      ASSERT_TRUE(opened.ok()) << opened.status();
      inner_ = std::move(*opened);
    }
    faults_ = std::make_shared<storage::FaultInjectionStorage>(inner_);
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

  struct StreamOutcome {
    std::map<uint64_t, raceway::v1::StreamAck> acks;  // By sequence.
    grpc::Status status;
  };

  // Sends `batches` on one stream (sequences first_sequence, ...), then
  // reads every ack until the server finishes the stream.
  StreamOutcome StreamBatches(const std::vector<std::vector<Event>>& batches,
                              uint64_t first_sequence = 1, const std::string& key = "") {
    StreamOutcome out;
    grpc::ClientContext context;
    if (!key.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", key));
    auto stream = stub_->Stream(&context);
    for (size_t b = 0; b < batches.size(); ++b) {
      if (!stream->Write(MakeRequest(first_sequence + b, batches[b]))) break;
    }
    stream->WritesDone();
    raceway::v1::StreamAck ack;
    while (stream->Read(&ack)) {
      EXPECT_TRUE(out.acks.emplace(ack.sequence(), ack).second)
          << "acked twice: " << ack.sequence();
    }
    out.status = stream->Finish();
    return out;
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

  void ExpectNotStored(const std::vector<Event>& events) {
    for (const auto& e : events) {
      EXPECT_EQ(inner_->GetEvent(e.id()).status().code(), absl::StatusCode::kNotFound) << e.id();
    }
  }

  uint64_t TraceEventCount(const std::string& trace) {
    auto summary = inner_->GetTraceSummary(trace);
    if (absl::IsNotFound(summary.status())) return 0;
    EXPECT_TRUE(summary.ok()) << summary.status();
    return summary.ok() ? summary->event_count : 0;
  }

  // The derived service links of parent edges, "from->to xCALLS/TRACES".
  std::vector<std::string> ParentLinks() {
    auto calls = inner_->ListServiceCalls({});
    EXPECT_TRUE(calls.ok()) << calls.status();
    std::vector<std::string> out;
    if (!calls.ok()) return out;
    for (const auto& c : *calls) {
      if (c.link_type != "Parent") continue;
      out.push_back(
          absl::StrCat(c.from_service, "->", c.to_service, " x", c.call_count, "/", c.trace_count));
    }
    return out;
  }

  // The critical path (event ids, root first) of the trace as stored.
  std::vector<std::string> CriticalPathIds(const std::string& trace) {
    std::vector<std::string> ids;
    auto events = inner_->GetTraceEvents(trace);
    EXPECT_TRUE(events.ok()) << events.status();
    if (!events.ok()) return ids;
    auto graph = graph::CausalGraph::Build(std::span<const Event>(*events));
    EXPECT_TRUE(graph.ok()) << graph.status();
    if (!graph.ok()) return ids;
    for (const auto& step : graph::ComputeCriticalPath(*graph).steps) {
      ids.emplace_back(step.event_id);
    }
    return ids;
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
  const std::string trace = model::NewUuidV4();
  auto events = Trace(6, trace);
  events[1].mutable_metadata()->clear_thread_id();
  events[3].set_id("not-a-uuid");
  events[5].set_id(events[0].id());  // Same id twice in one batch.
  raceway::v1::SubmitResponse response;
  ASSERT_TRUE(Submit(events, &response).ok());
  const auto& r = response.result();
  EXPECT_EQ(r.accepted(), 3u);
  EXPECT_EQ(r.duplicate(), 0u);
  EXPECT_EQ(r.rejected(), 3u);
  ASSERT_EQ(r.rejected_events_size(), 3);
  EXPECT_EQ(r.rejected_events(0).index(), 1u);
  EXPECT_EQ(r.rejected_events(0).id(), events[1].id());
  EXPECT_EQ(r.rejected_events(0).field(), "metadata.thread_id");
  EXPECT_EQ(r.rejected_events(0).reason(), "is required and must not be empty");
  EXPECT_EQ(r.rejected_events(1).index(), 3u);
  EXPECT_EQ(r.rejected_events(1).id(), "not-a-uuid");
  EXPECT_EQ(r.rejected_events(1).field(), "id");
  EXPECT_EQ(r.rejected_events(1).reason(),
            "must be a canonical lower-case UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
  EXPECT_EQ(r.rejected_events(2).index(), 5u);
  EXPECT_EQ(r.rejected_events(2).id(), events[0].id());
  EXPECT_EQ(r.rejected_events(2).field(), "id");
  EXPECT_EQ(r.rejected_events(2).reason(), "duplicate id within the batch (first at index 0)");
  ExpectStored({events[0], events[2], events[4]});
  ExpectNotStored({events[1]});
  EXPECT_EQ(TraceEventCount(trace), 3u);  // Derived rows: the valid events only.

  // The same over a stream: the ack carries the same partial result.
  auto streamed = Trace(4, trace);
  streamed[2].clear_kind();
  StreamOutcome out = StreamBatches({streamed}, 7);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  ASSERT_EQ(out.acks.size(), 1u);
  const auto& ack = out.acks.at(7);
  EXPECT_EQ(ack.code(), kCodeOk) << ack.message();
  EXPECT_EQ(ack.result().accepted(), 3u);
  EXPECT_EQ(ack.result().rejected(), 1u);
  ASSERT_EQ(ack.result().rejected_events_size(), 1);
  EXPECT_EQ(ack.result().rejected_events(0).index(), 2u);
  EXPECT_EQ(ack.result().rejected_events(0).id(), streamed[2].id());
  EXPECT_EQ(ack.result().rejected_events(0).field(), "kind");
  EXPECT_EQ(ack.result().rejected_events(0).reason(),
            "exactly one event kind is required (function_call, state_change, ...)");
  ExpectStored({streamed[0], streamed[1], streamed[3]});
  ExpectNotStored({streamed[2]});
  EXPECT_EQ(TraceEventCount(trace), 6u);
}

TEST_P(IngestServerTest, ResendCountsDuplicatesAndStoresOnce) {
  StartServer();
  const std::string trace = model::NewUuidV4();
  auto events = Trace(10, trace);
  for (int i = 0; i < 10; i += 2) {
    events[i] = MakeStateChange(trace, "t0", 100 + i, "balance", raceway::v1::ACCESS_TYPE_WRITE);
  }
  raceway::v1::SubmitResponse first, second;
  ASSERT_TRUE(Submit(events, &first).ok());
  EXPECT_EQ(first.result().accepted(), 10u);
  auto mixed = events;
  mixed.resize(4);
  const auto fresh = Trace(3, trace);
  mixed.insert(mixed.end(), fresh.begin(), fresh.end());
  grpc::Status resent = Submit(mixed, &second);
  ASSERT_TRUE(resent.ok()) << resent.error_message();
  EXPECT_EQ(second.result().accepted(), 3u);
  EXPECT_EQ(second.result().duplicate(), 4u);
  EXPECT_EQ(second.result().rejected(), 0u);

  // Everything again over a stream: all duplicates.
  auto all = events;
  all.insert(all.end(), fresh.begin(), fresh.end());
  StreamOutcome out = StreamBatches({all, events}, 1);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  ASSERT_EQ(out.acks.size(), 2u);
  EXPECT_EQ(out.acks.at(1).code(), kCodeOk);
  EXPECT_EQ(out.acks.at(1).result().accepted(), 0u);
  EXPECT_EQ(out.acks.at(1).result().duplicate(), 13u);
  EXPECT_EQ(out.acks.at(2).result().accepted(), 0u);
  EXPECT_EQ(out.acks.at(2).result().duplicate(), 10u);

  // Nothing stored twice: events, trace summary, variable-access index.
  auto count = inner_->CountEvents();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 13u);
  EXPECT_EQ(TraceEventCount(trace), 13u);
  auto trace_events = inner_->GetTraceEvents(trace);
  ASSERT_TRUE(trace_events.ok()) << trace_events.status();
  EXPECT_EQ(trace_events->size(), 13u);
  auto accesses = inner_->GetVariableAccesses("balance", {}, {});
  ASSERT_TRUE(accesses.ok()) << accesses.status();
  EXPECT_EQ(accesses->items.size(), 5u);
  auto services = inner_->ListServices();
  ASSERT_TRUE(services.ok()) << services.status();
  ASSERT_EQ(services->size(), 1u);
  EXPECT_EQ((*services)[0].event_count, 13u);
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

TEST_P(IngestServerTest, StreamAckedEventsAndDerivedRowsAreStored) {
  StartServer();
  const std::string trace = model::NewUuidV4();
  std::vector<std::vector<Event>> batches;
  for (int b = 0; b < 3; ++b) {
    std::vector<Event> batch;
    for (int i = 0; i < 4; ++i) {
      Event e = MakeEvent(trace, absl::StrCat("t", i % 2), b * 10 + i, "api");
      e.mutable_metadata()->set_duration_ns(2000000);
      batch.push_back(e);
    }
    for (int i = 0; i < 2; ++i) {
      batch.push_back(
          MakeStateChange(trace, "t0", b * 10 + 4 + i, "balance",
                          i == 0 ? raceway::v1::ACCESS_TYPE_READ : raceway::v1::ACCESS_TYPE_WRITE));
    }
    batches.push_back(batch);
  }
  StreamOutcome out = StreamBatches(batches, 1);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  ASSERT_EQ(out.acks.size(), 3u);
  for (const auto& [sequence, ack] : out.acks) {
    EXPECT_EQ(ack.code(), kCodeOk) << sequence << ": " << ack.message();
    EXPECT_EQ(ack.result().accepted(), 6u);
  }
  // Acked means committed, with every derived row.
  std::vector<Event> all;
  for (const auto& batch : batches) all.insert(all.end(), batch.begin(), batch.end());
  ExpectStored(all);
  auto summary = inner_->GetTraceSummary(trace);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->event_count, 18u);
  EXPECT_EQ(summary->first_ns, Nanos(batches[0][0]));
  EXPECT_EQ(summary->last_ns, Nanos(batches[2][5]));
  EXPECT_THAT(summary->services, ElementsAre("api", "svc"));
  auto trace_events = inner_->GetTraceEvents(trace);
  ASSERT_TRUE(trace_events.ok()) << trace_events.status();
  ASSERT_EQ(trace_events->size(), 18u);
  EXPECT_EQ((*trace_events)[0].id(), batches[0][0].id());
  EXPECT_EQ((*trace_events)[17].id(), batches[2][5].id());
  auto accesses = inner_->GetVariableAccesses("balance", {}, {});
  ASSERT_TRUE(accesses.ok()) << accesses.status();
  ASSERT_EQ(accesses->items.size(), 6u);
  for (const auto& a : accesses->items) EXPECT_EQ(a.trace_id, trace);
  auto durations = inner_->DurationsByService({});
  ASSERT_TRUE(durations.ok()) << durations.status();
  ASSERT_EQ(durations->size(), 1u);
  EXPECT_EQ((*durations)[0].name, "api");
  EXPECT_EQ((*durations)[0].count, 12u);
  EXPECT_DOUBLE_EQ((*durations)[0].avg_duration_ns, 2000000.0);
  auto traces = inner_->CountTraces();
  ASSERT_TRUE(traces.ok());
  EXPECT_EQ(*traces, 1u);
}

TEST_P(IngestServerTest, ChildBeforeParentAcrossBatchesDerivesEdgesOnceBothArrived) {
  StartServer();
  const std::string trace = model::NewUuidV4();
  const auto chain = MakeChain(trace);  // parent (api), child (db), grandchild (cache)
  raceway::v1::SubmitResponse response;
  ASSERT_TRUE(Submit({chain[2]}, &response).ok());
  EXPECT_EQ(response.result().accepted(), 1u);
  EXPECT_THAT(ParentLinks(), ::testing::IsEmpty());  // Its parent is not stored yet.
  ASSERT_TRUE(Submit({chain[1]}, &response).ok());
  EXPECT_EQ(response.result().accepted(), 1u);
  EXPECT_THAT(ParentLinks(), ElementsAre("db->cache x1/1"));
  EXPECT_THAT(CriticalPathIds(trace), ElementsAre(chain[1].id(), chain[2].id()));
  ASSERT_TRUE(Submit({chain[0]}, &response).ok());
  EXPECT_EQ(response.result().accepted(), 1u);
  EXPECT_THAT(ParentLinks(), ElementsAre("api->db x1/1", "db->cache x1/1"));
  EXPECT_THAT(CriticalPathIds(trace), ElementsAre(chain[0].id(), chain[1].id(), chain[2].id()));
  EXPECT_EQ(TraceEventCount(trace), 3u);
  // A resend of the whole chain changes no derived row.
  ASSERT_TRUE(Submit(chain, &response).ok());
  EXPECT_EQ(response.result().duplicate(), 3u);
  EXPECT_THAT(ParentLinks(), ElementsAre("api->db x1/1", "db->cache x1/1"));
  EXPECT_EQ(TraceEventCount(trace), 3u);
}

TEST_P(IngestServerTest, ChildBeforeParentAcrossTwoStreamsDerivesEdgesOnceBothArrived) {
  StartServer();
  const std::string trace = model::NewUuidV4();
  const auto chain = MakeChain(trace);
  grpc::ClientContext context_a, context_b;
  auto stream_a = stub_->Stream(&context_a);  // The callee's agent.
  auto stream_b = stub_->Stream(&context_b);  // The caller's agent.
  raceway::v1::StreamAck ack;
  // Stream A: the child and grandchild, in two batches, children first.
  ASSERT_TRUE(stream_a->Write(MakeRequest(1, {chain[2]})));
  ASSERT_TRUE(stream_a->Read(&ack));
  EXPECT_EQ(ack.code(), kCodeOk) << ack.message();
  ASSERT_TRUE(stream_a->Write(MakeRequest(2, {chain[1]})));
  ASSERT_TRUE(stream_a->Read(&ack));
  EXPECT_EQ(ack.code(), kCodeOk) << ack.message();
  EXPECT_EQ(ack.result().accepted(), 1u);
  EXPECT_THAT(ParentLinks(), ElementsAre("db->cache x1/1"));
  EXPECT_EQ(TraceEventCount(trace), 2u);
  // Stream B, still open next to A: the parent.
  ASSERT_TRUE(stream_b->Write(MakeRequest(1, {chain[0]})));
  ASSERT_TRUE(stream_b->Read(&ack));
  EXPECT_EQ(ack.sequence(), 1u);
  EXPECT_EQ(ack.code(), kCodeOk) << ack.message();
  EXPECT_EQ(ack.result().accepted(), 1u);
  EXPECT_THAT(ParentLinks(), ElementsAre("api->db x1/1", "db->cache x1/1"));
  EXPECT_THAT(CriticalPathIds(trace), ElementsAre(chain[0].id(), chain[1].id(), chain[2].id()));
  auto summary = inner_->GetTraceSummary(trace);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->event_count, 3u);
  EXPECT_EQ(summary->first_ns, Nanos(chain[0]));
  EXPECT_EQ(summary->last_ns, Nanos(chain[2]));
  EXPECT_THAT(summary->services, ElementsAre("api", "cache", "db"));
  stream_a->WritesDone();
  stream_b->WritesDone();
  EXPECT_FALSE(stream_a->Read(&ack));
  EXPECT_FALSE(stream_b->Read(&ack));
  EXPECT_TRUE(stream_a->Finish().ok());
  EXPECT_TRUE(stream_b->Finish().ok());
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

TEST_P(IngestServerTest, StreamBackpressureAcksResourceExhaustedAndLosesNothing) {
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
  ASSERT_TRUE(faults_->WaitForStalledWriters(1, absl::Seconds(5)));
  grpc::ClientContext context;
  auto stream = stub_->Stream(&context);
  std::vector<std::vector<Event>> batches = {Trace(20), Trace(20), Trace(20)};
  raceway::v1::StreamAck ack;
  for (uint64_t b = 0; b < batches.size(); ++b) {
    ASSERT_TRUE(stream->Write(MakeRequest(b + 1, batches[b])));
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.sequence(), b + 1);
    EXPECT_EQ(ack.code(), kCodeResourceExhausted) << ack.message();
    EXPECT_GT(ack.retry_after_ms(), 0u);
  }
  faults_->SetUp();  // ends stalled mode, releases the writer
  t.join();
  EXPECT_TRUE(first_done.get_future().get().ok());
  ExpectStored(first);
  for (const auto& batch : batches) ExpectNotStored(batch);  // Refused: not stored.
  // The retries (new sequences, same events) are acked after commit.
  for (uint64_t b = 0; b < batches.size(); ++b) {
    ASSERT_TRUE(stream->Write(MakeRequest(10 + b, batches[b])));
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.sequence(), 10 + b);
    EXPECT_EQ(ack.code(), kCodeOk) << ack.message();
    EXPECT_EQ(ack.result().accepted(), 20u);
    ExpectStored(batches[b]);
  }
  stream->WritesDone();
  EXPECT_FALSE(stream->Read(&ack));
  EXPECT_TRUE(stream->Finish().ok());
  auto count = inner_->CountEvents();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 65u);
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

// The delay a refusal's message names ("retry in N ms").
int64_t DelayNamedIn(std::string_view message) {
  const size_t at = message.find("retry in ");
  if (at == std::string_view::npos) return -1;
  return std::strtoll(std::string(message.substr(at + 9)).c_str(), nullptr, 10);
}

// While storage is down every answer carries the committer's current
// backoff (which grows past the configured hint), the same figure in the
// message, gRPC RetryInfo, the stream ack and HTTP Retry-After; before, the
// hints were the fixed retry_after_ms and a hard-coded "Retry-After: 1".
TEST_P(IngestServerTest, RetryHintsCarryTheCurrentBackoffEverywhere) {
  config_.ingest.retry_after_ms = 200;
  StartServer();
  faults_->SetDown();
  const auto events = Trace(3);
  int64_t last = 0;
  for (int i = 0; i < 6; ++i) {
    raceway::v1::SubmitResponse response;
    const grpc::Status s = Submit(events, &response);
    ASSERT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    const int64_t named = DelayNamedIn(s.error_message());
    ASSERT_GT(named, 0) << s.error_message();
    const auto hint = service::RetryDelay(s);
    ASSERT_TRUE(hint.has_value());
    EXPECT_EQ(hint->count(), named) << s.error_message();
    last = named;
  }
  EXPECT_GT(last, 200) << "the backoff grows past the configured hint while the outage lasts";

  grpc::ClientContext context;
  auto stream = stub_->Stream(&context);
  ASSERT_TRUE(stream->Write(MakeRequest(1, events)));
  raceway::v1::StreamAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.code(), static_cast<int32_t>(grpc::StatusCode::UNAVAILABLE));
  EXPECT_EQ(static_cast<int64_t>(ack.retry_after_ms()), DelayNamedIn(ack.message()))
      << ack.message();
  stream->WritesDone();
  EXPECT_FALSE(stream->Read(&ack));
  stream->Finish();

  const std::string body = SdkFixtureBody();
  ASSERT_FALSE(body.empty()) << "fixture missing";
  httplib::Client http("127.0.0.1", server_->http_port());
  auto res = http.Post("/events", body, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503) << res->body;
  const int64_t named = DelayNamedIn(res->body);
  ASSERT_GT(named, 0) << res->body;
  EXPECT_EQ(res->get_header_value("Retry-After"), absl::StrCat((named + 999) / 1000));
}

// Failed commits are logged with their cause, throttled: an outage that
// fails every commit writes one line per interval, not one per batch.
TEST_P(IngestServerTest, StorageFailuresAreLoggedWithTheirCauseThrottled) {
  StartServer();
  faults_->SetDown(absl::ResourceExhaustedError("injected: No space left on device"));
  const std::filesystem::path log_path =
      std::filesystem::temp_directory_path() / absl::StrCat("raceway_log_", model::NewUuidV4());
  std::fflush(stderr);
  const int saved = dup(2);
  FILE* capture = std::fopen(log_path.c_str(), "w");
  ASSERT_NE(capture, nullptr);
  dup2(fileno(capture), 2);
  for (int i = 0; i < 6; ++i) {
    raceway::v1::SubmitResponse response;
    EXPECT_FALSE(Submit(Trace(2), &response).ok());
  }
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::fclose(capture);
  std::ifstream in(log_path);
  std::string line;
  int failures = 0;
  while (std::getline(in, line)) {
    if (line.find("storage commit failed") == std::string::npos) continue;
    ++failures;
    EXPECT_NE(line.find("No space left on device"), std::string::npos) << line;
    EXPECT_NE(line.find("\"level\":\"error\""), std::string::npos) << line;
  }
  std::filesystem::remove(log_path);
  EXPECT_GE(failures, 1) << "a failed commit must be logged";
  EXPECT_LT(failures, 6) << "repeated failures are throttled";
}

// A page on another origin can POST text/plain (or a form) without a
// preflight: such bodies are refused unread, so no visited web page can
// write events; JSON (what every SDK sends) is stored.
TEST_P(IngestServerTest, HttpEventsAcceptOnlyJsonBodies) {
  StartServer();
  const std::string body = SdkFixtureBody();
  ASSERT_FALSE(body.empty()) << "fixture missing";
  httplib::Client http("127.0.0.1", server_->http_port());
  for (const char* type : {"text/plain", "text/plain;charset=UTF-8",
                           "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                           "application/json-patch+json", ""}) {
    auto res = http.Post("/events", body, type);
    ASSERT_TRUE(res) << type;
    EXPECT_EQ(res->status, 415) << type << ": " << res->body;
    EXPECT_NE(res->body.find("application/json"), std::string::npos) << res->body;
  }
  auto count = inner_->CountEvents();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 0u);
  auto res = http.Post("/events", body, "application/json; charset=UTF-8");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  count = inner_->CountEvents();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 20u);
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

// A client that cancels a stream whose reads are paused at the in-flight
// limit (commits stalled) must not keep the reactor alive: before the fix
// no read was outstanding to report the end, Finish never ran and Shutdown
// waited forever for the call.
TEST_P(IngestServerTest, CancelledStreamWithPausedReadsFinishesAndShutdownCompletes) {
  StartServer();
  faults_->SetStalled();
  {
    grpc::ClientContext context;
    auto stream = stub_->Stream(&context);
    // More batches than the per-stream in-flight limit (32): the server
    // stops reading once 32 are waiting for their stalled commit.
    for (uint64_t b = 1; b <= 40; ++b) {
      if (!stream->Write(MakeRequest(b, Trace(1)))) break;
    }
    ASSERT_TRUE(faults_->WaitForStalledWriters(1, absl::Seconds(5)));
    // Let the server take the reads it can; it then pauses (no read posted).
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    context.TryCancel();
    stream->Finish();
  }
  faults_->SetUp();  // The stalled commits complete; their acks cannot be written.
  auto stopped = std::async(std::launch::async, [this] { server_->Shutdown(); });
  if (stopped.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    // The server cannot be destroyed while Shutdown blocks: report and leave.
    ADD_FAILURE() << "Shutdown still blocked 30 s after the cancelled stream's commits completed";
    std::cerr.flush();
    std::_Exit(1);
  }
}

TEST_P(IngestServerTest, ApiKeysAreEnforced) {
  config_.auth.ingest_keys = {"secret-1", "secret-2"};
  StartServer();
  raceway::v1::SubmitResponse response;
  EXPECT_EQ(Submit(Trace(1), &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Submit(Trace(1), &response, "wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Submit(Trace(1), &response, "secret-2").ok());
  // Streams: no key, a wrong key, then the right one.
  StreamOutcome refused = StreamBatches({Trace(2)}, 1);
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(refused.acks.empty());
  refused = StreamBatches({Trace(2)}, 1, "secret-3");
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(refused.acks.empty());
  const auto streamed = Trace(2);
  StreamOutcome accepted = StreamBatches({streamed}, 1, "secret-1");
  ASSERT_TRUE(accepted.status.ok()) << accepted.status.error_message();
  ASSERT_EQ(accepted.acks.size(), 1u);
  EXPECT_EQ(accepted.acks.at(1).result().accepted(), 2u);
  ExpectStored(streamed);
  // Only the authenticated events were stored (1 submitted + 2 streamed).
  auto count = inner_->CountEvents();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 3u);
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
  const std::string body = SdkFixtureBody();
  ASSERT_FALSE(body.empty()) << "fixture missing";
  httplib::Client http("127.0.0.1", server_->http_port());
  auto res = http.Post("/events", body, "application/json");
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

#if defined(RACEWAY_INGEST_TEST_POSTGRES)
INSTANTIATE_TEST_SUITE_P(Backends, IngestServerTest, ::testing::Values("postgres"),
                         [](const auto& info) { return info.param; });
#else
INSTANTIATE_TEST_SUITE_P(Backends, IngestServerTest, ::testing::Values("memory", "sqlite"),
                         [](const auto& info) { return info.param; });
#endif

#if defined(RACEWAY_INGEST_TEST_POSTGRES)
// ------------------------------------------------------- database down
//
// A server over a real PostgreSQL (no fault injection) under continuous
// load from a Submit client (which retries each batch with its ids until
// acked) and a Stream client (one stream for the whole test, a batch every
// few milliseconds, no retries). The harness PostgreSQL is stopped, then
// started again; the same server must refuse with UNAVAILABLE while it is
// down and commit again by itself once it is back, and every acked event
// must be in the database.

using Clock = std::chrono::steady_clock;

// One answer to a Submit call or one stream ack.
struct Answer {
  Clock::time_point sent;
  Clock::time_point answered;
  int code = kCodeOk;       // google.rpc.Code (same numbering as grpc::StatusCode).
  bool retry_hint = false;  // RetryInfo (Submit) / retry_after_ms > 0 (Stream).
  std::string message;
};

class OutageLoad {
 public:
  explicit OutageLoad(const std::shared_ptr<grpc::Channel>& channel)
      : stub_(raceway::v1::IngestService::NewStub(channel)),
        submit_trace_(model::NewUuidV4()),
        stream_trace_(model::NewUuidV4()) {
    stream_ = stub_->Stream(&stream_context_);
    threads_.emplace_back([this] { SubmitLoop(); });
    threads_.emplace_back([this] { StreamWriter(); });
    threads_.emplace_back([this] { StreamReader(); });
  }

  // On an early test failure: do not wait for a slow server.
  ~OutageLoad() {
    if (!threads_.empty()) {
      stream_context_.TryCancel();
      Stop();
    }
  }

  // Stops both clients: the stream is half-closed and drained.
  grpc::Status Stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
    return stream_->Finish();
  }

  const std::string& submit_trace() const { return submit_trace_; }
  const std::string& stream_trace() const { return stream_trace_; }

  std::vector<Answer> submit_answers() const {
    std::lock_guard<std::mutex> lock(mu_);
    return submit_answers_;
  }
  std::vector<Answer> stream_answers() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stream_answers_;
  }
  std::set<std::string> acked_ids() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_ids_;
  }
  std::vector<std::string> bad_results() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bad_results_;
  }

  // Waits until `pred` holds for some answer of the client; returns it.
  std::optional<Answer> WaitFor(bool stream, const std::function<bool(const Answer&)>& pred,
                                std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& a : stream ? stream_answers_ : submit_answers_) {
          if (pred(a)) return a;
        }
      }
      if (Clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

 private:
  static constexpr int kSubmitEvents = 10;
  static constexpr int kStreamEvents = 5;
  static constexpr size_t kStreamWindow = 8;

  void SubmitLoop() {
    int64_t offset = 0;
    while (!stop_) {
      raceway::v1::SubmitRequest request;
      for (int i = 0; i < kSubmitEvents; ++i) {
        *request.add_events() = MakeEvent(submit_trace_, absl::StrCat("s", i % 2), offset++);
      }
      // The same batch (same ids) until it is acked: retries are idempotent.
      while (!stop_) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
        raceway::v1::SubmitResponse response;
        Answer a;
        a.sent = Clock::now();
        grpc::Status s = stub_->Submit(&context, request, &response);
        a.answered = Clock::now();
        a.code = static_cast<int>(s.error_code());
        a.message = s.error_message();
        const auto delay = service::RetryDelay(s);
        a.retry_hint = delay.has_value() && delay->count() > 0;
        {
          std::lock_guard<std::mutex> lock(mu_);
          submit_answers_.push_back(a);
          if (s.ok()) {
            const auto& r = response.result();
            if (r.accepted() + r.duplicate() != kSubmitEvents || r.rejected() != 0) {
              bad_results_.push_back(absl::StrCat("submit: ", r.ShortDebugString()));
            }
            for (const auto& e : request.events()) acked_ids_.insert(e.id());
          }
        }
        if (s.ok()) break;
        std::this_thread::sleep_for(std::clamp(delay.value_or(std::chrono::milliseconds(100)),
                                               std::chrono::milliseconds(10),
                                               std::chrono::milliseconds(200)));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  void StreamWriter() {
    int64_t offset = 0;
    for (uint64_t sequence = 1; !stop_; ++sequence) {
      std::vector<Event> batch;
      for (int i = 0; i < kStreamEvents; ++i) {
        batch.push_back(MakeEvent(stream_trace_, absl::StrCat("w", i % 2), offset++));
      }
      {
        // Like an agent with a bounded buffer: at most kStreamWindow
        // batches unacknowledged, so a batch is sent when it is written.
        std::unique_lock<std::mutex> lock(mu_);
        while (!stop_ && stream_sent_.size() >= kStreamWindow) {
          acked_cv_.wait_for(lock, std::chrono::milliseconds(50));
        }
        if (stop_) break;
        auto& sent = stream_sent_[sequence];
        sent.at = Clock::now();
        for (const auto& e : batch) sent.ids.push_back(e.id());
      }
      if (!stream_->Write(MakeRequest(sequence, batch))) return;  // Stream broken.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stream_->WritesDone();
  }

  void StreamReader() {
    raceway::v1::StreamAck ack;
    while (stream_->Read(&ack)) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = stream_sent_.find(ack.sequence());
      if (it == stream_sent_.end()) {
        bad_results_.push_back(absl::StrCat("ack of an unknown sequence ", ack.sequence()));
        continue;
      }
      Answer a;
      a.sent = it->second.at;
      a.answered = Clock::now();
      a.code = ack.code();
      a.message = ack.message();
      a.retry_hint = ack.retry_after_ms() > 0;
      stream_answers_.push_back(a);
      if (ack.code() == kCodeOk) {
        if (ack.result().accepted() != kStreamEvents) {
          bad_results_.push_back(absl::StrCat("stream: ", ack.ShortDebugString()));
        }
        for (const auto& id : it->second.ids) acked_ids_.insert(id);
      }
      stream_sent_.erase(it);
      acked_cv_.notify_all();
    }
  }

  struct Sent {
    Clock::time_point at;
    std::vector<std::string> ids;
  };

  std::unique_ptr<raceway::v1::IngestService::Stub> stub_;
  const std::string submit_trace_;
  const std::string stream_trace_;
  grpc::ClientContext stream_context_;
  std::unique_ptr<grpc::ClientReaderWriter<raceway::v1::StreamRequest, raceway::v1::StreamAck>>
      stream_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;  // pthread based: visible to ThreadSanitizer.
  std::condition_variable acked_cv_;
  std::vector<Answer> submit_answers_;
  std::vector<Answer> stream_answers_;
  std::map<uint64_t, Sent> stream_sent_;
  std::set<std::string> acked_ids_;
  std::vector<std::string> bad_results_;
  std::vector<std::thread> threads_;
};

// Starts PostgreSQL again when the test leaves while it is stopped (later
// tests share the server).
class PostgresRestorer {
 public:
  explicit PostgresRestorer(std::string start_command) : start_(std::move(start_command)) {}
  ~PostgresRestorer() {
    if (!down_) return;
    const int rc = std::system(start_.c_str());
    ADD_FAILURE_AT(__FILE__, __LINE__)
        << "PostgreSQL restarted by the scope guard (rc " << rc << ")";
  }
  void set_down(bool down) { down_ = down; }

 private:
  const std::string start_;
  bool down_ = false;
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

TEST(IngestDatabaseDownTest, UnavailableWhileDownThenSameServerCommitsAgainAndLosesNothing) {
  RACEWAY_REQUIRE_ENV(base, "RACEWAY_TEST_POSTGRES_URL");
  RACEWAY_REQUIRE_ENV(stop_command, "RACEWAY_TEST_STOP_POSTGRES");
  RACEWAY_REQUIRE_ENV(start_command, "RACEWAY_TEST_START_POSTGRES");
  const std::string url =
      storage::testing::WithDatabase(base, absl::StrCat(kPostgresDatabase, "_down"));
  ASSERT_TRUE(storage::testing::EnsurePostgresDatabase(url).ok());
  PostgresRestorer restorer(start_command);  // Destroyed last.

  storage::StorageOptions options = storage::testing::SqlOptions("postgres", url);
  options.max_connections = 4;
  options.min_connections = 2;
  options.connection_timeout_seconds = 5;
  std::shared_ptr<storage::Storage> storage;
  {
    auto opened = storage::OpenStorage(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    ASSERT_TRUE((*opened)->Clear().ok());
    storage = std::move(*opened);
  }
  service::Config config;
  config.ingest.listen = "127.0.0.1:0";
  config.ingest.http_listen = "";
  config.metrics.ingest_listen = "";
  config.ingest.flush_interval_ms = 2;
  auto started = IngestServer::Start(config, storage);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<IngestServer> server = std::move(*started);
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  OutageLoad load(channel);
  const auto ok_after = [](Clock::time_point t) {
    return [t](const Answer& a) { return a.code == kCodeOk && a.sent >= t; };
  };

  // 1. Load flows.
  const auto t_begin = Clock::now();
  ASSERT_TRUE(load.WaitFor(false, ok_after(t_begin), std::chrono::seconds(30)));
  ASSERT_TRUE(load.WaitFor(true, ok_after(t_begin), std::chrono::seconds(30)));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  // 2. PostgreSQL goes down (pg_ctl stop -m fast -w: returns once stopped).
  restorer.set_down(true);
  const auto t_stop_called = Clock::now();
  ASSERT_EQ(std::system(stop_command.c_str()), 0) << stop_command;
  const auto t_stopped = Clock::now();
  const auto unavailable_after = [t_stopped](const Answer& a) {
    return a.code == kCodeUnavailable && a.sent >= t_stopped;
  };
  auto first_submit_refusal = load.WaitFor(false, unavailable_after, std::chrono::seconds(15));
  ASSERT_TRUE(first_submit_refusal) << "no UNAVAILABLE for a Submit while PostgreSQL is down";
  auto first_stream_refusal = load.WaitFor(true, unavailable_after, std::chrono::seconds(15));
  ASSERT_TRUE(first_stream_refusal) << "no UNAVAILABLE ack while PostgreSQL is down";
  EXPECT_TRUE(first_submit_refusal->retry_hint) << first_submit_refusal->message;
  EXPECT_TRUE(first_stream_refusal->retry_hint) << first_stream_refusal->message;
  // Keep it down a while: clients keep retrying against the failing database.
  std::this_thread::sleep_for(std::chrono::seconds(2));

  // 3. PostgreSQL comes back; the same server commits again by itself.
  const auto t_start_called = Clock::now();
  ASSERT_EQ(std::system(start_command.c_str()), 0) << start_command;
  restorer.set_down(false);
  const auto t_started = Clock::now();
  auto first_submit_ok = load.WaitFor(false, ok_after(t_started), std::chrono::seconds(30));
  ASSERT_TRUE(first_submit_ok) << "no Submit committed within 30 s of the restart";
  auto first_stream_ok = load.WaitFor(true, ok_after(t_started), std::chrono::seconds(30));
  ASSERT_TRUE(first_stream_ok) << "no stream batch committed within 30 s of the restart";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const grpc::Status stream_status = load.Stop();
  EXPECT_TRUE(stream_status.ok()) << stream_status.error_message();

  std::cout << "[ timing ] stop " << Seconds(t_stopped - t_stop_called)
            << " s; first UNAVAILABLE (Submit/Stream) "
            << Seconds(first_submit_refusal->answered - t_stopped) << "/"
            << Seconds(first_stream_refusal->answered - t_stopped) << " s after the stop; start "
            << Seconds(t_started - t_start_called)
            << " s; first commit after the start (Submit/Stream) "
            << Seconds(first_submit_ok->answered - t_started) << "/"
            << Seconds(first_stream_ok->answered - t_started) << " s\n";
  EXPECT_LT(first_submit_refusal->answered - t_stopped, std::chrono::seconds(10));
  EXPECT_LT(first_stream_refusal->answered - t_stopped, std::chrono::seconds(10));

  // 4. Every answer was OK or a refusal with a retry hint: UNAVAILABLE, or
  // RESOURCE_EXHAUSTED once work has queued longer than max_queue_delay_ms
  // behind the failing database. Nothing sent while the database was down
  // was acked before it came back.
  EXPECT_THAT(load.bad_results(), ::testing::IsEmpty());
  size_t unavailable = 0, exhausted = 0;
  for (bool stream : {false, true}) {
    for (const Answer& a : stream ? load.stream_answers() : load.submit_answers()) {
      const char* who = stream ? "stream ack" : "Submit";
      if (a.code == kCodeOk) {
        EXPECT_FALSE(a.sent >= t_stopped && a.answered < t_start_called)
            << who << " acked while PostgreSQL was down, sent " << Seconds(a.sent - t_stopped)
            << " s after the stop";
        continue;
      }
      if (a.code == kCodeUnavailable) {
        ++unavailable;
      } else if (a.code == kCodeResourceExhausted) {
        ++exhausted;
      } else {
        ADD_FAILURE() << who << " answered code " << a.code << ": " << a.message;
      }
      EXPECT_TRUE(a.retry_hint) << who << " without a retry delay: " << a.message;
    }
  }
  EXPECT_GT(unavailable, 0u);

  // 5. Every acked event is in the database (a separate reader) and the
  // derived trace summaries agree with the stored events.
  server->Shutdown();
  options.min_connections = 1;
  auto reader = storage::OpenStorage(options);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::set<std::string> stored;
  for (const std::string& trace : {load.submit_trace(), load.stream_trace()}) {
    auto events = (*reader)->GetTraceEvents(trace);
    ASSERT_TRUE(events.ok()) << events.status();
    for (const auto& e : *events) stored.insert(e.id());
    auto summary = (*reader)->GetTraceSummary(trace);
    ASSERT_TRUE(summary.ok()) << summary.status();
    EXPECT_EQ(summary->event_count, events->size());
  }
  const std::set<std::string> acked = load.acked_ids();
  std::vector<std::string> missing;
  std::set_difference(acked.begin(), acked.end(), stored.begin(), stored.end(),
                      std::back_inserter(missing));
  EXPECT_THAT(missing, ::testing::IsEmpty()) << "acked but not stored";
  std::cout << "[ counts ] " << load.submit_answers().size() << " Submit answers, "
            << load.stream_answers().size() << " stream acks, " << unavailable << " UNAVAILABLE, "
            << exhausted << " RESOURCE_EXHAUSTED, " << acked.size() << " acked events, "
            << stored.size() << " stored\n";
}
#endif  // RACEWAY_INGEST_TEST_POSTGRES

// ------------------------------------------- ingest HTTP port: /health, /status, errors

// The body of an answer as JSON (fails the test when it is not JSON).
google::protobuf::Value JsonOf(const httplib::Result& res) {
  google::protobuf::Value v;
  EXPECT_TRUE(res);
  if (!res) return v;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json") << res->body;
  auto status = google::protobuf::util::JsonStringToMessage(res->body, &v);
  EXPECT_TRUE(status.ok()) << status.ToString() << ": " << res->body;
  return v;
}

const google::protobuf::Value& At(const google::protobuf::Value& v, const std::string& key) {
  static const google::protobuf::Value kMissing;
  const auto& fields = v.struct_value().fields();
  auto it = fields.find(key);
  EXPECT_NE(it, fields.end()) << "no \"" << key << "\" in " << v.ShortDebugString();
  return it == fields.end() ? kMissing : it->second;
}

// One event as the TypeScript SDK sends it (buildMetadata: null optionals,
// causality vector keyed by the trace's root); `kind` and `duration_ns` are
// raw JSON text; 0 <= offset_ms < 1000.
std::string TypeScriptEvent(const std::string& id, const std::string& trace, int offset_ms,
                            const std::string& kind, const std::string& duration_ns) {
  return absl::StrCat(R"({"id":")", id, R"(","trace_id":")", trace,
                      R"(","parent_id":null,"timestamp":"2026-01-01T00:00:00.)",
                      std::to_string(1000 + offset_ms).substr(1), R"(Z","kind":)", kind,
                      R"(,"metadata":{"thread_id":"node-4242-1a2b3c","process_id":4242,)",
                      R"("service_name":"checkout","environment":"development",)",
                      R"("tags":{"sdk_language":"typescript"},"duration_ns":)", duration_ns,
                      R"(,"instance_id":null,"distributed_span_id":null,"upstream_span_id":null},)",
                      R"("causality_vector":[[")", trace, R"(",)", offset_ms + 1,
                      R"(]],"lock_set":[]})");
}

TEST_P(IngestServerTest, HttpHealthFollowsTheStorage) {
  StartServer();
  httplib::Client http("127.0.0.1", server_->http_port());
  auto res = http.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  google::protobuf::Value body = JsonOf(res);
  EXPECT_EQ(At(body, "status").string_value(), "healthy");
  EXPECT_EQ(At(body, "storage").string_value(), "ok");
  EXPECT_EQ(http.Head("/health")->status, 200);

  faults_->SetDown(absl::UnavailableError("injected fault: storage is down"), /*reads_too=*/true);
  res = http.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  body = JsonOf(res);
  EXPECT_EQ(At(body, "status").string_value(), "unhealthy");
  EXPECT_THAT(At(body, "storage").string_value(), HasSubstr("injected fault: storage is down"));

  // Healthy again as soon as the storage answers, with no write in between.
  faults_->SetUp();
  res = http.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
}

TEST_P(IngestServerTest, HttpStatusCountsWhatPostEventsStored) {
  StartServer();
  httplib::Client http("127.0.0.1", server_->http_port());
  auto res = http.Get("/status");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  google::protobuf::Value body = JsonOf(res);
  EXPECT_TRUE(At(body, "success").bool_value());
  google::protobuf::Value data = At(body, "data");
  EXPECT_EQ(At(data, "version").string_value(), service::kRacewayVersion);
  EXPECT_EQ(At(data, "service").string_value(), "raceway-ingest");
  EXPECT_EQ(At(data, "backend").string_value(), GetParam());
  EXPECT_EQ(At(data, "storage").string_value(), "ok");
  EXPECT_EQ(At(data, "events_captured").number_value(), 0);
  EXPECT_EQ(At(data, "traces_active").number_value(), 0);
  EXPECT_GE(At(data, "uptime_seconds").number_value(), 0);
  EXPECT_EQ(At(At(data, "queue"), "buffered_bytes").number_value(), 0);
  EXPECT_FALSE(At(At(data, "queue"), "last_commit_failed").bool_value());

  const std::string fixture = SdkFixtureBody();
  ASSERT_FALSE(fixture.empty()) << "fixture missing";
  res = http.Post("/events", fixture, "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  data = At(JsonOf(http.Get("/status")), "data");
  EXPECT_EQ(At(data, "events_captured").number_value(), 20);             // The fixture's events...
  EXPECT_EQ(At(data, "traces_active").number_value(), 2);                // ...in two traces.
  EXPECT_EQ(At(At(data, "queue"), "buffered_bytes").number_value(), 0);  // Acked = committed.

  // Storage down: still answered, the counts unknown and the reason given.
  faults_->SetDown(absl::UnavailableError("injected fault: storage is down"), /*reads_too=*/true);
  res = http.Get("/status");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  data = At(JsonOf(res), "data");
  EXPECT_THAT(At(data, "storage").string_value(), HasSubstr("injected fault"));
  EXPECT_EQ(At(data, "events_captured").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(At(data, "traces_active").kind_case(), google::protobuf::Value::kNullValue);
  // A commit that failed shows in the queue state.
  res = http.Post("/events",
                  R"({"events":[)" +
                      TypeScriptEvent(model::NewUuidV4(), model::NewUuidV4(), 1,
                                      R"({"Custom":{"name":"x","data":null}})", "null") +
                      "]}",
                  "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  data = At(JsonOf(http.Get("/status")), "data");
  EXPECT_TRUE(At(At(data, "queue"), "last_commit_failed").bool_value());
}

TEST_P(IngestServerTest, HttpStatusNeedsTheIngestKeyHealthDoesNot) {
  config_.auth.ingest_keys = {"secret-1"};
  StartServer();
  httplib::Client http("127.0.0.1", server_->http_port());
  auto res = http.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = http.Get("/status");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(At(At(JsonOf(res), "error"), "code").string_value(), "UNAUTHENTICATED");
  res = http.Get("/status", httplib::Headers{{"X-Raceway-Key", "wrong"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  res = http.Get("/status", httplib::Headers{{"Authorization", "Bearer secret-1"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = http.Get("/status", httplib::Headers{{"X-Raceway-Key", "secret-1"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_P(IngestServerTest, HttpUnknownPathsAndMethodsAnswerJsonErrors) {
  config_.ingest.max_batch_bytes = 1000;  // Body bound: 2 * 1000 + 1 MiB.
  StartServer();
  httplib::Client http("127.0.0.1", server_->http_port());
  auto res = http.Get("/x");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  google::protobuf::Value error = At(JsonOf(res), "error");
  EXPECT_EQ(At(error, "code").string_value(), "NOT_FOUND");
  EXPECT_EQ(At(error, "message").string_value(), "no route for GET /x");
  res = http.Post("/api/events", "{}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(At(At(JsonOf(res), "error"), "message").string_value(),
            "no route for POST /api/events");

  struct WrongMethod {
    std::function<httplib::Result()> send;
    std::string path;
    std::string allow;
  };
  const std::vector<WrongMethod> cases = {
      {[&] { return http.Get("/events"); }, "/events", "POST"},
      {[&] { return http.Put("/events", "{}", "application/json"); }, "/events", "POST"},
      {[&] { return http.Post("/health", "", "text/plain"); }, "/health", "GET, HEAD"},
      {[&] { return http.Delete("/status"); }, "/status", "GET, HEAD"},
      {[&] { return http.Options("/events"); }, "/events", "POST"},
  };
  for (const auto& c : cases) {
    res = c.send();
    ASSERT_TRUE(res) << c.path;
    EXPECT_EQ(res->status, 405) << c.path;
    EXPECT_EQ(res->get_header_value("Allow"), c.allow) << c.path;
    error = At(JsonOf(res), "error");
    EXPECT_EQ(At(error, "code").string_value(), "UNIMPLEMENTED");
    EXPECT_THAT(At(error, "message").string_value(), HasSubstr(c.path + " accepts " + c.allow));
  }

  // The HTTP server's own refusal of an oversized body has the same shape.
  res = http.Post("/events", std::string(2 * 1000 + (1 << 20) + 1, ' '), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(At(At(JsonOf(res), "error"), "code").string_value(), "OUT_OF_RANGE");
  // And /events' own errors keep theirs.
  res = http.Post("/events", "{not json", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(At(At(JsonOf(res), "error"), "code").string_value(), "INVALID_ARGUMENT");
}

TEST_P(IngestServerTest, HttpFractionalDurationsAreStoredExactlyInNanoseconds) {
  StartServer();
  const std::string trace = model::NewUuidV4();
  const std::vector<std::string> ids = {model::NewUuidV4(), model::NewUuidV4(), model::NewUuidV4(),
                                        model::NewUuidV4(), model::NewUuidV4()};
  // performance.now() differences (TypeScript), a Python float duration_ns,
  // a Go/Rust integer beyond 2^53, and a NaN that must be rejected alone.
  const std::string body = absl::StrCat(
      R"({"events":[)",
      TypeScriptEvent(
          ids[0], trace, 1,
          R"({"HttpResponse":{"status":200,"headers":{},"body":null,"duration_ms":1.5}})", "null"),
      ",",
      TypeScriptEvent(
          ids[1], trace, 2,
          R"({"DatabaseQuery":{"query":"SELECT 1","database":"db","duration_ms":1.0000005}})",
          "null"),
      ",",
      TypeScriptEvent(
          ids[2], trace, 3,
          R"({"FunctionCall":{"function_name":"f","module":"m","args":null,"file":"a.py","line":3}})",
          "12345678.899999999"),
      ",",
      TypeScriptEvent(ids[3], trace, 4, R"({"Custom":{"name":"tick","data":null}})",
                      "9007199254740993"),
      ",",
      TypeScriptEvent(
          ids[4], trace, 5,
          R"({"HttpResponse":{"status":200,"headers":{},"body":null,"duration_ms":NaN}})", "null"),
      "]}");
  httplib::Client http("127.0.0.1", server_->http_port());
  auto res = http.Post("/events", body, "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 207) << res->body;
  google::protobuf::Value result = JsonOf(res);
  EXPECT_EQ(At(result, "accepted").number_value(), 4);
  const auto& rejected = At(result, "rejected_events").list_value();
  ASSERT_EQ(rejected.values_size(), 1);
  EXPECT_EQ(At(rejected.values(0), "message")
                .string_value()
                .rfind("events[4].kind.HttpResponse.duration_ms: ", 0),
            0u)
      << res->body;

  // Read back from the storage: exact nanoseconds where DurationNs reads them.
  const std::vector<uint64_t> expected = {1500000, 1000001, 12345679, 9007199254740993u};
  for (size_t i = 0; i < expected.size(); ++i) {
    auto stored = inner_->GetEvent(ids[i]);
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(stored->metadata().duration_ns(), expected[i]) << i;
    EXPECT_EQ(model::DurationNs(*stored), std::optional<uint64_t>(expected[i])) << i;
  }
  EXPECT_EQ(inner_->GetEvent(ids[0])->http_response().duration_ms(), 2u);
  EXPECT_EQ(inner_->GetEvent(ids[1])->database_query().duration_ms(), 1u);
  EXPECT_EQ(inner_->GetEvent(ids[4]).status().code(), absl::StatusCode::kNotFound);
}

#if defined(RACEWAY_INGEST_TEST_POSTGRES)
// A real outage, no fault injection: /health turns 503 while the harness
// PostgreSQL is stopped and 200 again once it is back, on the same server.
TEST(IngestDatabaseDownTest, HttpHealthIsUnhealthyWhileDownAndHealthyOnceBack) {
  RACEWAY_REQUIRE_ENV(base, "RACEWAY_TEST_POSTGRES_URL");
  RACEWAY_REQUIRE_ENV(stop_command, "RACEWAY_TEST_STOP_POSTGRES");
  RACEWAY_REQUIRE_ENV(start_command, "RACEWAY_TEST_START_POSTGRES");
  const std::string url =
      storage::testing::WithDatabase(base, absl::StrCat(kPostgresDatabase, "_down"));
  ASSERT_TRUE(storage::testing::EnsurePostgresDatabase(url).ok());
  PostgresRestorer restorer(start_command);  // Destroyed last.
  storage::StorageOptions options = storage::testing::SqlOptions("postgres", url);
  options.connection_timeout_seconds = 5;
  auto opened = storage::OpenStorage(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::shared_ptr<storage::Storage> storage = std::move(*opened);
  service::Config config;
  config.ingest.listen = "127.0.0.1:0";
  config.ingest.http_listen = "127.0.0.1:0";
  config.metrics.ingest_listen = "";
  auto started = IngestServer::Start(config, storage);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<IngestServer> server = std::move(*started);
  httplib::Client http("127.0.0.1", server->http_port());
  http.set_read_timeout(60, 0);
  auto res = http.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;

  ASSERT_EQ(std::system(stop_command.c_str()), 0);
  restorer.set_down(true);
  res = http.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  google::protobuf::Value body = JsonOf(res);
  EXPECT_EQ(At(body, "status").string_value(), "unhealthy");
  EXPECT_THAT(At(body, "storage").string_value(), HasSubstr("UNAVAILABLE"));

  ASSERT_EQ(std::system(start_command.c_str()), 0);
  restorer.set_down(false);
  // Reconnecting takes the pool a moment; the same server must get there.
  int status = 0;
  for (int i = 0; i < 300 && status != 200; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    res = http.Get("/health");
    status = res ? res->status : 0;
  }
  EXPECT_EQ(status, 200) << (res ? res->body : "no answer");
  server->Shutdown();
}
#endif  // RACEWAY_INGEST_TEST_POSTGRES

}  // namespace
}  // namespace raceway::ingest
