// Backend-specific tests of the PostgreSQL / Supabase / MySQL storage (the
// shared semantics are in the conformance suite): connection pools against
// real servers (exhaustion, broken connections replaced), server restarts
// (zero loss, recovery by itself), Supabase mode through pgbouncer in
// transaction pooling mode, migrations (concurrent openers migrate once,
// changed checksum refused, auto_migrate = false), the read replica and
// connection-string pass-through.
//
// Needs tests/support/testdb.sh servers (label "db"). Restarting a server
// uses RACEWAY_TEST_RESTART_POSTGRES / RACEWAY_TEST_RESTART_MYSQL.

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/storage/factory.h"
#include "libs/storage/migrations.h"
#include "libs/storage/mysql/mysql_storage.h"
#include "libs/storage/postgres/postgres_storage.h"
#include "libs/storage/postgres/sql_event_row.h"
#include "tests/storage_sql/sql_test_util.h"
#include "tests/support/events.h"
#include "tests/support/test_env.h"
#include "tests/support/tsan_uninstrumented.h"

namespace raceway::storage::testing {
namespace {

using raceway::testing::MakeEvent;
using raceway::testing::MakeStateChange;
using raceway::v1::Event;

// A database of this test binary on the harness server.
std::string Derived(const std::string& url, const std::string& suffix) {
  return WithDatabase(url, DatabaseOf(url) + suffix);
}

absl::Status Ensure(const std::string& backend, const std::string& url) {
  return backend == "mysql" ? EnsureMysqlDatabase(url) : EnsurePostgresDatabase(url);
}

std::vector<Event> MakeBatch(int n, int traces, int seed) {
  std::vector<std::string> trace_ids;
  for (int t = 0; t < traces; ++t) trace_ids.push_back(model::NewUuidV4());
  std::vector<Event> out;
  for (int i = 0; i < n; ++i) {
    const std::string& trace = trace_ids[i % traces];
    Event e = i % 4 == 0 ? MakeStateChange(trace, absl::StrCat("t", i % 3), seed * 100000 + i,
                                           absl::StrCat("v", i % 7), raceway::v1::ACCESS_TYPE_WRITE,
                                           "x.rs:1")
                         : MakeEvent(trace, absl::StrCat("t", i % 3), seed * 100000 + i,
                                     absl::StrCat("svc", i % 2));
    if (i % 2) e.mutable_metadata()->set_duration_ns(1000 + i);
    if (i >= traces) e.set_parent_id(out[i - traces].id());
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<WriteResult> Write(Storage& s, const std::vector<Event>& events) {
  std::vector<const Event*> ptrs;
  for (const Event& e : events) ptrs.push_back(&e);
  return s.WriteBatch(ptrs);
}

// Every event reads back byte for byte.
void ExpectAllStored(Storage& s, const std::vector<Event>& events) {
  for (const Event& e : events) {
    auto got = s.GetEvent(e.id());
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(dbutil::SerializeDeterministic(*got), dbutil::SerializeDeterministic(e));
  }
}

// ------------------------------------------------------------------ pools

// Holds an exclusive lock on trace_summaries from an outside connection so
// that a write through the storage blocks (keeping its connection busy).
class TableLocker {
 public:
  explicit TableLocker(const std::string& url) : conn_(url), tx_(conn_) {
    tx_.exec("LOCK TABLE trace_summaries IN ACCESS EXCLUSIVE MODE");
  }
  void Release() { tx_.commit(); }

 private:
  pqxx::connection conn_;
  pqxx::work tx_;
};

TEST(PostgresPoolTest, ExhaustedPoolWaitsForConnectionTimeoutThenUnavailable) {
  RACEWAY_REQUIRE_ENV(base, "RACEWAY_TEST_POSTGRES_URL");
  const std::string url = Derived(base, "_backend");
  ASSERT_TRUE(Ensure("postgres", url).ok());
  StorageOptions o = SqlOptions("postgres", url);
  o.max_connections = 1;
  o.min_connections = 1;
  o.connection_timeout_seconds = 1;
  auto s = OpenStorage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Clear().ok());

  auto locker = std::make_unique<TableLocker>(url);
  const std::vector<Event> batch = MakeBatch(10, 2, 1);
  std::atomic<bool> wrote{false};
  std::thread writer([&] {
    auto r = Write(**s, batch);  // Blocks on the lock, holding the only connection.
    EXPECT_TRUE(r.ok()) << r.status();
    wrote = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  auto count = (*s)->CountTraces();
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(count.ok());
  EXPECT_EQ(count.status().code(), absl::StatusCode::kUnavailable) << count.status();
  EXPECT_GE(waited, std::chrono::milliseconds(900));
  EXPECT_LT(waited, std::chrono::seconds(10));
  EXPECT_FALSE(wrote.load());
  locker->Release();
  writer.join();
  EXPECT_TRUE(wrote.load());
  auto again = (*s)->CountTraces();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 2u);
}

TEST(PostgresPoolTest, KilledConnectionsAreReplacedTransparently) {
  RACEWAY_REQUIRE_ENV(base, "RACEWAY_TEST_POSTGRES_URL");
  const std::string url = Derived(base, "_backend");
  ASSERT_TRUE(Ensure("postgres", url).ok());
  StorageOptions o = SqlOptions("postgres", url);
  o.max_connections = 3;
  o.min_connections = 3;
  auto opened = postgres::PostgresStorage::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status();
  postgres::PostgresStorage& s = **opened;
  ASSERT_TRUE(s.Clear().ok());
  const std::vector<Event> batch = MakeBatch(50, 5, 2);
  ASSERT_TRUE(Write(s, batch).ok());
  // Terminate every server session of this storage (as a failover or an
  // idle-session killer would).
  auto killed = QueryPostgres(
      url, absl::StrCat("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE application_name = 'raceway' AND datname = '",
                        DatabaseOf(url), "' AND pid <> pg_backend_pid()"));
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_GE(std::stoi(*killed), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (int i = 0; i < 5; ++i) {
    auto n = s.CountEvents();
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, 50u);
  }
  ASSERT_TRUE(Write(s, MakeBatch(10, 1, 3)).ok());
  EXPECT_GE(s.WriterPoolStats().discarded, 1u);
  ExpectAllStored(s, batch);
}

TEST(MysqlPoolTest, KilledConnectionsAreReplacedTransparently) {
  RACEWAY_REQUIRE_ENV(base, "RACEWAY_TEST_MYSQL_URL");
  const std::string url = Derived(base, "_backend");
  ASSERT_TRUE(Ensure("mysql", url).ok());
  StorageOptions o = SqlOptions("mysql", url);
  o.max_connections = 3;
  o.min_connections = 3;
  auto opened = mysql::MysqlStorage::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status();
  mysql::MysqlStorage& s = **opened;
  ASSERT_TRUE(s.Clear().ok());
  const std::vector<Event> batch = MakeBatch(50, 5, 4);
  ASSERT_TRUE(Write(s, batch).ok());
  // Kill every session of this storage from an outside connection.
  auto ids =
      QueryMysql(url, absl::StrCat("SELECT GROUP_CONCAT(id) FROM information_schema.processlist"
                                   " WHERE db = '",
                                   DatabaseOf(url), "' AND id <> CONNECTION_ID()"));
  ASSERT_TRUE(ids.ok()) << ids.status();
  ASSERT_FALSE(ids->empty());
  for (absl::string_view id : absl::StrSplit(*ids, ',')) {
    EXPECT_TRUE(ExecMysql(url, absl::StrCat("KILL ", std::string(id))).ok());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (int i = 0; i < 5; ++i) {
    auto n = s.CountEvents();
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, 50u);
  }
  ASSERT_TRUE(Write(s, MakeBatch(10, 1, 5)).ok());
  EXPECT_GE(s.PoolStats().discarded, 1u);
  ExpectAllStored(s, batch);
}

TEST(PostgresPoolTest, UnreachableServerIsUnavailable) {
  StorageOptions o = SqlOptions("postgres", "postgresql://nobody@127.0.0.1:1/none");
  o.connection_timeout_seconds = 2;
  auto s = OpenStorage(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable) << s.status();
  o.connection_string = "host=127.0.0.1 port=1 dbname=x bogus_option=1";
  s = OpenStorage(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
}

TEST(MysqlPoolTest, UnreachableServerIsUnavailable) {
  StorageOptions o = SqlOptions("mysql", "mysql://u:p@127.0.0.1:1/none");
  o.connection_timeout_seconds = 2;
  auto s = OpenStorage(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable) << s.status();
  o.connection_string = "mysql://u:p@127.0.0.1:3306/db?no_such_param=1";
  s = OpenStorage(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
}

// ---------------------------------------------------------------- restarts

void RestartTest(const std::string& backend, const std::string& url,
                 const std::string& restart_command) {
  StorageOptions o = SqlOptions(backend, url);
  o.max_connections = 4;
  o.min_connections = 2;
  o.connection_timeout_seconds = 5;
  auto opened = OpenStorage(o);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Storage& s = **opened;
  ASSERT_TRUE(s.Clear().ok());
  std::vector<Event> all;
  for (int b = 0; b < 10; ++b) {
    std::vector<Event> batch = MakeBatch(300, 6, 10 + b);
    auto r = Write(s, batch);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->accepted, 300u);
    all.insert(all.end(), batch.begin(), batch.end());
  }
  // Every acked write is committed: restart the server under the storage.
  ASSERT_EQ(std::system(restart_command.c_str()), 0) << restart_command;
  // The same storage object recovers by itself: stale pooled connections
  // are detected and replaced. (pgbouncer may need a moment to reconnect.)
  absl::StatusOr<uint64_t> count = absl::UnavailableError("not tried");
  for (int i = 0; i < 60 && !count.ok(); ++i) {
    count = s.CountEvents();
    if (!count.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, all.size());  // Zero loss.
  ExpectAllStored(s, all);
  auto traces = s.CountTraces();
  ASSERT_TRUE(traces.ok());
  EXPECT_EQ(*traces, 60u);
  // And it keeps writing.
  std::vector<Event> after = MakeBatch(100, 2, 99);
  auto r = Write(s, after);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->accepted, 100u);
  EXPECT_EQ(*s.CountEvents(), all.size() + 100);
}

TEST(RestartTest, PostgresLosesNothingAndRecovers) {
  RACEWAY_REQUIRE_ENV(base, "RACEWAY_TEST_POSTGRES_URL");
  RACEWAY_REQUIRE_ENV(restart, "RACEWAY_TEST_RESTART_POSTGRES");
  const std::string url = Derived(base, "_restart");
  ASSERT_TRUE(Ensure("postgres", url).ok());
  RestartTest("postgres", url, restart);
}

TEST(RestartTest, SupabaseThroughPgbouncerLosesNothingAndRecovers) {
  RACEWAY_REQUIRE_ENV(url, "RACEWAY_TEST_SUPABASE_URL");
  RACEWAY_REQUIRE_ENV(restart, "RACEWAY_TEST_RESTART_POSTGRES");
  RestartTest("supabase", url, restart);
}

TEST(RestartTest, MysqlLosesNothingAndRecovers) {
  RACEWAY_REQUIRE_ENV(base, "RACEWAY_TEST_MYSQL_URL");
  RACEWAY_REQUIRE_ENV(restart, "RACEWAY_TEST_RESTART_MYSQL");
  const std::string url = Derived(base, "_restart");
  ASSERT_TRUE(Ensure("mysql", url).ok());
  RestartTest("mysql", url, restart);
}

// ------------------------------------------------------------- supabase

TEST(SupabaseTest, ConcurrentStoragesThroughTransactionPooler) {
  // Two storages (two client pools) through pgbouncer in transaction mode:
  // consecutive transactions of one client connection land on different
  // server sessions. Anything session-scoped (named prepared statements,
  // temp tables, session advisory locks, SET) would fail here.
  RACEWAY_REQUIRE_ENV(url, "RACEWAY_TEST_SUPABASE_URL");
  auto a = OpenCleared("supabase", url);
  ASSERT_TRUE(a.ok()) << a.status();
  StorageOptions o = SqlOptions("supabase", url);
  o.max_connections = 3;
  auto b = OpenStorage(o);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*a)->BackendName(), "supabase");
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    Storage* s = (t % 2 ? *a : *b).get();
    threads.emplace_back([s, t, &errors] {
      for (int i = 0; i < 8; ++i) {
        std::vector<Event> batch = MakeBatch(40, 2, 1000 + t * 100 + i);
        if (!Write(*s, batch).ok()) ++errors;
        if (!s->GetEvent(batch[5].id()).ok()) ++errors;
        uint64_t total = 0;
        if (!s->ListTraces({}, {}, &total).ok()) ++errors;
        if (!s->TopVariables({}, 10).ok()) ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(*(*a)->CountEvents(), 6u * 8u * 40u);
}

TEST(SupabaseTest, UrlSchemeAndParametersPassThrough) {
  RACEWAY_REQUIRE_ENV(url, "RACEWAY_TEST_SUPABASE_URL");
  // supabase:// is rewritten to postgresql:// by the factory.
  ASSERT_TRUE(absl::StartsWith(url, "postgresql://"));
  auto parsed = StorageOptionsFromUrl("supabase://" + url.substr(strlen("postgresql://")) +
                                      "?sslmode=disable&application_name=rw_test");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->backend, "supabase");
  auto s = OpenStorage(*parsed);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE((*s)->CountEvents().ok());
  // sslmode reaches libpq: the test server has no TLS, so "require" fails
  // (with the server's answer, as UNAVAILABLE).
  StorageOptions o = SqlOptions("supabase", url + "?sslmode=require");
  o.connection_timeout_seconds = 3;
  auto tls = OpenStorage(o);
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.status().code(), absl::StatusCode::kUnavailable) << tls.status();
  EXPECT_TRUE(absl::StrContains(absl::AsciiStrToLower(tls.status().message()), "ssl"))
      << tls.status();
}

// ------------------------------------------------------------- migrations

int AppliedCount(const std::string& backend, const std::string& url) {
  auto n = backend == "mysql" ? QueryMysql(url, "SELECT COUNT(*) FROM schema_migrations")
                              : QueryPostgres(url, "SELECT count(*) FROM schema_migrations");
  return n.ok() && !n->empty() ? std::stoi(*n) : -1;
}

void ConcurrentMigrationTest(const std::string& backend, const std::string& url,
                             const std::string& reset_url) {
  const absl::Status reset =
      backend == "mysql" ? ResetMysqlDatabase(reset_url) : ResetPostgresDatabase(reset_url);
  ASSERT_TRUE(reset.ok()) << reset;
  constexpr int kReplicas = 6;
  std::vector<absl::Status> results(kReplicas);
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] {
      StorageOptions o = SqlOptions(backend, url);
      o.min_connections = 1;
      auto s = OpenStorage(o);
      results[i] = s.status();
      if (s.ok()) results[i] = (*s)->CountEvents().status();
    });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& st : results) EXPECT_TRUE(st.ok()) << st;
  const std::string dialect = backend == "mysql" ? "mysql" : "postgres";
  EXPECT_EQ(AppliedCount(backend, reset_url), static_cast<int>(CompiledMigrations(dialect).size()));
}

TEST(MigrationTest, PostgresConcurrentOpenersMigrateOnce) {
  RACEWAY_REQUIRE_ENV(base, "RACEWAY_TEST_POSTGRES_URL");
  const std::string url = Derived(base, "_migrate");
  ASSERT_TRUE(Ensure("postgres", url).ok());
  ConcurrentMigrationTest("postgres", url, url);
}

TEST(MigrationTest, SupabaseConcurrentOpenersMigrateOnceThroughPooler) {
  RACEWAY_REQUIRE_ENV(url, "RACEWAY_TEST_SUPABASE_URL");
  RACEWAY_REQUIRE_ENV(direct, "RACEWAY_TEST_POSTGRES_URL");
  // Reset through a direct connection to the same database.
  ConcurrentMigrationTest("supabase", url, WithDatabase(direct, DatabaseOf(url)));
}

TEST(MigrationTest, MysqlConcurrentOpenersMigrateOnce) {
  RACEWAY_REQUIRE_ENV(base, "RACEWAY_TEST_MYSQL_URL");
  const std::string url = Derived(base, "_migrate");
  ConcurrentMigrationTest("mysql", url, url);
}

void ChangedChecksumTest(const std::string& backend, const std::string& url) {
  {
    auto s = OpenStorage(SqlOptions(backend, url));
    ASSERT_TRUE(s.ok()) << s.status();
  }
  const std::string tamper =
      "UPDATE schema_migrations SET checksum = "
      "'0000000000000000000000000000000000000000000000000000000000000000' WHERE version = 1";
  ASSERT_TRUE((backend == "mysql" ? ExecMysql(url, tamper) : ExecPostgres(url, tamper)).ok());
  for (bool auto_migrate : {true, false}) {
    StorageOptions o = SqlOptions(backend, url);
    o.auto_migrate = auto_migrate;
    auto s = OpenStorage(o);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition) << s.status();
    EXPECT_TRUE(absl::StrContains(s.status().message(), "001_initial_schema")) << s.status();
    EXPECT_TRUE(absl::StrContains(s.status().message(), "changed")) << s.status();
  }
}

TEST(MigrationTest, PostgresChangedChecksumIsRefused) {
  RACEWAY_REQUIRE_ENV(base, "RACEWAY_TEST_POSTGRES_URL");
  const std::string url = Derived(base, "_migrate");
  ASSERT_TRUE(Ensure("postgres", url).ok());
  ASSERT_TRUE(ResetPostgresDatabase(url).ok());
  ChangedChecksumTest("postgres", url);
}

TEST(MigrationTest, MysqlChangedChecksumIsRefused) {
  RACEWAY_REQUIRE_ENV(base, "RACEWAY_TEST_MYSQL_URL");
  const std::string url = Derived(base, "_migrate");
  ASSERT_TRUE(ResetMysqlDatabase(url).ok());
  ChangedChecksumTest("mysql", url);
}

void NoAutoMigrateTest(const std::string& backend, const std::string& url) {
  StorageOptions o = SqlOptions(backend, url);
  o.auto_migrate = false;
  auto s = OpenStorage(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "not applied")) << s.status();
  o.auto_migrate = true;
  ASSERT_TRUE(OpenStorage(o).ok());
  o.auto_migrate = false;
  auto again = OpenStorage(o);
  ASSERT_TRUE(again.ok()) << again.status();
}

TEST(MigrationTest, PostgresAutoMigrateOffRefusesUnmigratedSchema) {
  RACEWAY_REQUIRE_ENV(base, "RACEWAY_TEST_POSTGRES_URL");
  const std::string url = Derived(base, "_migrate");
  ASSERT_TRUE(Ensure("postgres", url).ok());
  ASSERT_TRUE(ResetPostgresDatabase(url).ok());
  NoAutoMigrateTest("postgres", url);
}

TEST(MigrationTest, MysqlAutoMigrateOffRefusesUnmigratedSchema) {
  RACEWAY_REQUIRE_ENV(base, "RACEWAY_TEST_MYSQL_URL");
  const std::string url = Derived(base, "_migrate");
  ASSERT_TRUE(ResetMysqlDatabase(url).ok());
  NoAutoMigrateTest("mysql", url);
}

// ---------------------------------------------------------------- replica

TEST(PostgresReplicaTest, ReaderUsesTheReplicaConnection) {
  RACEWAY_REQUIRE_ENV(base, "RACEWAY_TEST_POSTGRES_URL");
  const std::string primary = Derived(base, "_backend");
  const std::string replica = Derived(base, "_replica");
  ASSERT_TRUE(Ensure("postgres", primary).ok());
  ASSERT_TRUE(Ensure("postgres", replica).ok());
  // A stand-in "replica": another database with the schema and other data,
  // so the test sees which connection served each call.
  auto r = OpenCleared("postgres", replica);
  ASSERT_TRUE(r.ok()) << r.status();
  const std::vector<Event> on_replica = MakeBatch(7, 1, 50);
  ASSERT_TRUE(Write(**r, on_replica).ok());

  StorageOptions o = SqlOptions("postgres", primary);
  o.replica_connection_string = replica;
  auto s = OpenStorage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Clear().ok());
  const std::vector<Event> on_primary = MakeBatch(20, 2, 51);
  ASSERT_TRUE(Write(**s, on_primary).ok());
  EXPECT_EQ(*(*s)->CountEvents(), 7u);  // Read from the replica.
  EXPECT_TRUE((*s)->GetEvent(on_replica[0].id()).ok());
  EXPECT_EQ((*s)->GetEvent(on_primary[0].id()).status().code(), absl::StatusCode::kNotFound);
  auto direct = OpenStorage(SqlOptions("postgres", primary));
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(*(*direct)->CountEvents(), 20u);  // Written to the primary.
}

}  // namespace
}  // namespace raceway::storage::testing
