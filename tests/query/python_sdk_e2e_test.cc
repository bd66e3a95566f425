// End to end as a migrating Python user sees it: `raceway serve` (the real
// binary, a temporary SQLite file, loopback ports), the reference Python
// SDK's JSON body POSTed to /events, then AnalyzeTrace over gRPC.
//
// The fixture is a Flask lost update in the SDK's exact shape: two request
// contexts of one process (thread ids python-<pid>-<hex>) in one trace,
// both stamping the shared component "py-shop#vm-5315" with their own
// counter from 0; both read balance 10, one writes 9, the other 15. The
// client order (4 < 5) would hide all three races; the analysis must report
// them and say it ignored the component.

#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "raceway/v1/query.grpc.pb.h"
#include "tests/support/service_process.h"

namespace raceway::query {
namespace {

namespace v1 = raceway::v1;
using ::testing::HasSubstr;

constexpr char kTrace[] = "7c1e4b2a-9d3f-4e8a-b5c6-2f1a0e9d8c7b";
constexpr char kComponent[] = "py-shop#vm-5315";

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(RACEWAY_QUERY_FIXTURE_DIR) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(PythonSdkEndToEnd, FlaskLostUpdateIsReportedWithTheIgnoredClock) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("raceway_py_e2e_" + model::NewUuidV4());
  std::filesystem::create_directories(dir);
  auto server = testing::ServiceProcess::Start(
      RACEWAY_CLI_BINARY,
      {"serve", "--storage.backend=sqlite",
       "--storage.sqlite.database_path=" + (dir / "raceway.db").string(),
       "--ingest.listen=127.0.0.1:0", "--ingest.http_listen=127.0.0.1:0",
       "--query.listen=127.0.0.1:0", "--query.grpc_web_listen=", "--metrics.ingest_listen=",
       "--metrics.query_listen=", "--ingest.flush_interval_ms=1"},
      "query started");
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string log = (*server)->Log();
  std::smatch m;
  static const std::regex kHttpPort("\"msg\":\"ingest started\".*\"http_port\":\"([0-9]+)\"");
  ASSERT_TRUE(std::regex_search(log, m, kHttpPort)) << log;

  const std::string body = Fixture("python_flask_lost_update.json");
  ASSERT_THAT(body, HasSubstr(kComponent));
  httplib::Client http("127.0.0.1", std::stoi(m[1].str()));
  auto posted = http.Post("/events", body, "application/json");
  ASSERT_TRUE(posted) << httplib::to_string(posted.error());
  // 200 = every event stored (acknowledged after commit).
  ASSERT_EQ(posted->status, 200) << posted->body;

  auto stub = v1::QueryService::NewStub(
      grpc::CreateChannel((*server)->Address("grpc_port"), grpc::InsecureChannelCredentials()));
  v1::AnalyzeTraceRequest request;
  request.set_trace_id(kTrace);
  v1::AnalyzeTraceResponse r;
  grpc::ClientContext context;
  const grpc::Status s = stub->AnalyzeTrace(&context, request, &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.summary().event_count(), 10u);

  // Read/write both ways and write/write, all on balance.
  EXPECT_EQ(r.race_count(), 3u);
  ASSERT_EQ(r.race_groups_size(), 3);
  uint64_t critical = 0;
  for (const auto& g : r.race_groups()) {
    EXPECT_EQ(g.variable(), "balance");
    EXPECT_THAT(g.thread_ids(),
                ::testing::UnorderedElementsAre("python-5315-b4f01c38", "python-5315-ed6298ae"));
    if (g.severity() == v1::RACE_SEVERITY_CRITICAL) critical += g.count();
  }
  EXPECT_EQ(critical, 1u);  // The two writes (9 and 15): the lost update.

  std::vector<const v1::AnalysisDiagnostic*> ignored;
  for (const auto& d : r.diagnostics()) {
    if (d.kind() == v1::DIAGNOSTIC_KIND_IGNORED_CLIENT_CLOCK) ignored.push_back(&d);
  }
  ASSERT_EQ(ignored.size(), 1u) << r.ShortDebugString();
  EXPECT_EQ(ignored[0]->subject(), kComponent);
  EXPECT_EQ(ignored[0]->count(), 10u);  // Every event carries it.
  EXPECT_FALSE(ignored[0]->message().empty());
  EXPECT_FALSE(ignored[0]->event_ids().empty());
  for (const auto& id : ignored[0]->event_ids()) EXPECT_TRUE(model::IsCanonicalUuid(id)) << id;

  const int status = (*server)->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << (*server)->Log();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace raceway::query
