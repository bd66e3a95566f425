#ifndef RACEWAY_LIBS_STORAGE_MIGRATIONS_H_
#define RACEWAY_LIBS_STORAGE_MIGRATIONS_H_

// Versioned schema migrations (ARCHITECTURE §7). The SQL files
// migrations/<dialect>/NNN_name.sql are compiled into the binary at build
// time; the runner applies the pending ones in order, each in its own
// transaction, recording (version, name, checksum, applied_at) in
// schema_migrations, while holding a database-wide lock so that replicas
// starting together are safe. An applied migration whose checksum differs
// from the compiled one makes Migrate fail with FAILED_PRECONDITION naming
// it. A runner is used from one thread at a time.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace raceway::storage {

struct Migration {
  int version = 0;       // NNN
  std::string name;      // "initial_schema"
  std::string sql;       // File contents.
  std::string checksum;  // Hex SHA-256 of sql (computed at build time).
};

// The compiled-in migrations of a dialect ("sqlite", "postgres", "mysql"),
// ascending by version. Empty for an unknown dialect. Thread-safe.
// Migrate/GetMigrationStatus: INVALID_ARGUMENT for an unknown dialect,
// FAILED_PRECONDITION when the dialect has no compiled migrations, when the
// database records a version this binary does not know, or when a checksum
// differs ("migration 001_initial_schema was changed after it was applied
// ..."). Apply errors keep their code, prefixed with the migration's name.
const std::vector<Migration>& CompiledMigrations(std::string_view dialect);

struct AppliedMigration {
  int version = 0;
  std::string name;
  std::string checksum;
};

// What a backend provides to the runner: one connection, used serially.
// Migrate(apply = true) calls Lock, EnsureMigrationTable, AppliedMigrations,
// Apply for each pending migration in version order, and always Unlock after
// a successful Lock (also when something failed). Migrate(apply = false) and
// GetMigrationStatus only call AppliedMigrations (no lock, no DDL).
class MigrationTarget {
 public:
  virtual ~MigrationTarget() = default;
  // Takes / releases the database-wide migration lock (advisory lock,
  // GET_LOCK, or SQLite's BEGIN IMMEDIATE held across the run). Lock waits
  // for a concurrent migrator (bounded by the connection timeout).
  virtual absl::Status Lock() = 0;
  virtual absl::Status Unlock() = 0;
  // Creates schema_migrations if missing: version INTEGER PRIMARY KEY,
  // name, checksum (hex SHA-256), applied_at.
  virtual absl::Status EnsureMigrationTable() = 0;
  // Empty (not an error) when schema_migrations does not exist.
  virtual absl::StatusOr<std::vector<AppliedMigration>> AppliedMigrations() = 0;
  // Runs the migration's SQL and records it, atomically where the dialect
  // has transactional DDL.
  virtual absl::Status Apply(const Migration& migration) = 0;
};

struct MigrationStatus {
  std::vector<AppliedMigration> applied;
  std::vector<Migration> pending;
  // Applied by a newer release (versions above every compiled one): this
  // binary runs on such a schema (one-release compatibility).
  std::vector<AppliedMigration> newer;
};

// Verifies checksums and (when `apply`) applies pending migrations.
// With apply = false, pending migrations are reported as
// FAILED_PRECONDITION ("schema is out of date: migration 002_x not
// applied (1 pending); run `raceway migrate up`, or start the ingest
// service with auto_migrate = true ...").
absl::Status Migrate(MigrationTarget& target, std::string_view dialect, bool apply);

// Read-only report for `raceway migrate status`.
absl::StatusOr<MigrationStatus> GetMigrationStatus(MigrationTarget& target,
                                                   std::string_view dialect);

}  // namespace raceway::storage

#endif  // RACEWAY_LIBS_STORAGE_MIGRATIONS_H_
