#include "libs/storage/mysql/mysql_storage.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <thread>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libs/model/operation_key.h"
#include "libs/model/uuid.h"
#include "libs/storage/common/derive.h"
#include "libs/storage/common/event_json.h"
#include "libs/storage/common/ids.h"
#include "libs/storage/common/page_token.h"
#include "libs/storage/common/sql_statements.h"
#include "libs/storage/migrations.h"
#include "libs/storage/mysql/my_conn.h"
#include "libs/storage/postgres/sql_event_row.h"

namespace raceway::storage {

absl::StatusOr<std::unique_ptr<Storage>> OpenMysqlStorage(const StorageOptions& options) {
  auto s = mysql::MysqlStorage::Open(options);
  if (!s.ok()) return s.status();
  return std::unique_ptr<Storage>(std::move(*s));
}

namespace mysql {

using raceway::v1::Event;

namespace {

constexpr size_t kChunkRows = 500;
constexpr size_t kChunkBytes = 4 << 20;
constexpr size_t kInListChunk = 500;
constexpr int kRetentionBatchTraces = 500;
constexpr int kMaxAbortRetries = 8;
constexpr int kDuplicateKey = 1062;

constexpr const char* kAllTables[] = {
    "events",          "causal_edges",   "trace_roots",     "waiting_children", "cross_trace_index",
    "trace_summaries", "trace_services", "trace_kinds",     "trace_variables",  "spans",
    "span_edges",      "service_calls",  "baseline_metrics"};

// The 16 raw bytes of a canonical UUID (ids are checked before use).
std::string IdBytes(std::string_view canonical) {
  auto b = model::ParseUuid(canonical);
  if (!b) return std::string(16, '\0');
  return std::string(reinterpret_cast<const char*>(b->data()), b->size());
}

std::string IdText(const sql::SQLString& bytes) {
  const std::string& s = bytes.asStdString();
  model::UuidBytes b{};
  std::copy_n(s.data(), std::min<size_t>(s.size(), 16), reinterpret_cast<char*>(b.data()));
  return model::FormatUuid(b);
}

std::string Str(const sql::ResultSet& rs, uint32_t col) { return rs.getString(col).asStdString(); }

// Binds one statement's values either to a prepared statement (cached
// full-size chunks) or as SQL literals into the statement text (every other
// chunk: one round trip instead of prepare + execute + close). Literals are
// hex (X'..', with the utf8mb4 introducer for text/JSON columns), so no
// escaping can go wrong whatever the bytes.
class Binder {
 public:
  explicit Binder(sql::PreparedStatement& s) : stmt_(&s) {}
  explicit Binder(std::string& sql) : sql_(&sql) {}

  void BeginRow() {
    if (sql_ == nullptr) return;
    if (rows_++ > 0) sql_->push_back(',');
    sql_->push_back('(');
    first_ = true;
  }
  void EndRow() {
    if (sql_ != nullptr) sql_->push_back(')');
  }
  // Binary column (VARBINARY, BLOB, BINARY).
  void Bytes(std::string_view v) {
    if (stmt_ != nullptr) return stmt_->setString(i_++, sql::SQLString(v.data(), v.size()));
    Sep();
    Hex(v);
  }
  // Text or JSON column (utf8mb4).
  void Text(std::string_view v) {
    if (stmt_ != nullptr) return stmt_->setString(i_++, sql::SQLString(v.data(), v.size()));
    Sep();
    sql_->append("_utf8mb4 ");
    Hex(v);
  }
  void Id(std::string_view canonical) { Bytes(IdBytes(canonical)); }
  void Int(int64_t v) {
    if (stmt_ != nullptr) return stmt_->setInt64(i_++, v);
    Sep();
    absl::StrAppend(sql_, v);
  }
  void Double(double v) {
    if (stmt_ != nullptr) return stmt_->setDouble(i_++, v);
    Sep();
    char tmp[32];
    auto r = std::to_chars(tmp, tmp + sizeof(tmp), v);
    sql_->append(tmp, r.ptr);
    if (std::string_view(tmp, r.ptr - tmp).find_first_of(".eEn") == std::string_view::npos) {
      sql_->append("e0");  // A DOUBLE literal, not an integer.
    }
  }
  void Null() {
    if (stmt_ != nullptr) return stmt_->setNull(i_++, sql::DataType::VARCHAR);
    Sep();
    sql_->append("NULL");
  }
  void OptionalText(std::string_view v) {
    if (v.empty())
      Null();
    else
      Text(v);
  }

 private:
  void Sep() {
    if (!first_) sql_->push_back(',');
    first_ = false;
  }
  void Hex(std::string_view v) {
    static constexpr char kHex[] = "0123456789abcdef";
    sql_->append("X'");
    const size_t at = sql_->size();
    sql_->resize(at + 2 * v.size());
    char* out = sql_->data() + at;
    for (unsigned char b : v) {
      *out++ = kHex[b >> 4];
      *out++ = kHex[b & 0xf];
    }
    sql_->push_back('\'');
  }

  sql::PreparedStatement* stmt_ = nullptr;
  std::string* sql_ = nullptr;
  unsigned i_ = 1;
  size_t rows_ = 0;
  bool first_ = true;
};

std::string Placeholders(size_t rows, int cols) {
  std::string one = "(";
  for (int c = 0; c < cols; ++c) one += c ? ",?" : "?";
  one += ")";
  std::string out;
  out.reserve(rows * (one.size() + 1));
  for (size_t r = 0; r < rows; ++r) {
    if (r) out += ',';
    out += one;
  }
  return out;
}

std::string InList(size_t n) {
  std::string out = "(";
  for (size_t i = 0; i < n; ++i) out += i ? ",?" : "?";
  return out + ")";
}

// Runs "head VALUES (?,...),(...) tail" over `count` rows in chunks of up to
// kChunkRows rows / kChunkBytes bytes. bind(binder, i) binds row i;
// bytes(i) estimates its size. Full-size chunks reuse a cached statement.
template <typename BindAt, typename BytesAt>
void InsertChunks(MyConnection& c, const std::string& head, int cols, const std::string& tail,
                  size_t count, BindAt bind, BytesAt bytes) {
  size_t i = 0;
  while (i < count) {
    size_t n = 0, total = 0;
    while (i + n < count && n < kChunkRows) {
      const size_t b = bytes(i + n);
      if (n > 0 && total + b > kChunkBytes) break;
      total += b;
      ++n;
    }
    if (n == kChunkRows) {
      sql::PreparedStatement& stmt =
          c.Cached(absl::StrCat(head, " VALUES ", Placeholders(n, cols), " ", tail));
      Binder binder(stmt);
      for (size_t k = 0; k < n; ++k) bind(binder, i + k);
      stmt.executeUpdate();
    } else {
      std::string sql = absl::StrCat(head, " VALUES ");
      sql.reserve(sql.size() + total * 2 + tail.size() + 16);
      Binder binder(sql);
      for (size_t k = 0; k < n; ++k) {
        binder.BeginRow();
        bind(binder, i + k);
        binder.EndRow();
      }
      absl::StrAppend(&sql, " ", tail);
      c.Execute(sql);
    }
    i += n;
  }
}

// Runs "head IN (?,...) tail" for the ids in chunks; calls row(rs) for each
// result row.
template <typename Row>
void SelectIn(MyConnection& c, const std::string& head, const std::string& tail,
              const std::vector<std::string>& ids, Row row) {
  for (size_t i = 0; i < ids.size(); i += kInListChunk) {
    const size_t n = std::min(kInListChunk, ids.size() - i);
    std::unique_ptr<sql::ResultSet> rs;
    if (n == kInListChunk) {
      sql::PreparedStatement& stmt = c.Cached(absl::StrCat(head, " IN ", InList(n), " ", tail));
      Binder binder(stmt);
      for (size_t k = 0; k < n; ++k) binder.Id(ids[i + k]);
      rs.reset(stmt.executeQuery());
    } else {
      std::string sql = absl::StrCat(head, " IN (");
      Binder binder(sql);
      for (size_t k = 0; k < n; ++k) binder.Id(ids[i + k]);
      absl::StrAppend(&sql, ") ", tail);
      rs = c.Query(sql);
    }
    while (rs->next()) row(*rs);
  }
}

void UpdateIn(MyConnection& c, const std::string& head, const std::vector<std::string>& ids) {
  for (size_t i = 0; i < ids.size(); i += kInListChunk) {
    const size_t n = std::min(kInListChunk, ids.size() - i);
    std::string sql = absl::StrCat(head, " IN (");
    Binder binder(sql);
    for (size_t k = 0; k < n; ++k) binder.Id(ids[i + k]);
    sql.push_back(')');
    c.Execute(sql);
  }
}

absl::Status ParseEvent(const sql::ResultSet& rs, uint32_t col, Event* out) {
  const sql::SQLString bytes = rs.getString(col);
  const std::string& s = bytes.asStdString();
  if (!out->ParseFromArray(s.data(), static_cast<int>(s.size()))) {
    return absl::InternalError("mysql: stored event payload does not parse");
  }
  return absl::OkStatus();
}

// Parameters of a prepared statement built at run time.
struct Param {
  enum Kind { kText, kInt, kId } kind;
  std::string text;
  int64_t value = 0;
};

void BindParams(sql::PreparedStatement& stmt, const std::vector<Param>& params) {
  Binder b(stmt);
  for (const Param& p : params) {
    switch (p.kind) {
      case Param::kText:
        b.Bytes(p.text);
        break;
      case Param::kInt:
        b.Int(p.value);
        break;
      case Param::kId:
        b.Id(p.text);
        break;
    }
  }
}

std::unique_ptr<sql::ResultSet> QueryParams(MyConnection& c, const std::string& sql,
                                            const std::vector<Param>& params, bool cache) {
  sql::PreparedStatement* stmt;
  std::unique_ptr<sql::PreparedStatement> own;
  if (cache) {
    stmt = &c.Cached(sql);
  } else {
    own = c.Prepare(sql);
    stmt = own.get();
  }
  BindParams(*stmt, params);
  std::unique_ptr<sql::ResultSet> rs(stmt->executeQuery());
  // The result set is fully buffered (mysql_stmt_store_result), so it may
  // outlive a one-off statement.
  return rs;
}

std::string TracesInRange(const TimeRange& range, std::vector<Param>& params) {
  std::string sql = "SELECT trace_id FROM trace_summaries WHERE 1=1";
  if (range.start_ns) {
    params.push_back({Param::kInt, "", *range.start_ns});
    sql += " AND last_ns >= ?";
  }
  if (range.end_ns) {
    params.push_back({Param::kInt, "", *range.end_ns});
    sql += " AND first_ns < ?";
  }
  return sql;
}

class PrefetchedResolver final : public common::ParentResolver {
 public:
  absl::flat_hash_map<std::string, std::string> stored_service;
  absl::flat_hash_map<std::string, std::vector<common::WaitingChild>> waiting;
  std::vector<common::WaitingChild> added;

  std::optional<std::string> StoredService(std::string_view event_id) override {
    auto it = stored_service.find(std::string(event_id));
    if (it == stored_service.end()) return std::nullopt;
    return it->second;
  }
  bool AnyWaitingChildren() override { return !waiting.empty(); }
  std::vector<common::WaitingChild> TakeWaitingChildren(std::string_view parent_id) override {
    auto it = waiting.find(std::string(parent_id));
    if (it == waiting.end()) return {};
    std::vector<common::WaitingChild> out = std::move(it->second);
    waiting.erase(it);
    return out;
  }
  void AddWaitingChild(const common::WaitingChild& child) override { added.push_back(child); }
};

template <typename Map>
std::vector<typename Map::const_iterator> Entries(const Map& m) {
  std::vector<typename Map::const_iterator> out;
  out.reserve(m.size());
  for (auto it = m.begin(); it != m.end(); ++it) out.push_back(it);
  return out;
}

// A failure inside WriteBatch that must restart the whole transaction.
struct RetryBatch {};
// The connection was lost during COMMIT: the outcome is unknown.
struct InDoubt {
  std::string message;
};

}  // namespace

// ---------------------------------------------------------------- migrations

namespace {

class MyMigrationTarget final : public MigrationTarget {
 public:
  MyMigrationTarget(MyConnection& c, uint32_t lock_timeout_seconds)
      : c_(c), lock_timeout_seconds_(lock_timeout_seconds) {}

  absl::Status Lock() override {
    try {
      std::vector<Param> p{{Param::kInt, "", static_cast<int64_t>(lock_timeout_seconds_)}};
      auto rs = QueryParams(c_, "SELECT GET_LOCK('raceway_migrations', ?)", p, false);
      if (!rs->next() || rs->isNull(1) || rs->getInt64(1) != 1) {
        return absl::UnavailableError(
            absl::StrCat("mysql: timed out after ", lock_timeout_seconds_,
                         " s waiting for the migration lock (another replica is migrating)"));
      }
      locked_ = true;
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return MapMysqlException(e, "mysql migration lock").status;
    }
  }
  absl::Status Unlock() override {
    if (!locked_) return absl::OkStatus();
    locked_ = false;
    try {
      c_.Execute("DO RELEASE_LOCK('raceway_migrations')");
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return MapMysqlException(e, "mysql migration unlock").status;
    }
  }
  absl::Status EnsureMigrationTable() override {
    try {
      c_.Execute(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          " version INT NOT NULL PRIMARY KEY,"
          " name VARCHAR(255) NOT NULL,"
          " checksum CHAR(64) NOT NULL,"
          " applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
          ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin");
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return MapMysqlException(e, "mysql schema_migrations").status;
    }
  }
  absl::StatusOr<std::vector<AppliedMigration>> AppliedMigrations() override {
    try {
      std::vector<AppliedMigration> out;
      auto exists = c_.Query(
          "SELECT COUNT(*) FROM information_schema.tables"
          " WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'");
      if (!exists->next() || exists->getInt64(1) == 0) return out;
      auto rs = c_.Query("SELECT version, name, checksum FROM schema_migrations ORDER BY version");
      while (rs->next()) {
        out.push_back({static_cast<int>(rs->getInt64(1)), Str(*rs, 2), Str(*rs, 3)});
      }
      return out;
    } catch (const std::exception& e) {
      return MapMysqlException(e, "mysql schema_migrations").status;
    }
  }
  absl::Status Apply(const Migration& m) override {
    try {
      for (const std::string& stmt : common::SplitStatements(m.sql)) c_.Execute(stmt);
      std::unique_ptr<sql::PreparedStatement> ins =
          c_.Prepare("INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)");
      Binder b(*ins);
      b.Int(m.version);
      b.Bytes(m.name);
      b.Bytes(m.checksum);
      ins->executeUpdate();
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return MapMysqlException(e, "mysql").status;
    }
  }

 private:
  MyConnection& c_;
  const uint32_t lock_timeout_seconds_;
  bool locked_ = false;
};

}  // namespace

// ---------------------------------------------------------------- lifecycle

MysqlStorage::MysqlStorage(const StorageOptions& options) : options_(options) {}
MysqlStorage::~MysqlStorage() = default;

absl::StatusOr<std::unique_ptr<MysqlStorage>> MysqlStorage::Open(const StorageOptions& options) {
  if (options.backend != "mysql") {
    return absl::InvalidArgumentError(
        absl::StrCat("mysql storage cannot open backend \"", options.backend, "\""));
  }
  auto url = ParseMysqlUrl(options.connection_string);
  if (!url.ok()) return url.status();
  std::unique_ptr<MysqlStorage> s(new MysqlStorage(options));
  const uint32_t timeout =
      options.connection_timeout_seconds > 0 ? options.connection_timeout_seconds : 30;
  MyConnOptions co;
  co.url = *url;
  co.connect_timeout_seconds = timeout;

  // Migrate (or verify) first, on a dedicated connection.
  {
    auto conn = MyConnection::Open(co);
    if (!conn.ok()) return conn.status();
    MyMigrationTarget target(**conn, std::max<uint32_t>(timeout, 60));
    if (absl::Status st = Migrate(target, "mysql", options.auto_migrate); !st.ok()) return st;
  }

  dbutil::PoolOptions po;
  po.name = "mysql pool";
  po.max_connections = std::max<uint32_t>(options.max_connections, 1);
  po.min_connections = options.min_connections;
  po.acquire_timeout = absl::Seconds(timeout);
  auto pool = MyPool::Create(
      po, [co]() { return MyConnection::Open(co); },
      [](MyConnection& c, absl::Duration idle) { return c.Alive(idle); });
  if (!pool.ok()) return pool.status();
  s->pool_ = std::move(*pool);
  return s;
}

dbutil::PoolStats MysqlStorage::PoolStats() const { return pool_->Stats(); }

template <typename T, typename Fn>
absl::StatusOr<T> MysqlStorage::Run(const char* what, Fn&& fn) {
  EnsureThreadInit();
  int lost = 0, aborted = 0;
  const int max_lost = static_cast<int>(pool_->options().max_connections) + 1;
  while (true) {
    auto lease = pool_->Acquire();
    if (!lease.ok()) return lease.status();
    MyConnection& c = **lease;
    try {
      absl::StatusOr<T> out = fn(c);
      if (c.in_transaction()) c.RollbackQuietly();  // An early error return.
      return out;
    } catch (const InDoubt& e) {
      lease->MarkBroken();
      return absl::UnavailableError(
          absl::StrCat("mysql ", what, ": ", e.message, " (outcome unknown; retrying is safe)"));
    } catch (const RetryBatch&) {
      c.RollbackQuietly();
      if (++aborted <= kMaxAbortRetries) continue;
      return absl::AbortedError(absl::StrCat("mysql ", what, ": too many conflicting retries"));
    } catch (const std::exception& e) {
      MyMappedError m = MapMysqlException(e, absl::StrCat("mysql ", what));
      switch (m.kind) {
        case MyFailureKind::kConnectionLost:
          lease->MarkBroken();
          if (++lost <= max_lost) continue;
          return m.status;
        case MyFailureKind::kRetryable:
          c.RollbackQuietly();
          if (++aborted <= kMaxAbortRetries) {
            lease = absl::StatusOr<MyPool::Lease>(absl::UnknownError(""));
            std::this_thread::sleep_for(std::chrono::milliseconds(5 << std::min(aborted, 6)));
            continue;
          }
          return m.status;
        case MyFailureKind::kInDoubt:
        case MyFailureKind::kUnknownState:
          lease->MarkBroken();
          return m.status;
        case MyFailureKind::kOther:
          c.RollbackQuietly();
          return m.status;
      }
      return m.status;
    }
  }
}

// ---------------------------------------------------------------- writes

absl::StatusOr<WriteResult> MysqlStorage::WriteBatch(std::span<const Event* const> events) {
  if (absl::Status st = common::CheckBatchIds(events); !st.ok()) return st;
  if (events.empty()) return WriteResult{};
  std::vector<dbutil::SqlEventRow> rows;
  rows.reserve(events.size());
  for (const Event* e : events) rows.push_back(dbutil::BuildSqlEventRow(*e));
  std::vector<std::string> all_ids;
  all_ids.reserve(events.size());
  for (const Event* e : events) all_ids.push_back(e->id());
  bool check_duplicates = false;

  return Run<WriteResult>("write", [&](MyConnection& c) -> absl::StatusOr<WriteResult> {
    c.Begin();
    // Optimistic first attempt: no duplicate check (re-sent batches are
    // rare). A stored id (or one another writer commits meanwhile) makes the
    // events INSERT fail with a duplicate key; the batch is then retried
    // with the check.
    absl::flat_hash_set<std::string> stored;
    if (check_duplicates) {
      SelectIn(c, "SELECT id FROM events WHERE id", "", all_ids,
               [&](sql::ResultSet& rs) { stored.insert(IdText(rs.getString(1))); });
    }
    WriteResult result;
    std::vector<const dbutil::SqlEventRow*> fresh_rows;
    std::vector<const common::PreparedEvent*> fresh;
    for (uint32_t i = 0; i < rows.size(); ++i) {
      if (stored.contains(events[i]->id())) {
        result.duplicate_indices.push_back(i);
      } else {
        fresh_rows.push_back(&rows[i]);
        fresh.push_back(&rows[i].prepared);
      }
    }
    result.duplicate = static_cast<uint32_t>(result.duplicate_indices.size());
    result.accepted = static_cast<uint32_t>(fresh.size());
    if (fresh.empty()) {
      c.Commit();
      return result;
    }

    try {
      InsertChunks(
          c,
          "INSERT INTO events (id, trace_id, parent_id, timestamp_ns, thread_id, service_name,"
          " kind, duration_ns, kind_json, metadata_json, causality_json, lock_set_json, payload)",
          13, "", fresh_rows.size(),
          [&](Binder& b, size_t i) {
            const dbutil::SqlEventRow& r = *fresh_rows[i];
            const Event& e = *r.prepared.event;
            b.Id(e.id());
            b.Id(e.trace_id());
            if (e.parent_id().empty())
              b.Null();
            else
              b.Id(e.parent_id());
            b.Int(r.prepared.timestamp_ns);
            b.Bytes(e.metadata().thread_id());
            b.Bytes(e.metadata().service_name());
            b.Bytes(r.prepared.kind);
            if (r.prepared.duration_ns)
              b.Int(r.prepared.duration_column());
            else
              b.Null();
            b.Text(r.kind_json);
            b.Text(r.metadata_json);
            b.OptionalText(r.causality_json);
            b.OptionalText(r.lock_set_json);
            b.Bytes(r.payload);
          },
          [&](size_t i) {
            const dbutil::SqlEventRow& r = *fresh_rows[i];
            return r.payload.size() + r.kind_json.size() + r.metadata_json.size() +
                   r.causality_json.size() + r.lock_set_json.size() + 128;
          });
    } catch (const sql::SQLException& e) {
      if (e.getErrorCode() == kDuplicateKey) {
        check_duplicates = true;
        throw RetryBatch{};
      }
      throw;
    }

    std::vector<const Event*> with_parent, roots, accesses;
    for (const common::PreparedEvent* p : fresh) {
      (p->event->parent_id().empty() ? roots : with_parent).push_back(p->event);
      if (p->event->has_state_change()) accesses.push_back(p->event);
    }
    InsertChunks(
        c, "INSERT IGNORE INTO causal_edges (trace_id, to_event_id, from_event_id)", 3, "",
        with_parent.size(),
        [&](Binder& b, size_t i) {
          b.Id(with_parent[i]->trace_id());
          b.Id(with_parent[i]->id());
          b.Id(with_parent[i]->parent_id());
        },
        [](size_t) { return size_t{48}; });
    InsertChunks(
        c, "INSERT IGNORE INTO trace_roots (trace_id, root_event_id)", 2, "", roots.size(),
        [&](Binder& b, size_t i) {
          b.Id(roots[i]->trace_id());
          b.Id(roots[i]->id());
        },
        [](size_t) { return size_t{32}; });
    InsertChunks(
        c,
        "INSERT IGNORE INTO cross_trace_index (variable, timestamp_ns, event_id, trace_id,"
        " thread_id, service_name, access_type, location, lock_set_json, distributed_span_id,"
        " upstream_span_id)",
        11, "", accesses.size(),
        [&](Binder& b, size_t i) {
          const Event& e = *accesses[i];
          const auto& sc = e.state_change();
          b.Bytes(sc.variable());
          b.Int(model::TimestampNanos(e));
          b.Id(e.id());
          b.Id(e.trace_id());
          b.Bytes(e.metadata().thread_id());
          b.Bytes(e.metadata().service_name());
          b.Bytes(model::AccessTypeName(sc.access_type()));
          b.Bytes(sc.location());
          b.OptionalText(common::StringArrayJson(e.lock_set()));
          b.Bytes(e.metadata().distributed_span_id());
          b.Bytes(e.metadata().upstream_span_id());
        },
        [&](size_t i) {
          const Event& e = *accesses[i];
          return e.state_change().variable().size() + e.state_change().location().size() + 256;
        });

    const common::BatchAggregates agg = common::Aggregate(fresh);
    {
      auto v = Entries(agg.traces);
      InsertChunks(
          c, "INSERT INTO trace_summaries (trace_id, event_count, first_ns, last_ns)", 4,
          "ON DUPLICATE KEY UPDATE event_count = event_count + VALUES(event_count),"
          " first_ns = LEAST(first_ns, VALUES(first_ns)),"
          " last_ns = GREATEST(last_ns, VALUES(last_ns))",
          v.size(),
          [&](Binder& b, size_t i) {
            b.Id(v[i]->first);
            b.Int(static_cast<int64_t>(v[i]->second.event_count));
            b.Int(v[i]->second.first_ns);
            b.Int(v[i]->second.last_ns);
          },
          [](size_t) { return size_t{48}; });
    }
    {
      auto v = Entries(agg.trace_services);
      InsertChunks(
          c,
          "INSERT INTO trace_services (trace_id, service_name, event_count, first_ns, last_ns,"
          " duration_count, duration_sum_ns)",
          7,
          "ON DUPLICATE KEY UPDATE event_count = event_count + VALUES(event_count),"
          " first_ns = LEAST(first_ns, VALUES(first_ns)),"
          " last_ns = GREATEST(last_ns, VALUES(last_ns)),"
          " duration_count = duration_count + VALUES(duration_count),"
          " duration_sum_ns = duration_sum_ns + VALUES(duration_sum_ns)",
          v.size(),
          [&](Binder& b, size_t i) {
            const auto& [k, d] = *v[i];
            b.Id(std::get<0>(k));
            b.Bytes(std::get<1>(k));
            b.Int(static_cast<int64_t>(d.event_count));
            b.Int(d.first_ns);
            b.Int(d.last_ns);
            b.Int(static_cast<int64_t>(d.duration_count));
            b.Double(d.duration_sum_ns);
          },
          [&](size_t i) { return std::get<1>(v[i]->first).size() + 64; });
    }
    {
      auto v = Entries(agg.trace_kinds);
      InsertChunks(
          c, "INSERT INTO trace_kinds (trace_id, kind, duration_count, duration_sum_ns)", 4,
          "ON DUPLICATE KEY UPDATE duration_count = duration_count + VALUES(duration_count),"
          " duration_sum_ns = duration_sum_ns + VALUES(duration_sum_ns)",
          v.size(),
          [&](Binder& b, size_t i) {
            const auto& [k, d] = *v[i];
            b.Id(std::get<0>(k));
            b.Bytes(std::get<1>(k));
            b.Int(static_cast<int64_t>(d.duration_count));
            b.Double(d.duration_sum_ns);
          },
          [](size_t) { return size_t{64}; });
    }
    {
      auto v = Entries(agg.trace_variables);
      InsertChunks(
          c, "INSERT INTO trace_variables (trace_id, variable, service_name, access_count)", 4,
          "ON DUPLICATE KEY UPDATE access_count = access_count + VALUES(access_count)", v.size(),
          [&](Binder& b, size_t i) {
            const auto& [k, n] = *v[i];
            b.Id(std::get<0>(k));
            b.Bytes(std::get<1>(k));
            b.Bytes(std::get<2>(k));
            b.Int(static_cast<int64_t>(n));
          },
          [&](size_t i) {
            return std::get<1>(v[i]->first).size() + std::get<2>(v[i]->first).size() + 32;
          });
    }
    {
      auto v = Entries(agg.spans);
      InsertChunks(
          c, "INSERT INTO spans (trace_id, span_id, service_name, event_count, first_ns, last_ns)",
          6,
          "ON DUPLICATE KEY UPDATE event_count = event_count + VALUES(event_count),"
          " first_ns = LEAST(first_ns, VALUES(first_ns)),"
          " last_ns = GREATEST(last_ns, VALUES(last_ns))",
          v.size(),
          [&](Binder& b, size_t i) {
            const auto& [k, d] = *v[i];
            b.Id(std::get<0>(k));
            b.Bytes(std::get<1>(k));
            b.Bytes(std::get<2>(k));
            b.Int(static_cast<int64_t>(d.event_count));
            b.Int(d.first_ns);
            b.Int(d.last_ns);
          },
          [&](size_t i) {
            return std::get<1>(v[i]->first).size() + std::get<2>(v[i]->first).size() + 48;
          });
    }
    {
      auto v = Entries(agg.span_edges);
      // link_type first: its condition reads the old (priority, type); the
      // second assignment then sees the new type, which keeps the outcome
      // (see the header).
      InsertChunks(
          c,
          "INSERT INTO span_edges (trace_id, from_span_id, to_span_id, link_type, link_priority)",
          5,
          "ON DUPLICATE KEY UPDATE"
          " link_type = IF((VALUES(link_priority), VALUES(link_type)) < (link_priority, link_type),"
          "   VALUES(link_type), link_type),"
          " link_priority = IF((VALUES(link_priority), VALUES(link_type))"
          "   < (link_priority, link_type), VALUES(link_priority), link_priority)",
          v.size(),
          [&](Binder& b, size_t i) {
            const auto& [k, link] = *v[i];
            b.Id(std::get<0>(k));
            b.Bytes(std::get<1>(k));
            b.Bytes(std::get<2>(k));
            b.Bytes(link.type);
            b.Int(link.priority);
          },
          [&](size_t i) {
            return std::get<1>(v[i]->first).size() + std::get<2>(v[i]->first).size() + 48;
          });
    }
    {
      auto v = Entries(agg.baselines);
      // MySQL evaluates ON DUPLICATE KEY UPDATE assignments left to right,
      // each seeing the columns already assigned: m2 first (old mean and
      // count), then mean (old count), then count.
      InsertChunks(
          c, "INSERT INTO baseline_metrics (operation, count, mean, m2, min_ns, max_ns)", 6,
          "ON DUPLICATE KEY UPDATE"
          " m2 = m2 + VALUES(m2) + (VALUES(mean) - mean) * (VALUES(mean) - mean)"
          "   * (count * 1e0) * (VALUES(count) * 1e0) / ((count + VALUES(count)) * 1e0),"
          " mean = mean + (VALUES(mean) - mean) * (VALUES(count) * 1e0)"
          "   / ((count + VALUES(count)) * 1e0),"
          " count = count + VALUES(count),"
          " min_ns = LEAST(min_ns, VALUES(min_ns)),"
          " max_ns = GREATEST(max_ns, VALUES(max_ns))",
          v.size(),
          [&](Binder& b, size_t i) {
            const auto& [op, w] = *v[i];
            b.Bytes(op);
            b.Int(static_cast<int64_t>(w.count));
            b.Double(w.mean);
            b.Double(w.m2);
            b.Double(w.min);
            b.Double(w.max);
          },
          [&](size_t i) { return v[i]->first.size() + 64; });
    }

    // Serialized tail: parent-edge service calls.
    c.Query("SELECT name FROM raceway_locks WHERE name = 'parents' FOR UPDATE");
    PrefetchedResolver resolver;
    bool any_waiting = false;
    {
      auto rs = c.Query("SELECT 1 FROM waiting_children LIMIT 1");
      any_waiting = rs->next();
    }
    if (any_waiting) {
      std::vector<std::string> fresh_ids;
      fresh_ids.reserve(fresh.size());
      for (const common::PreparedEvent* p : fresh) fresh_ids.push_back(p->event->id());
      SelectIn(c,
               "SELECT parent_id, child_id, trace_id, service_name FROM waiting_children"
               " WHERE parent_id",
               "", fresh_ids, [&](sql::ResultSet& rs) {
                 common::WaitingChild w{IdText(rs.getString(1)), IdText(rs.getString(2)),
                                        IdText(rs.getString(3)), Str(rs, 4)};
                 resolver.waiting[w.parent_id].push_back(std::move(w));
               });
      if (!resolver.waiting.empty()) {
        std::vector<std::string> parents;
        for (const auto& [p, list] : resolver.waiting) parents.push_back(p);
        std::sort(parents.begin(), parents.end());
        UpdateIn(c, "DELETE FROM waiting_children WHERE parent_id", parents);
      }
    }
    {
      absl::flat_hash_set<std::string_view> batch_ids;
      for (const common::PreparedEvent* p : fresh) batch_ids.insert(p->event->id());
      std::vector<std::string> parents;
      absl::flat_hash_set<std::string_view> seen;
      for (const common::PreparedEvent* p : fresh) {
        const std::string& parent = p->event->parent_id();
        if (!parent.empty() && !batch_ids.contains(parent) && seen.insert(parent).second) {
          parents.push_back(parent);
        }
      }
      SelectIn(c, "SELECT id, service_name FROM events WHERE id", "", parents,
               [&](sql::ResultSet& rs) {
                 resolver.stored_service.emplace(IdText(rs.getString(1)), Str(rs, 2));
               });
    }
    const common::ServiceCallDeltas calls = common::ResolveParentCalls(fresh, resolver);
    {
      auto v = Entries(calls);
      InsertChunks(
          c, "INSERT INTO service_calls (trace_id, from_service, to_service, call_count)", 4,
          "ON DUPLICATE KEY UPDATE call_count = call_count + VALUES(call_count)", v.size(),
          [&](Binder& b, size_t i) {
            const auto& [k, n] = *v[i];
            b.Id(std::get<0>(k));
            b.Bytes(std::get<1>(k));
            b.Bytes(std::get<2>(k));
            b.Int(static_cast<int64_t>(n));
          },
          [&](size_t i) {
            return std::get<1>(v[i]->first).size() + std::get<2>(v[i]->first).size() + 32;
          });
    }
    InsertChunks(
        c, "INSERT IGNORE INTO waiting_children (parent_id, child_id, trace_id, service_name)", 4,
        "", resolver.added.size(),
        [&](Binder& b, size_t i) {
          const common::WaitingChild& w = resolver.added[i];
          b.Id(w.parent_id);
          b.Id(w.child_id);
          b.Id(w.trace_id);
          b.Bytes(w.service_name);
        },
        [&](size_t i) { return resolver.added[i].service_name.size() + 64; });
    try {
      c.Commit();
    } catch (const sql::SQLException& e) {
      MyMappedError m = MapMysqlException(e, "mysql commit");
      if (m.kind == MyFailureKind::kConnectionLost) throw InDoubt{std::string(m.status.message())};
      throw;
    }
    return result;
  });
}

absl::StatusOr<uint64_t> MysqlStorage::DeleteTracesBefore(int64_t cutoff_ns) {
  uint64_t total = 0;
  while (true) {
    auto deleted = Run<uint64_t>("retention", [&](MyConnection& c) -> uint64_t {
      c.Begin();
      std::vector<std::string> doomed;
      {
        std::vector<Param> p{{Param::kInt, "", cutoff_ns},
                             {Param::kInt, "", kRetentionBatchTraces}};
        auto rs = QueryParams(c,
                              "SELECT trace_id FROM trace_summaries WHERE last_ns < ?"
                              " ORDER BY last_ns, trace_id LIMIT ? FOR UPDATE SKIP LOCKED",
                              p, true);
        while (rs->next()) doomed.push_back(IdText(rs->getString(1)));
      }
      if (doomed.empty()) {
        c.Commit();
        return 0;
      }
      for (const char* table :
           {"trace_summaries", "events", "causal_edges", "trace_roots", "cross_trace_index",
            "trace_services", "trace_kinds", "trace_variables", "spans", "span_edges"}) {
        UpdateIn(c, absl::StrCat("DELETE FROM ", table, " WHERE trace_id"), doomed);
      }
      c.Query("SELECT name FROM raceway_locks WHERE name = 'parents' FOR UPDATE");
      UpdateIn(c, "DELETE FROM service_calls WHERE trace_id", doomed);
      UpdateIn(c, "DELETE FROM waiting_children WHERE trace_id", doomed);
      c.Commit();
      return doomed.size();
    });
    if (!deleted.ok()) return deleted.status();
    total += *deleted;
    if (*deleted < static_cast<uint64_t>(kRetentionBatchTraces)) break;
  }
  return total;
}

absl::Status MysqlStorage::Clear() {
  return Run<bool>("clear",
                   [&](MyConnection& c) {
                     for (const char* table : kAllTables) {
                       c.Execute(absl::StrCat("TRUNCATE TABLE ", table));
                     }
                     return true;
                   })
      .status();
}

// ---------------------------------------------------------------- reads

absl::StatusOr<Event> MysqlStorage::GetEvent(const std::string& id) {
  auto canonical = common::CanonicalId("id", id);
  if (!canonical.ok()) return canonical.status();
  return Run<Event>("get event", [&](MyConnection& c) -> absl::StatusOr<Event> {
    auto rs = QueryParams(c, "SELECT payload FROM events WHERE id = ?",
                          {{Param::kId, *canonical, 0}}, true);
    if (!rs->next()) return absl::NotFoundError(absl::StrCat("event ", *canonical, " not found"));
    Event e;
    if (absl::Status st = ParseEvent(*rs, 1, &e); !st.ok()) return st;
    return e;
  });
}

absl::StatusOr<TraceSummary> MysqlStorage::GetTraceSummary(const std::string& trace_id) {
  auto canonical = common::CanonicalId("trace_id", trace_id);
  if (!canonical.ok()) return canonical.status();
  return Run<TraceSummary>(
      "get trace summary", [&](MyConnection& c) -> absl::StatusOr<TraceSummary> {
        auto rs = QueryParams(
            c,
            "SELECT t.event_count, t.first_ns, t.last_ns, s.service_name"
            " FROM trace_summaries t LEFT JOIN trace_services s ON s.trace_id = t.trace_id"
            " WHERE t.trace_id = ? ORDER BY s.service_name",
            {{Param::kId, *canonical, 0}}, true);
        TraceSummary s;
        s.trace_id = *canonical;
        bool any = false;
        while (rs->next()) {
          if (!any) {
            s.event_count = rs->getUInt64(1);
            s.first_ns = rs->getInt64(2);
            s.last_ns = rs->getInt64(3);
            any = true;
          }
          if (!rs->isNull(4)) s.services.push_back(Str(*rs, 4));
        }
        if (!any || s.event_count == 0) {
          return absl::NotFoundError(absl::StrCat("trace ", *canonical, " not found"));
        }
        return s;
      });
}

absl::StatusOr<std::vector<Event>> MysqlStorage::GetTraceEvents(const std::string& trace_id) {
  auto canonical = common::CanonicalId("trace_id", trace_id);
  if (!canonical.ok()) return canonical.status();
  return Run<std::vector<Event>>(
      "get trace events", [&](MyConnection& c) -> absl::StatusOr<std::vector<Event>> {
        auto rs = QueryParams(c,
                              "SELECT payload FROM events WHERE trace_id = ?"
                              " ORDER BY timestamp_ns, id",
                              {{Param::kId, *canonical, 0}}, true);
        std::vector<Event> out;
        out.reserve(rs->rowsCount());
        while (rs->next()) {
          out.emplace_back();
          if (absl::Status st = ParseEvent(*rs, 1, &out.back()); !st.ok()) return st;
        }
        if (out.empty())
          return absl::NotFoundError(absl::StrCat("trace ", *canonical, " not found"));
        return out;
      });
}

absl::StatusOr<Page<Event>> MysqlStorage::GetTraceEventsPage(const std::string& trace_id,
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
  std::vector<Param> params{{Param::kId, *canonical, 0}};
  std::string sql = "SELECT timestamp_ns, id, payload FROM events WHERE trace_id = ?";
  if (cursor) {
    // Row comparison written out so the (trace_id, timestamp_ns, id) index
    // range is used.
    sql += " AND (timestamp_ns > ? OR (timestamp_ns = ? AND id > ?))";
    params.push_back({Param::kInt, "", cursor->timestamp_ns});
    params.push_back({Param::kInt, "", cursor->timestamp_ns});
    params.push_back({Param::kId, cursor->event_id, 0});
  }
  sql += " ORDER BY timestamp_ns, id LIMIT ?";
  params.push_back({Param::kInt, "", static_cast<int64_t>(size) + 1});
  return Run<Page<Event>>("get trace page", [&](MyConnection& c) -> absl::StatusOr<Page<Event>> {
    auto rs = QueryParams(c, sql, params, true);
    Page<Event> out;
    int64_t last_ts = 0;
    std::string last_id;
    bool more = false;
    while (rs->next()) {
      if (out.items.size() == size) {
        more = true;
        break;
      }
      last_ts = rs->getInt64(1);
      last_id = IdText(rs->getString(2));
      out.items.emplace_back();
      if (absl::Status st = ParseEvent(*rs, 3, &out.items.back()); !st.ok()) return st;
    }
    if (out.items.empty()) {
      auto exists = QueryParams(c, "SELECT 1 FROM trace_summaries WHERE trace_id = ?",
                                {{Param::kId, *canonical, 0}}, true);
      if (!exists->next()) {
        return absl::NotFoundError(absl::StrCat("trace ", *canonical, " not found"));
      }
    }
    if (more) out.next_page_token = common::EncodeEventCursor({last_ts, last_id});
    return out;
  });
}

absl::StatusOr<Page<TraceSummary>> MysqlStorage::ListTraces(const TraceFilter& filter,
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
  std::vector<Param> params;
  std::string where = " WHERE 1=1";
  if (filter.last_activity.start_ns) {
    params.push_back({Param::kInt, "", *filter.last_activity.start_ns});
    where += " AND t.last_ns >= ?";
  }
  if (filter.last_activity.end_ns) {
    params.push_back({Param::kInt, "", *filter.last_activity.end_ns});
    where += " AND t.last_ns < ?";
  }
  if (filter.min_events > 0) {
    params.push_back({Param::kInt, "", static_cast<int64_t>(filter.min_events)});
    where += " AND t.event_count >= ?";
  }
  if (!filter.service.empty()) {
    params.push_back({Param::kText, filter.service, 0});
    where +=
        " AND EXISTS (SELECT 1 FROM trace_services s WHERE s.trace_id = t.trace_id"
        " AND s.service_name = ?)";
  }
  const std::vector<Param> count_params = params;
  const std::string count_sql = "SELECT COUNT(*) FROM trace_summaries t" + where;
  std::string page_where = where;
  if (cursor) {
    page_where += " AND (t.last_ns < ? OR (t.last_ns = ? AND t.trace_id < ?))";
    params.push_back({Param::kInt, "", cursor->last_ns});
    params.push_back({Param::kInt, "", cursor->last_ns});
    params.push_back({Param::kId, cursor->trace_id, 0});
  }
  params.push_back({Param::kInt, "", static_cast<int64_t>(size) + 1});
  const std::string page_sql =
      "SELECT t.trace_id, t.event_count, t.first_ns, t.last_ns FROM trace_summaries t" +
      page_where + " ORDER BY t.last_ns DESC, t.trace_id DESC LIMIT ?";

  return Run<Page<TraceSummary>>(
      "list traces", [&](MyConnection& c) -> absl::StatusOr<Page<TraceSummary>> {
        // One consistent snapshot for the count, the page and its services.
        c.BeginSnapshot();
        if (total != nullptr) {
          auto rs = QueryParams(c, count_sql, count_params, true);
          *total = rs->next() ? rs->getUInt64(1) : 0;
        }
        Page<TraceSummary> out;
        bool more = false;
        {
          auto rs = QueryParams(c, page_sql, params, true);
          while (rs->next()) {
            if (out.items.size() == size) {
              more = true;
              break;
            }
            TraceSummary s;
            s.trace_id = IdText(rs->getString(1));
            s.event_count = rs->getUInt64(2);
            s.first_ns = rs->getInt64(3);
            s.last_ns = rs->getInt64(4);
            out.items.push_back(std::move(s));
          }
        }
        absl::flat_hash_map<std::string, size_t> pos;
        std::vector<std::string> ids;
        for (size_t i = 0; i < out.items.size(); ++i) {
          pos[out.items[i].trace_id] = i;
          ids.push_back(out.items[i].trace_id);
        }
        SelectIn(c, "SELECT trace_id, service_name FROM trace_services WHERE trace_id",
                 "ORDER BY trace_id, service_name", ids, [&](sql::ResultSet& rs) {
                   auto it = pos.find(IdText(rs.getString(1)));
                   if (it != pos.end()) out.items[it->second].services.push_back(Str(rs, 2));
                 });
        c.Commit();
        if (more) {
          out.next_page_token =
              common::EncodeTraceCursor({out.items.back().last_ns, out.items.back().trace_id});
        }
        return out;
      });
}

absl::StatusOr<Page<VariableAccess>> MysqlStorage::GetVariableAccesses(const std::string& variable,
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
  std::vector<Param> params;
  std::string sql =
      "SELECT variable, timestamp_ns, event_id, trace_id, thread_id, service_name, access_type,"
      " location, lock_set_json, distributed_span_id, upstream_span_id"
      " FROM cross_trace_index WHERE 1=1";
  if (!variable.empty()) {
    params.push_back({Param::kText, variable, 0});
    sql += " AND variable = ?";
  }
  if (range.start_ns) {
    params.push_back({Param::kInt, "", *range.start_ns});
    sql += " AND timestamp_ns >= ?";
  }
  if (range.end_ns) {
    params.push_back({Param::kInt, "", *range.end_ns});
    sql += " AND timestamp_ns < ?";
  }
  if (cursor) {
    sql +=
        " AND (variable > ? OR (variable = ? AND (timestamp_ns > ? OR"
        " (timestamp_ns = ? AND event_id > ?))))";
    params.push_back({Param::kText, cursor->variable, 0});
    params.push_back({Param::kText, cursor->variable, 0});
    params.push_back({Param::kInt, "", cursor->timestamp_ns});
    params.push_back({Param::kInt, "", cursor->timestamp_ns});
    params.push_back({Param::kId, cursor->event_id, 0});
  }
  params.push_back({Param::kInt, "", static_cast<int64_t>(size) + 1});
  sql += " ORDER BY variable, timestamp_ns, event_id LIMIT ?";
  return Run<Page<VariableAccess>>(
      "variable accesses", [&](MyConnection& c) -> absl::StatusOr<Page<VariableAccess>> {
        auto rs = QueryParams(c, sql, params, true);
        Page<VariableAccess> out;
        bool more = false;
        while (rs->next()) {
          if (out.items.size() == size) {
            more = true;
            break;
          }
          VariableAccess a;
          a.variable = Str(*rs, 1);
          a.timestamp_ns = rs->getInt64(2);
          a.event_id = IdText(rs->getString(3));
          a.trace_id = IdText(rs->getString(4));
          a.thread_id = Str(*rs, 5);
          a.service_name = Str(*rs, 6);
          raceway::v1::AccessType t = raceway::v1::ACCESS_TYPE_UNSPECIFIED;
          raceway::v1::AccessType_Parse(absl::StrCat("ACCESS_TYPE_", Str(*rs, 7)), &t);
          a.access_type = t;
          a.location = Str(*rs, 8);
          if (!rs->isNull(9)) {
            auto locks = common::ParseStringArrayJson(Str(*rs, 9));
            if (!locks.ok()) return locks.status();
            a.lock_set = std::move(*locks);
          }
          a.distributed_span_id = Str(*rs, 10);
          a.upstream_span_id = Str(*rs, 11);
          out.items.push_back(std::move(a));
        }
        if (more) {
          const VariableAccess& last = out.items.back();
          out.next_page_token =
              common::EncodeAccessCursor({last.variable, last.timestamp_ns, last.event_id});
        }
        return out;
      });
}

absl::StatusOr<std::vector<Baseline>> MysqlStorage::GetBaselines(
    const std::vector<std::string>& operations) {
  if (operations.empty()) return std::vector<Baseline>{};
  std::vector<std::string> unique;
  absl::flat_hash_set<std::string> seen;
  for (const std::string& op : operations) {
    if (seen.insert(op).second) unique.push_back(op);
  }
  return Run<std::vector<Baseline>>(
      "baselines", [&](MyConnection& c) -> absl::StatusOr<std::vector<Baseline>> {
        absl::flat_hash_map<std::string, Baseline> found;
        for (size_t i = 0; i < unique.size(); i += kInListChunk) {
          const size_t n = std::min(kInListChunk, unique.size() - i);
          std::vector<Param> p;
          for (size_t k = 0; k < n; ++k) p.push_back({Param::kText, unique[i + k], 0});
          auto rs = QueryParams(c,
                                absl::StrCat("SELECT operation, count, mean, m2, min_ns, max_ns"
                                             " FROM baseline_metrics WHERE operation IN ",
                                             InList(n)),
                                p, false);
          while (rs->next()) {
            Baseline b;
            b.operation = Str(*rs, 1);
            b.count = rs->getUInt64(2);
            b.mean = static_cast<double>(rs->getDouble(3));
            b.m2 = static_cast<double>(rs->getDouble(4));
            b.min = static_cast<double>(rs->getDouble(5));
            b.max = static_cast<double>(rs->getDouble(6));
            found.emplace(b.operation, std::move(b));
          }
        }
        std::vector<Baseline> out;
        for (const std::string& op : unique) {
          auto it = found.find(op);
          if (it != found.end()) out.push_back(it->second);
        }
        return out;
      });
}

absl::StatusOr<std::vector<ServiceStats>> MysqlStorage::ListServices() {
  return Run<std::vector<ServiceStats>>(
      "list services", [&](MyConnection& c) -> absl::StatusOr<std::vector<ServiceStats>> {
        auto rs = c.Query(
            "SELECT service_name, SUM(event_count), COUNT(*), MIN(first_ns), MAX(last_ns)"
            " FROM trace_services GROUP BY service_name ORDER BY service_name");
        std::vector<ServiceStats> out;
        while (rs->next()) {
          out.push_back(
              {Str(*rs, 1), rs->getUInt64(2), rs->getUInt64(3), rs->getInt64(4), rs->getInt64(5)});
        }
        return out;
      });
}

absl::StatusOr<std::vector<ServiceCallRow>> MysqlStorage::ListServiceCalls(const TimeRange& range) {
  std::vector<Param> params;
  const std::string traces = TracesInRange(range, params);
  const std::vector<Param> first_params = params;
  const std::string parent_sql = absl::StrCat(
      "SELECT c.from_service, c.to_service, SUM(c.call_count), COUNT(*)"
      " FROM service_calls c JOIN (",
      traces,
      ") t ON t.trace_id = c.trace_id"
      " GROUP BY c.from_service, c.to_service");
  const std::string span_sql = absl::StrCat(
      "SELECT u.service_name, d.service_name, e.link_type, COUNT(*), COUNT(DISTINCT e.trace_id)"
      " FROM span_edges e JOIN (",
      traces,
      ") t ON t.trace_id = e.trace_id"
      " JOIN spans u ON u.trace_id = e.trace_id AND u.span_id = e.from_span_id"
      " JOIN spans d ON d.trace_id = e.trace_id AND d.span_id = e.to_span_id"
      " WHERE u.service_name <> d.service_name"
      " GROUP BY u.service_name, d.service_name, e.link_type");
  return Run<std::vector<ServiceCallRow>>(
      "service calls", [&](MyConnection& c) -> absl::StatusOr<std::vector<ServiceCallRow>> {
        std::map<std::tuple<std::string, std::string, std::string>, ServiceCallRow> rows;
        auto add = [&](ServiceCallRow s) {
          ServiceCallRow& into = rows[{s.from_service, s.to_service, s.link_type}];
          if (into.call_count == 0 && into.trace_count == 0) {
            into = std::move(s);
          } else {
            into.call_count += s.call_count;
            into.trace_count += s.trace_count;
          }
        };
        c.BeginSnapshot();
        {
          auto rs = QueryParams(c, parent_sql, first_params, true);
          while (rs->next()) {
            add({Str(*rs, 1), Str(*rs, 2), "Parent", rs->getUInt64(3), rs->getUInt64(4)});
          }
        }
        {
          auto rs = QueryParams(c, span_sql, first_params, true);
          while (rs->next()) {
            add({Str(*rs, 1), Str(*rs, 2), Str(*rs, 3), rs->getUInt64(4), rs->getUInt64(5)});
          }
        }
        c.Commit();
        std::vector<ServiceCallRow> out;
        for (auto& [k, v] : rows) out.push_back(std::move(v));
        return out;
      });
}

absl::StatusOr<std::vector<VariableStats>> MysqlStorage::TopVariables(const TimeRange& range,
                                                                      uint32_t limit) {
  if (limit == 0) return std::vector<VariableStats>{};
  std::vector<Param> params;
  const std::string traces = TracesInRange(range, params);
  std::vector<Param> top_params = params;
  top_params.push_back({Param::kInt, "", static_cast<int64_t>(limit)});
  const std::string top_sql = absl::StrCat(
      "SELECT v.variable, SUM(v.access_count) AS n, COUNT(DISTINCT v.trace_id)"
      " FROM trace_variables v JOIN (",
      traces,
      ") t ON t.trace_id = v.trace_id"
      " GROUP BY v.variable ORDER BY n DESC, v.variable LIMIT ?");
  return Run<std::vector<VariableStats>>(
      "top variables", [&](MyConnection& c) -> absl::StatusOr<std::vector<VariableStats>> {
        c.BeginSnapshot();
        std::vector<VariableStats> out;
        absl::flat_hash_map<std::string, size_t> pos;
        {
          auto rs = QueryParams(c, top_sql, top_params, true);
          while (rs->next()) {
            VariableStats v;
            v.variable = Str(*rs, 1);
            v.access_count = rs->getUInt64(2);
            v.trace_count = rs->getUInt64(3);
            pos[v.variable] = out.size();
            out.push_back(std::move(v));
          }
        }
        for (size_t i = 0; i < out.size(); i += kInListChunk) {
          const size_t n = std::min(kInListChunk, out.size() - i);
          std::vector<Param> p = params;
          for (size_t k = 0; k < n; ++k) p.push_back({Param::kText, out[i + k].variable, 0});
          auto rs = QueryParams(
              c,
              absl::StrCat("SELECT DISTINCT v.variable, v.service_name FROM trace_variables v"
                           " JOIN (",
                           traces,
                           ") t ON t.trace_id = v.trace_id"
                           " WHERE v.variable IN ",
                           InList(n), " ORDER BY v.variable, v.service_name"),
              p, false);
          while (rs->next()) {
            auto it = pos.find(Str(*rs, 1));
            if (it != pos.end()) out[it->second].services.push_back(Str(*rs, 2));
          }
        }
        c.Commit();
        return out;
      });
}

absl::StatusOr<std::vector<DurationStats>> MysqlStorage::Durations(const char* table,
                                                                   const char* column,
                                                                   const TimeRange& range) {
  std::vector<Param> params;
  const std::string traces = TracesInRange(range, params);
  const std::string sql = absl::StrCat("SELECT x.", column,
                                       ", SUM(x.duration_count) AS n, SUM(x.duration_sum_ns)"
                                       " FROM ",
                                       table, " x JOIN (", traces,
                                       ") t ON t.trace_id = x.trace_id"
                                       " GROUP BY x.",
                                       column, " HAVING n > 0 ORDER BY x.", column);
  return Run<std::vector<DurationStats>>(
      "durations", [&](MyConnection& c) -> absl::StatusOr<std::vector<DurationStats>> {
        auto rs = QueryParams(c, sql, params, true);
        std::vector<DurationStats> out;
        while (rs->next()) {
          const uint64_t n = rs->getUInt64(2);
          out.push_back(
              {Str(*rs, 1), n, static_cast<double>(rs->getDouble(3)) / static_cast<double>(n)});
        }
        return out;
      });
}

absl::StatusOr<std::vector<DurationStats>> MysqlStorage::DurationsByKind(const TimeRange& range) {
  return Durations("trace_kinds", "kind", range);
}

absl::StatusOr<std::vector<DurationStats>> MysqlStorage::DurationsByService(
    const TimeRange& range) {
  return Durations("trace_services", "service_name", range);
}

absl::StatusOr<uint64_t> MysqlStorage::CountEvents() {
  return Run<uint64_t>("count events", [&](MyConnection& c) -> uint64_t {
    auto rs = c.Query("SELECT COALESCE(SUM(event_count), 0) FROM trace_summaries");
    return rs->next() ? rs->getUInt64(1) : 0;
  });
}

absl::StatusOr<uint64_t> MysqlStorage::CountTraces() {
  return Run<uint64_t>("count traces", [&](MyConnection& c) -> uint64_t {
    auto rs = c.Query("SELECT COUNT(*) FROM trace_summaries");
    return rs->next() ? rs->getUInt64(1) : 0;
  });
}

}  // namespace mysql
}  // namespace raceway::storage
