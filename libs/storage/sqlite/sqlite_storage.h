#ifndef RACEWAY_LIBS_STORAGE_SQLITE_SQLITE_STORAGE_H_
#define RACEWAY_LIBS_STORAGE_SQLITE_SQLITE_STORAGE_H_

// The embedded SQLite backend (the default). Schema: migrations/sqlite/.
//
// Connections: one writer connection, guarded by a mutex, runs every write
// transaction (BEGIN IMMEDIATE, so a second process waits for the file's
// write lock instead of failing half-way); a pool of reader connections
// (up to StorageOptions::max_connections, at most 16, opened on demand)
// serves reads, each multi-statement read in one read transaction (a
// consistent WAL snapshot). Journal mode WAL, synchronous=NORMAL,
// busy_timeout = connection_timeout_seconds. Prepared statements are cached
// per connection. WAL checkpoints run on a background thread (its own
// connection), so page copies and fsync do not hold the write lock; the
// writer checkpoints inline only if the WAL reaches ~64 MiB.
//
// Several processes (e.g. the ingest and query services) may open the same
// file: SQLite's file locks serialize their writers, WAL lets readers run
// during writes, and the migration runner holds BEGIN IMMEDIATE so that
// concurrent openers migrate once. With StorageOptions::read_only (the query
// service) there is no writer connection: every connection is
// SQLITE_OPEN_READONLY, nothing is created or migrated, and the write
// methods fail with FAILED_PRECONDITION.
//
// The file is created at open only with create_if_missing (and never by a
// reader connection). Its identity (device, inode) is recorded at open; the
// path is stat()ed again before and after every COMMIT, at the start of
// every read and every 2 s on the background thread. While it names no file
// or another one (deleted, moved, replaced), every call fails with
// UNAVAILABLE naming the path, so nothing is acknowledged into an unlinked
// file; StorageOptions::on_health_change hears of each change once.
//
// Thread safety: all methods may be called concurrently from any threads.
// Errors: SQLITE_BUSY/LOCKED (another writer held the lock longer than the
// busy timeout), I/O errors and an unopenable file are UNAVAILABLE; a
// constraint violation or corrupt data is INTERNAL; no exception escapes.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "libs/storage/factory.h"
#include "libs/storage/migrations.h"
#include "libs/storage/storage.h"

namespace raceway::storage {

// Opens (with options.auto_migrate and not read_only, migrates)
// options.sqlite_path. NOT_FOUND naming the path when it does not exist and
// may not be created.
absl::StatusOr<std::unique_ptr<Storage>> OpenSqliteStorage(const StorageOptions& options);

// A migration target on its own connection to `path` (for `raceway migrate`
// and tests). Used from one thread at a time.
absl::StatusOr<std::unique_ptr<MigrationTarget>> OpenSqliteMigrationTarget(
    const std::string& path, int busy_timeout_ms = 30000);

}  // namespace raceway::storage

#endif  // RACEWAY_LIBS_STORAGE_SQLITE_SQLITE_STORAGE_H_
