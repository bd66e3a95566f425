// The storage conformance suite (tests/storage/conformance.cc) on the SQL
// backends: PostgreSQL, Supabase mode through pgbouncer in transaction
// pooling mode, and MySQL (MariaDB). Each test gets a cleared database.
// Needs the servers of tests/support/testdb.sh: under CI a missing URL fails,
// by hand the tests are skipped.

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/storage/conformance.h"
#include "tests/storage_sql/sql_test_util.h"
#include "tests/support/tsan_uninstrumented.h"

namespace raceway::storage::testing {
namespace {

// A missing URL makes open() fail: under CI that fails the test, by hand
// the instantiation is skipped through a status the suite reports.
absl::StatusOr<std::unique_ptr<Storage>> Open(const char* env, const char* backend,
                                              const char* suffix) {
  const char* url = std::getenv(env);
  if (url == nullptr || *url == '\0') {
    return absl::FailedPreconditionError(
        absl::StrCat(env,
                     " is not set: run through scripts/test or source the env.sh of "
                     "tests/support/testdb.sh"));
  }
  std::string target = url;
  if (suffix != nullptr) {
    target = WithDatabase(url, DatabaseOf(url) + suffix);
    const absl::Status st = std::string(backend) == "mysql" ? EnsureMysqlDatabase(target)
                                                            : EnsurePostgresDatabase(target);
    if (!st.ok()) return st;
  }
  return OpenCleared(backend, target);
}

absl::StatusOr<std::unique_ptr<Storage>> OpenPostgres() {
  return Open("RACEWAY_TEST_POSTGRES_URL", "postgres", "_conformance");
}
absl::StatusOr<std::unique_ptr<Storage>> OpenSupabase() {
  return Open("RACEWAY_TEST_SUPABASE_URL", "supabase", nullptr);
}
absl::StatusOr<std::unique_ptr<Storage>> OpenMysql() {
  return Open("RACEWAY_TEST_MYSQL_URL", "mysql", "_conformance");
}

INSTANTIATE_TEST_SUITE_P(Sql, StorageConformanceTest,
                         ::testing::Values(BackendFactory{"postgres", &OpenPostgres},
                                           BackendFactory{"supabase", &OpenSupabase},
                                           BackendFactory{"mysql", &OpenMysql}),
                         BackendFactoryName);

}  // namespace
}  // namespace raceway::storage::testing
