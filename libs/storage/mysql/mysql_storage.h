#ifndef RACEWAY_LIBS_STORAGE_MYSQL_MYSQL_STORAGE_H_
#define RACEWAY_LIBS_STORAGE_MYSQL_MYSQL_STORAGE_H_

// MySQL / MariaDB backend ("mysql") on MySQL Connector/C++ 1.1 (JDBC-style
// API). Schema: migrations/mysql/ (InnoDB, utf8mb4, BINARY(16) ids,
// VARBINARY identifiers ordered bytewise, JSON columns).
//
// Thread safety: every method may be called concurrently from any number of
// threads (storage.h). Each call leases one connection from a bounded pool
// (max_connections, min_connections, connection_timeout_seconds). No
// exception escapes: sql::SQLException maps to UNAVAILABLE (server gone,
// lost connection, too many connections, pool exhausted), ABORTED (deadlock
// or lock wait timeout, after internal retries), FAILED_PRECONDITION (schema
// missing), INVALID_ARGUMENT (value rejected), INTERNAL. Lost connections
// are discarded and replaced; a call that fails on a stale idle connection
// (server restart) is retried on a fresh one.
//
// WriteBatch, in ONE transaction (READ COMMITTED):
//   1. (only on a retry, see 2) SELECT the batch's ids already stored;
//   2. multi-row prepared INSERTs of the new events (chunks of up to 500
//      rows / ~4 MiB). The first attempt assumes no stored ids (re-sent
//      batches are rare): a stored id, or one a concurrent writer commits
//      meanwhile, fails the insert with a duplicate key and the whole batch
//      is retried with step 1, which then counts it as a duplicate;
//   3. INSERT IGNORE of causal_edges, trace_roots and cross_trace_index rows;
//   4. the per-key deltas of common::Aggregate as multi-row
//      INSERT ... ON DUPLICATE KEY UPDATE (additive counts, LEAST/GREATEST,
//      the parallel Welford merge for baseline_metrics with the assignments
//      ordered so each reads the old values), keys sorted;
//   5. the parent-call tail (common::ResolveParentCalls) while holding the
//      'parents' row of raceway_locks FOR UPDATE: only this tail is
//      serialized between concurrent writers.
//
// Retention: batches of 500 traces (SELECT ... FOR UPDATE SKIP LOCKED on
// trace_summaries by last_ns, then indexed deletes), one short transaction
// per batch.
//
// Migrations run under GET_LOCK('raceway_migrations', timeout) on a
// dedicated connection; MySQL DDL commits implicitly, so migration files are
// written to be re-runnable (IF NOT EXISTS).
//
// URL: mysql://user:password@host:port/database?ssl-mode=REQUIRED&ssl-ca=...
// (see my_conn.h for the parameters).

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

// Opens options.backend "mysql" on options.connection_string.
absl::StatusOr<std::unique_ptr<Storage>> OpenMysqlStorage(const StorageOptions& options);

namespace mysql {

class MyConnection;
using MyPool = dbutil::ConnectionPool<MyConnection>;

class MysqlStorage final : public Storage {
 public:
  static absl::StatusOr<std::unique_ptr<MysqlStorage>> Open(const StorageOptions& options);
  ~MysqlStorage() override;

  std::string BackendName() const override { return "mysql"; }

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

  dbutil::PoolStats PoolStats() const;

 private:
  explicit MysqlStorage(const StorageOptions& options);

  template <typename T, typename Fn>
  absl::StatusOr<T> Run(const char* what, Fn&& fn);
  absl::StatusOr<std::vector<DurationStats>> Durations(const char* table, const char* column,
                                                       const TimeRange& range);

  const StorageOptions options_;
  std::unique_ptr<MyPool> pool_;
};

}  // namespace mysql
}  // namespace raceway::storage

#endif  // RACEWAY_LIBS_STORAGE_MYSQL_MYSQL_STORAGE_H_
