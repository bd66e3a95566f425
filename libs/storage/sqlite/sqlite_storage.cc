#include "libs/storage/sqlite/sqlite_storage.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <new>
#include <set>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "SQLiteCpp/SQLiteCpp.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "libs/model/operation_key.h"
#include "libs/model/uuid.h"
#include "libs/storage/common/derive.h"
#include "libs/storage/common/event_json.h"
#include "libs/storage/common/ids.h"
#include "libs/storage/common/mutex.h"
#include "libs/storage/common/page_token.h"

namespace raceway::storage {
namespace {

using raceway::model::UuidBytes;
using raceway::v1::Event;

// ------------------------------------------------------------------ errors

absl::Status FromSqlite(const SQLite::Exception& e, std::string_view what) {
  const int code = e.getErrorCode();
  const std::string msg = absl::StrCat("sqlite: ", std::string(what), ": ", e.what());
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(absl::StrCat(msg, " (database is locked; retry later)"));
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
    case SQLITE_INTERRUPT:
      return absl::UnavailableError(msg);
    case SQLITE_TOOBIG:
      return absl::InvalidArgumentError(msg);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_NOTADB:
      return absl::FailedPreconditionError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// Runs `f` (returning Status or StatusOr) and maps exceptions to statuses.
template <typename F>
auto Guarded(std::string_view what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const SQLite::Exception& e) {
    return FromSqlite(e, what);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("sqlite: ", std::string(what), ": out of memory"));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("sqlite: ", std::string(what), ": ", e.what()));
  }
}

// ------------------------------------------------------------------ helpers

UuidBytes Uuid(std::string_view canonical) {
  auto b = raceway::model::ParseUuid(canonical);
  return b ? *b : UuidBytes{};
}

std::string UuidText(const SQLite::Column& c) {
  UuidBytes b{};
  if (c.getBytes() == 16) std::memcpy(b.data(), c.getBlob(), 16);
  return raceway::model::FormatUuid(b);
}

void BindUuid(SQLite::Statement& s, int i, const UuidBytes& b) {
  s.bindNoCopy(i, b.data(), static_cast<int>(b.size()));
}

// Binds text that outlives the statement's execution.
void BindText(SQLite::Statement& s, int i, const std::string& v) { s.bindNoCopy(i, v); }

int64_t ClampU64(uint64_t v) {
  return static_cast<int64_t>(std::min<uint64_t>(v, std::numeric_limits<int64_t>::max()));
}

raceway::v1::AccessType ParseAccessType(std::string_view name) {
  for (int i = raceway::v1::AccessType_MIN; i <= raceway::v1::AccessType_MAX; ++i) {
    const auto t = static_cast<raceway::v1::AccessType>(i);
    if (raceway::model::AccessTypeName(t) == name) return t;
  }
  return raceway::v1::ACCESS_TYPE_UNSPECIFIED;
}

absl::StatusOr<Event> ParsePayload(const SQLite::Column& c) {
  Event e;
  if (!e.ParseFromArray(c.getBlob(), c.getBytes())) {
    return absl::InternalError("sqlite: stored event payload does not parse");
  }
  return e;
}

// ------------------------------------------------------------------ connection

// How a connection opens the file. Only a writer may create it, and only
// when allowed: a reader opened after the file was deleted must not leave a
// new empty database at the path. A read-only storage's connections open it
// SQLITE_OPEN_READONLY (they can neither create nor change it).
enum class Role { kCreatingWriter, kWriter, kReader, kReadOnly };

int OpenFlags(Role role) {
  switch (role) {
    case Role::kCreatingWriter:
      return SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX;
    case Role::kWriter:
    case Role::kReader:
      return SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX;
    case Role::kReadOnly:
      return SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX;
  }
  return SQLite::OPEN_READONLY;
}

// One SQLite connection with its prepared-statement cache. Used by one
// thread at a time (the owner serializes access).
class Connection {
 public:
  // Throws SQLite::Exception.
  Connection(const std::string& path, int busy_timeout_ms, Role role)
      : db_(path, OpenFlags(role), busy_timeout_ms) {
    const bool writer = role == Role::kCreatingWriter || role == Role::kWriter;
    // journal_mode=WAL is persistent in the file (a read-only connection
    // neither can nor needs to set it); switching a new database may briefly
    // conflict with another opener doing the same.
    for (int attempt = 0; role != Role::kReadOnly; ++attempt) {
      try {
        db_.exec("PRAGMA journal_mode=WAL");
        break;
      } catch (const SQLite::Exception& e) {
        if ((e.getErrorCode() & 0xff) != SQLITE_BUSY || attempt >= 50) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    db_.exec("PRAGMA synchronous=NORMAL");
    db_.exec("PRAGMA foreign_keys=OFF");
    db_.exec("PRAGMA temp_store=MEMORY");
    db_.exec(writer ? "PRAGMA cache_size=-65536" : "PRAGMA cache_size=-16384");
  }

  SQLite::Database& db() { return db_; }
  sqlite3* handle() { return db_.getHandle(); }

  // A cached prepared statement, reset and ready to bind.
  SQLite::Statement& Stmt(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      it = cache_.emplace(sql, std::make_unique<SQLite::Statement>(db_, sql)).first;
    } else {
      it->second->tryReset();
    }
    return *it->second;
  }

  void Exec(const char* sql) { Stmt(sql).exec(); }

  bool InTransaction() { return sqlite3_get_autocommit(handle()) == 0; }
  void RollbackQuietly() noexcept {
    for (auto& [sql, s] : cache_) s->tryReset();
    if (InTransaction()) db_.tryExec("ROLLBACK");
  }

 private:
  SQLite::Database db_;
  absl::flat_hash_map<std::string, std::unique_ptr<SQLite::Statement>> cache_;
};

// Resets a statement when leaving scope (so no read snapshot stays open).
class Reset {
 public:
  explicit Reset(SQLite::Statement& s) : s_(s) {}
  ~Reset() { s_.tryReset(); }
  Reset(const Reset&) = delete;
  Reset& operator=(const Reset&) = delete;

 private:
  SQLite::Statement& s_;
};

// A deferred read transaction: one consistent WAL snapshot for several
// statements.
class ReadTxn {
 public:
  explicit ReadTxn(Connection& c) : c_(c) { c_.Exec("BEGIN"); }
  ~ReadTxn() { c_.RollbackQuietly(); }
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;

 private:
  Connection& c_;
};

// ------------------------------------------------------------------ file identity

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

// The database file's identity, recorded when the storage opens it.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
};

// The opened database: its absolute path and identity, and those of its
// -wal and -shm files (when they existed at open; they keep their inode
// while any connection is open).
struct OpenedFile {
  std::string path;
  FileId id;
  std::vector<std::pair<std::string, FileId>> sidecars;
};

// Whether the configured path still names the file the connections have
// open. A file deleted, moved or replaced under a running service would
// otherwise go on taking acked writes into an unlinked inode (and a restart
// would then find no database, or another one). Thread-safe.
class FileWatch {
 public:
  FileWatch(std::string path, FileId id, std::function<void(const absl::Status&)> on_change)
      : path_(std::move(path)), id_(id), on_change_(std::move(on_change)) {}

  // The path's identity now; errno-style failures as UNAVAILABLE.
  static absl::StatusOr<FileId> Identify(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      return absl::UnavailableError(
          absl::StrCat("sqlite: database file ", path, ": ", ErrnoText(errno)));
    }
    return FileId{st.st_dev, st.st_ino};
  }

  // One stat() of the path: OK while it names the opened file, else
  // UNAVAILABLE saying what happened. A change of that state is reported to
  // on_change once (not once per call).
  absl::Status Check() {
    Observation seen = Observe();
    if (seen.state == state_.load(std::memory_order_acquire)) return seen.status;
    common::MutexLock lock(&mu_);
    // Observed again under the lock, so that reports arrive in the order the
    // changes happened (a stale observation of another thread cannot undo a
    // newer one).
    seen = Observe();
    if (seen.state != state_.load(std::memory_order_relaxed)) {
      state_.store(seen.state, std::memory_order_release);
      if (on_change_) on_change_(seen.status);
    }
    return seen.status;
  }

 private:
  enum class State { kSame, kGone, kReplaced, kUnreadable };
  struct Observation {
    State state = State::kSame;
    absl::Status status;
  };

  Observation Observe() const {
    struct stat st;
    if (::stat(path_.c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT) {
        return {State::kGone,
                absl::UnavailableError(absl::StrCat(
                    "sqlite: database file ", path_,
                    " was deleted or moved away while open; refusing to write into the unlinked "
                    "file: put the file back at that path, or restart the service"))};
      }
      return {State::kUnreadable, absl::UnavailableError(absl::StrCat(
                                      "sqlite: database file ", path_,
                                      " cannot be checked while open: ", ErrnoText(err)))};
    }
    if (st.st_dev != id_.dev || st.st_ino != id_.ino) {
      return {
          State::kReplaced,
          absl::UnavailableError(absl::StrCat(
              "sqlite: database file ", path_, " was replaced by another file while open (inode ",
              id_.ino, " on device ", id_.dev, " was opened, the path now names inode ", st.st_ino,
              " on device ", st.st_dev,
              "); refusing to write into the old file: restart the service to use the new "
              "one"))};
    }
    return {};
  }

  const std::string path_;
  const FileId id_;
  const std::function<void(const absl::Status&)> on_change_;
  common::Mutex mu_;                        // Serializes reports.
  std::atomic<State> state_{State::kSame};  // Last reported; written under mu_.
};

// ------------------------------------------------------------------ background

// The storage's background thread. It checks the file's identity every
// kFileCheckInterval, so a lost file is reported while no call comes in,
// and (read-write storages) moves WAL checkpoints off the write path. The
// writer connection runs with wal_autocheckpoint=0 and a WAL hook: after a
// commit that leaves at least kSoftFrames frames in the WAL it wakes this
// thread, which runs a PASSIVE checkpoint on its own connection (page copies
// and fsync no longer hold the write lock). If the WAL still reaches
// kHardFrames (the checkpointer cannot keep up, or readers pin old frames),
// the writer checkpoints inline, which lets the next write transaction
// restart the WAL from the start.
class Background {
 public:
  static constexpr int kSoftFrames = 1000;   // ~4 MiB
  static constexpr int kHardFrames = 16000;  // ~64 MiB
  static constexpr std::chrono::seconds kFileCheckInterval{2};

  Background(std::string path, int busy_timeout_ms, FileWatch* watch)
      : path_(std::move(path)),
        busy_timeout_ms_(busy_timeout_ms),
        watch_(watch),
        thread_([this] { Run(); }) {}
  ~Background() {
    {
      common::MutexLock lock(&mu_);
      stop_ = true;
      mu_.SignalAll();
    }
    thread_.join();
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  // sqlite3_wal_hook callback, on the writer's thread after each commit.
  static int Hook(void* self, sqlite3* db, const char* /*schema*/, int frames) {
    if (frames >= kHardFrames) {
      sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    } else if (frames >= kSoftFrames) {
      auto* c = static_cast<Background*>(self);
      common::MutexLock lock(&c->mu_);
      c->pending_ = true;
      c->mu_.SignalAll();
    }
    return SQLITE_OK;
  }

 private:
  void Run() {
    std::unique_ptr<SQLite::Database> db;
    while (true) {
      bool checkpoint;
      {
        common::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return pending_ || stop_; },
                             kFileCheckInterval);
        if (stop_) return;
        checkpoint = pending_;
        pending_ = false;
      }
      if (!watch_->Check().ok()) {
        db.reset();  // Never checkpoint into whatever the path names now.
        continue;
      }
      if (!checkpoint) continue;
      try {
        if (!db) {
          db = std::make_unique<SQLite::Database>(
              path_, SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX, busy_timeout_ms_);
          // A connection learns that the file is in WAL mode only when it
          // first reads it; until then a checkpoint is a silent no-op
          // (-1 frames) and the writer's inline checkpoints did all the work
          // (130 ms stalls at half load, issue 6).
          db->exec("SELECT count(*) FROM sqlite_master");
        }
        // BUSY (another checkpoint running) is fine: the next commit retries.
        sqlite3_wal_checkpoint_v2(db->getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                  nullptr);
      } catch (const std::exception&) {
        db.reset();  // Retried on the next wake-up; the writer's hard limit bounds the WAL.
      }
    }
  }

  const std::string path_;
  const int busy_timeout_ms_;
  FileWatch* const watch_;
  common::Mutex mu_;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// ------------------------------------------------------------------ migrations

constexpr char kMigrationTable[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " checksum TEXT NOT NULL,"
    " applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)";

class SqliteMigrationTarget final : public MigrationTarget {
 public:
  explicit SqliteMigrationTarget(Connection& c) : c_(c) {}

  absl::Status Lock() override {
    return Guarded("migration lock", [&] {
      c_.Exec("BEGIN IMMEDIATE");
      return absl::OkStatus();
    });
  }
  absl::Status Unlock() override {
    return Guarded("migration commit", [&] {
      if (c_.InTransaction()) c_.Exec("COMMIT");
      return absl::OkStatus();
    });
  }
  absl::Status EnsureMigrationTable() override {
    return Guarded("create schema_migrations", [&] {
      c_.db().exec(kMigrationTable);
      return absl::OkStatus();
    });
  }
  absl::StatusOr<std::vector<AppliedMigration>> AppliedMigrations() override {
    return Guarded(
        "read schema_migrations", [&]() -> absl::StatusOr<std::vector<AppliedMigration>> {
          std::vector<AppliedMigration> out;
          if (!c_.db().tableExists("schema_migrations")) return out;
          SQLite::Statement q(
              c_.db(), "SELECT version, name, checksum FROM schema_migrations ORDER BY version");
          while (q.executeStep()) {
            out.push_back(
                {q.getColumn(0).getInt(), q.getColumn(1).getString(), q.getColumn(2).getString()});
          }
          return out;
        });
  }
  absl::Status Apply(const Migration& m) override {
    return Guarded("apply", [&] {
      c_.db().exec("SAVEPOINT raceway_migration");
      try {
        c_.db().exec(m.sql);
        SQLite::Statement ins(c_.db(),
                              "INSERT INTO schema_migrations (version, name, checksum) "
                              "VALUES (?1, ?2, ?3)");
        ins.bind(1, m.version);
        ins.bind(2, m.name);
        ins.bind(3, m.checksum);
        ins.exec();
      } catch (...) {
        c_.db().tryExec("ROLLBACK TO raceway_migration");
        c_.db().tryExec("RELEASE raceway_migration");
        throw;
      }
      c_.db().exec("RELEASE raceway_migration");
      return absl::OkStatus();
    });
  }

 private:
  Connection& c_;
};

class OwningMigrationTarget final : public MigrationTarget {
 public:
  explicit OwningMigrationTarget(std::unique_ptr<Connection> c) : c_(std::move(c)), target_(*c_) {}
  absl::Status Lock() override { return target_.Lock(); }
  absl::Status Unlock() override { return target_.Unlock(); }
  absl::Status EnsureMigrationTable() override { return target_.EnsureMigrationTable(); }
  absl::StatusOr<std::vector<AppliedMigration>> AppliedMigrations() override {
    return target_.AppliedMigrations();
  }
  absl::Status Apply(const Migration& m) override { return target_.Apply(m); }

 private:
  std::unique_ptr<Connection> c_;
  SqliteMigrationTarget target_;
};

// ------------------------------------------------------------------ SQL

constexpr char kInsertEvent[] =
    "INSERT INTO events (id, trace_id, parent_id, timestamp_ns, thread_id, service_name, kind,"
    " duration_ns, kind_json, metadata_json, causality_json, lock_set_json, payload)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    " ON CONFLICT (id) DO NOTHING";
constexpr char kInsertEdge[] =
    "INSERT INTO causal_edges (trace_id, to_event_id, from_event_id) VALUES (?1, ?2, ?3)";
constexpr char kInsertRoot[] =
    "INSERT OR IGNORE INTO trace_roots (trace_id, root_event_id) VALUES (?1, ?2)";
constexpr char kInsertAccess[] =
    "INSERT OR IGNORE INTO cross_trace_index (variable, timestamp_ns, event_id, trace_id,"
    " thread_id, service_name, access_type, location, lock_set_json, distributed_span_id,"
    " upstream_span_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
constexpr char kUpsertTrace[] =
    "INSERT INTO trace_summaries (trace_id, event_count, first_ns, last_ns) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (trace_id) DO UPDATE SET event_count = event_count + excluded.event_count,"
    " first_ns = min(first_ns, excluded.first_ns), last_ns = max(last_ns, excluded.last_ns)";
constexpr char kUpsertTraceService[] =
    "INSERT INTO trace_services (trace_id, service_name, event_count, first_ns, last_ns,"
    " duration_count, duration_sum_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    " ON CONFLICT (trace_id, service_name) DO UPDATE SET"
    " event_count = event_count + excluded.event_count,"
    " first_ns = min(first_ns, excluded.first_ns), last_ns = max(last_ns, excluded.last_ns),"
    " duration_count = duration_count + excluded.duration_count,"
    " duration_sum_ns = duration_sum_ns + excluded.duration_sum_ns";
constexpr char kUpsertTraceKind[] =
    "INSERT INTO trace_kinds (trace_id, kind, duration_count, duration_sum_ns)"
    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (trace_id, kind) DO UPDATE SET"
    " duration_count = duration_count + excluded.duration_count,"
    " duration_sum_ns = duration_sum_ns + excluded.duration_sum_ns";
constexpr char kUpsertTraceVariable[] =
    "INSERT INTO trace_variables (trace_id, variable, service_name, access_count)"
    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (trace_id, variable, service_name) DO UPDATE SET"
    " access_count = access_count + excluded.access_count";
constexpr char kUpsertSpan[] =
    "INSERT INTO spans (trace_id, span_id, service_name, event_count, first_ns, last_ns)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (trace_id, span_id, service_name) DO UPDATE SET"
    " event_count = event_count + excluded.event_count,"
    " first_ns = min(first_ns, excluded.first_ns), last_ns = max(last_ns, excluded.last_ns)";
constexpr char kUpsertSpanEdge[] =
    "INSERT INTO span_edges (trace_id, from_span_id, to_span_id, link_type, link_priority)"
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (trace_id, from_span_id, to_span_id) DO UPDATE SET"
    " link_type = excluded.link_type, link_priority = excluded.link_priority"
    " WHERE excluded.link_priority < span_edges.link_priority"
    " OR (excluded.link_priority = span_edges.link_priority"
    " AND excluded.link_type < span_edges.link_type)";
// Parallel Welford merge (Chan et al.) of the batch's statistics (excluded.*)
// into the stored ones; every right-hand side sees the old row.
constexpr char kUpsertBaseline[] =
    "INSERT INTO baseline_metrics (operation, count, mean, m2, min_ns, max_ns)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (operation) DO UPDATE SET"
    " count = count + excluded.count,"
    " mean = mean + (excluded.mean - mean) * CAST(excluded.count AS REAL)"
    "        / CAST(count + excluded.count AS REAL),"
    " m2 = m2 + excluded.m2 + (excluded.mean - mean) * (excluded.mean - mean)"
    "      * CAST(count AS REAL) * CAST(excluded.count AS REAL)"
    "      / CAST(count + excluded.count AS REAL),"
    " min_ns = min(min_ns, excluded.min_ns), max_ns = max(max_ns, excluded.max_ns),"
    " updated_at = CURRENT_TIMESTAMP";
constexpr char kUpsertServiceCall[] =
    "INSERT INTO service_calls (trace_id, from_service, to_service, call_count)"
    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (trace_id, from_service, to_service) DO UPDATE SET"
    " call_count = call_count + excluded.call_count";
constexpr char kStoredService[] = "SELECT service_name FROM events WHERE id = ?1";
constexpr char kAnyWaiting[] = "SELECT EXISTS (SELECT 1 FROM waiting_children)";
constexpr char kTakeWaiting[] =
    "DELETE FROM waiting_children WHERE parent_id = ?1 RETURNING child_id, trace_id, service_name";
constexpr char kAddWaiting[] =
    "INSERT OR IGNORE INTO waiting_children (parent_id, child_id, trace_id, service_name)"
    " VALUES (?1, ?2, ?3, ?4)";

// Tables holding rows of a trace, deleted by retention (trace_summaries last).
constexpr const char* kTraceTables[] = {"events",           "causal_edges",      "trace_roots",
                                        "waiting_children", "cross_trace_index", "trace_services",
                                        "trace_kinds",      "trace_variables",   "spans",
                                        "span_edges",       "service_calls",     "trace_summaries"};

// " JOIN trace_summaries t ..." restricting `alias`'s rows to traces with
// activity in the range, and the binds it needs (?1 start, ?2 end).
std::string RangeJoin(const char* alias, const TimeRange& range) {
  if (!range.start_ns && !range.end_ns) return "";
  std::string sql = absl::StrCat(" JOIN trace_summaries t ON t.trace_id = ", alias, ".trace_id");
  std::vector<std::string> conds;
  if (range.start_ns) conds.push_back("t.last_ns >= ?1");
  if (range.end_ns) conds.push_back("t.first_ns < ?2");
  return absl::StrCat(sql, " AND ", absl::StrJoin(conds, " AND "));
}

void BindRange(SQLite::Statement& s, const TimeRange& range) {
  if (range.start_ns) s.bind(1, static_cast<int64_t>(*range.start_ns));
  if (range.end_ns) s.bind(2, static_cast<int64_t>(*range.end_ns));
}

// ------------------------------------------------------------------ storage

// One event ready to insert: everything computed before taking the lock.
struct Row {
  common::PreparedEvent p;
  UuidBytes id, trace, parent;
  std::string payload, kind, kind_json, metadata_json, causality_json, lock_set_json;
  std::string access_type;  // StateChange only.
};

class SqliteStorage final : public Storage {
 public:
  // A read-only storage has no `writer`; its `reader` (the connection that
  // checked the schema) starts the pool. Throws SQLite::Exception.
  SqliteStorage(StorageOptions options, OpenedFile file, std::unique_ptr<Connection> writer,
                std::unique_ptr<Connection> reader)
      : options_(std::move(options)),
        watch_(file.path, file.id, options_.on_health_change),
        sidecars_(std::move(file.sidecars)),
        writer_(std::move(writer)) {
    max_readers_ = static_cast<int>(std::clamp<uint32_t>(options_.max_connections, 1, 16));
    if (reader) {
      common::MutexLock lock(&pool_mu_);
      idle_.push_back(std::move(reader));
      open_readers_ = 1;
    }
    background_ = std::make_unique<Background>(options_.sqlite_path, BusyTimeoutMs(), &watch_);
    if (!writer_) return;
    common::MutexLock lock(&write_mu_);
    writer_->db().exec("PRAGMA wal_autocheckpoint=0");
    sqlite3_wal_hook(writer_->handle(), &Background::Hook, background_.get());
  }
  ~SqliteStorage() override {
    {
      common::MutexLock lock(&write_mu_);
      if (writer_) sqlite3_wal_hook(writer_->handle(), nullptr, nullptr);
    }
    background_.reset();  // Its file checks use watch_.
    if (writer_ && !watch_.Check().ok()) ReleaseLostFile();
  }

  std::string BackendName() const override { return "sqlite"; }

  absl::StatusOr<WriteResult> WriteBatch(std::span<const Event* const> events) override;
  absl::StatusOr<uint64_t> DeleteTracesBefore(int64_t cutoff_ns) override;
  absl::Status Clear() override;

  absl::StatusOr<Event> GetEvent(const std::string& id) override;
  absl::StatusOr<TraceSummary> GetTraceSummary(const std::string& trace_id) override;
  absl::StatusOr<std::vector<Event>> GetTraceEvents(const std::string& trace_id) override;
  absl::StatusOr<Page<Event>> GetTraceEventsPage(const std::string& trace_id,
                                                 const PageRequest& page) override;
  absl::StatusOr<Page<TraceSummary>> ListTraces(const TraceFilter& filter, const PageRequest& page,
                                                uint64_t* total) override;
  absl::StatusOr<Page<VariableAccess>> GetVariableAccesses(const std::string& variable,
                                                           const TimeRange& range,
                                                           const PageRequest& page) override;
  absl::StatusOr<std::vector<Baseline>> GetBaselines(
      const std::vector<std::string>& operations) override;
  absl::StatusOr<std::vector<ServiceStats>> ListServices() override;
  absl::StatusOr<std::vector<ServiceCallRow>> ListServiceCalls(const TimeRange& range) override;
  absl::StatusOr<std::vector<VariableStats>> TopVariables(const TimeRange& range,
                                                          uint32_t limit) override;
  absl::StatusOr<std::vector<DurationStats>> DurationsByKind(const TimeRange& range) override;
  absl::StatusOr<std::vector<DurationStats>> DurationsByService(const TimeRange& range) override;
  absl::StatusOr<uint64_t> CountEvents() override;
  absl::StatusOr<uint64_t> CountTraces() override;

 private:
  // A reader connection leased from the pool; returned on destruction.
  class Lease {
   public:
    Lease(SqliteStorage* s, std::unique_ptr<Connection> c) : s_(s), c_(std::move(c)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (c_) s_->Release(std::move(c_));
    }
    Connection& operator*() { return *c_; }
    Connection* operator->() { return c_.get(); }

   private:
    SqliteStorage* s_;
    std::unique_ptr<Connection> c_;
  };

  // Throws SQLite::Exception when a new connection cannot be opened.
  Lease Acquire() {
    {
      common::MutexLock lock(&pool_mu_);
      pool_mu_.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return !idle_.empty() || open_readers_ < max_readers_;
      });
      if (!idle_.empty()) {
        std::unique_ptr<Connection> c = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(c));
      }
      ++open_readers_;
    }
    try {
      auto c = std::make_unique<Connection>(options_.sqlite_path, BusyTimeoutMs(),
                                            options_.read_only ? Role::kReadOnly : Role::kReader);
      c->db().exec("PRAGMA query_only=1");
      return Lease(this, std::move(c));
    } catch (...) {
      common::MutexLock lock(&pool_mu_);
      --open_readers_;
      pool_mu_.SignalAll();
      throw;
    }
  }

  void Release(std::unique_ptr<Connection> c) {
    c->RollbackQuietly();
    common::MutexLock lock(&pool_mu_);
    idle_.push_back(std::move(c));
    pool_mu_.SignalAll();
  }

  int BusyTimeoutMs() const {
    return static_cast<int>(std::clamp<uint32_t>(options_.connection_timeout_seconds, 1, 3600) *
                            1000);
  }

  // Reads run on a leased connection with exceptions mapped to statuses,
  // and only while the path names the opened file (a reader connection
  // opened now would read whatever file the path names).
  template <typename F>
  auto Read(std::string_view what, F&& f) -> decltype(f(std::declval<Connection&>())) {
    if (absl::Status st = watch_.Check(); !st.ok()) return st;
    return Guarded(what, [&]() -> decltype(f(std::declval<Connection&>())) {
      Lease lease = Acquire();
      return f(*lease);
    });
  }

  // On close while the path no longer names the opened file. SQLite then
  // skips its checkpoint on close and leaves this file's WAL (and -shm) at
  // the path, where the next opener of whatever the path names (a restored
  // backup, a new database) would read it as its own: silently wrong pages.
  // So: checkpoint into the opened file (kept if it was only moved), close
  // every connection, and remove the WAL and -shm if they are still this
  // file's and the checkpoint copied every frame.
  void ReleaseLostFile() {
    bool checkpointed = false;
    {
      common::MutexLock lock(&write_mu_);
      int log_frames = 0, copied_frames = 0;
      checkpointed =
          sqlite3_wal_checkpoint_v2(writer_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                    &log_frames, &copied_frames) == SQLITE_OK &&
          log_frames == copied_frames;
      writer_.reset();
    }
    {
      common::MutexLock lock(&pool_mu_);
      idle_.clear();
    }
    if (!checkpointed) return;
    for (const auto& [path, id] : sidecars_) {
      auto now = FileWatch::Identify(path);
      if (now.ok() && now->dev == id.dev && now->ino == id.ino) ::unlink(path.c_str());
    }
  }

  // What the write methods of a read-only storage answer.
  absl::Status ReadOnlyError() const {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite: ", options_.sqlite_path,
                     " is open read-only (the query service's storage); write through the "
                     "ingest service"));
  }

  // Commits the writer's open transaction, or rolls it back when the path no
  // longer names the opened file. Checked before COMMIT (write nothing into
  // an unlinked file) and after it (a file lost in between is reported, so
  // no write is acknowledged unless the path named its file after commit).
  absl::Status CommitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // BEGIN IMMEDIATE and every statement of the batch; the caller commits.
  void WriteLocked(std::vector<Row>& rows, common::BatchAggregates& agg, WriteResult& result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  const StorageOptions options_;
  FileWatch watch_;
  const std::vector<std::pair<std::string, FileId>> sidecars_;
  std::unique_ptr<Background> background_;
  common::Mutex write_mu_;
  std::unique_ptr<Connection> writer_ ABSL_GUARDED_BY(write_mu_);
  common::Mutex pool_mu_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(pool_mu_);
  int open_readers_ ABSL_GUARDED_BY(pool_mu_) = 0;
  int max_readers_ = 1;
};

class SqliteResolver final : public common::ParentResolver {
 public:
  explicit SqliteResolver(Connection& c) : c_(c) {}
  std::optional<std::string> StoredService(std::string_view event_id) override {
    const UuidBytes id = Uuid(event_id);
    SQLite::Statement& q = c_.Stmt(kStoredService);
    Reset reset(q);
    BindUuid(q, 1, id);
    if (!q.executeStep()) return std::nullopt;
    return q.getColumn(0).getString();
  }
  bool AnyWaitingChildren() override {
    SQLite::Statement& q = c_.Stmt(kAnyWaiting);
    Reset reset(q);
    return q.executeStep() && q.getColumn(0).getInt() != 0;
  }
  std::vector<common::WaitingChild> TakeWaitingChildren(std::string_view parent_id) override {
    const UuidBytes id = Uuid(parent_id);
    SQLite::Statement& q = c_.Stmt(kTakeWaiting);
    Reset reset(q);
    BindUuid(q, 1, id);
    std::vector<common::WaitingChild> out;
    while (q.executeStep()) {
      out.push_back({std::string(parent_id), UuidText(q.getColumn(0)), UuidText(q.getColumn(1)),
                     q.getColumn(2).getString()});
    }
    return out;
  }
  void AddWaitingChild(const common::WaitingChild& w) override {
    const UuidBytes parent = Uuid(w.parent_id), child = Uuid(w.child_id), trace = Uuid(w.trace_id);
    SQLite::Statement& q = c_.Stmt(kAddWaiting);
    Reset reset(q);
    BindUuid(q, 1, parent);
    BindUuid(q, 2, child);
    BindUuid(q, 3, trace);
    BindText(q, 4, w.service_name);
    q.exec();
  }

 private:
  Connection& c_;
};

absl::StatusOr<WriteResult> SqliteStorage::WriteBatch(std::span<const Event* const> events) {
  if (options_.read_only) return ReadOnlyError();
  if (absl::Status st = common::CheckBatchIds(events); !st.ok()) return st;
  // Everything that does not need the database happens before the lock, so
  // concurrent writers prepare in parallel.
  std::vector<Row> rows;
  std::vector<const common::PreparedEvent*> all;
  absl::Status prepared = Guarded("prepare", [&] {
    rows.resize(events.size());
    all.reserve(events.size());
    for (size_t i = 0; i < events.size(); ++i) {
      const Event& e = *events[i];
      Row& r = rows[i];
      r.p = common::PrepareEvent(e);
      r.id = Uuid(e.id());
      r.trace = Uuid(e.trace_id());
      if (!e.parent_id().empty()) r.parent = Uuid(e.parent_id());
      r.kind = std::string(r.p.kind);
      google::protobuf::io::StringOutputStream stream(&r.payload);
      {
        google::protobuf::io::CodedOutputStream out(&stream);
        out.SetSerializationDeterministic(true);
        e.SerializeToCodedStream(&out);
      }
      r.kind_json = common::KindJson(e);
      r.metadata_json = common::MessageJson(e.metadata());
      r.causality_json = common::CausalityJson(e);
      r.lock_set_json = common::StringArrayJson(e.lock_set());
      if (e.has_state_change()) {
        r.access_type = std::string(raceway::model::AccessTypeName(e.state_change().access_type()));
      }
      all.push_back(&r.p);
    }
    return absl::OkStatus();
  });
  if (!prepared.ok()) return prepared;
  common::BatchAggregates agg = common::Aggregate(all);

  WriteResult result;
  common::MutexLock lock(&write_mu_);
  absl::Status st = Guarded("write batch", [&] {
    try {
      WriteLocked(rows, agg, result);
    } catch (...) {
      writer_->RollbackQuietly();
      throw;
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  if (absl::Status committed = CommitLocked(); !committed.ok()) return committed;
  return result;
}

absl::Status SqliteStorage::CommitLocked() {
  Connection& c = *writer_;
  if (absl::Status st = watch_.Check(); !st.ok()) {
    c.RollbackQuietly();
    return st;
  }
  absl::Status st = Guarded("commit", [&] {
    try {
      c.Exec("COMMIT");
    } catch (...) {
      c.RollbackQuietly();
      throw;
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return watch_.Check();
}

void SqliteStorage::WriteLocked(std::vector<Row>& rows, common::BatchAggregates& agg,
                                WriteResult& result) {
  Connection& c = *writer_;
  c.Exec("BEGIN IMMEDIATE");

  std::vector<const common::PreparedEvent*> fresh;
  fresh.reserve(rows.size());
  {
    SQLite::Statement& ins = c.Stmt(kInsertEvent);
    SQLite::Statement& edge = c.Stmt(kInsertEdge);
    SQLite::Statement& root = c.Stmt(kInsertRoot);
    SQLite::Statement& access = c.Stmt(kInsertAccess);
    for (size_t row_index = 0; row_index < rows.size(); ++row_index) {
      Row& r = rows[row_index];
      const Event& e = *r.p.event;
      BindUuid(ins, 1, r.id);
      BindUuid(ins, 2, r.trace);
      if (e.parent_id().empty()) {
        ins.bind(3);
      } else {
        BindUuid(ins, 3, r.parent);
      }
      ins.bind(4, static_cast<int64_t>(r.p.timestamp_ns));
      BindText(ins, 5, e.metadata().thread_id());
      BindText(ins, 6, e.metadata().service_name());
      BindText(ins, 7, r.kind);
      if (r.p.duration_ns) {
        ins.bind(8, r.p.duration_column());
      } else {
        ins.bind(8);
      }
      BindText(ins, 9, r.kind_json);
      BindText(ins, 10, r.metadata_json);
      if (r.causality_json.empty()) {
        ins.bind(11);
      } else {
        BindText(ins, 11, r.causality_json);
      }
      if (r.lock_set_json.empty()) {
        ins.bind(12);
      } else {
        BindText(ins, 12, r.lock_set_json);
      }
      ins.bindNoCopy(13, r.payload.data(), static_cast<int>(r.payload.size()));
      const int changed = ins.exec();
      ins.reset();
      if (changed == 0) {
        ++result.duplicate;
        result.duplicate_indices.push_back(static_cast<uint32_t>(row_index));
        continue;
      }
      ++result.accepted;
      fresh.push_back(&r.p);
      if (e.parent_id().empty()) {
        BindUuid(root, 1, r.trace);
        BindUuid(root, 2, r.id);
        root.exec();
        root.reset();
      } else {
        BindUuid(edge, 1, r.trace);
        BindUuid(edge, 2, r.id);
        BindUuid(edge, 3, r.parent);
        edge.exec();
        edge.reset();
      }
      if (e.has_state_change()) {
        const auto& sc = e.state_change();
        BindText(access, 1, sc.variable());
        access.bind(2, static_cast<int64_t>(r.p.timestamp_ns));
        BindUuid(access, 3, r.id);
        BindUuid(access, 4, r.trace);
        BindText(access, 5, e.metadata().thread_id());
        BindText(access, 6, e.metadata().service_name());
        BindText(access, 7, r.access_type);
        BindText(access, 8, sc.location());
        if (r.lock_set_json.empty()) {
          access.bind(9);
        } else {
          BindText(access, 9, r.lock_set_json);
        }
        BindText(access, 10, e.metadata().distributed_span_id());
        BindText(access, 11, e.metadata().upstream_span_id());
        access.exec();
        access.reset();
      }
    }
  }
  if (fresh.empty()) return;
  // The aggregates were computed assuming every event is new; redo them
  // over the new ones when the batch had duplicates (rare: retries).
  if (fresh.size() != rows.size()) agg = common::Aggregate(fresh);

  std::string a, b, d;  // Text binds of string_view keys (copied).
  auto trace_bytes = [](std::string_view t) { return Uuid(t); };
  {
    SQLite::Statement& q = c.Stmt(kUpsertTrace);
    for (const auto& [trace, v] : agg.traces) {
      const UuidBytes t = trace_bytes(trace);
      BindUuid(q, 1, t);
      q.bind(2, ClampU64(v.event_count));
      q.bind(3, static_cast<int64_t>(v.first_ns));
      q.bind(4, static_cast<int64_t>(v.last_ns));
      q.exec();
      q.reset();
    }
  }
  {
    SQLite::Statement& q = c.Stmt(kUpsertTraceService);
    for (const auto& [k, v] : agg.trace_services) {
      const UuidBytes t = trace_bytes(std::get<0>(k));
      a = std::get<1>(k);
      BindUuid(q, 1, t);
      BindText(q, 2, a);
      q.bind(3, ClampU64(v.event_count));
      q.bind(4, static_cast<int64_t>(v.first_ns));
      q.bind(5, static_cast<int64_t>(v.last_ns));
      q.bind(6, ClampU64(v.duration_count));
      q.bind(7, v.duration_sum_ns);
      q.exec();
      q.reset();
    }
  }
  {
    SQLite::Statement& q = c.Stmt(kUpsertTraceKind);
    for (const auto& [k, v] : agg.trace_kinds) {
      const UuidBytes t = trace_bytes(std::get<0>(k));
      a = std::get<1>(k);
      BindUuid(q, 1, t);
      BindText(q, 2, a);
      q.bind(3, ClampU64(v.duration_count));
      q.bind(4, v.duration_sum_ns);
      q.exec();
      q.reset();
    }
  }
  {
    SQLite::Statement& q = c.Stmt(kUpsertTraceVariable);
    for (const auto& [k, n] : agg.trace_variables) {
      const UuidBytes t = trace_bytes(std::get<0>(k));
      a = std::get<1>(k);
      b = std::get<2>(k);
      BindUuid(q, 1, t);
      BindText(q, 2, a);
      BindText(q, 3, b);
      q.bind(4, ClampU64(n));
      q.exec();
      q.reset();
    }
  }
  if (!agg.spans.empty()) {
    SQLite::Statement& q = c.Stmt(kUpsertSpan);
    for (const auto& [k, v] : agg.spans) {
      const UuidBytes t = trace_bytes(std::get<0>(k));
      a = std::get<1>(k);
      b = std::get<2>(k);
      BindUuid(q, 1, t);
      BindText(q, 2, a);
      BindText(q, 3, b);
      q.bind(4, ClampU64(v.event_count));
      q.bind(5, static_cast<int64_t>(v.first_ns));
      q.bind(6, static_cast<int64_t>(v.last_ns));
      q.exec();
      q.reset();
    }
  }
  if (!agg.span_edges.empty()) {
    SQLite::Statement& q = c.Stmt(kUpsertSpanEdge);
    for (const auto& [k, link] : agg.span_edges) {
      const UuidBytes t = trace_bytes(std::get<0>(k));
      a = std::get<1>(k);
      b = std::get<2>(k);
      d = link.type;
      BindUuid(q, 1, t);
      BindText(q, 2, a);
      BindText(q, 3, b);
      BindText(q, 4, d);
      q.bind(5, link.priority);
      q.exec();
      q.reset();
    }
  }
  if (!agg.baselines.empty()) {
    SQLite::Statement& q = c.Stmt(kUpsertBaseline);
    for (const auto& [op, w] : agg.baselines) {
      a = op;
      BindText(q, 1, a);
      q.bind(2, ClampU64(w.count));
      q.bind(3, w.mean);
      q.bind(4, w.m2);
      q.bind(5, w.min);
      q.bind(6, w.max);
      q.exec();
      q.reset();
    }
  }
  SqliteResolver resolver(c);
  const common::ServiceCallDeltas calls = common::ResolveParentCalls(fresh, resolver);
  if (!calls.empty()) {
    SQLite::Statement& q = c.Stmt(kUpsertServiceCall);
    for (const auto& [k, n] : calls) {
      const UuidBytes t = trace_bytes(std::get<0>(k));
      BindUuid(q, 1, t);
      BindText(q, 2, std::get<1>(k));
      BindText(q, 3, std::get<2>(k));
      q.bind(4, ClampU64(n));
      q.exec();
      q.reset();
    }
  }
}

absl::StatusOr<uint64_t> SqliteStorage::DeleteTracesBefore(int64_t cutoff_ns) {
  if (options_.read_only) return ReadOnlyError();
  constexpr int kChunk = 256;  // Traces per transaction: keeps the write lock short.
  uint64_t deleted = 0;
  while (true) {
    absl::StatusOr<int> n;
    {
      common::MutexLock lock(&write_mu_);
      n = Guarded("retention", [&]() -> absl::StatusOr<int> {
        Connection& c = *writer_;
        try {
          c.Exec("BEGIN IMMEDIATE");
          std::vector<UuidBytes> traces;
          {
            SQLite::Statement& q = c.Stmt(
                "SELECT trace_id FROM trace_summaries WHERE last_ns < ?1 ORDER BY last_ns LIMIT "
                "?2");
            Reset reset(q);
            q.bind(1, static_cast<int64_t>(cutoff_ns));
            q.bind(2, kChunk);
            while (q.executeStep()) {
              UuidBytes b{};
              const SQLite::Column col = q.getColumn(0);
              if (col.getBytes() == 16) std::memcpy(b.data(), col.getBlob(), 16);
              traces.push_back(b);
            }
          }
          for (const UuidBytes& t : traces) {
            for (const char* table : kTraceTables) {
              SQLite::Statement& del =
                  c.Stmt(absl::StrCat("DELETE FROM ", table, " WHERE trace_id = ?1"));
              Reset reset(del);
              BindUuid(del, 1, t);
              del.exec();
            }
          }
          return static_cast<int>(traces.size());
        } catch (...) {
          c.RollbackQuietly();
          throw;
        }
      });
      if (n.ok()) {
        if (absl::Status committed = CommitLocked(); !committed.ok()) n = committed;
      }
    }
    if (!n.ok()) return n.status();
    deleted += static_cast<uint64_t>(*n);
    if (*n < kChunk) return deleted;
  }
}

absl::Status SqliteStorage::Clear() {
  if (options_.read_only) return ReadOnlyError();
  common::MutexLock lock(&write_mu_);
  absl::Status st = Guarded("clear", [&] {
    Connection& c = *writer_;
    try {
      c.Exec("BEGIN IMMEDIATE");
      for (const char* table : kTraceTables) c.db().exec(absl::StrCat("DELETE FROM ", table));
      c.db().exec("DELETE FROM baseline_metrics");
    } catch (...) {
      c.RollbackQuietly();
      throw;
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return CommitLocked();
}

// ------------------------------------------------------------------ reads

absl::StatusOr<Event> SqliteStorage::GetEvent(const std::string& id) {
  auto canonical = common::CanonicalId("id", id);
  if (!canonical.ok()) return canonical.status();
  const UuidBytes key = Uuid(*canonical);
  return Read("get event", [&](Connection& c) -> absl::StatusOr<Event> {
    SQLite::Statement& q = c.Stmt("SELECT payload FROM events WHERE id = ?1");
    Reset reset(q);
    BindUuid(q, 1, key);
    if (!q.executeStep()) {
      return absl::NotFoundError(absl::StrCat("event ", *canonical, " not found"));
    }
    return ParsePayload(q.getColumn(0));
  });
}

namespace {

absl::Status TraceNotFound(const std::string& trace_id) {
  return absl::NotFoundError(absl::StrCat("trace ", trace_id, " not found"));
}

// The trace's summary, or nullopt. Runs inside the caller's transaction.
std::optional<TraceSummary> LoadSummary(Connection& c, const UuidBytes& trace,
                                        const std::string& trace_id) {
  SQLite::Statement& q =
      c.Stmt("SELECT event_count, first_ns, last_ns FROM trace_summaries WHERE trace_id = ?1");
  Reset reset(q);
  BindUuid(q, 1, trace);
  if (!q.executeStep()) return std::nullopt;
  TraceSummary s;
  s.trace_id = trace_id;
  s.event_count = static_cast<uint64_t>(q.getColumn(0).getInt64());
  s.first_ns = q.getColumn(1).getInt64();
  s.last_ns = q.getColumn(2).getInt64();
  SQLite::Statement& svc =
      c.Stmt("SELECT service_name FROM trace_services WHERE trace_id = ?1 ORDER BY service_name");
  Reset reset_svc(svc);
  BindUuid(svc, 1, trace);
  while (svc.executeStep()) s.services.push_back(svc.getColumn(0).getString());
  return s;
}

}  // namespace

absl::StatusOr<TraceSummary> SqliteStorage::GetTraceSummary(const std::string& trace_id) {
  auto canonical = common::CanonicalId("trace_id", trace_id);
  if (!canonical.ok()) return canonical.status();
  const UuidBytes key = Uuid(*canonical);
  return Read("get trace summary", [&](Connection& c) -> absl::StatusOr<TraceSummary> {
    ReadTxn txn(c);
    auto s = LoadSummary(c, key, *canonical);
    if (!s) return TraceNotFound(*canonical);
    return *std::move(s);
  });
}

absl::StatusOr<std::vector<Event>> SqliteStorage::GetTraceEvents(const std::string& trace_id) {
  auto canonical = common::CanonicalId("trace_id", trace_id);
  if (!canonical.ok()) return canonical.status();
  const UuidBytes key = Uuid(*canonical);
  return Read("get trace events", [&](Connection& c) -> absl::StatusOr<std::vector<Event>> {
    SQLite::Statement& q =
        c.Stmt("SELECT payload FROM events WHERE trace_id = ?1 ORDER BY timestamp_ns, id");
    Reset reset(q);
    BindUuid(q, 1, key);
    std::vector<Event> out;
    while (q.executeStep()) {
      auto e = ParsePayload(q.getColumn(0));
      if (!e.ok()) return e.status();
      out.push_back(*std::move(e));
    }
    if (out.empty()) return TraceNotFound(*canonical);
    return out;
  });
}

absl::StatusOr<Page<Event>> SqliteStorage::GetTraceEventsPage(const std::string& trace_id,
                                                              const PageRequest& page) {
  auto canonical = common::CanonicalId("trace_id", trace_id);
  if (!canonical.ok()) return canonical.status();
  std::optional<common::EventCursor> cursor;
  if (!page.page_token.empty()) {
    auto cur = common::DecodeEventCursor(page.page_token);
    if (!cur.ok()) return cur.status();
    cursor = std::move(*cur);
  }
  const uint32_t size = common::ClampPageSize(page.page_size, common::kTraceEventsPageDefault,
                                              common::kTraceEventsPageCap);
  const UuidBytes key = Uuid(*canonical);
  const UuidBytes after = cursor ? Uuid(cursor->event_id) : UuidBytes{};
  return Read("get trace events page", [&](Connection& c) -> absl::StatusOr<Page<Event>> {
    ReadTxn txn(c);
    SQLite::Statement& q =
        c.Stmt(cursor ? "SELECT payload, timestamp_ns FROM events WHERE trace_id = ?1"
                        " AND (timestamp_ns, id) > (?2, ?3) ORDER BY timestamp_ns, id LIMIT ?4"
                      : "SELECT payload, timestamp_ns FROM events WHERE trace_id = ?1"
                        " ORDER BY timestamp_ns, id LIMIT ?4");
    Reset reset(q);
    BindUuid(q, 1, key);
    if (cursor) {
      q.bind(2, static_cast<int64_t>(cursor->timestamp_ns));
      BindUuid(q, 3, after);
    }
    q.bind(4, static_cast<int64_t>(size) + 1);
    Page<Event> out;
    int64_t last_ts = 0;
    bool more = false;
    while (q.executeStep()) {
      if (out.items.size() == size) {
        more = true;
        break;
      }
      auto e = ParsePayload(q.getColumn(0));
      if (!e.ok()) return e.status();
      last_ts = q.getColumn(1).getInt64();
      out.items.push_back(*std::move(e));
    }
    if (more) out.next_page_token = common::EncodeEventCursor({last_ts, out.items.back().id()});
    if (out.items.empty() && !LoadSummary(c, key, *canonical)) return TraceNotFound(*canonical);
    return out;
  });
}

absl::StatusOr<Page<TraceSummary>> SqliteStorage::ListTraces(const TraceFilter& filter,
                                                             const PageRequest& page,
                                                             uint64_t* total) {
  std::optional<common::TraceCursor> cursor;
  if (!page.page_token.empty()) {
    auto cur = common::DecodeTraceCursor(page.page_token);
    if (!cur.ok()) return cur.status();
    cursor = std::move(*cur);
  }
  const uint32_t size =
      common::ClampPageSize(page.page_size, common::kTracesPageDefault, common::kTracesPageCap);
  // Numbered parameters: ?1 start, ?2 end, ?3 min_events, ?4 service,
  // ?5/?6 cursor, ?7 limit.
  std::vector<std::string> conds;
  if (filter.last_activity.start_ns) conds.push_back("t.last_ns >= ?1");
  if (filter.last_activity.end_ns) conds.push_back("t.last_ns < ?2");
  if (filter.min_events > 0) conds.push_back("t.event_count >= ?3");
  if (!filter.service.empty()) {
    // IN, not a correlated EXISTS: the service's traces come from the
    // trace_services_by_service index instead of a probe per stored trace.
    conds.push_back(
        "t.trace_id IN (SELECT s.trace_id FROM trace_services s WHERE s.service_name = ?4)");
  }
  const std::string where = conds.empty() ? "" : " WHERE " + absl::StrJoin(conds, " AND ");
  std::string page_where = where;
  if (cursor) {
    page_where += conds.empty() ? " WHERE " : " AND ";
    page_where += "(t.last_ns, t.trace_id) < (?5, ?6)";
  }
  const UuidBytes cursor_trace = cursor ? Uuid(cursor->trace_id) : UuidBytes{};
  auto bind = [&](SQLite::Statement& q, bool with_cursor) {
    if (filter.last_activity.start_ns)
      q.bind(1, static_cast<int64_t>(*filter.last_activity.start_ns));
    if (filter.last_activity.end_ns) q.bind(2, static_cast<int64_t>(*filter.last_activity.end_ns));
    if (filter.min_events > 0) q.bind(3, ClampU64(filter.min_events));
    if (!filter.service.empty()) BindText(q, 4, filter.service);
    if (with_cursor && cursor) {
      q.bind(5, static_cast<int64_t>(cursor->last_ns));
      BindUuid(q, 6, cursor_trace);
    }
  };
  return Read("list traces", [&](Connection& c) -> absl::StatusOr<Page<TraceSummary>> {
    ReadTxn txn(c);
    if (total != nullptr) {
      SQLite::Statement& q = c.Stmt("SELECT COUNT(*) FROM trace_summaries t" + where);
      Reset reset(q);
      bind(q, false);
      *total = q.executeStep() ? static_cast<uint64_t>(q.getColumn(0).getInt64()) : 0;
    }
    SQLite::Statement& q =
        c.Stmt("SELECT t.trace_id, t.event_count, t.first_ns, t.last_ns FROM trace_summaries t" +
               page_where + " ORDER BY t.last_ns DESC, t.trace_id DESC LIMIT ?7");
    Reset reset(q);
    bind(q, true);
    q.bind(7, static_cast<int64_t>(size) + 1);
    Page<TraceSummary> out;
    bool more = false;
    while (q.executeStep()) {
      if (out.items.size() == size) {
        more = true;
        break;
      }
      TraceSummary s;
      s.trace_id = UuidText(q.getColumn(0));
      s.event_count = static_cast<uint64_t>(q.getColumn(1).getInt64());
      s.first_ns = q.getColumn(2).getInt64();
      s.last_ns = q.getColumn(3).getInt64();
      out.items.push_back(std::move(s));
    }
    q.tryReset();
    SQLite::Statement& svc =
        c.Stmt("SELECT service_name FROM trace_services WHERE trace_id = ?1 ORDER BY service_name");
    for (TraceSummary& s : out.items) {
      Reset reset_svc(svc);
      const UuidBytes t = Uuid(s.trace_id);
      BindUuid(svc, 1, t);
      while (svc.executeStep()) s.services.push_back(svc.getColumn(0).getString());
    }
    if (more) {
      out.next_page_token =
          common::EncodeTraceCursor({out.items.back().last_ns, out.items.back().trace_id});
    }
    return out;
  });
}

absl::StatusOr<Page<VariableAccess>> SqliteStorage::GetVariableAccesses(const std::string& variable,
                                                                        const TimeRange& range,
                                                                        const PageRequest& page) {
  std::optional<common::AccessCursor> cursor;
  if (!page.page_token.empty()) {
    auto cur = common::DecodeAccessCursor(page.page_token);
    if (!cur.ok()) return cur.status();
    cursor = std::move(*cur);
  }
  const uint32_t size =
      common::ClampPageSize(page.page_size, common::kAccessesPageDefault, common::kAccessesPageCap);
  Page<VariableAccess> out;
  // With a variable filter only a cursor on the same variable matters.
  if (cursor && !variable.empty()) {
    if (cursor->variable > variable) return out;
    if (cursor->variable < variable) cursor.reset();
  }
  // ?1 variable, ?2 start, ?3 end, ?4..?6 cursor, ?7 limit.
  std::vector<std::string> conds;
  if (!variable.empty()) conds.push_back("variable = ?1");
  if (range.start_ns) conds.push_back("timestamp_ns >= ?2");
  if (range.end_ns) conds.push_back("timestamp_ns < ?3");
  if (cursor) {
    conds.push_back(variable.empty() ? "(variable, timestamp_ns, event_id) > (?4, ?5, ?6)"
                                     : "(timestamp_ns, event_id) > (?5, ?6)");
  }
  const std::string sql = absl::StrCat(
      "SELECT variable, timestamp_ns, event_id, trace_id, thread_id, service_name, access_type,"
      " location, lock_set_json, distributed_span_id, upstream_span_id FROM cross_trace_index",
      conds.empty() ? "" : " WHERE ", absl::StrJoin(conds, " AND "),
      " ORDER BY variable, timestamp_ns, event_id LIMIT ?7");
  const UuidBytes cursor_id = cursor ? Uuid(cursor->event_id) : UuidBytes{};
  return Read("get variable accesses", [&](Connection& c) -> absl::StatusOr<Page<VariableAccess>> {
    SQLite::Statement& q = c.Stmt(sql);
    Reset reset(q);
    if (!variable.empty()) BindText(q, 1, variable);
    if (range.start_ns) q.bind(2, static_cast<int64_t>(*range.start_ns));
    if (range.end_ns) q.bind(3, static_cast<int64_t>(*range.end_ns));
    if (cursor) {
      if (variable.empty()) BindText(q, 4, cursor->variable);
      q.bind(5, static_cast<int64_t>(cursor->timestamp_ns));
      BindUuid(q, 6, cursor_id);
    }
    q.bind(7, static_cast<int64_t>(size) + 1);
    bool more = false;
    while (q.executeStep()) {
      if (out.items.size() == size) {
        more = true;
        break;
      }
      VariableAccess a;
      a.variable = q.getColumn(0).getString();
      a.timestamp_ns = q.getColumn(1).getInt64();
      a.event_id = UuidText(q.getColumn(2));
      a.trace_id = UuidText(q.getColumn(3));
      a.thread_id = q.getColumn(4).getString();
      a.service_name = q.getColumn(5).getString();
      a.access_type = ParseAccessType(q.getColumn(6).getString());
      a.location = q.getColumn(7).getString();
      auto locks = common::ParseStringArrayJson(q.getColumn(8).getString());
      if (!locks.ok()) return locks.status();
      a.lock_set = *std::move(locks);
      a.distributed_span_id = q.getColumn(9).getString();
      a.upstream_span_id = q.getColumn(10).getString();
      out.items.push_back(std::move(a));
    }
    if (more) {
      const VariableAccess& last = out.items.back();
      out.next_page_token =
          common::EncodeAccessCursor({last.variable, last.timestamp_ns, last.event_id});
    }
    return std::move(out);
  });
}

absl::StatusOr<std::vector<Baseline>> SqliteStorage::GetBaselines(
    const std::vector<std::string>& operations) {
  return Read("get baselines", [&](Connection& c) -> absl::StatusOr<std::vector<Baseline>> {
    ReadTxn txn(c);
    SQLite::Statement& q =
        c.Stmt("SELECT count, mean, m2, min_ns, max_ns FROM baseline_metrics WHERE operation = ?1");
    std::vector<Baseline> out;
    absl::flat_hash_set<std::string> seen;
    for (const std::string& op : operations) {
      if (!seen.insert(op).second) continue;
      Reset reset(q);
      BindText(q, 1, op);
      if (!q.executeStep()) continue;
      out.push_back({op, static_cast<uint64_t>(q.getColumn(0).getInt64()),
                     q.getColumn(1).getDouble(), q.getColumn(2).getDouble(),
                     q.getColumn(3).getDouble(), q.getColumn(4).getDouble()});
    }
    return out;
  });
}

absl::StatusOr<std::vector<ServiceStats>> SqliteStorage::ListServices() {
  return Read("list services", [&](Connection& c) -> absl::StatusOr<std::vector<ServiceStats>> {
    SQLite::Statement& q = c.Stmt(
        "SELECT service_name, SUM(event_count), COUNT(*), MIN(first_ns), MAX(last_ns)"
        " FROM trace_services GROUP BY service_name ORDER BY service_name");
    Reset reset(q);
    std::vector<ServiceStats> out;
    while (q.executeStep()) {
      out.push_back({q.getColumn(0).getString(), static_cast<uint64_t>(q.getColumn(1).getInt64()),
                     static_cast<uint64_t>(q.getColumn(2).getInt64()), q.getColumn(3).getInt64(),
                     q.getColumn(4).getInt64()});
    }
    return out;
  });
}

absl::StatusOr<std::vector<ServiceCallRow>> SqliteStorage::ListServiceCalls(
    const TimeRange& range) {
  const std::string parent_sql = absl::StrCat(
      "SELECT c.from_service, c.to_service, SUM(c.call_count), COUNT(*) FROM service_calls c",
      RangeJoin("c", range), " GROUP BY c.from_service, c.to_service");
  const std::string span_sql = absl::StrCat(
      "SELECT su.service_name, sd.service_name, e.link_type, COUNT(*), COUNT(DISTINCT e.trace_id)"
      " FROM span_edges e"
      " JOIN spans su ON su.trace_id = e.trace_id AND su.span_id = e.from_span_id"
      " JOIN spans sd ON sd.trace_id = e.trace_id AND sd.span_id = e.to_span_id",
      RangeJoin("e", range), " WHERE su.service_name <> sd.service_name GROUP BY 1, 2, 3");
  return Read("list service calls",
              [&](Connection& c) -> absl::StatusOr<std::vector<ServiceCallRow>> {
                ReadTxn txn(c);
                std::map<std::tuple<std::string, std::string, std::string>, ServiceCallRow> rows;
                {
                  SQLite::Statement& q = c.Stmt(parent_sql);
                  Reset reset(q);
                  BindRange(q, range);
                  while (q.executeStep()) {
                    ServiceCallRow r{q.getColumn(0).getString(), q.getColumn(1).getString(),
                                     "Parent", static_cast<uint64_t>(q.getColumn(2).getInt64()),
                                     static_cast<uint64_t>(q.getColumn(3).getInt64())};
                    rows[{r.from_service, r.to_service, r.link_type}] = r;
                  }
                }
                {
                  SQLite::Statement& q = c.Stmt(span_sql);
                  Reset reset(q);
                  BindRange(q, range);
                  while (q.executeStep()) {
                    ServiceCallRow r{q.getColumn(0).getString(), q.getColumn(1).getString(),
                                     q.getColumn(2).getString(),
                                     static_cast<uint64_t>(q.getColumn(3).getInt64()),
                                     static_cast<uint64_t>(q.getColumn(4).getInt64())};
                    rows[{r.from_service, r.to_service, r.link_type}] = r;
                  }
                }
                std::vector<ServiceCallRow> out;
                for (auto& [k, r] : rows) out.push_back(std::move(r));
                return out;
              });
}

absl::StatusOr<std::vector<VariableStats>> SqliteStorage::TopVariables(const TimeRange& range,
                                                                       uint32_t limit) {
  const std::string top_sql = absl::StrCat(
      "SELECT v.variable, SUM(v.access_count), COUNT(DISTINCT v.trace_id) FROM trace_variables v",
      RangeJoin("v", range), " GROUP BY v.variable ORDER BY 2 DESC, 1 LIMIT ?3");
  const std::string svc_sql =
      absl::StrCat("SELECT DISTINCT v.variable, v.service_name FROM trace_variables v",
                   RangeJoin("v", range), " ORDER BY 1, 2");
  return Read("top variables", [&](Connection& c) -> absl::StatusOr<std::vector<VariableStats>> {
    ReadTxn txn(c);
    std::vector<VariableStats> out;
    absl::flat_hash_map<std::string, size_t> index;
    {
      SQLite::Statement& q = c.Stmt(top_sql);
      Reset reset(q);
      BindRange(q, range);
      q.bind(3, static_cast<int64_t>(limit));
      while (q.executeStep()) {
        index[q.getColumn(0).getString()] = out.size();
        out.push_back({q.getColumn(0).getString(),
                       static_cast<uint64_t>(q.getColumn(1).getInt64()),
                       static_cast<uint64_t>(q.getColumn(2).getInt64()),
                       {}});
      }
    }
    if (out.empty()) return out;
    SQLite::Statement& q = c.Stmt(svc_sql);
    Reset reset(q);
    BindRange(q, range);
    while (q.executeStep()) {
      auto it = index.find(q.getColumn(0).getString());
      if (it != index.end()) out[it->second].services.push_back(q.getColumn(1).getString());
    }
    return out;
  });
}

namespace {

absl::StatusOr<std::vector<DurationStats>> Durations(Connection& c, const std::string& sql,
                                                     const TimeRange& range) {
  SQLite::Statement& q = c.Stmt(sql);
  Reset reset(q);
  BindRange(q, range);
  std::vector<DurationStats> out;
  while (q.executeStep()) {
    const auto n = static_cast<uint64_t>(q.getColumn(1).getInt64());
    out.push_back(
        {q.getColumn(0).getString(), n, q.getColumn(2).getDouble() / static_cast<double>(n)});
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<DurationStats>> SqliteStorage::DurationsByKind(const TimeRange& range) {
  const std::string sql = absl::StrCat(
      "SELECT k.kind, SUM(k.duration_count), SUM(k.duration_sum_ns) FROM trace_kinds k",
      RangeJoin("k", range), " GROUP BY k.kind HAVING SUM(k.duration_count) > 0 ORDER BY k.kind");
  return Read("durations by kind", [&](Connection& c) { return Durations(c, sql, range); });
}

absl::StatusOr<std::vector<DurationStats>> SqliteStorage::DurationsByService(
    const TimeRange& range) {
  const std::string sql = absl::StrCat(
      "SELECT s.service_name, SUM(s.duration_count), SUM(s.duration_sum_ns) FROM trace_services s",
      RangeJoin("s", range),
      " GROUP BY s.service_name HAVING SUM(s.duration_count) > 0 ORDER BY s.service_name");
  return Read("durations by service", [&](Connection& c) { return Durations(c, sql, range); });
}

absl::StatusOr<uint64_t> SqliteStorage::CountEvents() {
  return Read("count events", [&](Connection& c) -> absl::StatusOr<uint64_t> {
    SQLite::Statement& q = c.Stmt("SELECT COALESCE(SUM(event_count), 0) FROM trace_summaries");
    Reset reset(q);
    q.executeStep();
    return static_cast<uint64_t>(q.getColumn(0).getInt64());
  });
}

absl::StatusOr<uint64_t> SqliteStorage::CountTraces() {
  return Read("count traces", [&](Connection& c) -> absl::StatusOr<uint64_t> {
    SQLite::Statement& q = c.Stmt("SELECT COUNT(*) FROM trace_summaries");
    Reset reset(q);
    q.executeStep();
    return static_cast<uint64_t>(q.getColumn(0).getInt64());
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<Storage>> OpenSqliteStorage(const StorageOptions& options) {
  if (options.sqlite_path.empty() || options.sqlite_path == ":memory:" ||
      options.sqlite_path.rfind("file::memory:", 0) == 0) {
    return absl::InvalidArgumentError(
        "sqlite_path must name a file (use the memory backend for an in-memory store)");
  }
  const int busy_ms =
      static_cast<int>(std::clamp<uint32_t>(options.connection_timeout_seconds, 1, 3600) * 1000);
  const bool create = options.create_if_missing && !options.read_only;
  return Guarded("open", [&]() -> absl::StatusOr<std::unique_ptr<Storage>> {
    const std::string file = std::filesystem::absolute(options.sqlite_path).string();
    struct stat st;
    if (!create && ::stat(file.c_str(), &st) != 0 && errno == ENOENT) {
      return absl::NotFoundError(
          options.read_only
              ? absl::StrCat("sqlite: database file ", file,
                             " does not exist, and a read-only opener (the query service) never "
                             "creates it: start the ingest service on it first (with "
                             "storage.create_if_missing = true for a new database) or run "
                             "`raceway migrate up`, or fix storage.sqlite.database_path")
              : absl::StrCat("sqlite: database file ", file,
                             " does not exist; set storage.create_if_missing = true to create "
                             "it, or fix storage.sqlite.database_path"));
    }
    const Role role =
        options.read_only ? Role::kReadOnly : (create ? Role::kCreatingWriter : Role::kWriter);
    auto first = std::make_unique<Connection>(options.sqlite_path, busy_ms, role);
    SqliteMigrationTarget target(*first);
    if (absl::Status m = Migrate(target, "sqlite", options.auto_migrate && !options.read_only);
        !m.ok()) {
      return absl::Status(m.code(), absl::StrCat("sqlite: database ", file, ": ", m.message()));
    }
    // The file exists now: this is the identity every later call checks.
    auto id = FileWatch::Identify(file);
    if (!id.ok()) return id.status();
    OpenedFile opened{file, *id, {}};
    // A reader never removes the writer's WAL, so it does not track it.
    for (const char* suffix : {"-wal", "-shm"}) {
      auto sidecar = FileWatch::Identify(file + suffix);
      if (!options.read_only && sidecar.ok()) opened.sidecars.emplace_back(file + suffix, *sidecar);
    }
    std::unique_ptr<Connection> writer, reader;
    (options.read_only ? reader : writer) = std::move(first);
    return std::unique_ptr<Storage>(
        new SqliteStorage(options, std::move(opened), std::move(writer), std::move(reader)));
  });
}

absl::StatusOr<std::unique_ptr<MigrationTarget>> OpenSqliteMigrationTarget(const std::string& path,
                                                                           int busy_timeout_ms) {
  return Guarded("open", [&]() -> absl::StatusOr<std::unique_ptr<MigrationTarget>> {
    return std::unique_ptr<MigrationTarget>(new OwningMigrationTarget(
        std::make_unique<Connection>(path, busy_timeout_ms, Role::kCreatingWriter)));
  });
}

}  // namespace raceway::storage
