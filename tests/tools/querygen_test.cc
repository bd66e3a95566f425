// raceway-querygen's library against an in-process query server over a
// temporary SQLite database (hermetic: loopback gRPC only).

#include "tools/querygen/querygen.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/storage/factory.h"
#include "services/query/query_server.h"
#include "tests/support/events.h"

namespace raceway::querygen {
namespace {

namespace v1 = raceway::v1;
using raceway::testing::MakeEvent;
using raceway::testing::MakeStateChange;
using ::testing::HasSubstr;

// A request with two unsynchronised writes of one variable (a race) under
// a root call, in two services so the service RPCs have something to say.
std::vector<v1::Event> RacyTrace(const std::string& trace, int64_t base_ms) {
  v1::Event root = MakeEvent(trace, "main", base_ms, "gateway");
  root.mutable_metadata()->set_duration_ns(9000000);
  v1::Event w1 = MakeStateChange(trace, "worker-1", base_ms + 1, "balance", v1::ACCESS_TYPE_WRITE,
                                 "bank.rs:12");
  v1::Event w2 = MakeStateChange(trace, "worker-2", base_ms + 2, "balance", v1::ACCESS_TYPE_WRITE,
                                 "bank.rs:45");
  v1::Event ledger = MakeEvent(trace, "w1", base_ms + 3, "ledger");
  ledger.mutable_metadata()->set_duration_ns(2000000);
  for (auto* child : {&w1, &w2, &ledger}) child->set_parent_id(root.id());
  return {root, w1, w2, ledger};
}

class QuerygenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("raceway_querygen_" + model::NewUuidV4());
    std::filesystem::create_directories(dir_);
    storage::StorageOptions options;
    options.backend = "sqlite";
    options.sqlite_path = (dir_ / "raceway.db").string();
    // Two storage objects, as ingest and query processes would have.
    auto writer = storage::OpenStorage(options);
    ASSERT_TRUE(writer.ok()) << writer.status();
    writer_ = std::move(*writer);
    auto reader = storage::OpenStorage(options);
    ASSERT_TRUE(reader.ok()) << reader.status();
    reader_ = std::move(*reader);

    config_.query.listen = "127.0.0.1:0";
    config_.query.grpc_web_listen = "";
    config_.metrics.query_listen = "";  // civetweb takes ~2 s to stop
  }

  void TearDown() override {
    server_.reset();
    reader_.reset();
    writer_.reset();
    std::filesystem::remove_all(dir_);
  }

  void WriteTraces(int n) {
    for (int i = 0; i < n; ++i) {
      const auto events = RacyTrace(model::NewUuidV4(), i * 100);
      std::vector<const v1::Event*> ptrs;
      for (const auto& e : events) ptrs.push_back(&e);
      auto written = writer_->WriteBatch(ptrs);
      ASSERT_TRUE(written.ok()) << written.status();
      ASSERT_EQ(written->accepted, events.size());
    }
  }

  void Start() {
    auto server = query::QueryServer::Start(config_, reader_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  QueryLoadOptions Options(uint64_t requests) const {
    QueryLoadOptions o;
    o.targets = {absl::StrCat("127.0.0.1:", server_->grpc_port())};
    o.workers = 4;
    o.requests = requests;
    return o;
  }

  std::filesystem::path dir_;
  std::shared_ptr<storage::Storage> writer_, reader_;
  service::Config config_;
  std::unique_ptr<query::QueryServer> server_;
};

TEST_F(QuerygenTest, DefaultMixRunsWithoutErrorsInProportion) {
  WriteTraces(5);
  Start();
  const std::vector<MixEntry> mix = DefaultMix();
  uint32_t sum = 0;
  for (const auto& m : mix) sum += m.weight;
  const uint64_t rounds = 30;
  QueryLoadOptions options = Options(rounds * sum);
  // Two targets (the same server twice) exercise the round-robin channels.
  options.targets.push_back(options.targets[0]);

  auto report = RunQueryLoad(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->requests, rounds * sum);
  EXPECT_EQ(report->errors, 0u) << report->last_error;
  EXPECT_TRUE(report->errors_by_code.empty());
  EXPECT_EQ(report->HardErrorRatio(), 0);
  EXPECT_GT(report->requests_per_second, 0);
  EXPECT_EQ(report->traces_known, 5u);
  ASSERT_EQ(report->per_rpc.size(), mix.size());
  for (size_t i = 0; i < mix.size(); ++i) {
    const RpcLatency& r = report->per_rpc[i];
    EXPECT_EQ(r.rpc, RpcMethodName(mix[i].rpc));
    EXPECT_EQ(r.requests, rounds * mix[i].weight) << r.rpc;
    EXPECT_EQ(r.errors, 0u) << r.rpc;
    EXPECT_GT(r.p50_ms, 0) << r.rpc;
    EXPECT_GE(r.p90_ms, r.p50_ms) << r.rpc;
    EXPECT_GE(r.p99_ms, r.p90_ms) << r.rpc;
    EXPECT_GE(r.max_ms, r.p99_ms) << r.rpc;
  }
  EXPECT_THAT(report->ToText(), HasSubstr("AnalyzeTrace"));
  EXPECT_THAT(report->ToJson(), HasSubstr("\"rpc\":\"GetCriticalPath\",\"requests\":60"));
}

TEST_F(QuerygenTest, EveryRpcOfTheMixWorks) {
  WriteTraces(3);
  Start();
  std::string all;
  for (Rpc rpc : {Rpc::kListTraces, Rpc::kAnalyzeTrace, Rpc::kGetRaces, Rpc::kGetCriticalPath,
                  Rpc::kGetAnomalies, Rpc::kGetDependencies, Rpc::kGetTrace, Rpc::kListServices,
                  Rpc::kGetServiceHealth, Rpc::kServiceDependencies, Rpc::kHotspots,
                  Rpc::kPerformance, Rpc::kDistributedEdges, Rpc::kGlobalRaces}) {
    absl::StrAppend(&all, all.empty() ? "" : ",", std::string(RpcMixName(rpc)), ":2");
  }
  auto mix = ParseMix(all);
  ASSERT_TRUE(mix.ok()) << mix.status();
  ASSERT_EQ(mix->size(), 14u);
  QueryLoadOptions options = Options(14 * 2 * 10);
  options.mix = *mix;
  auto report = RunQueryLoad(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->errors, 0u) << report->last_error;
  for (const auto& r : report->per_rpc) {
    EXPECT_EQ(r.requests, 20u) << r.rpc;
    EXPECT_GT(r.max_ms, 0) << r.rpc;
  }
}

TEST_F(QuerygenTest, UnknownTracesAreNotFoundNotHardErrors) {
  Start();  // Empty database: trace RPCs use random ids.
  QueryLoadOptions options = Options(40);
  options.mix = {{Rpc::kAnalyzeTrace, 1}, {Rpc::kListServices, 1}};
  auto report = RunQueryLoad(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->requests, 40u);
  EXPECT_EQ(report->errors, 20u);
  EXPECT_EQ(report->errors_by_code["NOT_FOUND"], 20u);
  EXPECT_EQ(report->HardErrorRatio(), 0);
  EXPECT_EQ(report->per_rpc[0].p50_ms, 0);  // No successful AnalyzeTrace.
  EXPECT_THAT(report->last_error, HasSubstr("NOT_FOUND"));
}

TEST_F(QuerygenTest, RateIsAnOpenLoopSchedule) {
  WriteTraces(1);
  Start();
  QueryLoadOptions options = Options(50);
  options.rate = 200;  // 50 requests: the last is due after 245 ms.
  auto report = RunQueryLoad(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->requests, 50u);
  EXPECT_GE(report->seconds, 0.24);
  EXPECT_LE(report->requests_per_second, 210);
}

TEST_F(QuerygenTest, DurationStopsTheRun) {
  WriteTraces(1);
  Start();
  QueryLoadOptions options = Options(0);
  options.duration = std::chrono::milliseconds(300);
  auto report = RunQueryLoad(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_GT(report->requests, 0u);
  EXPECT_EQ(report->errors, 0u) << report->last_error;
  EXPECT_LT(report->seconds, 5);
}

TEST(QuerygenOptionsTest, BadOptionsAndMixesAreRefused) {
  EXPECT_FALSE(ParseMix("").ok());
  EXPECT_THAT(ParseMix("list:1,bogus:2").status().message(), HasSubstr("bogus"));
  EXPECT_FALSE(ParseMix("list:0").ok());
  EXPECT_FALSE(ParseMix("list:x").ok());
  EXPECT_THAT(ParseMix("list,list:2").status().message(), HasSubstr("twice"));
  auto mix = ParseMix("list, analyze:3");
  ASSERT_TRUE(mix.ok()) << mix.status();
  ASSERT_EQ(mix->size(), 2u);
  EXPECT_EQ((*mix)[0].weight, 1u);
  EXPECT_EQ((*mix)[1].rpc, Rpc::kAnalyzeTrace);
  EXPECT_EQ((*mix)[1].weight, 3u);

  QueryLoadOptions o;
  o.requests = 1;
  EXPECT_FALSE(RunQueryLoad(o).ok());  // No target.
  o.targets = {"127.0.0.1:1"};
  o.requests = 0;
  EXPECT_FALSE(RunQueryLoad(o).ok());  // No limit.
  o.requests = 1;
  o.connect_timeout = std::chrono::milliseconds(200);
  auto unreachable = RunQueryLoad(o);
  ASSERT_FALSE(unreachable.ok());
  EXPECT_TRUE(absl::IsUnavailable(unreachable.status())) << unreachable.status();
}

}  // namespace
}  // namespace raceway::querygen
