#ifndef RACEWAY_LIBS_STORAGE_MYSQL_MY_CONN_H_
#define RACEWAY_LIBS_STORAGE_MYSQL_MY_CONN_H_

// One MySQL Connector/C++ 1.1 connection as the MySQL backend uses it, the
// storage URL parser and the mapping of sql::SQLException to absl::Status.
// Internal to libs/storage/mysql. Every connector object (raw pointers in
// the connector's API) is owned by a std::unique_ptr.
//
// Session set-up: utf8mb4 (client, connection, results), READ COMMITTED
// (each statement of a write transaction sees what other writers committed,
// and InnoDB takes no gap locks on the event tables), autocommit on outside
// explicit transactions, no automatic reconnect (the pool replaces lost
// connections).
//
// Thread safety: a MyConnection is used by one thread at a time. The
// connector needs per-thread initialisation (mysql_thread_init); every entry
// point here calls EnsureThreadInit() first.

#include <cppconn/connection.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>

#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace raceway::storage::mysql {

// mysql://user:password@host[:port]/database[?param=value&...]
// user and password are percent-decoded. Supported parameters:
// ssl-mode (DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY),
// ssl-ca, ssl-capath, ssl-cert, ssl-key, ssl-cipher, socket (unix socket
// path), connect-timeout, read-timeout, write-timeout (seconds). Unknown
// parameters are INVALID_ARGUMENT (naming them).
struct MysqlUrl {
  std::string host = "127.0.0.1";
  int port = 3306;
  std::string user;
  std::string password;
  std::string database;
  std::map<std::string, std::string> params;
};
absl::StatusOr<MysqlUrl> ParseMysqlUrl(std::string_view url);

struct MyConnOptions {
  MysqlUrl url;
  uint32_t connect_timeout_seconds = 30;
  uint32_t read_timeout_seconds = 600;  // Bounds a hung server.
  uint32_t write_timeout_seconds = 600;
  bool multi_statements = false;  // Migrations only.
};

// Calls the connector's threadInit() once per thread (threadEnd() at exit).
void EnsureThreadInit();

class MyConnection {
 public:
  // UNAVAILABLE when the server cannot be reached (or refuses the login).
  static absl::StatusOr<std::unique_ptr<MyConnection>> Open(const MyConnOptions& options);
  ~MyConnection();

  sql::Connection& conn() { return *conn_; }

  // A server-side prepared statement cached per connection by its SQL text
  // (only for statements reused often: bounded by the caller).
  sql::PreparedStatement& Cached(const std::string& sql);
  // A one-off prepared statement.
  std::unique_ptr<sql::PreparedStatement> Prepare(const std::string& sql);
  // Runs a statement without parameters.
  void Execute(const std::string& sql);
  std::unique_ptr<sql::ResultSet> Query(const std::string& sql);

  // isClosed() check; a ping after `idle_for` > 1 s. False = discard.
  bool Alive(absl::Duration idle_for);

  // Transaction helpers (autocommit stays on between transactions).
  void Begin();
  // A read-only transaction on one consistent snapshot.
  void BeginSnapshot();
  void Commit();
  void RollbackQuietly() noexcept;
  bool in_transaction() const { return in_tx_; }

 private:
  explicit MyConnection(std::unique_ptr<sql::Connection> conn) : conn_(std::move(conn)) {}
  std::unique_ptr<sql::Connection> conn_;
  std::map<std::string, std::unique_ptr<sql::PreparedStatement>> cache_;
  bool in_tx_ = false;
};

enum class MyFailureKind {
  kConnectionLost,  // Discard the connection; the transaction did not commit
                    // (unless it failed in COMMIT: kInDoubt).
  kInDoubt,
  kRetryable,  // Deadlock / lock wait timeout: retry the transaction.
  kOther,      // Statement error; the connection is still usable.
  kUnknownState,
};

struct MyMappedError {
  absl::Status status;
  MyFailureKind kind = MyFailureKind::kOther;
};

// 2002/2003/2005/2006/2013/2055, 1040 (too many connections), 1053 (server
// shutdown), 1927 (connection killed), 1045 (access denied at connect)
//   -> UNAVAILABLE; 1213 (deadlock), 1205 (lock wait timeout) -> ABORTED;
// 1146/1054 (no such table/column) -> FAILED_PRECONDITION; 4025 (CHECK,
// e.g. json_valid), 1366/1406 (bad value) -> INVALID_ARGUMENT; else INTERNAL.
MyMappedError MapMysqlException(const std::exception& e, std::string_view context);

}  // namespace raceway::storage::mysql

#endif  // RACEWAY_LIBS_STORAGE_MYSQL_MY_CONN_H_
