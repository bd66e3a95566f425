#include "libs/storage/postgres/pg_conn.h"

#include <libpq-fe.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace raceway::storage::postgres {
namespace {

bool HasKey(const std::string& conninfo, std::string_view key) {
  // Good enough for both syntaxes: "key=" in key=value strings, "key=" after
  // '?' or '&' in URLs.
  return absl::StrContains(conninfo, absl::StrCat(std::string(key), "="));
}

bool StartsWithSqlState(const std::string& state, std::string_view prefix) {
  return absl::StartsWith(state, std::string(prefix));
}

}  // namespace

bool IsPostgresUrl(std::string_view conninfo) {
  return absl::StartsWith(std::string(conninfo), "postgres://") ||
         absl::StartsWith(std::string(conninfo), "postgresql://");
}

std::string AddConnectDefaults(const std::string& conninfo, uint32_t connect_timeout_seconds) {
  std::string out = conninfo;
  std::vector<std::pair<std::string, std::string>> extra;
  if (connect_timeout_seconds > 0 && !HasKey(conninfo, "connect_timeout")) {
    extra.emplace_back("connect_timeout", absl::StrCat(connect_timeout_seconds));
  }
  if (!HasKey(conninfo, "application_name")) extra.emplace_back("application_name", "raceway");
  // COPY text and array literals are built as UTF-8.
  if (!HasKey(conninfo, "client_encoding")) extra.emplace_back("client_encoding", "UTF8");
  for (const auto& [key, value] : extra) {
    if (IsPostgresUrl(out)) {
      const size_t hash = out.find('#');
      std::string fragment;
      if (hash != std::string::npos) {
        fragment = out.substr(hash);
        out.resize(hash);
      }
      out += (out.find('?') == std::string::npos ? "?" : "&");
      out += absl::StrCat(key, "=", value, fragment);
    } else {
      if (!out.empty()) out += ' ';
      out += absl::StrCat(key, "=", value);
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Open(const PgConnOptions& options) {
  const std::string conninfo =
      AddConnectDefaults(options.conninfo, options.connect_timeout_seconds);
  // Reject malformed strings up front so they are INVALID_ARGUMENT, not a
  // (retryable-looking) connection failure.
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &err);
  if (parsed == nullptr) {
    std::string msg = err ? err : "malformed connection string";
    if (err) PQfreemem(err);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return absl::InvalidArgumentError(absl::StrCat("postgres connection string: ", msg));
  }
  PQconninfoFree(parsed);
  try {
    auto conn = std::make_unique<pqxx::connection>(conninfo);
    // The pool owns recovery: a lost connection is discarded and replaced,
    // never silently reconnected (which would lose session state mid-way).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    return std::unique_ptr<PgConnection>(new PgConnection(std::move(conn), options.pooler_mode));
  } catch (const std::exception& e) {
    MappedError m = MapException(e, "postgres connect");
    if (m.status.code() == absl::StatusCode::kInternal) {
      return absl::UnavailableError(m.status.message());
    }
    return m.status;
  }
}

bool PgConnection::Alive(absl::Duration idle_for) {
  try {
    if (!conn_->is_open()) return false;
    conn_->get_notifs();  // Consumes pending input; throws when the socket is closed.
    if (!conn_->is_open()) return false;
    if (idle_for > absl::Seconds(30)) {
      pqxx::nontransaction tx(*conn_);
      tx.exec("SELECT 1");
    }
    return true;
  } catch (...) {
    return false;
  }
}

bool PgConnection::Prepare(const std::string& name, const std::string& sql) {
  if (pooler_mode_) return false;
  if (prepared_.insert(name).second) conn_->prepare(name, sql);
  return true;
}

MappedError MapException(const std::exception& e, std::string_view context) {
  const std::string ctx(context);
  MappedError out;
  std::string what = e.what();
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
  const std::string msg = absl::StrCat(ctx, ": ", what);
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    out.kind = FailureKind::kInDoubt;
    out.status = absl::UnavailableError(
        absl::StrCat(msg, " (connection lost during COMMIT; outcome unknown, retry is safe)"));
    return out;
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    out.kind = FailureKind::kConnectionLost;
    out.status = absl::UnavailableError(msg);
    return out;
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e); sql != nullptr) {
    const std::string& state = sql->sqlstate();
    if (StartsWithSqlState(state, "08") || StartsWithSqlState(state, "57P") ||
        StartsWithSqlState(state, "53")) {
      // Connection exception, server shutdown, out of resources (incl.
      // too_many_connections): the server is (temporarily) unavailable.
      out.kind = FailureKind::kConnectionLost;
      out.status = absl::UnavailableError(msg);
    } else if (state == "40001" || state == "40P01") {
      out.kind = FailureKind::kRetryable;
      out.status = absl::AbortedError(msg);
    } else if (state == "42P01" || state == "42703" || state == "3F000") {
      out.status = absl::FailedPreconditionError(
          absl::StrCat(msg, " (is the schema migrated? set auto_migrate = true)"));
    } else if (state == "55P03") {
      out.status = absl::UnavailableError(absl::StrCat(msg, " (lock timeout)"));
    } else if (state == "57014") {
      out.status = absl::DeadlineExceededError(msg);
    } else if (StartsWithSqlState(state, "22")) {
      out.status = absl::InvalidArgumentError(msg);
    } else if (state.empty() && absl::StrContains(what, "server closed the connection")) {
      out.kind = FailureKind::kConnectionLost;
      out.status = absl::UnavailableError(msg);
    } else {
      out.status = absl::InternalError(msg);
    }
    return out;
  }
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr) {
    out.kind = FailureKind::kRetryable;
    out.status = absl::AbortedError(msg);
    return out;
  }
  if (dynamic_cast<const pqxx::failure*>(&e) != nullptr) {
    // Other libpq-level failures ("Error writing to table", lost COPY):
    // treat the connection as gone.
    out.kind = FailureKind::kConnectionLost;
    out.status = absl::UnavailableError(msg);
    return out;
  }
  out.kind = FailureKind::kUnknownState;
  out.status = absl::InternalError(msg);
  return out;
}

}  // namespace raceway::storage::postgres
