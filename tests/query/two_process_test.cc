// raceway-ingest and raceway-query as two separate processes on one
// database (the same SQLite file; the same PostgreSQL database): what
// ingest acks is visible to query on the next call, including new events
// of a trace query has already analysed and cached.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "raceway/v1/ingest.grpc.pb.h"
#include "raceway/v1/query.grpc.pb.h"
#include "tests/storage_sql/sql_test_util.h"
#include "tests/support/events.h"
#include "tests/support/service_process.h"
#include "tests/support/test_env.h"

namespace raceway::query {
namespace {

using raceway::testing::MakeStateChange;
using raceway::testing::ServiceProcess;
using raceway::v1::Event;

class TwoProcessTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      dir_ = std::filesystem::temp_directory_path() / ("raceway_2proc_" + model::NewUuidV4());
      std::filesystem::create_directories(dir_);
      storage_flags_ = {"--storage.backend=sqlite",
                        "--storage.sqlite.database_path=" + (dir_ / "raceway.db").string()};
    } else {
      RACEWAY_REQUIRE_ENV(base_url, "RACEWAY_TEST_POSTGRES_URL");
      const std::string url = storage::testing::WithDatabase(base_url, "raceway_pg_2proc");
      ASSERT_TRUE(storage::testing::EnsurePostgresDatabase(url).ok());
      auto cleared = storage::testing::OpenCleared("postgres", url);
      ASSERT_TRUE(cleared.ok()) << cleared.status();
      storage_flags_ = {"--storage.backend=postgres",
                        "--storage.postgres.connection_string=" + url};
    }
    // Ingest first: it creates the database and schema the query process
    // (read-only) then reads.
    auto ingest =
        Start(RACEWAY_INGEST_BINARY, "ingest started",
              {"--ingest.listen=127.0.0.1:0", "--ingest.http_listen=", "--metrics.ingest_listen=",
               "--ingest.flush_interval_ms=2", "--storage.create_if_missing=true"});
    ASSERT_TRUE(ingest.ok()) << ingest.status();
    ingest_ = std::move(*ingest);
    auto query = Start(
        RACEWAY_QUERY_BINARY, "query started",
        {"--query.listen=127.0.0.1:0", "--query.grpc_web_listen=", "--metrics.query_listen="});
    ASSERT_TRUE(query.ok()) << query.status();
    query_ = std::move(*query);
    ingest_stub_ = raceway::v1::IngestService::NewStub(
        grpc::CreateChannel(ingest_->Address("grpc_port"), grpc::InsecureChannelCredentials()));
    query_stub_ = raceway::v1::QueryService::NewStub(
        grpc::CreateChannel(query_->Address("grpc_port"), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    // Both exit cleanly on SIGTERM.
    for (auto* p : {&query_, &ingest_}) {
      if (!*p) continue;
      const int status = (*p)->Stop(SIGTERM);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << (*p)->Log();
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  absl::StatusOr<std::unique_ptr<ServiceProcess>> Start(const char* binary,
                                                        const std::string& started,
                                                        std::vector<std::string> flags) {
    std::vector<std::string> args = storage_flags_;
    args.insert(args.end(), flags.begin(), flags.end());
    return ServiceProcess::Start(binary, args, started);
  }

  // Submits through the ingest process; OK means committed.
  void Ingest(const std::vector<Event>& events) {
    raceway::v1::SubmitRequest request;
    for (const auto& e : events) *request.add_events() = e;
    grpc::ClientContext context;
    raceway::v1::SubmitResponse response;
    const grpc::Status s = ingest_stub_->Submit(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(response.result().accepted(), events.size());
  }

  raceway::v1::AnalyzeTraceResponse Analyze(const std::string& trace_id) {
    raceway::v1::AnalyzeTraceRequest request;
    request.set_trace_id(trace_id);
    grpc::ClientContext context;
    raceway::v1::AnalyzeTraceResponse response;
    const grpc::Status s = query_stub_->AnalyzeTrace(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  std::filesystem::path dir_;
  std::vector<std::string> storage_flags_;
  std::unique_ptr<ServiceProcess> ingest_, query_;
  std::unique_ptr<raceway::v1::IngestService::Stub> ingest_stub_;
  std::unique_ptr<raceway::v1::QueryService::Stub> query_stub_;
};

TEST_P(TwoProcessTest, AckedEventsAreVisibleToTheQueryProcess) {
  const std::string trace = model::NewUuidV4();
  // Two unsynchronised writes of one variable on two threads: one race.
  const std::vector<Event> first = {
      MakeStateChange(trace, "t1", 1, "balance", raceway::v1::ACCESS_TYPE_WRITE, "a.cc:1"),
      MakeStateChange(trace, "t2", 2, "balance", raceway::v1::ACCESS_TYPE_WRITE, "b.cc:2")};
  ASSERT_NO_FATAL_FAILURE(Ingest(first));

  raceway::v1::ListTracesRequest list;
  grpc::ClientContext list_context;
  raceway::v1::ListTracesResponse traces;
  ASSERT_TRUE(query_stub_->ListTraces(&list_context, list, &traces).ok());
  ASSERT_EQ(traces.traces_size(), 1);
  EXPECT_EQ(traces.traces(0).trace_id(), trace);
  EXPECT_EQ(traces.traces(0).event_count(), 2u);

  raceway::v1::GetTraceRequest get;
  get.set_trace_id(trace);
  grpc::ClientContext get_context;
  raceway::v1::GetTraceResponse got;
  ASSERT_TRUE(query_stub_->GetTrace(&get_context, get, &got).ok());
  ASSERT_EQ(got.events_size(), 2);
  EXPECT_EQ(got.events(0).SerializeAsString(), first[0].SerializeAsString());
  EXPECT_EQ(got.events(1).SerializeAsString(), first[1].SerializeAsString());

  auto analysed = Analyze(trace);
  EXPECT_EQ(analysed.summary().event_count(), 2u);
  EXPECT_EQ(analysed.race_count(), 1u);

  // A third writer arrives through ingest after query cached the analysis:
  // the very next query sees it (t1-t2, t1-t3, t2-t3).
  ASSERT_NO_FATAL_FAILURE(Ingest(
      {MakeStateChange(trace, "t3", 3, "balance", raceway::v1::ACCESS_TYPE_WRITE, "c.cc:3")}));
  analysed = Analyze(trace);
  EXPECT_EQ(analysed.summary().event_count(), 3u);
  EXPECT_EQ(analysed.race_count(), 3u);
}

INSTANTIATE_TEST_SUITE_P(Backends, TwoProcessTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace raceway::query
