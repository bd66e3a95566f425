#ifndef RACEWAY_LIBS_STORAGE_FACTORY_H_
#define RACEWAY_LIBS_STORAGE_FACTORY_H_

// Opens a Storage by backend name (ARCHITECTURE §7, §8). Thread-safe.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
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
  // sqlite: create the database file when the path names none. When false a
  // missing file is NOT_FOUND at open. Programs that choose their own path
  // (tests, `raceway migrate`) keep this default; the services' config
  // defaults to false (storage.create_if_missing, libs/service/config.h), so
  // a database deleted while stopped is not replaced by an empty one.
  bool create_if_missing = true;
  // Open for reading only (the query service): the database is never
  // created and its schema never changed (auto_migrate is ignored; pending
  // migrations are FAILED_PRECONDITION). sqlite: the file is opened
  // SQLITE_OPEN_READONLY and the write methods fail with
  // FAILED_PRECONDITION; it still reads a WAL database another process is
  // writing (the -shm file must exist or its directory be writable).
  // postgres/mysql: the schema is checked, not migrated.
  bool read_only = false;
  // Called, once per change, when the backend finds its own health changed
  // outside a failing call, so that the service can log it: today SQLite's
  // database file deleted, moved or replaced while open (UNAVAILABLE naming
  // the path; every call fails with it meanwhile) and the path naming the
  // opened file again (OK). Runs on a caller's or the backend's thread, must
  // not call the storage. Empty = not reported.
  std::function<void(const absl::Status&)> on_health_change;
};

// Parses a storage URL: "memory://", "sqlite:///abs/path.db" or
// "sqlite://rel/path.db", "postgres://…" / "postgresql://…",
// "supabase://…" (a postgres URL behind a transaction pooler; the scheme is
// rewritten to postgresql://), "mysql://…". INVALID_ARGUMENT otherwise.
absl::StatusOr<StorageOptions> StorageOptionsFromUrl(std::string_view url);

// Opens (and, with auto_migrate and not read_only, migrates) the configured
// backend. INVALID_ARGUMENT for an unknown backend (naming it), NOT_FOUND for
// a missing SQLite file that may not be created, UNAVAILABLE when the
// database cannot be reached, FAILED_PRECONDITION for schema problems.
absl::StatusOr<std::unique_ptr<Storage>> OpenStorage(const StorageOptions& options);

}  // namespace raceway::storage

#endif  // RACEWAY_LIBS_STORAGE_FACTORY_H_
