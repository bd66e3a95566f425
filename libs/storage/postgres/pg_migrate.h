#ifndef RACEWAY_LIBS_STORAGE_POSTGRES_PG_MIGRATE_H_
#define RACEWAY_LIBS_STORAGE_POSTGRES_PG_MIGRATE_H_

// MigrationTarget for PostgreSQL (and Supabase through a transaction
// pooler). The whole run is ONE transaction holding
// pg_advisory_xact_lock(kMigrationLockKey): PostgreSQL has transactional DDL,
// so either every pending migration (and its schema_migrations row) commits
// or none does, and a transaction-scoped lock is also what works through a
// transaction pooler (a session-level pg_advisory_lock could be taken on one
// server session and "released" on another). Replicas starting together
// queue on the lock; the next one then sees the committed schema_migrations
// and applies nothing.
//
// Lock() begins the transaction and takes the lock; Unlock() commits (or
// rolls back when an Apply failed). Used from one thread.

#include <cstdint>
#include <memory>
#include <pqxx/pqxx>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/storage/migrations.h"

namespace raceway::storage::postgres {

// Arbitrary constant: "raceway" in ASCII, as a bigint advisory-lock key.
inline constexpr int64_t kMigrationLockKey = 0x72616365776179;

class PgMigrationTarget final : public MigrationTarget {
 public:
  // lock_timeout_seconds bounds the wait for a concurrent migrator (and for
  // table locks taken by the DDL); 0 = wait indefinitely.
  PgMigrationTarget(pqxx::connection& conn, uint32_t lock_timeout_seconds)
      : conn_(conn), lock_timeout_seconds_(lock_timeout_seconds) {}
  ~PgMigrationTarget() override;

  absl::Status Lock() override;
  absl::Status Unlock() override;
  absl::Status EnsureMigrationTable() override;
  absl::StatusOr<std::vector<AppliedMigration>> AppliedMigrations() override;
  absl::Status Apply(const Migration& migration) override;

 private:
  pqxx::connection& conn_;
  const uint32_t lock_timeout_seconds_;
  std::unique_ptr<pqxx::work> tx_;
  bool failed_ = false;
};

}  // namespace raceway::storage::postgres

#endif  // RACEWAY_LIBS_STORAGE_POSTGRES_PG_MIGRATE_H_
