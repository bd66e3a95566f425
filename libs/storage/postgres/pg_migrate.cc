#include "libs/storage/postgres/pg_migrate.h"

#include "absl/strings/str_cat.h"
#include "libs/storage/postgres/pg_conn.h"

namespace raceway::storage::postgres {

namespace {
constexpr char kCreateTable[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";
}  // namespace

PgMigrationTarget::~PgMigrationTarget() {
  if (tx_ != nullptr) {
    try {
      tx_->abort();
    } catch (...) {
    }
  }
}

absl::Status PgMigrationTarget::Lock() {
  try {
    tx_ = std::make_unique<pqxx::work>(conn_, "raceway_migrate");
    if (lock_timeout_seconds_ > 0) {
      tx_->exec(absl::StrCat("SET LOCAL lock_timeout = '", lock_timeout_seconds_, "s'"));
    }
    tx_->exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    failed_ = false;
    return absl::OkStatus();
  } catch (const std::exception& e) {
    tx_.reset();
    return MapException(e, "postgres migration lock").status;
  }
}

absl::Status PgMigrationTarget::Unlock() {
  if (tx_ == nullptr) return absl::OkStatus();
  std::unique_ptr<pqxx::work> tx = std::move(tx_);
  try {
    if (failed_) {
      tx->abort();
      return absl::OkStatus();
    }
    tx->commit();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return MapException(e, "postgres migration commit").status;
  }
}

absl::Status PgMigrationTarget::EnsureMigrationTable() {
  if (tx_ == nullptr) return absl::FailedPreconditionError("migration lock not held");
  try {
    // Quiet "relation already exists, skipping" notices.
    tx_->exec("SET LOCAL client_min_messages = warning");
    tx_->exec(kCreateTable);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    failed_ = true;
    return MapException(e, "postgres schema_migrations").status;
  }
}

absl::StatusOr<std::vector<AppliedMigration>> PgMigrationTarget::AppliedMigrations() {
  auto read = [](pqxx::transaction_base& tx) {
    std::vector<AppliedMigration> out;
    const pqxx::result exists = tx.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!exists[0][0].as<bool>()) return out;
    for (const auto& row :
         tx.exec("SELECT version, name, checksum FROM schema_migrations ORDER BY version")) {
      out.push_back({row[0].as<int>(), row[1].as<std::string>(), row[2].as<std::string>()});
    }
    return out;
  };
  try {
    if (tx_ != nullptr) return read(*tx_);
    pqxx::read_transaction tx(conn_);
    return read(tx);
  } catch (const std::exception& e) {
    if (tx_ != nullptr) failed_ = true;
    return MapException(e, "postgres schema_migrations").status;
  }
}

absl::Status PgMigrationTarget::Apply(const Migration& migration) {
  if (tx_ == nullptr) return absl::FailedPreconditionError("migration lock not held");
  try {
    tx_->exec(migration.sql);  // Simple-query protocol: several statements.
    tx_->exec_params("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                     migration.version, migration.name, migration.checksum);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    failed_ = true;
    return MapException(e, "postgres").status;
  }
}

}  // namespace raceway::storage::postgres
