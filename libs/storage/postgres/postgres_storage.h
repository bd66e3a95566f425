#ifndef RACEWAY_LIBS_STORAGE_POSTGRES_POSTGRES_STORAGE_H_
#define RACEWAY_LIBS_STORAGE_POSTGRES_POSTGRES_STORAGE_H_

// PostgreSQL backend ("postgres") and its transaction-pooler mode
// ("supabase"), on libpqxx 6.4. Schema: migrations/postgres/.
//
// Thread safety: every method may be called concurrently from any number of
// threads (storage.h). Each call leases one connection from a bounded pool
// (max_connections, min_connections, connection_timeout_seconds: the wait
// for a free connection and the connect timeout); the reader side uses a
// second pool on replica_connection_string when one is configured
// (replication lag applies to it). No exception escapes: libpqxx errors map
// to UNAVAILABLE (connection lost, server down or starting, pool exhausted,
// commit outcome unknown), ABORTED (deadlock/serialization, after internal
// retries), FAILED_PRECONDITION (schema missing/out of date), INTERNAL.
// A connection that fails is discarded and replaced; a call that fails
// because an idle connection went stale (server restart) is retried on a
// fresh connection, so the storage recovers by itself once the server is back.
//
// WriteBatch, in ONE transaction:
//   1. (only on a retry, see 2) SELECT id FROM events WHERE id = ANY($1):
//      the batch's duplicates (positions in WriteResult.duplicate_indices);
//   2. COPY the new events (sorted by id) straight into events. The COPY
//      text is built here while the server consumes the previous chunk
//      (~1 MiB chunks through pqxx::tablewriter's raw-line path: one
//      PQputCopyData per chunk instead of stream_to's per-field
//      conversions). No staging table: the first attempt assumes no stored
//      ids (re-sent batches are rare); a stored id, or one another writer
//      commits concurrently, makes the COPY fail with a unique violation,
//      and the transaction is retried with step 1. Measured ~1.6x faster
//      than the staging design (COPY into a TEMP table, then INSERT ...
//      SELECT ... ON CONFLICT DO NOTHING per table), which writes every row
//      twice and needs a temp table (catalog churn; session state behind a
//      pooler);
//   3. ONE round trip (a multi-statement simple query, arguments inlined as
//      escaped array literals) for: causal_edges, trace_roots and
//      cross_trace_index rows (INSERT ... SELECT FROM unnest(...)); the
//      per-key deltas of common::Aggregate (new events only) as upserts
//      (additive counts, LEAST/GREATEST, the parallel Welford merge for
//      baseline_metrics), keys in sorted order (deterministic lock order);
//      and, last, pg_advisory_xact_lock(kParentLockKey);
//   4. parent-edge service calls (common::ResolveParentCalls): one round
//      trip reads the children waiting for the new events and the services
//      of stored parents (after the lock, so every concurrent writer's
//      commit is visible), one writes the calls and new waiting children.
//      Only this short tail (and COMMIT) is serialized between concurrent
//      writers, so a parent and its child committed concurrently by two
//      writers are always paired exactly once.
// Six round trips per batch in all (BEGIN, COPY, 3, 4a, 4b, COMMIT).
// "supabase" mode never uses named prepared statements (unnamed
// PQexecParams or simple queries) nor session state; "postgres" mode
// prepares the read queries per connection.
//
// Retention (DeleteTracesBefore): batched deletes driven by the
// trace_summaries (last_ns) index, 500 traces per short transaction, with
// FOR UPDATE SKIP LOCKED so traces being written are left for the next run
// and ingest never waits behind a long lock. Why not a time-partitioned
// events table: the id primary key that makes ingest idempotent must be
// unique across the whole table, which PostgreSQL only allows on a
// partitioned table when the partition key is part of it; and retention is
// by trace (last activity), not by event timestamp, so a partition could
// only be dropped once every trace touching it had expired (late or
// out-of-order events would pin old partitions). Batched deletes keep the
// semantics exact; autovacuum reclaims the space.
//
// Connection strings are passed to libpq unchanged (sslmode, sslrootcert,
// target_session_attrs, ...), plus connect_timeout, application_name=raceway
// and client_encoding=UTF8 unless already set.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/storage/factory.h"
#include "libs/storage/postgres/pool.h"
#include "libs/storage/storage.h"

namespace raceway::storage {

// Opens options.backend "postgres" or "supabase" on
// options.connection_string (and migrates when options.auto_migrate).
absl::StatusOr<std::unique_ptr<Storage>> OpenPostgresStorage(const StorageOptions& options);

namespace postgres {

class PgConnection;
using PgPool = dbutil::ConnectionPool<PgConnection>;

// Advisory-lock key serializing the parent-call tail of concurrent writers
// (and retention's deletes of those rows).
inline constexpr int64_t kParentLockKey = 0x7261636570617274;  // "raceprt"

class PostgresStorage final : public Storage {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresStorage>> Open(const StorageOptions& options);
  ~PostgresStorage() override;

  std::string BackendName() const override { return pooler_mode_ ? "supabase" : "postgres"; }

  absl::StatusOr<WriteResult> WriteBatch(
      std::span<const raceway::v1::Event* const> events) override;
  absl::StatusOr<uint64_t> DeleteTracesBefore(int64_t cutoff_ns) override;
  absl::Status Clear() override;

  absl::StatusOr<raceway::v1::Event> GetEvent(const std::string& id) override;
  absl::StatusOr<TraceSummary> GetTraceSummary(const std::string& trace_id) override;
  absl::StatusOr<std::vector<raceway::v1::Event>> GetTraceEvents(
      const std::string& trace_id) override;
  absl::StatusOr<Page<raceway::v1::Event>> GetTraceEventsPage(const std::string& trace_id,
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

  // Observability (and tests).
  dbutil::PoolStats WriterPoolStats() const;
  dbutil::PoolStats ReaderPoolStats() const;

 private:
  PostgresStorage(const StorageOptions& options, bool pooler_mode);

  template <typename T, typename Fn>
  absl::StatusOr<T> Run(PgPool& pool, const char* what, Fn&& fn);
  PgPool& Reader() { return replica_pool_ ? *replica_pool_ : *pool_; }
  absl::StatusOr<std::vector<DurationStats>> Durations(const char* table, const char* column,
                                                       const TimeRange& range);

  const StorageOptions options_;
  const bool pooler_mode_;
  std::unique_ptr<PgPool> pool_;          // Writes (and reads without a replica).
  std::unique_ptr<PgPool> replica_pool_;  // Reads, when a replica is configured.
};

}  // namespace postgres
}  // namespace raceway::storage

#endif  // RACEWAY_LIBS_STORAGE_POSTGRES_POSTGRES_STORAGE_H_
