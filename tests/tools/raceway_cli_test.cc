// The `raceway` binary as a user runs it: every subcommand's help, usage
// errors, and the query commands against a real `raceway serve` (a child
// process on a temporary SQLite file, loopback ports) seeded by
// `raceway demo`: tables with the demo's values, --json that parses as the
// response message, and the documented exit codes.

#include <fcntl.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "raceway/v1/ingest.grpc.pb.h"
#include "raceway/v1/query.pb.h"
#include "tests/support/events.h"
#include "tests/support/service_process.h"

extern char** environ;

namespace raceway::cli {
namespace {

namespace v1 = raceway::v1;
using ::testing::HasSubstr;
using ::testing::Not;

struct Result {
  int exit_code = -1;  // -1: killed (did not finish in time) or not run.
  std::string out, err;
};

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs the binary with `args`; stdout and stderr through files. A command
// that has not finished after a minute is killed (exit_code -1), so a
// regression such as `serve --help` starting a server fails instead of
// hanging the suite.
Result RunCli(const std::vector<std::string>& args) {
  static int counter = 0;
  const auto base = std::filesystem::temp_directory_path() /
                    absl::StrCat("raceway_cli_", getpid(), "_", ++counter);
  const std::string out_path = base.string() + ".out", err_path = base.string() + ".err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> argv_strings = {RACEWAY_CLI_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  Result r;
  const int rc = posix_spawn(&pid, RACEWAY_CLI_BINARY, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    r.err = absl::StrCat("posix_spawn: ", strerror(rc));
    return r;
  }
  const absl::Time deadline = absl::Now() + absl::Minutes(1);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      status = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  std::filesystem::remove(out_path);
  std::filesystem::remove(err_path);
  return r;
}

// Some line of the text matches `pattern` (ECMAScript) as a whole.
MATCHER_P(HasLine, pattern, "has a line matching /" + std::string(pattern) + "/") {
  std::istringstream lines(arg);
  const std::regex re(pattern);
  for (std::string line; std::getline(lines, line);) {
    if (std::regex_match(line, re)) return true;
  }
  return false;
}

std::string Describe(const std::vector<std::string>& args, const Result& r) {
  std::string cmd = "raceway";
  for (const auto& a : args) absl::StrAppend(&cmd, " ", a);
  return absl::StrCat(cmd, "\n  exit ", r.exit_code, "\n  stdout: ", r.out, "\n  stderr: ", r.err);
}

// Parses `json` as message T (so the output is that response's proto JSON).
template <typename T>
T Parse(const std::string& json) {
  T message;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &message);
  EXPECT_TRUE(status.ok()) << status << "\n" << json;
  return message;
}

const std::vector<std::string> kSubcommands = {
    "serve",         "demo",    "traces",    "trace",       "analyze", "races",
    "critical-path", "audit",   "anomalies", "deps",        "hb",      "services",
    "service",       "health",  "hotspots",  "performance", "edges",   "global-races",
    "retention",     "migrate", "export",    "import"};

TEST(RacewayCliHelp, EverySubcommandHelpExitsZeroWithItsUsage) {
  for (const std::string& cmd : kSubcommands) {
    for (std::vector<std::string> args :
         {std::vector<std::string>{cmd, "--help"}, std::vector<std::string>{cmd, "-h"},
          std::vector<std::string>{"help", cmd}}) {
      const Result r = RunCli(args);
      EXPECT_EQ(r.exit_code, 0) << Describe(args, r);
      EXPECT_THAT(r.out, HasSubstr("usage")) << Describe(args, r);
      EXPECT_THAT(r.out, HasSubstr("raceway " + cmd)) << Describe(args, r);
    }
  }
}

TEST(RacewayCliHelp, TopLevelHelpListsEveryCommand) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"--help"}, std::vector<std::string>{"-h"},
        std::vector<std::string>{"help"}}) {
    const Result r = RunCli(args);
    EXPECT_EQ(r.exit_code, 0) << Describe(args, r);
    for (const std::string& cmd : kSubcommands) {
      EXPECT_THAT(r.out, HasSubstr("raceway " + cmd + " ")) << Describe(args, r);
    }
  }
  const Result none = RunCli({});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("usage"));
}

TEST(RacewayCliHelp, ServeHelpStartsNothing) {
  const auto dir = std::filesystem::temp_directory_path() / ("raceway_cli_" + model::NewUuidV4());
  std::filesystem::create_directories(dir);
  const auto db = dir / "never.db";
  // With storage and listeners configured, --help must still only print.
  const std::vector<std::string> args = {"serve",
                                         "--storage.backend=sqlite",
                                         "--storage.sqlite.database_path=" + db.string(),
                                         "--ingest.listen=127.0.0.1:0",
                                         "--query.listen=127.0.0.1:0",
                                         "--help"};
  const Result r = RunCli(args);
  EXPECT_EQ(r.exit_code, 0) << Describe(args, r);
  EXPECT_THAT(r.out, HasSubstr("usage: raceway serve"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("Raceway is running")));
  EXPECT_THAT(r.err, Not(HasSubstr("started")));
  EXPECT_FALSE(std::filesystem::exists(db)) << "serve --help opened the storage";
  std::filesystem::remove_all(dir);
}

TEST(RacewayCliHelp, BadArgumentsAreUsageErrors) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"traces", "--bogus", "1"}, "unknown option --bogus"},
      {{"traces", "--limit"}, "--limit needs a value"},
      {{"races"}, "missing argument"},
      {{"races", "a", "b"}, "unexpected argument \"b\""},
      {{"hb", "t", "a"}, "missing argument"},
      {{"deps", "-x"}, "unknown option -x"},
      {{"serve", "--bogus"}, "unknown option --bogus"},
      {{"serve", "--storage.bogus=1"}, "storage.bogus"},
      {{"demo", "--server", "x"}, "unknown option --server"},
      {{"migrate", "--bogus", "x"}, "unknown option --bogus"},
      {{"frobnicate"}, "unknown command \"frobnicate\""},
      {{"help", "frobnicate"}, "unknown command \"frobnicate\""},
  };
  for (const auto& [args, message] : cases) {
    const Result r = RunCli(args);
    EXPECT_EQ(r.exit_code, 2) << Describe(args, r);
    EXPECT_THAT(r.err, HasSubstr(message)) << Describe(args, r);
    EXPECT_THAT(r.err, HasSubstr("usage")) << Describe(args, r);
  }
}

TEST(RacewayCliHelp, UnreachableServerExitsFive) {
  // Port 1 on loopback: nothing listens there (connection refused).
  const std::vector<std::string> args = {"traces", "--server", "127.0.0.1:1"};
  const Result r = RunCli(args);
  EXPECT_EQ(r.exit_code, 5) << Describe(args, r);
}

// One `raceway serve` with the demo's traces for all the query commands.
class RacewayCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("raceway_cli_" + model::NewUuidV4()));
    std::filesystem::create_directories(*dir_);
    auto server = testing::ServiceProcess::Start(
        RACEWAY_CLI_BINARY,
        {"serve", "--storage.backend=sqlite",
         "--storage.sqlite.database_path=" + (*dir_ / "raceway.db").string(),
         "--ingest.listen=127.0.0.1:0", "--ingest.http_listen=", "--query.listen=127.0.0.1:0",
         "--query.grpc_web_listen=", "--metrics.ingest_listen=", "--metrics.query_listen=",
         "--ingest.flush_interval_ms=1"},
        "query started");
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
    query_ = new std::string(server_->Address("grpc_port"));
    // serve starts ingest first; its port is on the "ingest started" line.
    std::smatch m;
    const std::string log = server_->Log();
    static const std::regex kIngest("\"msg\":\"ingest started\",\"grpc_port\":\"([0-9]+)\"");
    ASSERT_TRUE(std::regex_search(log, m, kIngest)) << log;
    ingest_ = new std::string(absl::StrCat("127.0.0.1:", m[1].str()));

    const Result demo = RunCli({"demo", "--ingest", *ingest_});
    ASSERT_EQ(demo.exit_code, 0) << demo.out << demo.err;
    static const std::regex kTrace("Demo trace: ([0-9a-f-]{36})");
    ASSERT_TRUE(std::regex_search(demo.out, m, kTrace)) << demo.out;
    trace_ = new std::string(m[1].str());
  }

  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      const int status = server_->Stop(SIGTERM);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << server_->Log();
    }
    delete server_;
    delete query_;
    delete ingest_;
    delete trace_;
    if (dir_ != nullptr) std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  void SetUp() override {
    if (server_ == nullptr || trace_ == nullptr) GTEST_SKIP() << "the server did not start";
  }

  // A query command against the test server.
  static Result Query(std::vector<std::string> args) {
    args.push_back("--server=" + *query_);
    return RunCli(args);
  }

  // Runs a query command that must succeed.
  static std::string Ok(const std::vector<std::string>& args) {
    const Result r = Query(args);
    EXPECT_EQ(r.exit_code, 0) << Describe(args, r);
    return r.out;
  }

  static v1::GetTraceResponse Events(const std::string& trace) {
    return Parse<v1::GetTraceResponse>(Ok({"trace", trace, "--json"}));
  }

  static inline std::filesystem::path* dir_ = nullptr;
  static inline testing::ServiceProcess* server_ = nullptr;
  static inline std::string* query_ = nullptr;
  static inline std::string* ingest_ = nullptr;
  static inline std::string* trace_ = nullptr;
};

// An operator sees at start whether either API requires a key (a misspelt
// key variable once left auth off with nothing said).
TEST_F(RacewayCliTest, ServeLogsTheAuthModeOfBothApis) {
  ASSERT_NE(server_, nullptr);
  const std::string log = server_->Log();
  EXPECT_THAT(log, HasSubstr(R"("msg":"auth: off","api":"ingest")")) << log;
  EXPECT_THAT(log, HasSubstr(R"("msg":"auth: off","api":"query")")) << log;
}

TEST_F(RacewayCliTest, DepsShowsTheDemoServicesAndTheirCall) {
  const std::string out = Ok({"deps", *trace_});
  EXPECT_THAT(out, HasLine("api +[0-9]+"));
  EXPECT_THAT(out, HasLine("payments +[0-9]+"));
  EXPECT_THAT(out, HasSubstr("api -> payments"));

  const auto deps = Parse<v1::TraceDependencies>(Ok({"deps", *trace_, "--json"}));
  EXPECT_EQ(deps.trace_id(), *trace_);
  ASSERT_EQ(deps.services_size(), 2);
  ASSERT_GE(deps.edges_size(), 1);
  EXPECT_TRUE(std::any_of(deps.edges().begin(), deps.edges().end(), [](const v1::ServiceEdge& e) {
    return e.from() == "api" && e.to() == "payments";
  }));
}

TEST_F(RacewayCliTest, HappensBeforeOfTwoEventsOfOneThread) {
  const v1::GetTraceResponse events = Events(*trace_);
  std::vector<v1::Event> worker;
  for (const auto& e : events.events()) {
    if (e.metadata().thread_id() == "pay-worker-1") worker.push_back(e);
  }
  ASSERT_GE(worker.size(), 2u);  // Events come in (timestamp, id) order.
  const std::string& a = worker[0].id();
  const std::string& b = worker[1].id();

  std::string out = Ok({"hb", *trace_, a, b});
  EXPECT_THAT(out, HasSubstr("BEFORE (A happens before B)"));
  EXPECT_THAT(out, HasSubstr(a));
  EXPECT_THAT(out, HasSubstr(b));
  EXPECT_THAT(out, HasSubstr("pay-worker-1="));  // The vector clocks.
  EXPECT_THAT(Ok({"hb", *trace_, b, a}), HasSubstr("AFTER"));
  EXPECT_THAT(Ok({"hb", *trace_, a, a}), HasSubstr("SAME"));

  const auto json = Parse<v1::HappensBeforeResponse>(Ok({"hb", *trace_, a, b, "--json"}));
  EXPECT_EQ(json.relation(), v1::HAPPENS_BEFORE_RELATION_BEFORE);
  EXPECT_EQ(json.clock_a().event_id(), a);
  EXPECT_EQ(json.clock_b().event_id(), b);
  EXPECT_GT(json.clock_b().entries_size(), 0);

  // The two workers' balance writes race: concurrent.
  std::vector<std::string> writes;
  for (const auto& e : events.events()) {
    if (e.has_state_change() && e.state_change().variable() == "balance") writes.push_back(e.id());
  }
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_THAT(Ok({"hb", *trace_, writes[0], writes[1]}), HasSubstr("CONCURRENT"));
}

TEST_F(RacewayCliTest, HappensBeforeChecksTheTraceHoldsTheEvents) {
  const auto traces = Parse<v1::ListTracesResponse>(Ok({"traces", "--json"}));
  std::string other;
  for (const auto& t : traces.traces()) {
    if (t.trace_id() != *trace_) other = t.trace_id();
  }
  ASSERT_FALSE(other.empty());
  const std::string mine = Events(*trace_).events(0).id();
  const auto other_events = Events(other);
  const std::string theirs = other_events.events(0).id();

  // Events of two traces.
  Result r = Query({"hb", *trace_, mine, theirs});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("not both in trace " + *trace_));
  // Two events of another trace.
  r = Query({"hb", *trace_, theirs, other_events.events(1).id()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("not both in trace " + *trace_));
  // An unknown event, a malformed one, an unknown trace.
  r = Query({"hb", *trace_, mine, model::NewUuidV4()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("event_b"));
  r = Query({"hb", *trace_, "not-an-event", mine});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_THAT(r.err, HasSubstr("event_a"));
  r = Query({"hb", model::NewUuidV4(), mine, mine});
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

TEST_F(RacewayCliTest, HotspotsShowTheDemoVariablesAndCalls) {
  const std::string out = Ok({"hotspots"});
  // 11 traces x 2 workers write inventory; only the demo trace writes balance.
  EXPECT_THAT(out, HasLine("inventory +22 +11 +payments"));
  EXPECT_THAT(out, HasLine("balance +2 +1 +payments"));
  EXPECT_THAT(out, HasSubstr("api -> payments"));
  const auto json = Parse<v1::GetHotspotsResponse>(Ok({"hotspots", "--json"}));
  ASSERT_EQ(json.variables_size(), 2);
  EXPECT_EQ(json.variables(0).variable(), "inventory");
  ASSERT_GE(json.service_calls_size(), 1);
  EXPECT_EQ(json.service_calls(0).from(), "api");
  EXPECT_EQ(json.service_calls(0).to(), "payments");
  // --limit reaches the server.
  const auto one = Parse<v1::GetHotspotsResponse>(Ok({"hotspots", "--limit", "1", "--json"}));
  EXPECT_EQ(one.variables_size(), 1);
}

TEST_F(RacewayCliTest, PerformanceCountsTheDemoTraces) {
  const std::string out = Ok({"performance"});
  // 10 ordinary checkouts (10 events each) and the racy one (12 events).
  EXPECT_THAT(out, HasSubstr("11 trace(s), 112 event(s)"));
  EXPECT_THAT(out, HasSubstr("trace latency: avg"));
  EXPECT_THAT(out, HasSubstr(*trace_));  // The slowest trace: its charge took 80 ms.
  EXPECT_THAT(out, HasLine("payments +[0-9.]+ ms +[0-9]+"));
  const auto json = Parse<v1::GetPerformanceMetricsResponse>(Ok({"performance", "--json"}));
  EXPECT_EQ(json.trace_count(), 11u);
  EXPECT_EQ(json.event_count(), 112u);
  ASSERT_GE(json.slowest_traces_size(), 1);
  EXPECT_EQ(json.slowest_traces(0).trace_id(), *trace_);
  const auto two =
      Parse<v1::GetPerformanceMetricsResponse>(Ok({"performance", "--slowest=2", "--json"}));
  EXPECT_EQ(two.slowest_traces_size(), 2);
}

TEST_F(RacewayCliTest, EdgesSummariseTheSpanLinks) {
  const std::string out = Ok({"edges"});
  EXPECT_THAT(out, HasLine("api -> payments +[A-Z_]+ +11 +11"));
  const auto json = Parse<v1::ListDistributedEdgesResponse>(Ok({"edges", "--json"}));
  ASSERT_EQ(json.edges_size(), 1);
  EXPECT_EQ(json.edges(0).from_service(), "api");
  EXPECT_EQ(json.edges(0).to_service(), "payments");
  EXPECT_EQ(json.edges(0).call_count(), 11u);
  uint64_t by_type = 0;
  for (const auto& [type, calls] : json.count_by_link_type()) by_type += calls;
  EXPECT_EQ(by_type, 11u);
}

TEST_F(RacewayCliTest, ServiceShowsItsCallersAndRecentTraces) {
  const std::string out = Ok({"service", "payments"});
  EXPECT_THAT(out, HasLine("called by +api +11 +11"));
  EXPECT_THAT(out, HasSubstr(*trace_));
  EXPECT_THAT(out, HasSubstr("11 trace(s)"));
  EXPECT_THAT(Ok({"service", "api"}), HasLine("calls +payments +11 +11"));

  google::protobuf::Struct json =
      Parse<google::protobuf::Struct>(Ok({"service", "payments", "--limit", "3", "--json"}));
  ASSERT_TRUE(json.fields().contains("dependencies"));
  ASSERT_TRUE(json.fields().contains("recent_traces"));
  EXPECT_EQ(json.fields()
                .at("recent_traces")
                .struct_value()
                .fields()
                .at("traces")
                .list_value()
                .values_size(),
            3);

  const Result unknown = Query({"service", "no-such-service"});
  EXPECT_EQ(unknown.exit_code, 3) << unknown.err;
  EXPECT_THAT(unknown.err, HasSubstr("no-such-service"));
}

TEST_F(RacewayCliTest, AnalysisCommandsShowTheDemoRace) {
  EXPECT_THAT(Ok({"races", *trace_}), HasLine("CRITICAL +balance .*"));
  const std::string analyze = Ok({"analyze", *trace_});
  EXPECT_THAT(analyze, HasSubstr("trace " + *trace_ + ": 12 events, services api,payments"));
  EXPECT_THAT(analyze, HasSubstr("1 racing pair(s)"));
  EXPECT_THAT(analyze, HasSubstr("critical path"));
  const auto json = Parse<v1::AnalyzeTraceResponse>(Ok({"analyze", *trace_, "--json"}));
  EXPECT_EQ(json.race_count(), 1u);
  Parse<v1::GetRacesResponse>(Ok({"races", *trace_, "--json"}));
  Parse<v1::CriticalPath>(Ok({"critical-path", *trace_, "--json"}));
}

TEST_F(RacewayCliTest, UnknownAndMalformedTraces) {
  const std::string unknown = model::NewUuidV4();
  for (const char* cmd : {"trace", "analyze", "races", "critical-path", "anomalies", "deps"}) {
    Result r = Query({cmd, unknown});
    EXPECT_EQ(r.exit_code, 3) << cmd << ": " << r.err;
    r = Query({cmd, "not-a-trace"});
    EXPECT_EQ(r.exit_code, 4) << cmd << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("trace_id")) << cmd;
  }
}

// The analysis notes under the tables and in --json: an event whose parent
// is not in the trace is analysed as a root (MISSING_PARENTS).
TEST_F(RacewayCliTest, AnalysisNotesAreShown) {
  const std::string trace = model::NewUuidV4();
  v1::SubmitRequest request;
  v1::Event orphan = testing::MakeStateChange(trace, "t1", 1, "x", v1::ACCESS_TYPE_WRITE, "a:1");
  orphan.set_parent_id(model::NewUuidV4());
  *request.add_events() = orphan;
  *request.add_events() =
      testing::MakeStateChange(trace, "t2", 2, "x", v1::ACCESS_TYPE_WRITE, "b:2");
  auto stub =
      v1::IngestService::NewStub(grpc::CreateChannel(*ingest_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::SubmitResponse response;
  ASSERT_TRUE(stub->Submit(&context, request, &response).ok());
  ASSERT_EQ(response.result().accepted(), 2u);

  for (const char* cmd : {"races", "analyze", "critical-path"}) {
    const std::string out = Ok({cmd, trace});
    EXPECT_THAT(out, HasLine("note: .*parent.*")) << cmd << ":\n" << out;
  }
  const auto races = Parse<v1::GetRacesResponse>(Ok({"races", trace, "--json"}));
  ASSERT_EQ(races.diagnostics_size(), 1);
  EXPECT_EQ(races.diagnostics(0).kind(), v1::DIAGNOSTIC_KIND_MISSING_PARENTS);
  EXPECT_EQ(races.diagnostics(0).count(), 1u);
  const auto analyzed = Parse<v1::AnalyzeTraceResponse>(Ok({"analyze", trace, "--json"}));
  EXPECT_TRUE(
      std::any_of(analyzed.diagnostics().begin(), analyzed.diagnostics().end(),
                  [](const auto& d) { return d.kind() == v1::DIAGNOSTIC_KIND_MISSING_PARENTS; }));
}

}  // namespace
}  // namespace raceway::cli
