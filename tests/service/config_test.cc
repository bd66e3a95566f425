// raceway.toml loading (libs/service/config.h): our sections, the reference
// Raceway's sections, and the file -> environment -> flags chain.

#include "libs/service/config.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace raceway::service {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::vector<std::string> WarningKeys(const Config& c) {
  std::vector<std::string> keys;
  for (const auto& w : c.warnings) keys.push_back(w.key);
  return keys;
}

// The error message of a config that must not load.
std::string ErrorOf(const absl::StatusOr<Config>& c) {
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  return std::string(c.status().message());
}

std::string Error(const std::string& toml) { return ErrorOf(ParseConfig(toml, "test.toml")); }

// A raceway.toml on disk for LoadConfig, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& text)
      : path_(std::filesystem::temp_directory_path() /
              ("raceway_config_test_" + std::to_string(getpid()) + "_" +
               std::to_string(counter_++) + ".toml")) {
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

// ------------------------------------------------------------ our sections

TEST(ParseConfigTest, EmptyFileIsTheDefaults) {
  auto c = ParseConfig("", "empty.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->storage.backend, "sqlite");
  EXPECT_EQ(c->storage.sqlite_path, "./raceway.db");
  EXPECT_EQ(c->ingest.listen, "127.0.0.1:50051");
  EXPECT_EQ(c->ingest.http_listen, "127.0.0.1:8080");
  EXPECT_EQ(c->ingest.batch_size, 1000u);
  EXPECT_EQ(c->ingest.rate_limit_rpm, 0u);
  EXPECT_EQ(c->query.rate_limit_rpm, 0u);
  // No cross-origin access unless configured (issue 13).
  EXPECT_THAT(c->query.cors_origins, IsEmpty());
  // A configured SQLite file is expected to exist (issue 13).
  EXPECT_FALSE(c->storage.create_if_missing);
  EXPECT_FALSE(c->storage.read_only);
  EXPECT_THAT(c->auth.ingest_keys, IsEmpty());
  EXPECT_EQ(c->log_level, "info");
  EXPECT_EQ(c->analysis.client_clocks, "auto");
  EXPECT_THAT(c->warnings, IsEmpty());
}

TEST(LoadConfigTest, CreateIfMissingDefaultsPerBinaryAndEverySourceWins) {
  // raceway-ingest: off; `raceway serve` passes true as its default.
  auto service = LoadConfig("", {}, {});
  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_FALSE(service->storage.create_if_missing);
  auto serve = LoadConfig("", {}, {}, {.create_if_missing = true});
  ASSERT_TRUE(serve.ok()) << serve.status();
  EXPECT_TRUE(serve->storage.create_if_missing);
  // A source that sets the key wins over either default.
  auto env = LoadConfig("", {{"RACEWAY_STORAGE_CREATE_IF_MISSING", "true"}}, {});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_TRUE(env->storage.create_if_missing);
  auto flag =
      LoadConfig("", {}, {"--storage.create_if_missing=false"}, {.create_if_missing = true});
  ASSERT_TRUE(flag.ok()) << flag.status();
  EXPECT_FALSE(flag->storage.create_if_missing);
  auto file = ParseConfig("[storage]\ncreate_if_missing = true\n", "t.toml");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE(file->storage.create_if_missing);
}

TEST(ParseConfigTest, EverySectionOfOurFormat) {
  auto c = ParseConfig(R"(
[storage]
backend = "postgres"
retention_hours = 72
[storage.sqlite]
database_path = "/var/lib/raceway/raceway.db"
[storage.postgres]
connection_string = "postgres://raceway:secret@db.internal:5432/raceway"
replica_connection_string = "postgres://raceway:secret@replica.internal:5432/raceway"
max_connections = 20
min_connections = 4
connection_timeout_seconds = 15
auto_migrate = false
[storage.mysql]
connection_string = "mysql://raceway:secret@mysql.internal:3306/raceway"
max_connections = 99

[ingest]
listen = "0.0.0.0:50051"
http_listen = "0.0.0.0:8080"
batch_size = 500
flush_interval_ms = 10
max_buffered_bytes = 134217728
rate_limit_rpm = 6000
rate_limit_burst = 200

[query]
listen = "0.0.0.0:50052"
grpc_web_listen = ""
cors_origins = ["https://dash.example.com", "https://ops.example.com"]
cache_traces = 64
default_page_size = 50
max_page_size = 500
anomaly_sigma = 3
rate_limit_rpm = 1200

[auth]
ingest_keys = ["ingest-key"]
query_keys = ["query-key-1", "query-key-2"]

[metrics]
ingest_listen = "0.0.0.0:9091"
query_listen = ""

[log]
level = "warn"

[analysis]
client_clocks = "trust"
)",
                       "ours.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->storage.backend, "postgres");
  EXPECT_EQ(c->retention_hours, 72u);
  // Only the selected dialect's section applies.
  EXPECT_EQ(c->storage.connection_string, "postgres://raceway:secret@db.internal:5432/raceway");
  EXPECT_EQ(c->storage.replica_connection_string,
            "postgres://raceway:secret@replica.internal:5432/raceway");
  EXPECT_EQ(c->storage.max_connections, 20u);
  EXPECT_EQ(c->storage.min_connections, 4u);
  EXPECT_EQ(c->storage.connection_timeout_seconds, 15u);
  EXPECT_FALSE(c->storage.auto_migrate);
  EXPECT_EQ(c->ingest.listen, "0.0.0.0:50051");
  EXPECT_EQ(c->ingest.batch_size, 500u);
  EXPECT_EQ(c->ingest.flush_interval_ms, 10u);
  EXPECT_EQ(c->ingest.max_buffered_bytes, 134217728u);
  EXPECT_EQ(c->ingest.rate_limit_rpm, 6000u);
  EXPECT_EQ(c->ingest.rate_limit_burst, 200u);
  EXPECT_EQ(c->query.grpc_web_listen, "");
  EXPECT_THAT(c->query.cors_origins,
              ElementsAre("https://dash.example.com", "https://ops.example.com"));
  EXPECT_EQ(c->query.cache_traces, 64u);
  EXPECT_EQ(c->query.default_page_size, 50u);
  EXPECT_DOUBLE_EQ(c->query.anomaly_sigma, 3.0);
  EXPECT_EQ(c->query.rate_limit_rpm, 1200u);
  EXPECT_EQ(c->query.rate_limit_burst, 0u);
  EXPECT_THAT(c->auth.ingest_keys, ElementsAre("ingest-key"));
  EXPECT_THAT(c->auth.query_keys, ElementsAre("query-key-1", "query-key-2"));
  EXPECT_EQ(c->metrics.query_listen, "");
  EXPECT_EQ(c->log_level, "warn");
  EXPECT_EQ(c->analysis.client_clocks, "trust");
  EXPECT_THAT(c->warnings, IsEmpty());
}

TEST(ParseConfigTest, MysqlSectionAppliesToTheMysqlBackend) {
  auto c = ParseConfig(R"(
[storage]
backend = "mysql"
[storage.postgres]
connection_string = "postgres://ignored"
[storage.mysql]
connection_string = "mysql://raceway:pw@127.0.0.1:3306/raceway"
max_connections = 3
min_connections = 1
)",
                       "t");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->storage.connection_string, "mysql://raceway:pw@127.0.0.1:3306/raceway");
  EXPECT_EQ(c->storage.max_connections, 3u);
}

TEST(ParseConfigTest, ErrorsNameTheKey) {
  EXPECT_THAT(Error("[ingest]\nbatch_sise = 5\n"), HasSubstr("unknown key \"ingest.batch_sise\""));
  EXPECT_THAT(Error("[storage.sqlite]\npath = \"x.db\"\n"),
              HasSubstr("unknown key \"storage.sqlite.path\""));
  EXPECT_THAT(Error("[ingest]\nbatch_size = \"many\"\n"),
              HasSubstr("ingest.batch_size must be a non-negative integer"));
  EXPECT_THAT(Error("[ingest]\nbatch_size = -1\n"),
              HasSubstr("ingest.batch_size must be a non-negative integer"));
  EXPECT_THAT(Error("[ingest]\nbatch_size = 4294967296\n"),
              HasSubstr("ingest.batch_size: 4294967296 is out of range"));
  EXPECT_THAT(Error("[ingest]\nbatch_size = 0\n"), HasSubstr("ingest.batch_size: must be > 0"));
  EXPECT_THAT(Error("[ingest]\nrate_limit_rpm = -60\n"),
              HasSubstr("ingest.rate_limit_rpm must be a non-negative integer"));
  EXPECT_THAT(Error("[query]\ncors_origins = \"*\"\n"),
              HasSubstr("query.cors_origins must be an array of strings"));
  EXPECT_THAT(Error("[storage]\nbackend = \"oracle\"\n"),
              HasSubstr("storage.backend: \"oracle\" is not one of"));
  EXPECT_THAT(Error("[storage]\nbackend = \"postgres\"\n"),
              HasSubstr("storage.postgres.connection_string: required"));
  EXPECT_THAT(Error("[ingest]\nlisten = \"localhost\"\n"),
              HasSubstr("ingest.listen: \"localhost\" is not host:port"));
  EXPECT_THAT(Error("[query]\ngrpc_web_listen = \"127.0.0.1:70000\"\n"),
              HasSubstr("query.grpc_web_listen"));
  EXPECT_THAT(Error("[query]\ndefault_page_size = 2000\n"),
              HasSubstr("query.default_page_size: must be <= query.max_page_size"));
  EXPECT_THAT(Error("[query]\nanomaly_sigma = 0\n"), HasSubstr("query.anomaly_sigma: must be > 0"));
  EXPECT_THAT(Error("[ingest]\ntls_cert_file = \"cert.pem\"\n"),
              HasSubstr("ingest.tls_cert_file/tls_key_file: set both or neither"));
  EXPECT_THAT(Error("[log]\nlevel = \"loud\"\n"), HasSubstr("log.level: \"loud\" is not one of"));
  EXPECT_THAT(Error("[analysis]\nclient_clocks = \"sometimes\"\n"),
              HasSubstr("analysis.client_clocks: \"sometimes\" is not one of auto, trust, ignore"));
  // An empty key would let a request without a key in.
  EXPECT_THAT(Error("[auth]\ningest_keys = [\"k\", \"\"]\n"),
              HasSubstr("auth.ingest_keys: keys must not be empty"));
}

TEST(ParseConfigTest, SyntaxErrorsGiveOriginLineAndColumn) {
  EXPECT_THAT(ErrorOf(ParseConfig("[ingest]\nbatch_size = = 3\n", "raceway.toml")),
              HasSubstr("raceway.toml:2:"));
}

TEST(ParseConfigTest, LogLevelAliases) {
  for (auto [given, level] : std::vector<std::pair<std::string, std::string>>{
           {"trace", "debug"}, {"WARNING", "warn"}, {"Error", "error"}, {"info", "info"}}) {
    auto c = ParseConfig("[log]\nlevel = \"" + given + "\"\n", "t");
    ASSERT_TRUE(c.ok()) << given << ": " << c.status();
    EXPECT_EQ(c->log_level, level) << given;
  }
}

// ------------------------------------------------------------ LoadConfig

TEST(LoadConfigTest, NoFileIsTheDefaults) {
  auto c = LoadConfig("", {}, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ingest.batch_size, 1000u);
}

TEST(LoadConfigTest, MissingFileIsAnError) {
  auto c = LoadConfig("/nonexistent/raceway.toml", {}, {});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(c.status().message(), HasSubstr("/nonexistent/raceway.toml"));
}

TEST(LoadConfigTest, FileThenEnvironmentThenFlags) {
  TempFile file(
      "[ingest]\nbatch_size = 10\nflush_interval_ms = 7\n[analysis]\n"
      "client_clocks = \"ignore\"\n");
  const std::map<std::string, std::string> env = {
      {"RACEWAY_INGEST_BATCH_SIZE", "20"},
      {"RACEWAY_ANALYSIS_CLIENT_CLOCKS", "trust"},
      {"RACEWAY_AUTH_INGEST_KEYS", "key-a, key-b"},
      {"RACEWAY_STORAGE_SQLITE_AUTO_MIGRATE", "no"},
      {"RACEWAY_QUERY_RATE_LIMIT_RPM", "300"},
      // The test harness's variables are not settings and are allowed.
      {"RACEWAY_TEST_POSTGRES_URL", "postgres://elsewhere"}};
  auto env_only = LoadConfig(file.path(), env, {});
  ASSERT_TRUE(env_only.ok()) << env_only.status();
  EXPECT_EQ(env_only->ingest.batch_size, 20u);
  EXPECT_EQ(env_only->ingest.flush_interval_ms, 7u);  // From the file.
  EXPECT_EQ(env_only->analysis.client_clocks, "trust");
  EXPECT_THAT(env_only->auth.ingest_keys, ElementsAre("key-a", "key-b"));
  EXPECT_FALSE(env_only->storage.auto_migrate);
  EXPECT_EQ(env_only->query.rate_limit_rpm, 300u);

  auto flagged = LoadConfig(file.path(), env,
                            {"--ingest.batch_size=30", "--analysis.client_clocks=auto",
                             "--ingest.rate_limit_rpm=120", "--ingest.rate_limit_burst=5"});
  ASSERT_TRUE(flagged.ok()) << flagged.status();
  EXPECT_EQ(flagged->ingest.batch_size, 30u);
  EXPECT_EQ(flagged->analysis.client_clocks, "auto");
  EXPECT_EQ(flagged->ingest.rate_limit_rpm, 120u);
  EXPECT_EQ(flagged->ingest.rate_limit_burst, 5u);
}

TEST(LoadConfigTest, EnvironmentAndFlagErrorsNameTheirSource) {
  EXPECT_THAT(ErrorOf(LoadConfig("", {{"RACEWAY_INGEST_BATCH_SIZE", "lots"}}, {})),
              HasSubstr("RACEWAY_INGEST_BATCH_SIZE: ingest.batch_size must be a non-negative "
                        "integer, got \"lots\""));
  EXPECT_THAT(ErrorOf(LoadConfig("", {{"RACEWAY_ANALYSIS_CLIENT_CLOCKS", "maybe"}}, {})),
              HasSubstr("analysis.client_clocks: \"maybe\""));
  EXPECT_THAT(ErrorOf(LoadConfig("", {}, {"--analysis.client_clocks=never"})),
              HasSubstr("analysis.client_clocks: \"never\""));
  EXPECT_THAT(ErrorOf(LoadConfig("", {}, {"--ingest.batch_size"})),
              HasSubstr("expected --section.key=value"));
  EXPECT_THAT(ErrorOf(LoadConfig("", {}, {"--ingest.bach_size=3"})),
              HasSubstr("unknown key \"ingest.bach_size\""));
  EXPECT_THAT(ErrorOf(LoadConfig("", {}, {"--query.rate_limit_rpm=-1"})),
              HasSubstr("query.rate_limit_rpm must be a non-negative integer"));
  // The reference keys exist in the file only.
  EXPECT_THAT(ErrorOf(LoadConfig("", {}, {"--server.port=9000"})),
              HasSubstr("unknown key \"server.port\""));
}

// Issue 13: a misspelled override must not be ignored silently
// (RACEWAY_AUTH_INGEST_KEY=s3cret used to leave auth off).
TEST(LoadConfigTest, UnknownRacewayEnvironmentVariablesFailNamingTheVariable) {
  const std::string typo = ErrorOf(LoadConfig("", {{"RACEWAY_AUTH_INGEST_KEY", "s3cret"}}, {}));
  EXPECT_THAT(typo, HasSubstr("environment variable RACEWAY_AUTH_INGEST_KEY"));
  EXPECT_THAT(typo, Not(HasSubstr("s3cret")));  // Never echo a value that may be a key.
  EXPECT_THAT(ErrorOf(LoadConfig("", {{"RACEWAY_INGEST_BACH_SIZE", "3"}}, {})),
              HasSubstr("RACEWAY_INGEST_BACH_SIZE"));
  EXPECT_THAT(ErrorOf(LoadConfig("", {{"RACEWAY_STORAGE", "sqlite"}}, {})),
              HasSubstr("RACEWAY_STORAGE"));
  EXPECT_THAT(ErrorOf(LoadConfig("", {{"RACEWAY_", ""}}, {})), HasSubstr("RACEWAY_"));
  // Case matters: environment names are upper-case, like the shell's.
  EXPECT_THAT(ErrorOf(LoadConfig("", {{"RACEWAY_ingest_batch_size", "3"}}, {})),
              HasSubstr("RACEWAY_ingest_batch_size"));
  // The reference's file-only keys have no environment variable.
  EXPECT_THAT(ErrorOf(LoadConfig("", {{"RACEWAY_SERVER_PORT", "9000"}}, {})),
              HasSubstr("RACEWAY_SERVER_PORT"));
  // Other programs' variables are none of ours.
  auto other = LoadConfig("", {{"RACEWAYS_X", "1"}, {"PATH", "/bin"}, {"raceway_x", "1"}}, {});
  EXPECT_TRUE(other.ok()) << other.status();
}

TEST(LoadConfigTest, VariablesOfTheCliTestsAndScriptsAreAllowed) {
  const std::map<std::string, std::string> env = {
      {"RACEWAY_TEST_POSTGRES_URL", "postgres://127.0.0.1:1/x"},
      {"RACEWAY_TEST_MYSQL_URL", "mysql://127.0.0.1:1/x"},
      {"RACEWAY_TEST_STOP_POSTGRES", "true"},
      {"RACEWAY_TEST_SANITIZERS", "1"},
      {"RACEWAY_REQUIRE_ENV", "1"},
      {"RACEWAY_JOBS", "2"},
      {"RACEWAY_BENCH_BATCH", "100"},
      {"RACEWAY_BENCH_STORAGE_URLS", "sqlite"},
      {"RACEWAY_STORAGE_TEST_SCALE", "2"},
      {"RACEWAY_API_KEY", "k"},
      {"RACEWAY_INGEST_ADDR", "127.0.0.1:50051"},
      {"RACEWAY_QUERY_ADDR", "127.0.0.1:50052"},
      {"RACEWAY_WEB_URL", "http://127.0.0.1:1"},
      {"RACEWAY_DEMO_TRACE", "t"},
      {"RACEWAY_ORIGIN_ALLOWED", "http://a"},
      {"RACEWAY_ORIGIN_OTHER", "http://b"},
      {"RACEWAY_AUTH_INGEST_KEYS", "s3cret"}};
  auto c = LoadConfig("", env, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->auth.ingest_keys, ElementsAre("s3cret"));
}

TEST(LoadConfigTest, AuthModeTextCountsTheKeys) {
  EXPECT_EQ(AuthModeText({}), "auth: off");
  EXPECT_EQ(AuthModeText({"a"}), "auth: on (1 key)");
  EXPECT_EQ(AuthModeText({"a", "b"}), "auth: on (2 keys)");
}

// ------------------------------------------------- the reference's sections

// The structure of the reference Raceway's raceway.toml.example, with the
// values a production deployment of it would have.
constexpr char kReferenceToml[] = R"(# Raceway Configuration File

[server]
host = "0.0.0.0"
port = 8080
verbose = false

cors_enabled = true
cors_origins = ["https://dash.example.com"]

rate_limit_enabled = true
rate_limit_rpm = 600

auth_enabled = true
api_keys = ["prod-key-1", "prod-key-2"]

[storage]
backend = "postgres"

[storage.postgres]
connection_string = "postgresql://raceway:secret@db.internal/raceway"
max_connections = 10
min_connections = 2
connection_timeout_seconds = 30
auto_migrate = true

[engine]
buffer_size = 10000
batch_size = 100
flush_interval_ms = 100

[race_detection]
enabled = true

[anomaly_detection]
enabled = true

[distributed_tracing]
enabled = true

[logging]
level = "warn"
include_modules = false

[development]
cors_allow_all = false
)";

TEST(ReferenceConfigTest, TheExampleFileMapsOntoOurs) {
  auto c = ParseConfig(kReferenceToml, "raceway.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ingest.http_listen, "0.0.0.0:8080");
  EXPECT_THAT(c->query.cors_origins, ElementsAre("https://dash.example.com"));
  EXPECT_EQ(c->ingest.rate_limit_rpm, 600u);
  EXPECT_EQ(c->query.rate_limit_rpm, 600u);
  EXPECT_EQ(c->ingest.rate_limit_burst, 0u);  // A minute's worth, as the reference's quota.
  EXPECT_THAT(c->auth.ingest_keys, ElementsAre("prod-key-1", "prod-key-2"));
  EXPECT_THAT(c->auth.query_keys, ElementsAre("prod-key-1", "prod-key-2"));
  EXPECT_EQ(c->storage.backend, "postgres");
  EXPECT_EQ(c->storage.connection_string, "postgresql://raceway:secret@db.internal/raceway");
  EXPECT_EQ(c->storage.connection_timeout_seconds, 30u);
  EXPECT_EQ(c->ingest.batch_size, 100u);
  EXPECT_EQ(c->ingest.flush_interval_ms, 100u);
  // 10000 events at the documented 1280 bytes per decoded event.
  EXPECT_EQ(c->ingest.max_buffered_bytes, 10000u * 1280u);
  EXPECT_EQ(c->log_level, "warn");
  // Keys with no effect here: one warning each, nothing else.
  EXPECT_THAT(WarningKeys(*c),
              ::testing::UnorderedElementsAre(
                  "server.verbose", "race_detection.enabled", "anomaly_detection.enabled",
                  "distributed_tracing.enabled", "logging.include_modules"));
  for (const auto& w : c->warnings) EXPECT_THAT(w.message, HasSubstr("has no effect")) << w.key;
}

TEST(ReferenceConfigTest, EachNoEffectKeyWarnsOnce) {
  for (auto [toml, key] : std::vector<std::pair<std::string, std::string>>{
           {"[server]\nverbose = true\n", "server.verbose"},
           {"[server]\nui_password = \"hunter2\"\n", "server.ui_password"},
           {"[race_detection]\nenabled = false\n", "race_detection.enabled"},
           {"[anomaly_detection]\nenabled = false\n", "anomaly_detection.enabled"},
           {"[distributed_tracing]\nenabled = false\n", "distributed_tracing.enabled"},
           {"[logging]\ninclude_modules = true\n", "logging.include_modules"}}) {
    auto c = ParseConfig(toml, "t");
    ASSERT_TRUE(c.ok()) << toml << c.status();
    EXPECT_THAT(WarningKeys(*c), ElementsAre(key));
    // The password itself is never repeated.
    for (const auto& w : c->warnings) EXPECT_THAT(w.message, ::testing::Not(HasSubstr("hunter2")));
  }
}

TEST(ReferenceConfigTest, MisspelledReferenceKeysFail) {
  EXPECT_THAT(Error("[server]\nprot = 8080\n"), HasSubstr("unknown key \"server.prot\""));
  EXPECT_THAT(Error("[engine]\nbatch_sizes = 100\n"),
              HasSubstr("unknown key \"engine.batch_sizes\""));
  EXPECT_THAT(Error("[race_detection]\nenable = true\n"),
              HasSubstr("unknown key \"race_detection.enable\""));
  EXPECT_THAT(Error("[developement]\ncors_allow_all = true\n"),
              HasSubstr("unknown key \"developement.cors_allow_all\""));
}

TEST(ReferenceConfigTest, BadReferenceValuesNameTheKey) {
  EXPECT_THAT(Error("[server]\nport = 70000\n"),
              HasSubstr("server.port: 70000 is out of range (0-65535)"));
  EXPECT_THAT(Error("[server]\nport = \"8080\"\n"),
              HasSubstr("server.port must be a non-negative integer"));
  EXPECT_THAT(Error("[server]\nhost = \"\"\n"), HasSubstr("server.host: must not be empty"));
  EXPECT_THAT(Error("[server]\nrate_limit_rpm = -5\n"),
              HasSubstr("server.rate_limit_rpm must be a non-negative integer"));
  EXPECT_THAT(Error("[server]\nrate_limit_enabled = true\nrate_limit_rpm = 0\n"),
              HasSubstr("server.rate_limit_rpm: must be > 0"));
  EXPECT_THAT(Error("[server]\nauth_enabled = true\n"),
              HasSubstr("server.api_keys: server.auth_enabled = true needs at least one key"));
  EXPECT_THAT(Error("[server]\nauth_enabled = true\napi_keys = []\n"),
              HasSubstr("server.api_keys"));
  EXPECT_THAT(Error("[server]\nauth_enabled = true\napi_keys = [\"\"]\n"),
              HasSubstr("server.api_keys: keys must not be empty"));
  EXPECT_THAT(Error("[server]\ncors_enabled = \"yes\"\n"),
              HasSubstr("server.cors_enabled must be a boolean"));
  EXPECT_THAT(Error("[engine]\nbatch_size = 0\n"), HasSubstr("engine.batch_size: must be > 0"));
  EXPECT_THAT(Error("[engine]\nbuffer_size = 0\n"), HasSubstr("engine.buffer_size: must be > 0"));
  EXPECT_THAT(Error("[engine]\nbuffer_size = 9223372036854775807\n"),
              HasSubstr("engine.buffer_size: 9223372036854775807 is out of range"));
  EXPECT_THAT(Error("[logging]\nlevel = \"loud\"\n"),
              HasSubstr("logging.level: \"loud\" is not one of trace, debug, info, warn"));
  EXPECT_THAT(Error("[race_detection]\nenabled = \"no\"\n"),
              HasSubstr("race_detection.enabled must be a boolean"));
}

TEST(ReferenceConfigTest, ServerHostAndPort) {
  auto port_only = ParseConfig("[server]\nport = 3000\n", "t");
  ASSERT_TRUE(port_only.ok()) << port_only.status();
  EXPECT_EQ(port_only->ingest.http_listen, "127.0.0.1:3000");
  auto host_only = ParseConfig("[server]\nhost = \"0.0.0.0\"\n", "t");
  ASSERT_TRUE(host_only.ok()) << host_only.status();
  EXPECT_EQ(host_only->ingest.http_listen, "0.0.0.0:8080");
  auto v6 = ParseConfig("[server]\nhost = \"::1\"\nport = 8088\n", "t");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->ingest.http_listen, "[::1]:8088");
}

TEST(ReferenceConfigTest, Cors) {
  auto off = ParseConfig("[server]\ncors_enabled = false\ncors_origins = [\"https://a\"]\n", "t");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_THAT(off->query.cors_origins, IsEmpty());
  auto all = ParseConfig(
      "[server]\ncors_origins = [\"https://a\"]\n[development]\ncors_allow_all = true\n", "t");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(all->query.cors_origins, ElementsAre("*"));
}

TEST(ReferenceConfigTest, KeysWithoutAuthEnabledAreIgnoredWithAWarning) {
  // As the reference server: api_keys without auth_enabled = true do nothing.
  auto c = ParseConfig("[server]\napi_keys = [\"k1\"]\n", "t");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->auth.ingest_keys, IsEmpty());
  EXPECT_THAT(c->auth.query_keys, IsEmpty());
  EXPECT_THAT(WarningKeys(*c), ElementsAre("server.api_keys"));
  // A disabled rate limit is the reference's default state: no limit, quietly.
  auto off = ParseConfig("[server]\nrate_limit_enabled = false\nrate_limit_rpm = 1000\n", "t");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_EQ(off->ingest.rate_limit_rpm, 0u);
  EXPECT_THAT(off->warnings, IsEmpty());
  // Enabled without an rpm: the reference's default of 1000.
  auto on = ParseConfig("[server]\nrate_limit_enabled = true\n", "t");
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_EQ(on->query.rate_limit_rpm, 1000u);
}

TEST(ReferenceConfigTest, LevelNames) {
  for (auto [given, level] : std::vector<std::pair<std::string, std::string>>{
           {"trace", "debug"}, {"debug", "debug"}, {"warning", "warn"}, {"WARN", "warn"}}) {
    auto c = ParseConfig("[logging]\nlevel = \"" + given + "\"\n", "t");
    ASSERT_TRUE(c.ok()) << given << ": " << c.status();
    EXPECT_EQ(c->log_level, level) << given;
  }
}

TEST(ReferenceConfigTest, OurKeysWinWithAWarning) {
  auto c = ParseConfig(R"(
[server]
port = 9000
rate_limit_enabled = true
rate_limit_rpm = 100
auth_enabled = true
api_keys = ["shared"]
[ingest]
http_listen = "127.0.0.1:7000"
rate_limit_rpm = 50
[auth]
query_keys = ["dashboards"]
[engine]
batch_size = 10
[logging]
level = "error"
[log]
level = "debug"
)",
                       "t");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ingest.http_listen, "127.0.0.1:7000");
  EXPECT_EQ(c->ingest.rate_limit_rpm, 50u);
  EXPECT_EQ(c->query.rate_limit_rpm, 100u);  // Not shadowed.
  EXPECT_THAT(c->auth.ingest_keys, ElementsAre("shared"));
  EXPECT_THAT(c->auth.query_keys, ElementsAre("dashboards"));
  EXPECT_EQ(c->ingest.batch_size, 10u);
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_THAT(WarningKeys(*c),
              ::testing::UnorderedElementsAre("server.port", "server.rate_limit_rpm",
                                              "server.api_keys", "logging.level"));
  for (const auto& w : c->warnings) EXPECT_THAT(w.message, HasSubstr(" is set")) << w.key;
}

TEST(ReferenceConfigTest, EnvironmentAndFlagsStillOverride) {
  TempFile file(kReferenceToml);
  auto c = LoadConfig(file.path(),
                      {{"RACEWAY_INGEST_HTTP_LISTEN", "127.0.0.1:0"},
                       {"RACEWAY_INGEST_BATCH_SIZE", "250"},
                       {"RACEWAY_AUTH_QUERY_KEYS", "env-query-key"}},
                      {"--log.level=info", "--query.rate_limit_rpm=0"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ingest.http_listen, "127.0.0.1:0");
  EXPECT_EQ(c->ingest.batch_size, 250u);
  EXPECT_THAT(c->auth.query_keys, ElementsAre("env-query-key"));
  EXPECT_THAT(c->auth.ingest_keys, ElementsAre("prod-key-1", "prod-key-2"));
  EXPECT_EQ(c->log_level, "info");
  EXPECT_EQ(c->query.rate_limit_rpm, 0u);
  EXPECT_EQ(c->ingest.rate_limit_rpm, 600u);
  EXPECT_EQ(c->ingest.flush_interval_ms, 100u);  // From engine.flush_interval_ms.
}

}  // namespace
}  // namespace raceway::service
