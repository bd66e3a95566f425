#ifndef RACEWAY_TESTS_STORAGE_SQL_SQL_TEST_UTIL_H_
#define RACEWAY_TESTS_STORAGE_SQL_SQL_TEST_UTIL_H_

// Helpers for the PostgreSQL / Supabase / MySQL backend tests. They run
// against the servers of tests/support/testdb.sh (RACEWAY_TEST_*_URL).
//
// Isolation: each test binary works in its own databases, derived from the
// harness URLs by suffixing the database name (raceway_pg -> raceway_pg_<s>)
// and created on first use, so test binaries (and other people's tests on
// the shared servers) never wipe each other's data. The Supabase URL goes
// through pgbouncer, which only routes its configured database: those tests
// use it as is.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/storage/factory.h"
#include "libs/storage/storage.h"

namespace raceway::storage::testing {

// `url` with its database name replaced (postgres and mysql URLs).
std::string WithDatabase(const std::string& url, const std::string& database);
std::string DatabaseOf(const std::string& url);

// Creates the database named in `url` when missing (connecting to the
// harness database for the CREATE).
absl::Status EnsurePostgresDatabase(const std::string& url);
absl::Status EnsureMysqlDatabase(const std::string& url);

// Drops every table of the database (schema public / the whole database),
// for tests that need to start from an unmigrated database.
absl::Status ResetPostgresDatabase(const std::string& url);
absl::Status ResetMysqlDatabase(const std::string& url);

// Runs one SQL statement (no result) through a plain driver connection.
absl::Status ExecPostgres(const std::string& url, const std::string& sql);
absl::Status ExecMysql(const std::string& url, const std::string& sql);
// First column of the first row as text ("" when no row).
absl::StatusOr<std::string> QueryPostgres(const std::string& url, const std::string& sql);
absl::StatusOr<std::string> QueryMysql(const std::string& url, const std::string& sql);

StorageOptions SqlOptions(const std::string& backend, const std::string& url);

// Opens the backend on `url` and clears it (a fresh, empty storage).
absl::StatusOr<std::unique_ptr<Storage>> OpenCleared(const std::string& backend,
                                                     const std::string& url);

}  // namespace raceway::storage::testing

#endif  // RACEWAY_TESTS_STORAGE_SQL_SQL_TEST_UTIL_H_
