// The SQLite file under a running storage (issue 13): deleted, moved or
// replaced while open, it refuses every call with UNAVAILABLE (nothing is
// acknowledged into an unlinked file) and reports the change once;
// create_if_missing = false refuses a missing file; a read_only storage
// never creates, never migrates and still reads a WAL file another
// connection writes.

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <vector>

#include "SQLiteCpp/SQLiteCpp.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/storage/factory.h"
#include "tests/storage/test_util.h"

namespace raceway::storage::testing {
namespace {

using raceway::v1::Event;
using ::testing::HasSubstr;

Event Ev(const std::string& trace) {
  Event e;
  e.set_id(raceway::model::NewUuidV4());
  e.set_trace_id(trace);
  e.mutable_timestamp()->set_seconds(1767225600);
  e.mutable_metadata()->set_thread_id("t1");
  e.mutable_metadata()->set_service_name("svc");
  e.mutable_function_call()->set_function_name("f");
  return e;
}

absl::StatusOr<WriteResult> WriteOne(Storage& s) {
  const Event e = Ev(raceway::model::NewUuidV4());
  const Event* ptrs[] = {&e};
  return s.WriteBatch(ptrs);
}

// What on_health_change reported, with a wait for the next report.
class HealthLog {
 public:
  std::function<void(const absl::Status&)> Listener() {
    return [this](const absl::Status& st) {
      std::lock_guard<std::mutex> lock(mu_);
      reports_.push_back(st);
      cv_.notify_all();
    };
  }
  std::vector<absl::Status> Reports() {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_;
  }
  // True once `n` reports arrived; the bound only proves "not hung".
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return reports_.size() >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<absl::Status> reports_;
};

StorageOptions Sqlite(const std::string& path) {
  StorageOptions o;
  o.backend = "sqlite";
  o.sqlite_path = path;
  return o;
}

std::unique_ptr<Storage> MustOpen(const StorageOptions& o) {
  auto s = OpenStorage(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

uint64_t Count(const std::string& path) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  return static_cast<uint64_t>(db.execAndGet("SELECT COUNT(*) FROM events").getInt64());
}

TEST(SqliteFileSafetyTest, DeletedFileRefusesEveryCallAndIsNotRecreated) {
  TempDir dir;
  const std::string path = dir.File("raceway.db");
  HealthLog health;
  StorageOptions o = Sqlite(path);
  o.on_health_change = health.Listener();
  auto s = MustOpen(o);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(WriteOne(*s).ok());

  ASSERT_TRUE(std::filesystem::remove(path));
  for (int i = 0; i < 3; ++i) {
    auto w = WriteOne(*s);
    ASSERT_FALSE(w.ok()) << "acked into the unlinked file";
    EXPECT_EQ(w.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(w.status().message(), HasSubstr(path));
    EXPECT_THAT(w.status().message(), HasSubstr("deleted or moved away"));
  }
  auto n = s->CountEvents();
  EXPECT_EQ(n.status().code(), absl::StatusCode::kUnavailable)
      << "reads answered from the lost file";
  EXPECT_EQ(s->GetEvent(raceway::model::NewUuidV4()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(s->DeleteTracesBefore(0).status().code(), absl::StatusCode::kUnavailable);
  // No call (reader connections included) created an empty database there.
  EXPECT_FALSE(std::filesystem::exists(path));
  // Reported once, not once per call.
  const auto reports = health.Reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(reports[0].message(), HasSubstr(path));
}

TEST(SqliteFileSafetyTest, MovedAwayAndBackRecovers) {
  TempDir dir;
  const std::string path = dir.File("raceway.db");
  const std::string aside = dir.File("aside.db");
  HealthLog health;
  StorageOptions o = Sqlite(path);
  o.on_health_change = health.Listener();
  auto s = MustOpen(o);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(WriteOne(*s).ok());

  std::filesystem::rename(path, aside);
  EXPECT_EQ(WriteOne(*s).status().code(), absl::StatusCode::kUnavailable);
  std::filesystem::rename(aside, path);
  // The path names the opened file again: writes are durable there.
  ASSERT_TRUE(WriteOne(*s).ok());
  auto n = s->CountEvents();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2u);
  const auto reports = health.Reports();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(reports[1].ok()) << reports[1];
}

TEST(SqliteFileSafetyTest, MovedAwayFileKeepsItsAckedEventsAndLeavesNoWalBehind) {
  TempDir dir;
  const std::string path = dir.File("raceway.db");
  const std::string aside = dir.File("aside.db");
  auto s = MustOpen(Sqlite(path));
  ASSERT_NE(s, nullptr);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(WriteOne(*s).ok());
  ASSERT_TRUE(std::filesystem::exists(path + "-wal"));
  std::filesystem::rename(path, aside);
  EXPECT_EQ(WriteOne(*s).status().code(), absl::StatusCode::kUnavailable);
  s.reset();
  // The acked events went into the moved file, and its WAL does not stay at
  // the old path, where a new database there would read it as its own.
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
  EXPECT_FALSE(std::filesystem::exists(path + "-shm"));
  EXPECT_EQ(Count(aside), 5u);
}

TEST(SqliteFileSafetyTest, ReplacedFileRefusesWritesIntoTheOldOne) {
  TempDir dir;
  const std::string path = dir.File("raceway.db");
  const std::string other = dir.File("other.db");
  auto s = MustOpen(Sqlite(path));
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(WriteOne(*s).ok());
  {
    auto o = MustOpen(Sqlite(other));
    ASSERT_NE(o, nullptr);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(WriteOne(*o).ok());
  }
  std::filesystem::remove(other + "-wal");
  std::filesystem::remove(other + "-shm");
  std::filesystem::rename(other, path);  // Atomic replacement, as a restore would do.

  for (int i = 0; i < 3; ++i) {
    auto w = WriteOne(*s);
    ASSERT_FALSE(w.ok()) << "acked into the replaced file";
    EXPECT_EQ(w.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(w.status().message(), HasSubstr("replaced by another file"));
    EXPECT_THAT(w.status().message(), HasSubstr(path));
  }
  EXPECT_EQ(s->CountEvents().status().code(), absl::StatusCode::kUnavailable);
  s.reset();
  EXPECT_EQ(Count(path), 3u) << "the new file was written to";
}

TEST(SqliteFileSafetyTest, BackgroundCheckReportsALostFileWithoutCalls) {
  TempDir dir;
  const std::string path = dir.File("raceway.db");
  HealthLog health;
  StorageOptions o = Sqlite(path);
  o.on_health_change = health.Listener();
  auto s = MustOpen(o);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(std::filesystem::remove(path));
  // No call on the storage: the periodic check (every 2 s) reports it.
  ASSERT_TRUE(health.WaitFor(1)) << "the lost file was not reported";
  EXPECT_EQ(health.Reports()[0].code(), absl::StatusCode::kUnavailable);
}

TEST(SqliteFileSafetyTest, CreateIfMissingFalseRefusesAMissingFile) {
  TempDir dir;
  const std::string path = dir.File("raceway.db");
  StorageOptions o = Sqlite(path);
  o.create_if_missing = false;
  auto s = OpenStorage(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.status().message(), HasSubstr(path));
  EXPECT_THAT(s.status().message(),
              HasSubstr("does not exist; set storage.create_if_missing = true"));
  EXPECT_FALSE(std::filesystem::exists(path));
  // An existing file opens (and migrates) as usual.
  ASSERT_NE(MustOpen(Sqlite(path)), nullptr);
  EXPECT_NE(MustOpen(o), nullptr);
}

TEST(SqliteFileSafetyTest, ReadOnlyNeverCreates) {
  TempDir dir;
  const std::string path = dir.File("raceway.db");
  StorageOptions o = Sqlite(path);
  o.read_only = true;
  o.create_if_missing = true;  // Ignored by a reader.
  auto s = OpenStorage(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.status().message(), HasSubstr(path));
  EXPECT_THAT(s.status().message(), HasSubstr("never creates it"));
  EXPECT_TRUE(std::filesystem::is_empty(dir.File(""))) << "a reader left files behind";
}

TEST(SqliteFileSafetyTest, ReadOnlyNeverMigrates) {
  TempDir dir;
  const std::string path = dir.File("raceway.db");
  ASSERT_NE(MustOpen(Sqlite(path)), nullptr);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("DELETE FROM schema_migrations");
  }
  StorageOptions o = Sqlite(path);
  o.read_only = true;
  o.auto_migrate = true;  // Ignored by a reader.
  auto s = OpenStorage(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr(path));
  EXPECT_THAT(s.status().message(), HasSubstr("001_initial_schema not applied"));
  EXPECT_THAT(s.status().message(), HasSubstr("raceway migrate up"));
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM schema_migrations").getInt(), 0)
      << "the reader migrated";
}

TEST(SqliteFileSafetyTest, ReadOnlyReadsWhileAWriterWritesAndRefusesWrites) {
  TempDir dir;
  const std::string path = dir.File("raceway.db");
  {
    // Written and closed: the last close removes -wal and -shm, which the
    // reader must then manage without.
    auto w = MustOpen(Sqlite(path));
    ASSERT_NE(w, nullptr);
    ASSERT_TRUE(WriteOne(*w).ok());
  }
  StorageOptions o = Sqlite(path);
  o.read_only = true;
  auto reader = MustOpen(o);
  ASSERT_NE(reader, nullptr);
  auto n = reader->CountEvents();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1u);

  auto writer = MustOpen(Sqlite(path));
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 2; i <= 20; ++i) {
    ASSERT_TRUE(WriteOne(*writer).ok());
    n = reader->CountEvents();
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, i) << "a committed write is not visible to the reader";
  }

  for (const absl::Status& st :
       {WriteOne(*reader).status(), reader->DeleteTracesBefore(0).status(), reader->Clear()}) {
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
    EXPECT_THAT(st.message(), HasSubstr("read-only"));
  }
  n = writer->CountEvents();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 20u);
}

}  // namespace
}  // namespace raceway::storage::testing
