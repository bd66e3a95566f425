#include "libs/storage/postgres/postgres_storage.h"

#include <algorithm>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <pqxx/tablewriter>
#include <thread>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "libs/model/operation_key.h"
#include "libs/storage/common/derive.h"
#include "libs/storage/common/event_json.h"
#include "libs/storage/common/ids.h"
#include "libs/storage/common/page_token.h"
#include "libs/storage/migrations.h"
#include "libs/storage/postgres/pg_conn.h"
#include "libs/storage/postgres/pg_encode.h"
#include "libs/storage/postgres/pg_migrate.h"
#include "libs/storage/postgres/sql_event_row.h"

namespace raceway::storage {

absl::StatusOr<std::unique_ptr<Storage>> OpenPostgresStorage(const StorageOptions& options) {
  auto s = postgres::PostgresStorage::Open(options);
  if (!s.ok()) return s.status();
  return std::unique_ptr<Storage>(std::move(*s));
}

namespace postgres {

using raceway::v1::Event;

namespace {

constexpr size_t kCopyChunkBytes = 1 << 20;
constexpr int64_t kRetentionBatchTraces = 500;
constexpr int kMaxAbortRetries = 8;

// Target columns of the COPY streams.
constexpr const char* kEventColumns[] = {
    "id",     "trace_id",    "parent_id", "timestamp_ns",  "thread_id",      "service_name",
    "kind",   "duration_ns", "kind_json", "metadata_json", "causality_json", "lock_set_json",
    "payload"};

constexpr char kUpsertTraces[] =
    "INSERT INTO trace_summaries AS t (trace_id, event_count, first_ns, last_ns)"
    " SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[])"
    " ON CONFLICT (trace_id) DO UPDATE SET"
    "  event_count = t.event_count + EXCLUDED.event_count,"
    "  first_ns = LEAST(t.first_ns, EXCLUDED.first_ns),"
    "  last_ns = GREATEST(t.last_ns, EXCLUDED.last_ns)";

constexpr char kUpsertServices[] =
    "INSERT INTO trace_services AS t (trace_id, service_name, event_count, first_ns, last_ns,"
    "  duration_count, duration_sum_ns)"
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],"
    "  $6::bigint[], $7::float8[])"
    " ON CONFLICT (trace_id, service_name) DO UPDATE SET"
    "  event_count = t.event_count + EXCLUDED.event_count,"
    "  first_ns = LEAST(t.first_ns, EXCLUDED.first_ns),"
    "  last_ns = GREATEST(t.last_ns, EXCLUDED.last_ns),"
    "  duration_count = t.duration_count + EXCLUDED.duration_count,"
    "  duration_sum_ns = t.duration_sum_ns + EXCLUDED.duration_sum_ns";

constexpr char kUpsertKinds[] =
    "INSERT INTO trace_kinds AS t (trace_id, kind, duration_count, duration_sum_ns)"
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::float8[])"
    " ON CONFLICT (trace_id, kind) DO UPDATE SET"
    "  duration_count = t.duration_count + EXCLUDED.duration_count,"
    "  duration_sum_ns = t.duration_sum_ns + EXCLUDED.duration_sum_ns";

constexpr char kUpsertVariables[] =
    "INSERT INTO trace_variables AS t (trace_id, variable, service_name, access_count)"
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[])"
    " ON CONFLICT (trace_id, variable, service_name) DO UPDATE SET"
    "  access_count = t.access_count + EXCLUDED.access_count";

constexpr char kUpsertSpans[] =
    "INSERT INTO spans AS t (trace_id, span_id, service_name, event_count, first_ns, last_ns)"
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],"
    "  $6::bigint[])"
    " ON CONFLICT (trace_id, span_id, service_name) DO UPDATE SET"
    "  event_count = t.event_count + EXCLUDED.event_count,"
    "  first_ns = LEAST(t.first_ns, EXCLUDED.first_ns),"
    "  last_ns = GREATEST(t.last_ns, EXCLUDED.last_ns)";

constexpr char kUpsertSpanEdges[] =
    "INSERT INTO span_edges AS t (trace_id, from_span_id, to_span_id, link_type, link_priority)"
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::smallint[])"
    " ON CONFLICT (trace_id, from_span_id, to_span_id) DO UPDATE SET"
    "  link_type = EXCLUDED.link_type, link_priority = EXCLUDED.link_priority"
    " WHERE (EXCLUDED.link_priority, EXCLUDED.link_type) < (t.link_priority, t.link_type)";

// Parallel Welford merge (Chan et al.), as model::WelfordStats::Merge. All
// right-hand sides see the old row (b) and the batch's delta (EXCLUDED).
constexpr char kUpsertBaselines[] =
    "INSERT INTO baseline_metrics AS b (operation, count, mean, m2, min_ns, max_ns)"
    " SELECT * FROM unnest($1::text[], $2::bigint[], $3::float8[], $4::float8[], $5::float8[],"
    "  $6::float8[])"
    " ON CONFLICT (operation) DO UPDATE SET"
    "  count = b.count + EXCLUDED.count,"
    "  mean = b.mean + (EXCLUDED.mean - b.mean) * EXCLUDED.count::float8"
    "         / (b.count + EXCLUDED.count)::float8,"
    "  m2 = b.m2 + EXCLUDED.m2 + (EXCLUDED.mean - b.mean) * (EXCLUDED.mean - b.mean)"
    "       * b.count::float8 * EXCLUDED.count::float8 / (b.count + EXCLUDED.count)::float8,"
    "  min_ns = LEAST(b.min_ns, EXCLUDED.min_ns),"
    "  max_ns = GREATEST(b.max_ns, EXCLUDED.max_ns),"
    "  updated_at = now()";

// Under the parent lock: the children waiting for one of the new events
// ($1, removed: their calls are counted now) and the services of parents
// stored before this batch ($2). One-time filter: no index probes while no
// child waits.
constexpr char kResolveParents[] =
    "WITH w AS ("
    " DELETE FROM waiting_children WHERE EXISTS (SELECT 1 FROM waiting_children)"
    "   AND parent_id = ANY($1::uuid[])"
    " RETURNING parent_id, child_id, trace_id, service_name)"
    " SELECT 'w', parent_id, child_id, trace_id, service_name FROM w"
    " UNION ALL"
    " SELECT 'p', id, NULL, NULL, service_name FROM events WHERE id = ANY($2::uuid[])";

constexpr char kInsertEdges[] =
    "INSERT INTO causal_edges (trace_id, to_event_id, from_event_id)"
    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[])";

constexpr char kInsertRoots[] =
    "INSERT INTO trace_roots (trace_id, root_event_id)"
    " SELECT * FROM unnest($1::uuid[], $2::uuid[])";

constexpr char kInsertAccesses[] =
    "INSERT INTO cross_trace_index (variable, timestamp_ns, event_id, trace_id, thread_id,"
    "  service_name, access_type, location, lock_set_json, distributed_span_id,"
    "  upstream_span_id)"
    " SELECT * FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::uuid[], $5::text[],"
    "  $6::text[], $7::text[], $8::text[], $9::jsonb[], $10::text[], $11::text[])";

constexpr char kUpsertServiceCalls[] =
    "INSERT INTO service_calls AS t (trace_id, from_service, to_service, call_count)"
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[])"
    " ON CONFLICT (trace_id, from_service, to_service) DO UPDATE SET"
    "  call_count = t.call_count + EXCLUDED.call_count";

constexpr char kInsertWaiting[] =
    "INSERT INTO waiting_children (parent_id, child_id, trace_id, service_name)"
    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[])"
    " ON CONFLICT DO NOTHING";

constexpr char kAllTables[] =
    "events, causal_edges, trace_roots, waiting_children, cross_trace_index, trace_summaries,"
    " trace_services, trace_kinds, trace_variables, spans, span_edges, service_calls,"
    " baseline_metrics";

// Runs `sql` as a named prepared statement in direct mode, unnamed in
// pooler mode.
template <typename... Args>
pqxx::result Exec(pqxx::transaction_base& tx, PgConnection& c, const std::string& sql,
                  Args&&... args) {
  const std::string name = absl::StrFormat("rw_%016x", std::hash<std::string>{}(sql));
  if (c.Prepare(name, sql)) return tx.exec_prepared(name, std::forward<Args>(args)...);
  return tx.exec_params(sql, std::forward<Args>(args)...);
}

pqxx::result ExecDynamic(pqxx::transaction_base& tx, PgConnection& c, const std::string& sql,
                         const std::vector<std::string>& params) {
  return Exec(tx, c, sql, pqxx::prepare::make_dynamic_params(params));
}

// Substitutes $1..$n in `sql` with args[i] as quoted literals, in one pass
// (a literal containing "$2" is never rescanned), for batching several
// statements into one simple-protocol round trip.
// An escape-string literal E'...': independent of standard_conforming_strings.
// Input is UTF-8 without NUL (validated events); escaping is bytewise, which
// is safe for UTF-8 (no multibyte sequence contains ASCII bytes).
void AppendLiteral(std::string& out, std::string_view s) {
  out.append("E'");
  size_t copied = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' || s[i] == '\'') {
      out.append(s.substr(copied, i - copied));
      out.push_back('\\');
      copied = i;
    }
  }
  out.append(s.substr(copied));
  out.push_back('\'');
}

std::string Inline(const char* sql, std::initializer_list<std::string> args) {
  const std::vector<std::string> a(args);
  const std::string_view text(sql);
  std::string out;
  size_t copied = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size() || text[i + 1] < '0' || text[i + 1] > '9') continue;
    out.append(text.substr(copied, i - copied));
    size_t n = 0;
    while (i + 1 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '9') {
      n = n * 10 + static_cast<size_t>(text[++i] - '0');
    }
    AppendLiteral(out, a.at(n - 1));
    copied = i + 1;
  }
  out.append(text.substr(copied));
  return out;
}

absl::Status ParseEvent(const pqxx::field& f, Event* out) {
  pqxx::binarystring b(f);
  if (!out->ParseFromArray(b.data(), static_cast<int>(b.size()))) {
    return absl::InternalError("postgres: stored event payload does not parse");
  }
  return absl::OkStatus();
}

// Trace-activity filter shared by the range aggregates (a trace is in range
// when [first_ns, last_ns] overlaps [start, end), as the memory backend).
// Appends parameters to `params` and returns the SQL of a subquery that
// yields the matching trace ids.
std::string TracesInRange(const TimeRange& range, std::vector<std::string>& params) {
  std::string sql = "SELECT trace_id FROM trace_summaries WHERE true";
  if (range.start_ns) {
    params.push_back(absl::StrCat(*range.start_ns));
    absl::StrAppend(&sql, " AND last_ns >= $", params.size());
  }
  if (range.end_ns) {
    params.push_back(absl::StrCat(*range.end_ns));
    absl::StrAppend(&sql, " AND first_ns < $", params.size());
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

// Thrown inside a write transaction that must be retried from the start
// (another writer committed one of the batch's ids after our check).
struct RetryTransaction {};

// Streams rows to `table` with COPY ... FROM STDIN (text format). The COPY
// text is built here, row by row, and sent in ~kCopyChunkBytes chunks through
// tablewriter's raw-line path (one PQputCopyData per chunk); the server
// parses chunk k while the next one is being built. emit(copy, i) appends
// the fields of row i.
template <size_t N, typename Emit>
void CopyRows(pqxx::transaction_base& tx, const char* table, const char* const (&columns)[N],
              size_t count, Emit emit) {
  if (count == 0) return;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  pqxx::tablewriter writer(tx, table, std::begin(columns), std::end(columns));
#pragma GCC diagnostic pop
  CopyText copy;
  for (size_t i = 0; i < count; ++i) {
    emit(copy, i);
    copy.EndRow();
    if (copy.size() >= kCopyChunkBytes) writer.write_raw_line(copy.Take());
  }
  if (!copy.empty()) writer.write_raw_line(copy.Take());
  writer.complete();
}

void EmitEvent(CopyText& copy, const common::PreparedEvent& p) {
  const Event& e = *p.event;
  copy.Text(e.id());
  copy.Text(e.trace_id());
  if (e.parent_id().empty())
    copy.Null();
  else
    copy.Text(e.parent_id());
  copy.Int(p.timestamp_ns);
  copy.Text(e.metadata().thread_id());
  copy.Text(e.metadata().service_name());
  copy.Text(p.kind);
  if (p.duration_ns)
    copy.Int(p.duration_column());
  else
    copy.Null();
  copy.Text(common::KindJson(e));
  copy.Text(common::MessageJson(e.metadata()));
  const std::string causality = common::CausalityJson(e);
  if (causality.empty())
    copy.Null();
  else
    copy.Text(causality);
  const std::string locks = common::StringArrayJson(e.lock_set());
  if (locks.empty())
    copy.Null();
  else
    copy.Text(locks);
  copy.Bytea(dbutil::SerializeDeterministic(e));
}

}  // namespace

PostgresStorage::PostgresStorage(const StorageOptions& options, bool pooler_mode)
    : options_(options), pooler_mode_(pooler_mode) {}

PostgresStorage::~PostgresStorage() = default;

absl::StatusOr<std::unique_ptr<PostgresStorage>> PostgresStorage::Open(
    const StorageOptions& options) {
  if (options.backend != "postgres" && options.backend != "supabase") {
    return absl::InvalidArgumentError(
        absl::StrCat("postgres storage cannot open backend \"", options.backend, "\""));
  }
  if (options.connection_string.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.backend, ": connection_string is empty"));
  }
  const bool pooler = options.backend == "supabase";
  std::unique_ptr<PostgresStorage> s(new PostgresStorage(options, pooler));
  const uint32_t timeout = options.connection_timeout_seconds;

  auto make_pool = [&](const std::string& conninfo,
                       const char* name) -> absl::StatusOr<std::unique_ptr<PgPool>> {
    dbutil::PoolOptions po;
    po.name = absl::StrCat(options.backend, " ", name);
    po.max_connections = std::max<uint32_t>(options.max_connections, 1);
    po.min_connections = options.min_connections;
    po.acquire_timeout = absl::Seconds(timeout > 0 ? timeout : 30);
    PgConnOptions co;
    co.conninfo = conninfo;
    co.pooler_mode = pooler;
    co.connect_timeout_seconds = timeout;
    return PgPool::Create(
        po, [co]() { return PgConnection::Open(co); },
        [](PgConnection& c, absl::Duration idle) { return c.Alive(idle); });
  };

  auto pool = make_pool(options.connection_string, "pool");
  if (!pool.ok()) return pool.status();
  s->pool_ = std::move(*pool);

  // Migrate (or verify) on a dedicated lease.
  absl::Status migrated = [&]() -> absl::Status {
    auto lease = s->pool_->Acquire();
    if (!lease.ok()) return lease.status();
    PgMigrationTarget target((*lease)->conn(), std::max<uint32_t>(timeout, 60));
    absl::Status st = Migrate(target, "postgres", options.auto_migrate);
    if (!st.ok() && st.code() == absl::StatusCode::kUnavailable) lease->MarkBroken();
    return st;
  }();
  if (!migrated.ok()) return migrated;

  if (!options.replica_connection_string.empty()) {
    auto replica = make_pool(options.replica_connection_string, "replica pool");
    if (!replica.ok()) return replica.status();
    s->replica_pool_ = std::move(*replica);
  }
  return s;
}

dbutil::PoolStats PostgresStorage::WriterPoolStats() const { return pool_->Stats(); }
dbutil::PoolStats PostgresStorage::ReaderPoolStats() const {
  return replica_pool_ ? replica_pool_->Stats() : pool_->Stats();
}

template <typename T, typename Fn>
absl::StatusOr<T> PostgresStorage::Run(PgPool& pool, const char* what, Fn&& fn) {
  int lost = 0, aborted = 0;
  // Every idle connection may be stale after a server restart: allow one
  // retry per pooled connection, plus one on a freshly opened connection.
  const int max_lost = static_cast<int>(pool.options().max_connections) + 1;
  while (true) {
    auto lease = pool.Acquire();
    if (!lease.ok()) return lease.status();
    try {
      return fn(**lease);
    } catch (const RetryTransaction&) {
      if (++aborted <= kMaxAbortRetries) continue;
      return absl::AbortedError(
          absl::StrCat(BackendName(), " ", what, ": too many conflicting retries"));
    } catch (const std::exception& e) {
      MappedError m = MapException(e, absl::StrCat(BackendName(), " ", what));
      switch (m.kind) {
        case FailureKind::kConnectionLost:
          lease->MarkBroken();
          if (++lost <= max_lost) continue;
          return m.status;
        case FailureKind::kRetryable:
          if (++aborted <= kMaxAbortRetries) {
            lease = absl::StatusOr<PgPool::Lease>(absl::UnknownError(""));  // Return it first.
            std::this_thread::sleep_for(std::chrono::milliseconds(5 << std::min(aborted, 6)));
            continue;
          }
          return m.status;
        case FailureKind::kInDoubt:
        case FailureKind::kUnknownState:
          lease->MarkBroken();
          return m.status;
        case FailureKind::kOther:
          return m.status;
      }
      return m.status;
    }
  }
}

// ---------------------------------------------------------------- writes

absl::StatusOr<WriteResult> PostgresStorage::WriteBatch(std::span<const Event* const> events) {
  if (absl::Status st = common::CheckBatchIds(events); !st.ok()) return st;
  if (events.empty()) return WriteResult{};

  std::vector<common::PreparedEvent> prepared;
  prepared.reserve(events.size());
  for (const Event* e : events) prepared.push_back(common::PrepareEvent(*e));
  absl::flat_hash_map<std::string_view, uint32_t> index_of;
  index_of.reserve(events.size());
  ArrayLiteral all_ids;
  for (uint32_t i = 0; i < events.size(); ++i) {
    index_of.emplace(events[i]->id(), i);
    all_ids.Raw(events[i]->id());
  }
  const std::string id_list = all_ids.Done();
  bool check_duplicates = false;

  return Run<WriteResult>(*pool_, "write", [&](PgConnection& c) -> absl::StatusOr<WriteResult> {
    pqxx::work tx(c.conn(), "raceway_write");
    // 1. Ids already stored. Optimistic first attempt: no check (a batch
    //    rarely repeats stored ids); a stored id then makes the events COPY
    //    fail with a unique violation and the transaction is retried WITH the
    //    check, which also catches ids another writer committed meanwhile.
    WriteResult result;
    std::vector<bool> dup(events.size(), false);
    if (check_duplicates) {
      for (const auto& row :
           Exec(tx, c, "SELECT id FROM events WHERE id = ANY($1::uuid[])", id_list)) {
        auto it = index_of.find(std::string_view(row[0].c_str()));
        if (it != index_of.end() && !dup[it->second]) {
          dup[it->second] = true;
          result.duplicate_indices.push_back(it->second);
        }
      }
    }
    std::sort(result.duplicate_indices.begin(), result.duplicate_indices.end());
    result.duplicate = static_cast<uint32_t>(result.duplicate_indices.size());
    result.accepted = static_cast<uint32_t>(events.size()) - result.duplicate;
    if (result.accepted == 0) {
      tx.commit();
      return result;
    }
    // New events in id order: concurrent writers of overlapping batches
    // then take the unique-index locks in the same order (no deadlock).
    std::vector<const common::PreparedEvent*> fresh;  // Batch order.
    fresh.reserve(result.accepted);
    for (uint32_t i = 0; i < prepared.size(); ++i) {
      if (!dup[i]) fresh.push_back(&prepared[i]);
    }
    std::vector<const common::PreparedEvent*> by_id = fresh;
    std::sort(by_id.begin(), by_id.end(),
              [](const common::PreparedEvent* a, const common::PreparedEvent* b) {
                return a->event->id() < b->event->id();
              });

    // 2. COPY the events and the per-event derived rows into their tables.
    try {
      CopyRows(tx, "events", kEventColumns, by_id.size(),
               [&](CopyText& copy, size_t i) { EmitEvent(copy, *by_id[i]); });
    } catch (const pqxx::unique_violation&) {
      check_duplicates = true;
      throw RetryTransaction{};
    }
    // 3. Everything else in as few round trips as possible: the statements
    //    are batched into one simple-protocol query string each, their
    //    arguments inlined as quoted literals (no prepared statements: fine
    //    behind a transaction pooler too).
    std::vector<const common::PreparedEvent*> with_parent, roots, accesses;
    for (const common::PreparedEvent* p : by_id) {
      (p->event->parent_id().empty() ? roots : with_parent).push_back(p);
      if (p->event->has_state_change()) accesses.push_back(p);
    }
    std::string q;
    auto add = [&](const char* sql, std::initializer_list<std::string> args) {
      absl::StrAppend(&q, Inline(sql, args), ";\n");
    };
    if (!with_parent.empty()) {
      ArrayLiteral trace, id, parent;
      for (const common::PreparedEvent* p : with_parent) {
        trace.Raw(p->event->trace_id());
        id.Raw(p->event->id());
        parent.Raw(p->event->parent_id());
      }
      add(kInsertEdges, {trace.Done(), id.Done(), parent.Done()});
    }
    if (!roots.empty()) {
      ArrayLiteral trace, id;
      for (const common::PreparedEvent* p : roots) {
        trace.Raw(p->event->trace_id());
        id.Raw(p->event->id());
      }
      add(kInsertRoots, {trace.Done(), id.Done()});
    }
    if (!accesses.empty()) {
      ArrayLiteral var, ts, id, trace, thread, svc, type, loc, locks, span, up;
      for (const common::PreparedEvent* p : accesses) {
        const Event& e = *p->event;
        const auto& sc = e.state_change();
        var.Text(sc.variable());
        ts.Int(p->timestamp_ns);
        id.Raw(e.id());
        trace.Raw(e.trace_id());
        thread.Text(e.metadata().thread_id());
        svc.Text(e.metadata().service_name());
        type.Text(model::AccessTypeName(sc.access_type()));
        loc.Text(sc.location());
        const std::string json = common::StringArrayJson(e.lock_set());
        if (json.empty())
          locks.Null();
        else
          locks.Text(json);
        span.Text(e.metadata().distributed_span_id());
        up.Text(e.metadata().upstream_span_id());
      }
      add(kInsertAccesses,
          {var.Done(), ts.Done(), id.Done(), trace.Done(), thread.Done(), svc.Done(), type.Done(),
           loc.Done(), locks.Done(), span.Done(), up.Done()});
    }

    const common::BatchAggregates agg = common::Aggregate(fresh);
    {
      ArrayLiteral id, n, first, last;
      for (const auto& [trace, d] : agg.traces) {
        id.Raw(trace);
        n.Int(static_cast<int64_t>(d.event_count));
        first.Int(d.first_ns);
        last.Int(d.last_ns);
      }
      add(kUpsertTraces, {id.Done(), n.Done(), first.Done(), last.Done()});
    }
    {
      ArrayLiteral id, svc, n, first, last, dn, ds;
      for (const auto& [k, d] : agg.trace_services) {
        id.Raw(std::get<0>(k));
        svc.Text(std::get<1>(k));
        n.Int(static_cast<int64_t>(d.event_count));
        first.Int(d.first_ns);
        last.Int(d.last_ns);
        dn.Int(static_cast<int64_t>(d.duration_count));
        ds.Double(d.duration_sum_ns);
      }
      add(kUpsertServices,
          {id.Done(), svc.Done(), n.Done(), first.Done(), last.Done(), dn.Done(), ds.Done()});
    }
    if (!agg.trace_kinds.empty()) {
      ArrayLiteral id, kind, dn, ds;
      for (const auto& [k, d] : agg.trace_kinds) {
        id.Raw(std::get<0>(k));
        kind.Text(std::get<1>(k));
        dn.Int(static_cast<int64_t>(d.duration_count));
        ds.Double(d.duration_sum_ns);
      }
      add(kUpsertKinds, {id.Done(), kind.Done(), dn.Done(), ds.Done()});
    }
    if (!agg.trace_variables.empty()) {
      ArrayLiteral id, var, svc, n;
      for (const auto& [k, count] : agg.trace_variables) {
        id.Raw(std::get<0>(k));
        var.Text(std::get<1>(k));
        svc.Text(std::get<2>(k));
        n.Int(static_cast<int64_t>(count));
      }
      add(kUpsertVariables, {id.Done(), var.Done(), svc.Done(), n.Done()});
    }
    if (!agg.spans.empty()) {
      ArrayLiteral id, span, svc, n, first, last;
      for (const auto& [k, d] : agg.spans) {
        id.Raw(std::get<0>(k));
        span.Text(std::get<1>(k));
        svc.Text(std::get<2>(k));
        n.Int(static_cast<int64_t>(d.event_count));
        first.Int(d.first_ns);
        last.Int(d.last_ns);
      }
      add(kUpsertSpans, {id.Done(), span.Done(), svc.Done(), n.Done(), first.Done(), last.Done()});
    }
    if (!agg.span_edges.empty()) {
      ArrayLiteral id, from, to, type, prio;
      for (const auto& [k, link] : agg.span_edges) {
        id.Raw(std::get<0>(k));
        from.Text(std::get<1>(k));
        to.Text(std::get<2>(k));
        type.Text(link.type);
        prio.Int(link.priority);
      }
      add(kUpsertSpanEdges, {id.Done(), from.Done(), to.Done(), type.Done(), prio.Done()});
    }
    if (!agg.baselines.empty()) {
      ArrayLiteral op, n, mean, m2, mn, mx;
      for (const auto& [k, w] : agg.baselines) {
        op.Text(k);
        n.Int(static_cast<int64_t>(w.count));
        mean.Double(w.mean);
        m2.Double(w.m2);
        mn.Double(w.min);
        mx.Double(w.max);
      }
      add(kUpsertBaselines, {op.Done(), n.Done(), mean.Done(), m2.Done(), mn.Done(), mx.Done()});
    }
    // The serialized tail starts here: the lock is the last statement of
    // this round trip, and every later statement takes its snapshot after it.
    add("SELECT pg_advisory_xact_lock($1)", {absl::StrCat(kParentLockKey)});
    tx.exec(q);

    // 4. Parent-edge service calls: children waiting for one of the new
    //    events, and parents stored before this batch, in one round trip.
    PrefetchedResolver resolver;
    {
      ArrayLiteral ids;
      for (const common::PreparedEvent* p : by_id) ids.Raw(p->event->id());
      absl::flat_hash_set<std::string_view> batch_ids, seen;
      for (const common::PreparedEvent* p : by_id) batch_ids.insert(p->event->id());
      ArrayLiteral parents;
      for (const common::PreparedEvent* p : with_parent) {
        const std::string& parent = p->event->parent_id();
        if (!batch_ids.contains(parent) && seen.insert(parent).second) parents.Raw(parent);
      }
      const pqxx::result r = tx.exec(Inline(kResolveParents, {ids.Done(), parents.Done()}));
      for (const auto& row : r) {
        if (row[0].as<std::string>() == "w") {
          resolver.waiting[row[1].c_str()].push_back(
              {row[1].c_str(), row[2].c_str(), row[3].c_str(), row[4].c_str()});
        } else {
          resolver.stored_service.emplace(row[1].c_str(), row[4].c_str());
        }
      }
    }
    const common::ServiceCallDeltas calls = common::ResolveParentCalls(fresh, resolver);
    q.clear();
    if (!calls.empty()) {
      ArrayLiteral id, from, to, n;
      for (const auto& [k, count] : calls) {
        id.Raw(std::get<0>(k));
        from.Text(std::get<1>(k));
        to.Text(std::get<2>(k));
        n.Int(static_cast<int64_t>(count));
      }
      add(kUpsertServiceCalls, {id.Done(), from.Done(), to.Done(), n.Done()});
    }
    if (!resolver.added.empty()) {
      ArrayLiteral parent, child, trace, svc;
      for (const common::WaitingChild& w : resolver.added) {
        parent.Raw(w.parent_id);
        child.Raw(w.child_id);
        trace.Raw(w.trace_id);
        svc.Text(w.service_name);
      }
      add(kInsertWaiting, {parent.Done(), child.Done(), trace.Done(), svc.Done()});
    }
    if (!q.empty()) tx.exec(q);
    tx.commit();
    return result;
  });
}

absl::StatusOr<uint64_t> PostgresStorage::DeleteTracesBefore(int64_t cutoff_ns) {
  uint64_t total = 0;
  while (true) {
    auto deleted = Run<uint64_t>(*pool_, "retention", [&](PgConnection& c) -> uint64_t {
      pqxx::work tx(c.conn(), "raceway_retention");
      const pqxx::result doomed =
          Exec(tx, c,
               "DELETE FROM trace_summaries WHERE trace_id IN ("
               " SELECT trace_id FROM trace_summaries WHERE last_ns < $1"
               " ORDER BY last_ns, trace_id LIMIT $2 FOR UPDATE SKIP LOCKED)"
               " RETURNING trace_id",
               cutoff_ns, kRetentionBatchTraces);
      if (doomed.empty()) {
        tx.commit();
        return 0;
      }
      ArrayLiteral ids;
      for (const auto& row : doomed) ids.Raw(row[0].c_str());
      const std::string list = ids.Done();
      Exec(tx, c,
           "WITH a AS (DELETE FROM events WHERE trace_id = ANY($1::uuid[])),"
           " b AS (DELETE FROM causal_edges WHERE trace_id = ANY($1::uuid[])),"
           " c AS (DELETE FROM trace_roots WHERE trace_id = ANY($1::uuid[])),"
           " d AS (DELETE FROM cross_trace_index WHERE trace_id = ANY($1::uuid[])),"
           " e AS (DELETE FROM trace_services WHERE trace_id = ANY($1::uuid[])),"
           " f AS (DELETE FROM trace_kinds WHERE trace_id = ANY($1::uuid[])),"
           " g AS (DELETE FROM trace_variables WHERE trace_id = ANY($1::uuid[])),"
           " h AS (DELETE FROM spans WHERE trace_id = ANY($1::uuid[]))"
           " DELETE FROM span_edges WHERE trace_id = ANY($1::uuid[])",
           list);
      // The parent-call rows are written only under the tail lock.
      Exec(tx, c, "SELECT pg_advisory_xact_lock($1)", kParentLockKey);
      Exec(tx, c,
           "WITH a AS (DELETE FROM service_calls WHERE trace_id = ANY($1::uuid[]))"
           " DELETE FROM waiting_children WHERE trace_id = ANY($1::uuid[])",
           list);
      tx.commit();
      return doomed.size();
    });
    if (!deleted.ok()) return deleted.status();
    total += *deleted;
    if (*deleted < static_cast<uint64_t>(kRetentionBatchTraces)) break;
  }
  return total;
}

absl::Status PostgresStorage::Clear() {
  return Run<bool>(*pool_, "clear",
                   [&](PgConnection& c) {
                     pqxx::work tx(c.conn(), "raceway_clear");
                     tx.exec(absl::StrCat("TRUNCATE ", kAllTables));
                     tx.commit();
                     return true;
                   })
      .status();
}

// ---------------------------------------------------------------- reads

absl::StatusOr<Event> PostgresStorage::GetEvent(const std::string& id) {
  auto canonical = common::CanonicalId("id", id);
  if (!canonical.ok()) return canonical.status();
  return Run<Event>(Reader(), "get event", [&](PgConnection& c) -> absl::StatusOr<Event> {
    pqxx::nontransaction tx(c.conn());
    const pqxx::result r = Exec(tx, c, "SELECT payload FROM events WHERE id = $1", *canonical);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("event ", *canonical, " not found"));
    Event e;
    if (absl::Status st = ParseEvent(r[0][0], &e); !st.ok()) return st;
    return e;
  });
}

absl::StatusOr<TraceSummary> PostgresStorage::GetTraceSummary(const std::string& trace_id) {
  auto canonical = common::CanonicalId("trace_id", trace_id);
  if (!canonical.ok()) return canonical.status();
  return Run<TraceSummary>(
      Reader(), "get trace summary", [&](PgConnection& c) -> absl::StatusOr<TraceSummary> {
        pqxx::nontransaction tx(c.conn());
        const pqxx::result r =
            Exec(tx, c,
                 "SELECT t.event_count, t.first_ns, t.last_ns, s.service_name"
                 " FROM trace_summaries t LEFT JOIN trace_services s ON s.trace_id = t.trace_id"
                 " WHERE t.trace_id = $1 ORDER BY s.service_name",
                 *canonical);
        if (r.empty() || r[0][0].as<int64_t>() == 0) {
          return absl::NotFoundError(absl::StrCat("trace ", *canonical, " not found"));
        }
        TraceSummary s;
        s.trace_id = *canonical;
        s.event_count = r[0][0].as<uint64_t>();
        s.first_ns = r[0][1].as<int64_t>();
        s.last_ns = r[0][2].as<int64_t>();
        for (const auto& row : r) {
          if (!row[3].is_null()) s.services.push_back(row[3].as<std::string>());
        }
        return s;
      });
}

absl::StatusOr<std::vector<Event>> PostgresStorage::GetTraceEvents(const std::string& trace_id) {
  auto canonical = common::CanonicalId("trace_id", trace_id);
  if (!canonical.ok()) return canonical.status();
  return Run<std::vector<Event>>(
      Reader(), "get trace events", [&](PgConnection& c) -> absl::StatusOr<std::vector<Event>> {
        pqxx::nontransaction tx(c.conn());
        const pqxx::result r =
            Exec(tx, c, "SELECT payload FROM events WHERE trace_id = $1 ORDER BY timestamp_ns, id",
                 *canonical);
        if (r.empty()) return absl::NotFoundError(absl::StrCat("trace ", *canonical, " not found"));
        std::vector<Event> out(r.size());
        for (size_t i = 0; i < r.size(); ++i) {
          if (absl::Status st = ParseEvent(r[i][0], &out[i]); !st.ok()) return st;
        }
        return out;
      });
}

absl::StatusOr<Page<Event>> PostgresStorage::GetTraceEventsPage(const std::string& trace_id,
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
  return Run<Page<Event>>(
      Reader(), "get trace page", [&](PgConnection& c) -> absl::StatusOr<Page<Event>> {
        pqxx::read_transaction tx(c.conn());
        pqxx::result r;
        if (cursor) {
          r = Exec(tx, c,
                   "SELECT timestamp_ns, id, payload FROM events WHERE trace_id = $1"
                   " AND (timestamp_ns, id) > ($2, $3::uuid)"
                   " ORDER BY timestamp_ns, id LIMIT $4",
                   *canonical, cursor->timestamp_ns, cursor->event_id,
                   static_cast<int64_t>(size) + 1);
        } else {
          r = Exec(tx, c,
                   "SELECT timestamp_ns, id, payload FROM events WHERE trace_id = $1"
                   " ORDER BY timestamp_ns, id LIMIT $2",
                   *canonical, static_cast<int64_t>(size) + 1);
        }
        if (r.empty()) {
          const pqxx::result exists =
              Exec(tx, c, "SELECT 1 FROM trace_summaries WHERE trace_id = $1", *canonical);
          if (exists.empty()) {
            return absl::NotFoundError(absl::StrCat("trace ", *canonical, " not found"));
          }
        }
        Page<Event> out;
        const size_t n = std::min<size_t>(r.size(), size);
        out.items.resize(n);
        for (size_t i = 0; i < n; ++i) {
          if (absl::Status st = ParseEvent(r[i][2], &out.items[i]); !st.ok()) return st;
        }
        if (r.size() > size) {
          out.next_page_token =
              common::EncodeEventCursor({r[n - 1][0].as<int64_t>(), r[n - 1][1].as<std::string>()});
        }
        tx.commit();
        return out;
      });
}

absl::StatusOr<Page<TraceSummary>> PostgresStorage::ListTraces(const TraceFilter& filter,
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
  std::vector<std::string> params;
  std::string where = " WHERE true";
  if (filter.last_activity.start_ns) {
    params.push_back(absl::StrCat(*filter.last_activity.start_ns));
    absl::StrAppend(&where, " AND t.last_ns >= $", params.size());
  }
  if (filter.last_activity.end_ns) {
    params.push_back(absl::StrCat(*filter.last_activity.end_ns));
    absl::StrAppend(&where, " AND t.last_ns < $", params.size());
  }
  if (filter.min_events > 0) {
    params.push_back(absl::StrCat(filter.min_events));
    absl::StrAppend(&where, " AND t.event_count >= $", params.size());
  }
  if (!filter.service.empty()) {
    params.push_back(filter.service);
    absl::StrAppend(&where,
                    " AND EXISTS (SELECT 1 FROM trace_services s WHERE s.trace_id = t.trace_id"
                    " AND s.service_name = $",
                    params.size(), ")");
  }
  const std::vector<std::string> count_params = params;
  const std::string count_sql = absl::StrCat("SELECT count(*) FROM trace_summaries t", where);
  std::string page_where = where;
  if (cursor) {
    params.push_back(absl::StrCat(cursor->last_ns));
    params.push_back(cursor->trace_id);
    absl::StrAppend(&page_where, " AND (t.last_ns, t.trace_id) < ($", params.size() - 1,
                    "::bigint, $", params.size(), "::uuid)");
  }
  params.push_back(absl::StrCat(static_cast<int64_t>(size) + 1));
  const std::string page_sql =
      absl::StrCat("SELECT t.trace_id, t.event_count, t.first_ns, t.last_ns FROM trace_summaries t",
                   page_where, " ORDER BY t.last_ns DESC, t.trace_id DESC LIMIT $", params.size());

  return Run<Page<TraceSummary>>(
      Reader(), "list traces", [&](PgConnection& c) -> absl::StatusOr<Page<TraceSummary>> {
        pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c.conn());
        if (total != nullptr) {
          *total = ExecDynamic(tx, c, count_sql, count_params)[0][0].as<uint64_t>();
        }
        const pqxx::result r = ExecDynamic(tx, c, page_sql, params);
        Page<TraceSummary> out;
        const size_t n = std::min<size_t>(r.size(), size);
        absl::flat_hash_map<std::string, size_t> pos;
        ArrayLiteral ids;
        for (size_t i = 0; i < n; ++i) {
          TraceSummary s;
          s.trace_id = r[i][0].as<std::string>();
          s.event_count = r[i][1].as<uint64_t>();
          s.first_ns = r[i][2].as<int64_t>();
          s.last_ns = r[i][3].as<int64_t>();
          pos[s.trace_id] = i;
          ids.Raw(s.trace_id);
          out.items.push_back(std::move(s));
        }
        if (n > 0) {
          const pqxx::result svc =
              Exec(tx, c,
                   "SELECT trace_id, service_name FROM trace_services"
                   " WHERE trace_id = ANY($1::uuid[]) ORDER BY trace_id, service_name",
                   ids.Done());
          for (const auto& row : svc) {
            auto it = pos.find(row[0].as<std::string>());
            if (it != pos.end()) out.items[it->second].services.push_back(row[1].as<std::string>());
          }
        }
        if (r.size() > size) {
          out.next_page_token =
              common::EncodeTraceCursor({out.items.back().last_ns, out.items.back().trace_id});
        }
        tx.commit();
        return out;
      });
}

absl::StatusOr<Page<VariableAccess>> PostgresStorage::GetVariableAccesses(
    const std::string& variable, const TimeRange& range, const PageRequest& page) {
  std::optional<common::AccessCursor> cursor;
  if (!page.page_token.empty()) {
    auto cur = common::DecodeAccessCursor(page.page_token);
    if (!cur.ok()) return cur.status();
    cursor = std::move(*cur);
  }
  const uint32_t size =
      common::ClampPageSize(page.page_size, common::kAccessesPageDefault, common::kAccessesPageCap);
  std::vector<std::string> params;
  std::string sql =
      "SELECT variable, timestamp_ns, event_id, trace_id, thread_id, service_name, access_type,"
      " location, lock_set_json::text, distributed_span_id, upstream_span_id"
      " FROM cross_trace_index WHERE true";
  if (!variable.empty()) {
    params.push_back(variable);
    absl::StrAppend(&sql, " AND variable = $", params.size());
  }
  if (range.start_ns) {
    params.push_back(absl::StrCat(*range.start_ns));
    absl::StrAppend(&sql, " AND timestamp_ns >= $", params.size());
  }
  if (range.end_ns) {
    params.push_back(absl::StrCat(*range.end_ns));
    absl::StrAppend(&sql, " AND timestamp_ns < $", params.size());
  }
  if (cursor) {
    params.push_back(cursor->variable);
    params.push_back(absl::StrCat(cursor->timestamp_ns));
    params.push_back(cursor->event_id);
    absl::StrAppend(&sql, " AND (variable, timestamp_ns, event_id) > ($", params.size() - 2,
                    "::text COLLATE \"C\", $", params.size() - 1, "::bigint, $", params.size(),
                    "::uuid)");
  }
  params.push_back(absl::StrCat(static_cast<int64_t>(size) + 1));
  absl::StrAppend(&sql, " ORDER BY variable, timestamp_ns, event_id LIMIT $", params.size());

  return Run<Page<VariableAccess>>(
      Reader(), "variable accesses", [&](PgConnection& c) -> absl::StatusOr<Page<VariableAccess>> {
        pqxx::nontransaction tx(c.conn());
        const pqxx::result r = ExecDynamic(tx, c, sql, params);
        Page<VariableAccess> out;
        const size_t n = std::min<size_t>(r.size(), size);
        out.items.reserve(n);
        for (size_t i = 0; i < n; ++i) {
          const auto& row = r[i];
          VariableAccess a;
          a.variable = row[0].as<std::string>();
          a.timestamp_ns = row[1].as<int64_t>();
          a.event_id = row[2].as<std::string>();
          a.trace_id = row[3].as<std::string>();
          a.thread_id = row[4].as<std::string>();
          a.service_name = row[5].as<std::string>();
          raceway::v1::AccessType t = raceway::v1::ACCESS_TYPE_UNSPECIFIED;
          raceway::v1::AccessType_Parse(absl::StrCat("ACCESS_TYPE_", row[6].c_str()), &t);
          a.access_type = t;
          a.location = row[7].as<std::string>();
          if (!row[8].is_null()) {
            auto locks = common::ParseStringArrayJson(row[8].c_str());
            if (!locks.ok()) return locks.status();
            a.lock_set = std::move(*locks);
          }
          a.distributed_span_id = row[9].as<std::string>();
          a.upstream_span_id = row[10].as<std::string>();
          out.items.push_back(std::move(a));
        }
        if (r.size() > size) {
          const VariableAccess& last = out.items.back();
          out.next_page_token =
              common::EncodeAccessCursor({last.variable, last.timestamp_ns, last.event_id});
        }
        return out;
      });
}

absl::StatusOr<std::vector<Baseline>> PostgresStorage::GetBaselines(
    const std::vector<std::string>& operations) {
  if (operations.empty()) return std::vector<Baseline>{};
  ArrayLiteral ops;
  for (const std::string& op : operations) ops.Text(op);
  const std::string list = ops.Done();
  return Run<std::vector<Baseline>>(
      Reader(), "baselines", [&](PgConnection& c) -> absl::StatusOr<std::vector<Baseline>> {
        pqxx::nontransaction tx(c.conn());
        const pqxx::result r =
            Exec(tx, c,
                 "SELECT operation, count, mean, m2, min_ns, max_ns FROM baseline_metrics"
                 " WHERE operation = ANY($1::text[])",
                 list);
        absl::flat_hash_map<std::string, Baseline> found;
        for (const auto& row : r) {
          Baseline b;
          b.operation = row[0].as<std::string>();
          b.count = row[1].as<uint64_t>();
          b.mean = row[2].as<double>();
          b.m2 = row[3].as<double>();
          b.min = row[4].as<double>();
          b.max = row[5].as<double>();
          found.emplace(b.operation, std::move(b));
        }
        std::vector<Baseline> out;
        absl::flat_hash_set<std::string> seen;
        for (const std::string& op : operations) {
          if (!seen.insert(op).second) continue;
          auto it = found.find(op);
          if (it != found.end()) out.push_back(it->second);
        }
        return out;
      });
}

absl::StatusOr<std::vector<ServiceStats>> PostgresStorage::ListServices() {
  return Run<std::vector<ServiceStats>>(
      Reader(), "list services", [&](PgConnection& c) -> absl::StatusOr<std::vector<ServiceStats>> {
        pqxx::nontransaction tx(c.conn());
        const pqxx::result r =
            Exec(tx, c,
                 "SELECT service_name, sum(event_count), count(*), min(first_ns), max(last_ns)"
                 " FROM trace_services GROUP BY service_name ORDER BY service_name");
        std::vector<ServiceStats> out;
        out.reserve(r.size());
        for (const auto& row : r) {
          out.push_back({row[0].as<std::string>(), row[1].as<uint64_t>(), row[2].as<uint64_t>(),
                         row[3].as<int64_t>(), row[4].as<int64_t>()});
        }
        return out;
      });
}

absl::StatusOr<std::vector<ServiceCallRow>> PostgresStorage::ListServiceCalls(
    const TimeRange& range) {
  std::vector<std::string> params;
  const std::string traces = TracesInRange(range, params);
  const std::string sql = absl::StrCat(
      "WITH t AS (", traces,
      ")"
      " SELECT from_service, to_service, 'Parent', sum(call_count), count(*)"
      " FROM service_calls JOIN t USING (trace_id) GROUP BY from_service, to_service"
      " UNION ALL"
      " SELECT u.service_name, d.service_name, e.link_type, count(*), count(DISTINCT e.trace_id)"
      " FROM span_edges e JOIN t USING (trace_id)"
      " JOIN spans u ON u.trace_id = e.trace_id AND u.span_id = e.from_span_id"
      " JOIN spans d ON d.trace_id = e.trace_id AND d.span_id = e.to_span_id"
      " WHERE u.service_name <> d.service_name"
      " GROUP BY u.service_name, d.service_name, e.link_type");
  return Run<std::vector<ServiceCallRow>>(
      Reader(), "service calls",
      [&](PgConnection& c) -> absl::StatusOr<std::vector<ServiceCallRow>> {
        pqxx::nontransaction tx(c.conn());
        const pqxx::result r = ExecDynamic(tx, c, sql, params);
        std::map<std::tuple<std::string, std::string, std::string>, ServiceCallRow> rows;
        for (const auto& row : r) {
          ServiceCallRow s{row[0].as<std::string>(), row[1].as<std::string>(),
                           row[2].as<std::string>(), row[3].as<uint64_t>(), row[4].as<uint64_t>()};
          ServiceCallRow& into = rows[{s.from_service, s.to_service, s.link_type}];
          if (into.from_service.empty() && into.call_count == 0) {
            into = std::move(s);
          } else {
            into.call_count += s.call_count;
            into.trace_count += s.trace_count;
          }
        }
        std::vector<ServiceCallRow> out;
        out.reserve(rows.size());
        for (auto& [k, v] : rows) out.push_back(std::move(v));
        return out;
      });
}

absl::StatusOr<std::vector<VariableStats>> PostgresStorage::TopVariables(const TimeRange& range,
                                                                         uint32_t limit) {
  if (limit == 0) return std::vector<VariableStats>{};
  std::vector<std::string> params;
  const std::string traces = TracesInRange(range, params);
  params.push_back(absl::StrCat(limit));
  const std::string sql =
      absl::StrCat("WITH t AS (", traces,
                   ")"
                   " SELECT v.variable, sum(v.access_count) AS n, count(DISTINCT v.trace_id),"
                   "  to_json(array_agg(DISTINCT v.service_name ORDER BY v.service_name))::text"
                   " FROM trace_variables v JOIN t USING (trace_id)"
                   " GROUP BY v.variable ORDER BY n DESC, v.variable LIMIT $",
                   params.size());
  return Run<std::vector<VariableStats>>(
      Reader(), "top variables",
      [&](PgConnection& c) -> absl::StatusOr<std::vector<VariableStats>> {
        pqxx::nontransaction tx(c.conn());
        const pqxx::result r = ExecDynamic(tx, c, sql, params);
        std::vector<VariableStats> out;
        out.reserve(r.size());
        for (const auto& row : r) {
          VariableStats v;
          v.variable = row[0].as<std::string>();
          v.access_count = row[1].as<uint64_t>();
          v.trace_count = row[2].as<uint64_t>();
          auto services = common::ParseStringArrayJson(row[3].c_str());
          if (!services.ok()) return services.status();
          v.services = std::move(*services);
          out.push_back(std::move(v));
        }
        return out;
      });
}

absl::StatusOr<std::vector<DurationStats>> PostgresStorage::Durations(const char* table,
                                                                      const char* column,
                                                                      const TimeRange& range) {
  std::vector<std::string> params;
  const std::string traces = TracesInRange(range, params);
  const std::string sql =
      absl::StrCat("WITH t AS (", traces,
                   ")"
                   " SELECT x.",
                   column,
                   ", sum(x.duration_count), sum(x.duration_sum_ns)"
                   " FROM ",
                   table,
                   " x JOIN t USING (trace_id)"
                   " GROUP BY x.",
                   column, " HAVING sum(x.duration_count) > 0 ORDER BY x.", column);
  return Run<std::vector<DurationStats>>(
      Reader(), "durations", [&](PgConnection& c) -> absl::StatusOr<std::vector<DurationStats>> {
        pqxx::nontransaction tx(c.conn());
        const pqxx::result r = ExecDynamic(tx, c, sql, params);
        std::vector<DurationStats> out;
        out.reserve(r.size());
        for (const auto& row : r) {
          const uint64_t n = row[1].as<uint64_t>();
          out.push_back(
              {row[0].as<std::string>(), n, row[2].as<double>() / static_cast<double>(n)});
        }
        return out;
      });
}

absl::StatusOr<std::vector<DurationStats>> PostgresStorage::DurationsByKind(
    const TimeRange& range) {
  return Durations("trace_kinds", "kind", range);
}

absl::StatusOr<std::vector<DurationStats>> PostgresStorage::DurationsByService(
    const TimeRange& range) {
  return Durations("trace_services", "service_name", range);
}

absl::StatusOr<uint64_t> PostgresStorage::CountEvents() {
  return Run<uint64_t>(Reader(), "count events", [&](PgConnection& c) -> uint64_t {
    pqxx::nontransaction tx(c.conn());
    return Exec(tx, c, "SELECT coalesce(sum(event_count), 0) FROM trace_summaries")[0][0]
        .as<uint64_t>();
  });
}

absl::StatusOr<uint64_t> PostgresStorage::CountTraces() {
  return Run<uint64_t>(Reader(), "count traces", [&](PgConnection& c) -> uint64_t {
    pqxx::nontransaction tx(c.conn());
    return Exec(tx, c, "SELECT count(*) FROM trace_summaries")[0][0].as<uint64_t>();
  });
}

}  // namespace postgres
}  // namespace raceway::storage
