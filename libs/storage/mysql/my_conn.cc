#include "libs/storage/mysql/my_conn.h"

#include <mysql_driver.h>

#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace raceway::storage::mysql {
namespace {

sql::mysql::MySQL_Driver* Driver() {
  // get_driver_instance() is not thread-safe on first use.
  static sql::mysql::MySQL_Driver* driver = sql::mysql::get_mysql_driver_instance();
  return driver;
}

struct ThreadInit {
  ThreadInit() { Driver()->threadInit(); }
  ~ThreadInit() { Driver()->threadEnd(); }
};

absl::StatusOr<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    int v = 0;
    if (i + 2 >= s.size()) {
      return absl::InvalidArgumentError("mysql URL: truncated percent escape");
    }
    for (int k = 1; k <= 2; ++k) {
      const char c = s[i + k];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= c - '0';
      else if (c >= 'a' && c <= 'f')
        v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        v |= c - 'A' + 10;
      else
        return absl::InvalidArgumentError("mysql URL: bad percent escape");
    }
    out.push_back(static_cast<char>(v));
    i += 2;
  }
  return out;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

void EnsureThreadInit() { thread_local ThreadInit init; }

absl::StatusOr<MysqlUrl> ParseMysqlUrl(std::string_view url) {
  constexpr std::string_view kScheme = "mysql://";
  if (!absl::StartsWith(std::string(url), std::string(kScheme))) {
    return absl::InvalidArgumentError("mysql URL must start with mysql://");
  }
  std::string_view rest = url.substr(kScheme.size());
  MysqlUrl out;
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view authority = rest, path;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    std::string_view user = userinfo, pass;
    if (size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      user = userinfo.substr(0, colon);
      pass = userinfo.substr(colon + 1);
    }
    auto u = PercentDecode(user);
    if (!u.ok()) return u.status();
    auto p = PercentDecode(pass);
    if (!p.ok()) return p.status();
    out.user = *u;
    out.password = *p;
  }
  if (!authority.empty()) {
    std::string_view host = authority;
    if (size_t colon = authority.rfind(':');
        colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
      host = authority.substr(0, colon);
      int port = 0;
      if (!absl::SimpleAtoi(std::string(authority.substr(colon + 1)), &port) || port <= 0 ||
          port > 65535) {
        return absl::InvalidArgumentError("mysql URL: bad port");
      }
      out.port = port;
    }
    if (!host.empty()) out.host = std::string(host);
  }
  auto db = PercentDecode(path);
  if (!db.ok()) return db.status();
  out.database = *db;
  if (out.database.empty()) return absl::InvalidArgumentError("mysql URL: database name missing");
  static const char* const kKnown[] = {
      "ssl-mode",   "ssl-ca", "ssl-capath",      "ssl-cert",     "ssl-key",
      "ssl-cipher", "socket", "connect-timeout", "read-timeout", "write-timeout"};
  if (!query.empty()) {
    for (absl::string_view piece : absl::StrSplit(std::string(query), '&', absl::SkipEmpty())) {
      const std::string_view kv(piece.data(), piece.size());
      std::string_view key = kv, value;
      if (size_t eq = kv.find('='); eq != std::string_view::npos) {
        key = kv.substr(0, eq);
        value = kv.substr(eq + 1);
      }
      std::string k = absl::AsciiStrToLower(std::string(key));
      for (char& c : k)
        if (c == '_') c = '-';
      bool known = false;
      for (const char* n : kKnown) known = known || k == n;
      if (!known) {
        return absl::InvalidArgumentError(
            absl::StrCat("mysql URL: unknown parameter \"", std::string(key), "\""));
      }
      auto v = PercentDecode(value);
      if (!v.ok()) return v.status();
      out.params[k] = *v;
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<MyConnection>> MyConnection::Open(const MyConnOptions& options) {
  EnsureThreadInit();
  const MysqlUrl& url = options.url;
  try {
    sql::ConnectOptionsMap props;
    auto param = [&](const char* key) -> const std::string* {
      auto it = url.params.find(key);
      return it == url.params.end() ? nullptr : &it->second;
    };
    auto seconds = [&](const char* key, uint32_t def) -> int {
      int v = 0;
      if (const std::string* s = param(key); s && absl::SimpleAtoi(*s, &v) && v > 0) return v;
      return static_cast<int>(def);
    };
    if (const std::string* sock = param("socket")) {
      props["socket"] = *sock;
      props["hostName"] = std::string("localhost");
    } else {
      props["hostName"] = absl::StrCat("tcp://", url.host, ":", url.port);
    }
    props["userName"] = url.user;
    props["password"] = url.password;
    props["schema"] = url.database;
    props["OPT_CONNECT_TIMEOUT"] = seconds("connect-timeout", options.connect_timeout_seconds);
    props["OPT_READ_TIMEOUT"] = seconds("read-timeout", options.read_timeout_seconds);
    props["OPT_WRITE_TIMEOUT"] = seconds("write-timeout", options.write_timeout_seconds);
    props["OPT_RECONNECT"] = false;
    props["OPT_CHARSET_NAME"] = std::string("utf8mb4");
    if (options.multi_statements) props["CLIENT_MULTI_STATEMENTS"] = true;
    if (const std::string* mode = param("ssl-mode")) {
      const std::string m = absl::AsciiStrToUpper(*mode);
      int v = 0;
      if (m == "DISABLED")
        v = sql::SSL_MODE_DISABLED;
      else if (m == "PREFERRED")
        v = sql::SSL_MODE_PREFERRED;
      else if (m == "REQUIRED")
        v = sql::SSL_MODE_REQUIRED;
      else if (m == "VERIFY_CA")
        v = sql::SSL_MODE_VERIFY_CA;
      else if (m == "VERIFY_IDENTITY")
        v = sql::SSL_MODE_VERIFY_IDENTITY;
      else
        return absl::InvalidArgumentError(absl::StrCat("mysql URL: bad ssl-mode ", *mode));
      props["OPT_SSL_MODE"] = v;
    }
    if (const std::string* v = param("ssl-ca")) props["sslCA"] = *v;
    if (const std::string* v = param("ssl-capath")) props["sslCAPath"] = *v;
    if (const std::string* v = param("ssl-cert")) props["sslCert"] = *v;
    if (const std::string* v = param("ssl-key")) props["sslKey"] = *v;
    if (const std::string* v = param("ssl-cipher")) props["sslCipher"] = *v;

    std::unique_ptr<sql::Connection> conn(Driver()->connect(props));
    if (conn == nullptr) return absl::UnavailableError("mysql connect: no connection");
    std::unique_ptr<MyConnection> out(new MyConnection(std::move(conn)));
    out->Execute("SET NAMES utf8mb4 COLLATE utf8mb4_bin");
    out->Execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
    out->Execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'");
    out->Execute("SET SESSION time_zone = '+00:00'");
    return out;
  } catch (const std::exception& e) {
    MyMappedError m = MapMysqlException(e, "mysql connect");
    if (m.status.code() == absl::StatusCode::kInternal ||
        m.status.code() == absl::StatusCode::kFailedPrecondition) {
      return absl::UnavailableError(m.status.message());
    }
    return m.status;
  }
}

MyConnection::~MyConnection() {
  EnsureThreadInit();
  cache_.clear();  // Statements before their connection.
  try {
    if (conn_ && !conn_->isClosed()) conn_->close();
  } catch (...) {
  }
}

sql::PreparedStatement& MyConnection::Cached(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    std::unique_ptr<sql::PreparedStatement> stmt(conn_->prepareStatement(sql));
    it = cache_.emplace(sql, std::move(stmt)).first;
  }
  return *it->second;
}

std::unique_ptr<sql::PreparedStatement> MyConnection::Prepare(const std::string& sql) {
  return std::unique_ptr<sql::PreparedStatement>(conn_->prepareStatement(sql));
}

void MyConnection::Execute(const std::string& sql) {
  std::unique_ptr<sql::Statement> stmt(conn_->createStatement());
  stmt->execute(sql);
}

std::unique_ptr<sql::ResultSet> MyConnection::Query(const std::string& sql) {
  std::unique_ptr<sql::Statement> stmt(conn_->createStatement());
  return std::unique_ptr<sql::ResultSet>(stmt->executeQuery(sql));
}

bool MyConnection::Alive(absl::Duration idle_for) {
  EnsureThreadInit();
  try {
    if (conn_->isClosed()) return false;
    if (idle_for > absl::Seconds(1)) return conn_->isValid();  // mysql_ping.
    return true;
  } catch (...) {
    return false;
  }
}

void MyConnection::Begin() {
  Execute("START TRANSACTION");
  in_tx_ = true;
}
void MyConnection::BeginSnapshot() {
  Execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
  in_tx_ = true;
}
void MyConnection::Commit() {
  in_tx_ = false;
  Execute("COMMIT");
}
void MyConnection::RollbackQuietly() noexcept {
  in_tx_ = false;
  try {
    Execute("ROLLBACK");
  } catch (...) {
  }
}

MyMappedError MapMysqlException(const std::exception& e, std::string_view context) {
  MyMappedError out;
  const std::string msg = absl::StrCat(std::string(context), ": ", Trimmed(e.what()));
  const auto* sqle = dynamic_cast<const sql::SQLException*>(&e);
  if (sqle == nullptr) {
    out.kind = MyFailureKind::kUnknownState;
    out.status = absl::InternalError(msg);
    return out;
  }
  const int code = sqle->getErrorCode();
  const std::string full =
      absl::StrCat(msg, " (error ", code, ", SQLSTATE ", sqle->getSQLState(), ")");
  switch (code) {
    case 2002:
    case 2003:
    case 2005:
    case 2006:
    case 2013:
    case 2055:
    case 1040:
    case 1053:
    case 1927:
    case 1045:
    case 1152:
    case 1158:
    case 1159:
    case 1160:
    case 1161:
    case 2026:
      out.kind = MyFailureKind::kConnectionLost;
      out.status = absl::UnavailableError(full);
      return out;
    case 1213:
    case 1205:
      out.kind = MyFailureKind::kRetryable;
      out.status = absl::AbortedError(full);
      return out;
    case 1146:
    case 1054:
    case 1049:
      out.status = absl::FailedPreconditionError(
          absl::StrCat(full, " (is the schema migrated? set auto_migrate = true)"));
      return out;
    case 4025:
    case 1366:
    case 1406:
    case 1292:
    case 3140:
      out.status = absl::InvalidArgumentError(full);
      return out;
    default:
      break;
  }
  if (code == 0 && sqle->getSQLState().rfind("08", 0) == 0) {
    out.kind = MyFailureKind::kConnectionLost;
    out.status = absl::UnavailableError(full);
    return out;
  }
  out.status = absl::InternalError(full);
  return out;
}

}  // namespace raceway::storage::mysql
