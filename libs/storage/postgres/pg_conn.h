#ifndef RACEWAY_LIBS_STORAGE_POSTGRES_PG_CONN_H_
#define RACEWAY_LIBS_STORAGE_POSTGRES_PG_CONN_H_

// One libpqxx connection as the PostgreSQL backend uses it, plus the mapping
// of libpqxx exceptions to absl::Status. Internal to libs/storage/postgres.
//
// Two modes:
// - direct ("postgres"): server-side named prepared statements are used for
//   the hot queries.
// - pooler ("supabase"): the connection goes through a transaction-mode
//   pooler (pgbouncer, Supavisor). Consecutive transactions may run on
//   different server sessions, so nothing may outlive a transaction: no
//   named prepared statements (statements go as unnamed PQexecParams), no
//   session-level SET, advisory locks or temp tables. (The backend keeps no
//   session state in either mode apart from the prepared statements.)
//
// Thread safety: a PgConnection is used by one thread at a time (the pool
// hands it out through a Lease).

#include <cstdint>
#include <exception>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace raceway::storage::postgres {

struct PgConnOptions {
  std::string conninfo;  // libpq URL or key=value string, passed through.
  bool pooler_mode = false;
  uint32_t connect_timeout_seconds = 30;
};

// Adds connect_timeout (unless the string sets it) and
// application_name=raceway (unless set) to a libpq URL or key=value
// string. Everything else, sslmode included, is passed through untouched.
std::string AddConnectDefaults(const std::string& conninfo, uint32_t connect_timeout_seconds);

// libpq URL scheme check: "postgres://" or "postgresql://".
bool IsPostgresUrl(std::string_view conninfo);

class PgConnection {
 public:
  // UNAVAILABLE when the server cannot be reached; INVALID_ARGUMENT for a
  // malformed connection string.
  static absl::StatusOr<std::unique_ptr<PgConnection>> Open(const PgConnOptions& options);

  pqxx::connection& conn() { return *conn_; }
  bool pooler_mode() const { return pooler_mode_; }

  // Non-blocking liveness check (reads what the server may have sent, e.g.
  // the FATAL of a shutdown, without a round trip); after a long idle period
  // also a round trip. False = discard this connection.
  bool Alive(absl::Duration idle_for);

  // In direct mode declares `sql` as the named prepared statement `name`
  // (once per connection) and returns true; in pooler mode returns false
  // and the caller sends the statement unnamed (exec_params).
  bool Prepare(const std::string& name, const std::string& sql);

 private:
  PgConnection(std::unique_ptr<pqxx::connection> conn, bool pooler_mode)
      : conn_(std::move(conn)), pooler_mode_(pooler_mode) {}

  std::unique_ptr<pqxx::connection> conn_;
  bool pooler_mode_;
  absl::flat_hash_set<std::string> prepared_;
};

// How a failed operation ended, for the retry policy of the callers.
enum class FailureKind {
  kConnectionLost,  // The connection is unusable: discard; retry is safe
                    // unless the failure was during COMMIT (kInDoubt).
  kInDoubt,         // Connection lost during COMMIT: outcome unknown.
  kRetryable,       // Deadlock / serialization failure: retry the transaction.
  kOther,           // SQL or data error: connection still usable.
  kUnknownState,    // Non-SQL failure: discard the connection to be safe.
};

struct MappedError {
  absl::Status status;
  FailureKind kind = FailureKind::kOther;
};

// Maps a libpqxx (or any std) exception to a status whose message starts
// with `context`:
//   broken_connection, SQLSTATE 08xxx, 57P0x (shutdown), 53xxx (too many
//   connections, out of resources)   -> UNAVAILABLE
//   in_doubt_error                     -> UNAVAILABLE (commit outcome unknown)
//   deadlock / serialization failure   -> ABORTED
//   42P01 / 42703 (undefined table or column: schema missing) -> FAILED_PRECONDITION
//   57014 (statement timeout)          -> DEADLINE_EXCEEDED
//   22xxx (data exception)             -> INVALID_ARGUMENT
//   anything else                      -> INTERNAL
MappedError MapException(const std::exception& e, std::string_view context);

}  // namespace raceway::storage::postgres

#endif  // RACEWAY_LIBS_STORAGE_POSTGRES_PG_CONN_H_
