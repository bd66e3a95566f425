// SQLite-specific behaviour: several handles (processes) on one file,
// migrations, the raw schema, error mapping.

#include "libs/storage/sqlite/sqlite_storage.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <vector>

#include "SQLiteCpp/SQLiteCpp.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/storage/factory.h"
#include "libs/storage/migrations.h"
#include "tests/storage/test_util.h"

namespace raceway::storage::testing {
namespace {

using raceway::v1::Event;
using ::testing::HasSubstr;

constexpr int64_t kBaseNs = 1767225600LL * 1000000000LL;

Event Ev(const std::string& trace, int64_t offset_ns, const std::string& service = "svc") {
  Event e;
  e.set_id(raceway::model::NewUuidV4());
  e.set_trace_id(trace);
  e.mutable_timestamp()->set_seconds((kBaseNs + offset_ns) / 1000000000);
  e.mutable_timestamp()->set_nanos(static_cast<int32_t>((kBaseNs + offset_ns) % 1000000000));
  e.mutable_metadata()->set_thread_id("t1");
  e.mutable_metadata()->set_service_name(service);
  e.mutable_function_call()->set_function_name("f");
  return e;
}

absl::StatusOr<WriteResult> Write(Storage& s, const std::vector<Event>& events) {
  std::vector<const Event*> ptrs;
  for (const Event& e : events) ptrs.push_back(&e);
  return s.WriteBatch(ptrs);
}

std::unique_ptr<Storage> Open(const std::string& path, bool auto_migrate = true,
                              uint32_t timeout_s = 30) {
  StorageOptions o;
  o.backend = "sqlite";
  o.sqlite_path = path;
  o.auto_migrate = auto_migrate;
  o.connection_timeout_seconds = timeout_s;
  auto s = OpenStorage(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

int64_t QueryInt(const std::string& path, const std::string& sql) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  return db.execAndGet(sql).getInt64();
}

TEST(SqliteStorageTest, TwoHandlesOnOneFileSeeEachOthersWrites) {
  TempDir dir;
  const std::string path = dir.File("shared.db");
  auto ingest = Open(path);
  auto query = Open(path);
  ASSERT_TRUE(ingest && query);
  const std::string trace = raceway::model::NewUuidV4();
  ASSERT_TRUE(Write(*ingest, {Ev(trace, 1), Ev(trace, 2)}).ok());
  EXPECT_EQ(*query->CountEvents(), 2u);
  EXPECT_EQ(query->GetTraceSummary(trace)->event_count, 2u);
  ASSERT_TRUE(Write(*query, {Ev(trace, 3)}).ok());
  EXPECT_EQ(ingest->GetTraceEvents(trace)->size(), 3u);

  // Both write concurrently (like two ingest replicas); nothing is lost.
  std::atomic<int> failures{0};
  auto work = [&](Storage* s, int seed) {
    for (int b = 0; b < 20; ++b) {
      std::vector<Event> batch;
      for (int i = 0; i < 50; ++i) batch.push_back(Ev(trace, seed * 100000 + b * 100 + i));
      auto r = Write(*s, batch);
      if (!r.ok() || r->accepted != 50) ++failures;
    }
  };
  std::thread a(work, ingest.get(), 1), b(work, query.get(), 2);
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*ingest->CountEvents(), 2003u);
  EXPECT_EQ(query->GetTraceSummary(trace)->event_count, 2003u);
  EXPECT_EQ(query->GetTraceSummary(trace)->last_ns, ingest->GetTraceSummary(trace)->last_ns);
}

// Real separate processes (like the ingest and query services): both
// write concurrently through their own connections; nothing is lost.
TEST(SqliteStorageTest, TwoProcessesShareOneFile) {
  TempDir dir;
  const std::string path = dir.File("processes.db");
  const std::string trace = raceway::model::NewUuidV4();
  ASSERT_NE(Open(path), nullptr);  // Migrated before forking (and closed).
  // Ids are made before fork(): NewUuidV4's per-thread generator would be
  // duplicated into the child and produce the parent's ids again.
  std::vector<std::vector<Event>> batches(40);
  for (int b = 0; b < 40; ++b) {
    for (int i = 0; i < 50; ++i) batches[b].push_back(Ev(trace, b * 100 + i));
  }
  auto work = [&](int seed) {
    StorageOptions o;
    o.sqlite_path = path;
    auto s = OpenStorage(o);
    if (!s.ok()) {
      std::fprintf(stderr, "process %d: open: %s\n", seed, s.status().ToString().c_str());
      return false;
    }
    for (int b = seed; b < 40; b += 2) {
      auto r = Write(**s, batches[b]);
      if (!r.ok() || r->accepted != 50) {
        std::fprintf(stderr, "process %d: write: %s\n", seed, r.status().ToString().c_str());
        return false;
      }
    }
    return true;
  };
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(work(1) ? 0 : 1);
  const bool parent_ok = work(0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(parent_ok);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto s = Open(path);
  EXPECT_EQ(*s->CountEvents(), 2000u);
  EXPECT_EQ(s->GetTraceEvents(trace)->size(), 2000u);
}

TEST(SqliteStorageTest, DataSurvivesReopen) {
  TempDir dir;
  const std::string path = dir.File("persist.db");
  const std::string trace = raceway::model::NewUuidV4();
  {
    auto s = Open(path);
    ASSERT_TRUE(Write(*s, {Ev(trace, 1)}).ok());
  }
  auto s = Open(path, /*auto_migrate=*/false);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(*s->CountEvents(), 1u);
}

TEST(SqliteStorageTest, ChangedMigrationIsRefusedByName) {
  TempDir dir;
  const std::string path = dir.File("tampered.db");
  ASSERT_NE(Open(path), nullptr);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 1");
  }
  for (bool auto_migrate : {true, false}) {
    StorageOptions o;
    o.sqlite_path = path;
    o.auto_migrate = auto_migrate;
    auto s = OpenStorage(o);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(s.status().message(), HasSubstr("001_initial_schema"));
    EXPECT_THAT(s.status().message(), HasSubstr("changed after it was applied"));
  }
}

// Checkpoints run on the background thread, so the WAL restarts long before
// the writer's inline (stalling) checkpoint at ~64 MiB. Before the fix the
// background connection had never read the file, did not know it was in WAL
// mode, and every checkpoint it ran was a silent no-op.
TEST(SqliteStorageTest, BackgroundCheckpointsKeepTheWalShort) {
  TempDir dir;
  const std::string path = dir.File("wal.db");
  auto storage = Open(path);
  ASSERT_NE(storage, nullptr);
  const std::string filler(600, 'x');
  uintmax_t max_wal = 0;
  for (int batch = 0; batch < 60; ++batch) {
    std::vector<Event> events;
    const std::string trace = raceway::model::NewUuidV4();
    for (int i = 0; i < 500; ++i) {
      Event e = Ev(trace, i);
      e.mutable_function_call()->set_module(filler);
      events.push_back(std::move(e));
    }
    ASSERT_TRUE(Write(*storage, events).ok());
    std::error_code ec;
    max_wal = std::max(max_wal, std::filesystem::file_size(path + "-wal", ec));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // A gap lets the WAL restart.
  }
  // 30k events of ~1 KiB wrote far more than 64 MiB of WAL frames.
  EXPECT_LT(max_wal, 24u << 20) << "WAL grew to " << (max_wal >> 20) << " MiB";
}

// Rolling upgrade: the schema is migrated for the next release first; the
// running (older) binaries must keep opening it.
TEST(SqliteStorageTest, NewerReleaseMigrationIsAcceptedAndReported) {
  TempDir dir;
  const std::string path = dir.File("newer.db");
  ASSERT_NE(Open(path), nullptr);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'future', 'x')");
  }
  StorageOptions o;
  o.sqlite_path = path;
  o.auto_migrate = false;  // As the services run in production.
  auto s = OpenStorage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  o.auto_migrate = true;
  s = OpenStorage(o);
  ASSERT_TRUE(s.ok()) << s.status();
  auto target = OpenSqliteMigrationTarget(path, 1000);
  ASSERT_TRUE(target.ok()) << target.status();
  auto status = GetMigrationStatus(**target, "sqlite");
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->newer.size(), 1u);
  EXPECT_EQ(status->newer[0].version, 999);
  EXPECT_TRUE(status->pending.empty());
}

// A migration this binary does not know below its newest one means the
// database came from a different build: refuse rather than guess.
TEST(SqliteStorageTest, UnknownOlderMigrationIsRefused) {
  TempDir dir;
  const std::string path = dir.File("stray.db");
  ASSERT_NE(Open(path), nullptr);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO schema_migrations (version, name, checksum) VALUES (0, 'stray', 'x')");
  }
  StorageOptions o;
  o.sqlite_path = path;
  auto s = OpenStorage(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("000_stray"));
}

TEST(SqliteStorageTest, AutoMigrateOffRefusesEmptyOrOutdatedSchema) {
  TempDir dir;
  StorageOptions o;
  o.sqlite_path = dir.File("empty.db");
  o.auto_migrate = false;
  auto s = OpenStorage(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("001_initial_schema not applied"));
  // The schema was left alone.
  {
    SQLite::Database db(o.sqlite_path, SQLite::OPEN_READONLY);
    EXPECT_FALSE(db.tableExists("schema_migrations"));
    EXPECT_FALSE(db.tableExists("events"));
  }
  // Out of date: the migration record is missing.
  ASSERT_NE(Open(o.sqlite_path), nullptr);
  {
    SQLite::Database db(o.sqlite_path, SQLite::OPEN_READWRITE);
    db.exec("DELETE FROM schema_migrations");
  }
  s = OpenStorage(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SqliteStorageTest, ConcurrentOpenersMigrateOnce) {
  TempDir dir;
  const std::string path = dir.File("race.db");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::vector<std::string> errors(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      StorageOptions o;
      o.sqlite_path = path;
      auto s = OpenStorage(o);
      if (s.ok()) {
        ++ok;
      } else {
        errors[i] = s.status().ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8) << ::testing::PrintToString(errors);
  EXPECT_EQ(QueryInt(path, "SELECT COUNT(*) FROM schema_migrations"),
            static_cast<int64_t>(CompiledMigrations("sqlite").size()));
}

TEST(SqliteStorageTest, MigrationStatusThroughTarget) {
  TempDir dir;
  const std::string path = dir.File("status.db");
  auto target = OpenSqliteMigrationTarget(path, 1000);
  ASSERT_TRUE(target.ok()) << target.status();
  auto before = GetMigrationStatus(**target, "sqlite");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_TRUE(before->applied.empty());
  ASSERT_EQ(before->pending.size(), CompiledMigrations("sqlite").size());
  EXPECT_EQ(before->pending[0].name, "initial_schema");
  ASSERT_TRUE(Migrate(**target, "sqlite", /*apply=*/true).ok());
  ASSERT_TRUE(Migrate(**target, "sqlite", /*apply=*/false).ok());
  auto after = GetMigrationStatus(**target, "sqlite");
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->pending.empty());
  ASSERT_EQ(after->applied.size(), before->pending.size());
  EXPECT_EQ(after->applied[0].version, 1);
  EXPECT_EQ(after->applied[0].checksum, CompiledMigrations("sqlite")[0].checksum);
}

TEST(SqliteStorageTest, RawSchemaHoldsDerivedRows) {
  TempDir dir;
  const std::string path = dir.File("raw.db");
  auto s = Open(path);
  const std::string trace = raceway::model::NewUuidV4();
  Event parent = Ev(trace, 0, "api");
  Event child = Ev(trace, 1, "db");
  child.set_parent_id(parent.id());
  Event access = Ev(trace, 2, "db");
  access.mutable_state_change()->set_variable("x");
  access.mutable_state_change()->set_access_type(raceway::v1::ACCESS_TYPE_WRITE);
  access.mutable_state_change()->mutable_new_value()->set_string_value("it's \"quoted\"");
  access.add_lock_set("m");
  (*access.mutable_metadata()->mutable_tags())["k"] = "v";
  access.mutable_metadata()->set_duration_ns(5);
  ASSERT_TRUE(Write(*s, {child, access}).ok());
  // The child waits for its parent; the edge is stored already.
  EXPECT_EQ(QueryInt(path, "SELECT COUNT(*) FROM waiting_children"), 1);
  EXPECT_EQ(QueryInt(path, "SELECT COUNT(*) FROM causal_edges"), 1);
  EXPECT_EQ(QueryInt(path, "SELECT COUNT(*) FROM service_calls"), 0);
  ASSERT_TRUE(Write(*s, {parent}).ok());
  EXPECT_EQ(QueryInt(path, "SELECT COUNT(*) FROM waiting_children"), 0);
  EXPECT_EQ(QueryInt(path, "SELECT call_count FROM service_calls"), 1);
  EXPECT_EQ(QueryInt(path, "SELECT COUNT(*) FROM trace_roots"), 2);  // parent, access
  EXPECT_EQ(QueryInt(path, "SELECT length(id) FROM events LIMIT 1"), 16);
  // JSON columns are valid JSON that SQL can query.
  EXPECT_EQ(QueryInt(path,
                     "SELECT COUNT(*) FROM events WHERE json_valid(kind_json) AND "
                     "json_valid(metadata_json)"),
            3);
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT json_extract(kind_json, '$.new_value') FROM events "
                          "WHERE kind = 'StateChange'")
                .getString(),
            "it's \"quoted\"");
  EXPECT_EQ(db.execAndGet("SELECT json_extract(kind_json, '$.access_type') FROM events "
                          "WHERE kind = 'StateChange'")
                .getString(),
            "ACCESS_TYPE_WRITE");
  EXPECT_EQ(db.execAndGet("SELECT json_extract(metadata_json, '$.tags.k') FROM events "
                          "WHERE kind = 'StateChange'")
                .getString(),
            "v");
  EXPECT_EQ(db.execAndGet("SELECT json_extract(metadata_json, '$.duration_ns') FROM events "
                          "WHERE kind = 'StateChange'")
                .getString(),
            "5");
  EXPECT_EQ(db.execAndGet("SELECT lock_set_json FROM cross_trace_index").getString(), "[\"m\"]");
  EXPECT_EQ(db.execAndGet("SELECT lower(hex(trace_id)) FROM trace_summaries").getString(), [&] {
    std::string t = trace;
    t.erase(std::remove(t.begin(), t.end(), '-'), t.end());
    return t;
  }());
  // Retention removes waiting rows of deleted traces.
  Event orphan = Ev(raceway::model::NewUuidV4(), 5);
  orphan.set_parent_id(raceway::model::NewUuidV4());
  ASSERT_TRUE(Write(*s, {orphan}).ok());
  EXPECT_EQ(QueryInt(path, "SELECT COUNT(*) FROM waiting_children"), 1);
  EXPECT_EQ(*s->DeleteTracesBefore(kBaseNs + 1000), 2u);
  for (const char* table :
       {"events", "causal_edges", "trace_roots", "waiting_children", "cross_trace_index",
        "trace_summaries", "trace_services", "trace_kinds", "trace_variables", "service_calls"}) {
    EXPECT_EQ(QueryInt(path, std::string("SELECT COUNT(*) FROM ") + table), 0) << table;
  }
  EXPECT_EQ(QueryInt(path, "SELECT COUNT(*) FROM baseline_metrics"), 1);
}

TEST(SqliteStorageTest, HeldWriteLockIsUnavailableThenRecovers) {
  TempDir dir;
  const std::string path = dir.File("locked.db");
  auto s = Open(path, true, /*timeout_s=*/1);
  ASSERT_NE(s, nullptr);
  const std::string trace = raceway::model::NewUuidV4();
  {
    SQLite::Database other(path, SQLite::OPEN_READWRITE);
    other.exec("BEGIN IMMEDIATE");
    auto r = Write(*s, {Ev(trace, 1)});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
    // Reads still work while another process writes (WAL).
    EXPECT_EQ(*s->CountEvents(), 0u);
    other.exec("ROLLBACK");
  }
  auto r = Write(*s, {Ev(trace, 1)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->accepted, 1u);
}

TEST(SqliteStorageTest, CorruptPayloadIsInternal) {
  TempDir dir;
  const std::string path = dir.File("corrupt.db");
  auto s = Open(path);
  Event e = Ev(raceway::model::NewUuidV4(), 1);
  ASSERT_TRUE(Write(*s, {e}).ok());
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("UPDATE events SET payload = x'ffffffff'");
  }
  EXPECT_EQ(s->GetEvent(e.id()).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(s->GetTraceEvents(e.trace_id()).status().code(), absl::StatusCode::kInternal);
}

TEST(SqliteStorageTest, UnopenableFileIsUnavailable) {
  StorageOptions o;
  o.sqlite_path = "/nonexistent-dir/for/sure/raceway.db";
  auto s = OpenStorage(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable) << s.status();
}

}  // namespace
}  // namespace raceway::storage::testing
