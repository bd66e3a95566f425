#ifndef RACEWAY_LIBS_STORAGE_FACTORY_H_
#define RACEWAY_LIBS_STORAGE_FACTORY_H_

// Opens a Storage by backend name (ARCHITECTURE §7, §8). Thread-safe.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "libs/storage/storage.h"

namespace raceway::storage {

// Mirrors the [storage] section of raceway.toml.
struct StorageOptions {
  std::string backend = "sqlite";  // memory | sqlite | postgres | supabase | mysql
  // sqlite: file path (":memory:" is not allowed: use the memory backend).
  std::string sqlite_path = "./raceway.db";
  // postgres/supabase: libpq URL or key=value string; mysql: mysql://user:pass@host:port/db
  std::string connection_string;
  // Optional read-only replica used by the EventReader side (postgres).
  std::string replica_connection_string;
  uint32_t max_connections = 10;
  uint32_t min_connections = 2;
  uint32_t connection_timeout_seconds = 30;
  // Apply pending migrations at open. When false, opening an out-of-date
  // schema fails with FAILED_PRECONDITION naming the missing migration.
  bool auto_migrate = true;
};

// Parses a storage URL: "memory://", "sqlite:///abs/path.db" or
// "sqlite://rel/path.db", "postgres://…" / "postgresql://…",
// "supabase://…" (a postgres URL behind a transaction pooler; the scheme is
// rewritten to postgresql://), "mysql://…". INVALID_ARGUMENT otherwise.
absl::StatusOr<StorageOptions> StorageOptionsFromUrl(std::string_view url);

// Opens (and, with auto_migrate, migrates) the configured backend.
// INVALID_ARGUMENT for an unknown backend (naming it), UNAVAILABLE when the
// database cannot be reached, FAILED_PRECONDITION for schema problems.
absl::StatusOr<std::unique_ptr<Storage>> OpenStorage(const StorageOptions& options);

}  // namespace raceway::storage

#endif  // RACEWAY_LIBS_STORAGE_FACTORY_H_
