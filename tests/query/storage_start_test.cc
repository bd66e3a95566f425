// How the service binaries open their database (issue 13): raceway-query
// opens it read-only (never creates it, never migrates it: a missing
// database or pending migrations stop its start, naming the path and what
// to do) and still reads what raceway-ingest writes meanwhile;
// raceway-ingest refuses a missing SQLite file unless
// storage.create_if_missing = true. The PostgreSQL case needs the
// tests/support/testdb.sh server.

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>

#include "SQLiteCpp/SQLiteCpp.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
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

using raceway::testing::ServiceProcess;
using ::testing::HasSubstr;

const std::vector<std::string> kIngestPorts = {
    "--ingest.listen=127.0.0.1:0",
    "--ingest.http_listen=", "--metrics.ingest_listen=", "--ingest.flush_interval_ms=2"};
const std::vector<std::string> kQueryPorts = {
    "--query.listen=127.0.0.1:0", "--query.grpc_web_listen=", "--metrics.query_listen="};

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class SqliteStartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("raceway_start_" + model::NewUuidV4());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "raceway.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<std::string> Storage() const {
    return {"--storage.backend=sqlite", "--storage.sqlite.database_path=" + path_};
  }
  absl::StatusOr<std::unique_ptr<ServiceProcess>> Ingest(std::vector<std::string> extra = {}) {
    return ServiceProcess::Start(RACEWAY_INGEST_BINARY,
                                 Concat(Concat(Storage(), kIngestPorts), extra), "ingest started");
  }
  absl::StatusOr<std::unique_ptr<ServiceProcess>> Query(std::vector<std::string> extra = {}) {
    return ServiceProcess::Start(RACEWAY_QUERY_BINARY,
                                 Concat(Concat(Storage(), kQueryPorts), extra), "query started");
  }
  // A migrated database, written by an ingest process that has stopped.
  void CreateDatabase() {
    auto ingest = Ingest({"--storage.create_if_missing=true"});
    ASSERT_TRUE(ingest.ok()) << ingest.status();
    const int status = (*ingest)->Stop(SIGTERM);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << (*ingest)->Log();
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(SqliteStartTest, IngestRefusesAMissingDatabaseUnlessToldToCreateIt) {
  auto refused = Ingest();
  ASSERT_FALSE(refused.ok()) << "raceway-ingest created " << path_;
  EXPECT_THAT(refused.status().message(), HasSubstr("exited (status 256)"));
  EXPECT_THAT(refused.status().message(), HasSubstr(path_));
  EXPECT_THAT(refused.status().message(),
              HasSubstr("does not exist; set storage.create_if_missing = true"));
  EXPECT_TRUE(std::filesystem::is_empty(dir_));

  auto created = Ingest({"--storage.create_if_missing=true"});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(std::filesystem::exists(path_));
}

TEST_F(SqliteStartTest, QueryRefusesAMissingDatabaseAndCreatesNothing) {
  // create_if_missing does not apply to the read-only query service.
  auto refused = Query({"--storage.create_if_missing=true"});
  ASSERT_FALSE(refused.ok()) << "raceway-query started on a missing database";
  EXPECT_THAT(refused.status().message(), HasSubstr("exited (status 256)"));
  EXPECT_THAT(refused.status().message(), HasSubstr(path_));
  EXPECT_THAT(refused.status().message(), HasSubstr("never creates it"));
  EXPECT_TRUE(std::filesystem::is_empty(dir_)) << "raceway-query left files behind";
}

TEST_F(SqliteStartTest, QueryRefusesPendingMigrationsAndDoesNotMigrate) {
  ASSERT_NO_FATAL_FAILURE(CreateDatabase());
  int applied = 0;
  {
    SQLite::Database db(path_, SQLite::OPEN_READWRITE);
    applied = db.execAndGet("SELECT COUNT(*) FROM schema_migrations").getInt();
    ASSERT_GT(applied, 0);
    db.exec(
        "DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM "
        "schema_migrations)");
  }
  // auto_migrate does not apply to the query service either.
  auto refused = Query({"--storage.sqlite.auto_migrate=true"});
  ASSERT_FALSE(refused.ok()) << "raceway-query started on an out-of-date schema";
  EXPECT_THAT(refused.status().message(), HasSubstr("exited (status 256)"));
  EXPECT_THAT(refused.status().message(), HasSubstr(path_));
  EXPECT_THAT(refused.status().message(), HasSubstr("schema is out of date"));
  EXPECT_THAT(refused.status().message(), HasSubstr("raceway migrate up"));
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM schema_migrations").getInt(), applied - 1)
      << "raceway-query migrated";
}

TEST_F(SqliteStartTest, QueryReadsWhatIngestWritesMeanwhile) {
  auto ingest = Ingest({"--storage.create_if_missing=true"});
  ASSERT_TRUE(ingest.ok()) << ingest.status();
  auto query = Query();
  ASSERT_TRUE(query.ok()) << query.status();
  auto ingest_stub = raceway::v1::IngestService::NewStub(
      grpc::CreateChannel((*ingest)->Address("grpc_port"), grpc::InsecureChannelCredentials()));
  auto query_stub = raceway::v1::QueryService::NewStub(
      grpc::CreateChannel((*query)->Address("grpc_port"), grpc::InsecureChannelCredentials()));
  for (int round = 1; round <= 3; ++round) {
    raceway::v1::SubmitRequest submit;
    *submit.add_events() = raceway::testing::MakeEvent(model::NewUuidV4(), "t1", round);
    raceway::v1::SubmitResponse submitted;
    grpc::ClientContext submit_context;
    const grpc::Status s = ingest_stub->Submit(&submit_context, submit, &submitted);
    ASSERT_TRUE(s.ok()) << s.error_message();

    grpc::ClientContext list_context;
    raceway::v1::ListTracesResponse traces;
    const grpc::Status listed =
        query_stub->ListTraces(&list_context, raceway::v1::ListTracesRequest(), &traces);
    ASSERT_TRUE(listed.ok()) << listed.error_message() << "\n" << (*query)->Log();
    EXPECT_EQ(traces.traces_size(), round) << "an acked trace is not visible to the query process";
  }
  // Closed first, so that the servers' shutdown need not wait for them.
  ingest_stub.reset();
  query_stub.reset();
  for (auto* p : {&*query, &*ingest}) {
    const int status = (*p)->Stop(SIGTERM);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << (*p)->Log();
  }
}

TEST(PostgresStartTest, QueryChecksTheSchemaWithoutMigrating) {
  RACEWAY_REQUIRE_ENV(base_url, "RACEWAY_TEST_POSTGRES_URL");
  const std::string url = storage::testing::WithDatabase(base_url, "raceway_pg_query_start");
  ASSERT_TRUE(storage::testing::EnsurePostgresDatabase(url).ok());
  ASSERT_TRUE(storage::testing::ResetPostgresDatabase(url).ok());
  const std::vector<std::string> storage = {"--storage.backend=postgres",
                                            "--storage.postgres.connection_string=" + url,
                                            "--storage.postgres.auto_migrate=true"};
  auto refused =
      ServiceProcess::Start(RACEWAY_QUERY_BINARY, Concat(storage, kQueryPorts), "query started");
  ASSERT_FALSE(refused.ok()) << "raceway-query started on an unmigrated database";
  EXPECT_THAT(refused.status().message(), HasSubstr("not applied"));
  auto table = storage::testing::QueryPostgres(
      url, "SELECT COALESCE(to_regclass('public.schema_migrations')::text, '')");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(*table, "") << "raceway-query ran migrations";

  // Once the writer has migrated, the query service starts.
  auto ingest =
      ServiceProcess::Start(RACEWAY_INGEST_BINARY, Concat(storage, kIngestPorts), "ingest started");
  ASSERT_TRUE(ingest.ok()) << ingest.status();
  auto query =
      ServiceProcess::Start(RACEWAY_QUERY_BINARY, Concat(storage, kQueryPorts), "query started");
  ASSERT_TRUE(query.ok()) << query.status();
}

}  // namespace
}  // namespace raceway::query
