#include "tests/storage_sql/sql_test_util.h"

#include <cppconn/resultset.h>
#include <cppconn/statement.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "libs/storage/mysql/my_conn.h"

namespace raceway::storage::testing {

std::string DatabaseOf(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return "";
  const size_t end = url.find('?', slash);
  return url.substr(slash + 1, end == std::string::npos ? std::string::npos : end - slash - 1);
}

std::string WithDatabase(const std::string& url, const std::string& database) {
  const size_t scheme = url.find("://");
  const size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return url + "/" + database;
  const size_t end = url.find('?', slash);
  return url.substr(0, slash + 1) + database +
         (end == std::string::npos ? std::string() : url.substr(end));
}

absl::Status ExecPostgres(const std::string& url, const std::string& sql) {
  try {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    tx.exec(sql);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("postgres: ", e.what(), " in ", sql));
  }
}

absl::StatusOr<std::string> QueryPostgres(const std::string& url, const std::string& sql) {
  try {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    const pqxx::result r = tx.exec(sql);
    if (r.empty() || r[0][0].is_null()) return std::string();
    return r[0][0].as<std::string>();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("postgres: ", e.what(), " in ", sql));
  }
}

namespace {

absl::StatusOr<std::unique_ptr<mysql::MyConnection>> MysqlConnect(const std::string& url) {
  auto parsed = mysql::ParseMysqlUrl(url);
  if (!parsed.ok()) return parsed.status();
  mysql::MyConnOptions o;
  o.url = *parsed;
  return mysql::MyConnection::Open(o);
}

}  // namespace

absl::Status ExecMysql(const std::string& url, const std::string& sql) {
  auto c = MysqlConnect(url);
  if (!c.ok()) return c.status();
  try {
    (*c)->Execute(sql);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("mysql: ", e.what(), " in ", sql));
  }
}

absl::StatusOr<std::string> QueryMysql(const std::string& url, const std::string& sql) {
  auto c = MysqlConnect(url);
  if (!c.ok()) return c.status();
  try {
    auto rs = (*c)->Query(sql);
    if (!rs->next() || rs->isNull(1)) return std::string();
    return rs->getString(1).asStdString();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("mysql: ", e.what(), " in ", sql));
  }
}

absl::Status EnsurePostgresDatabase(const std::string& url) {
  const std::string db = DatabaseOf(url);
  const std::string admin = WithDatabase(url, "postgres");
  auto exists =
      QueryPostgres(admin, absl::StrCat("SELECT 1 FROM pg_database WHERE datname = '", db, "'"));
  if (!exists.ok()) return exists.status();
  if (!exists->empty()) return absl::OkStatus();
  absl::Status st = ExecPostgres(admin, absl::StrCat("CREATE DATABASE \"", db, "\""));
  // A concurrent creator may have won the race.
  auto again =
      QueryPostgres(admin, absl::StrCat("SELECT 1 FROM pg_database WHERE datname = '", db, "'"));
  if (again.ok() && !again->empty()) return absl::OkStatus();
  return st;
}

absl::Status EnsureMysqlDatabase(const std::string& url) {
  const std::string db = DatabaseOf(url);
  return ExecMysql(WithDatabase(url, "mysql"),
                   absl::StrCat("CREATE DATABASE IF NOT EXISTS `", db,
                                "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"));
}

absl::Status ResetPostgresDatabase(const std::string& url) {
  return ExecPostgres(url,
                      "SET client_min_messages = warning;"
                      " DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
}

absl::Status ResetMysqlDatabase(const std::string& url) {
  const std::string db = DatabaseOf(url);
  const std::string admin = WithDatabase(url, "mysql");
  if (absl::Status st = ExecMysql(admin, absl::StrCat("DROP DATABASE IF EXISTS `", db, "`"));
      !st.ok()) {
    return st;
  }
  return EnsureMysqlDatabase(url);
}

StorageOptions SqlOptions(const std::string& backend, const std::string& url) {
  StorageOptions o;
  o.backend = backend;
  o.connection_string = url;
  o.max_connections = 8;
  o.min_connections = 1;
  o.connection_timeout_seconds = 10;
  o.auto_migrate = true;
  return o;
}

absl::StatusOr<std::unique_ptr<Storage>> OpenCleared(const std::string& backend,
                                                     const std::string& url) {
  auto s = OpenStorage(SqlOptions(backend, url));
  if (!s.ok()) return s.status();
  if (absl::Status st = (*s)->Clear(); !st.ok()) return st;
  return s;
}

}  // namespace raceway::storage::testing
