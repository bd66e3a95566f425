#include "libs/service/config.h"

#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

extern char** environ;

namespace raceway::service {
namespace {

// A setting's value before it is typed into Config.
using Raw = std::variant<std::string, int64_t, bool, double, std::vector<std::string>>;

enum class Type { kString, kUint, kBool, kDouble, kStringList };

std::string_view TypeName(Type t) {
  switch (t) {
    case Type::kString:
      return "a string";
    case Type::kUint:
      return "a non-negative integer";
    case Type::kBool:
      return "a boolean";
    case Type::kDouble:
      return "a number";
    case Type::kStringList:
      return "an array of strings";
  }
  return "";
}

// Per-dialect settings kept apart until the backend is known.
struct SqlSection {
  std::optional<std::string> connection_string, replica;
  std::optional<uint32_t> max_connections, min_connections, timeout;
  std::optional<bool> auto_migrate;
};

struct Draft {
  Config config;
  std::optional<std::string> sqlite_path;
  std::optional<bool> sqlite_auto_migrate;
  SqlSection postgres, mysql;
};

struct Field {
  Type type;
  std::function<absl::Status(Draft&, const Raw&)> set;
};

absl::StatusOr<uint32_t> ToU32(const std::string& key, int64_t v) {
  if (v < 0 || v > 0xffffffffLL) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", v, " is out of range"));
  }
  return static_cast<uint32_t>(v);
}

const std::map<std::string, Field>& Fields() {
  static const auto* fields = [] {
    auto* m = new std::map<std::string, Field>();
    auto str = [m](std::string key, std::function<void(Draft&, const std::string&)> f) {
      (*m)[key] = Field{Type::kString, [f](Draft& d, const Raw& r) {
                          f(d, std::get<std::string>(r));
                          return absl::OkStatus();
                        }};
    };
    auto u32 = [m](std::string key, std::function<void(Draft&, uint32_t)> f) {
      (*m)[key] = Field{Type::kUint, [f, key](Draft& d, const Raw& r) -> absl::Status {
                          auto v = ToU32(key, std::get<int64_t>(r));
                          if (!v.ok()) return v.status();
                          f(d, *v);
                          return absl::OkStatus();
                        }};
    };
    auto u64 = [m](std::string key, std::function<void(Draft&, uint64_t)> f) {
      (*m)[key] = Field{Type::kUint, [f](Draft& d, const Raw& r) {
                          f(d, static_cast<uint64_t>(std::get<int64_t>(r)));
                          return absl::OkStatus();
                        }};
    };
    auto boolean = [m](std::string key, std::function<void(Draft&, bool)> f) {
      (*m)[key] = Field{Type::kBool, [f](Draft& d, const Raw& r) {
                          f(d, std::get<bool>(r));
                          return absl::OkStatus();
                        }};
    };
    auto list = [m](std::string key, std::function<void(Draft&, std::vector<std::string>)> f) {
      (*m)[key] = Field{Type::kStringList, [f](Draft& d, const Raw& r) {
                          f(d, std::get<std::vector<std::string>>(r));
                          return absl::OkStatus();
                        }};
    };
    // [storage]
    str("storage.backend", [](Draft& d, const std::string& v) { d.config.storage.backend = v; });
    u32("storage.retention_hours", [](Draft& d, uint32_t v) { d.config.retention_hours = v; });
    u64("storage.max_events_in_memory",
        [](Draft& d, uint64_t v) { d.config.max_events_in_memory = v; });
    str("storage.sqlite.database_path", [](Draft& d, const std::string& v) { d.sqlite_path = v; });
    boolean("storage.sqlite.auto_migrate", [](Draft& d, bool v) { d.sqlite_auto_migrate = v; });
    for (const char* dialect : {"postgres", "mysql"}) {
      auto section = [dialect](Draft& d) -> SqlSection& {
        return std::string_view(dialect) == "postgres" ? d.postgres : d.mysql;
      };
      const std::string p = absl::StrCat("storage.", dialect, ".");
      str(p + "connection_string",
          [section](Draft& d, const std::string& v) { section(d).connection_string = v; });
      str(p + "replica_connection_string",
          [section](Draft& d, const std::string& v) { section(d).replica = v; });
      u32(p + "max_connections",
          [section](Draft& d, uint32_t v) { section(d).max_connections = v; });
      u32(p + "min_connections",
          [section](Draft& d, uint32_t v) { section(d).min_connections = v; });
      u32(p + "connection_timeout_seconds",
          [section](Draft& d, uint32_t v) { section(d).timeout = v; });
      boolean(p + "auto_migrate", [section](Draft& d, bool v) { section(d).auto_migrate = v; });
    }
    // [ingest]
    str("ingest.listen", [](Draft& d, const std::string& v) { d.config.ingest.listen = v; });
    str("ingest.http_listen",
        [](Draft& d, const std::string& v) { d.config.ingest.http_listen = v; });
    u32("ingest.batch_size", [](Draft& d, uint32_t v) { d.config.ingest.batch_size = v; });
    u32("ingest.flush_interval_ms",
        [](Draft& d, uint32_t v) { d.config.ingest.flush_interval_ms = v; });
    u64("ingest.max_buffered_bytes",
        [](Draft& d, uint64_t v) { d.config.ingest.max_buffered_bytes = v; });
    u32("ingest.max_queue_delay_ms",
        [](Draft& d, uint32_t v) { d.config.ingest.max_queue_delay_ms = v; });
    u32("ingest.max_in_flight_flushes",
        [](Draft& d, uint32_t v) { d.config.ingest.max_in_flight_flushes = v; });
    u32("ingest.max_batch_events",
        [](Draft& d, uint32_t v) { d.config.ingest.max_batch_events = v; });
    u64("ingest.max_batch_bytes",
        [](Draft& d, uint64_t v) { d.config.ingest.max_batch_bytes = v; });
    u32("ingest.retry_after_ms", [](Draft& d, uint32_t v) { d.config.ingest.retry_after_ms = v; });
    u32("ingest.shutdown_grace_seconds",
        [](Draft& d, uint32_t v) { d.config.ingest.shutdown_grace_seconds = v; });
    str("ingest.tls_cert_file",
        [](Draft& d, const std::string& v) { d.config.ingest.tls.cert_file = v; });
    str("ingest.tls_key_file",
        [](Draft& d, const std::string& v) { d.config.ingest.tls.key_file = v; });
    // [query]
    str("query.listen", [](Draft& d, const std::string& v) { d.config.query.listen = v; });
    str("query.grpc_web_listen",
        [](Draft& d, const std::string& v) { d.config.query.grpc_web_listen = v; });
    list("query.cors_origins",
         [](Draft& d, std::vector<std::string> v) { d.config.query.cors_origins = std::move(v); });
    u32("query.cache_traces", [](Draft& d, uint32_t v) { d.config.query.cache_traces = v; });
    u32("query.default_page_size",
        [](Draft& d, uint32_t v) { d.config.query.default_page_size = v; });
    u32("query.max_page_size", [](Draft& d, uint32_t v) { d.config.query.max_page_size = v; });
    (*m)["query.anomaly_sigma"] = Field{Type::kDouble, [](Draft& d, const Raw& r) {
                                          d.config.query.anomaly_sigma = std::get<double>(r);
                                          return absl::OkStatus();
                                        }};
    u32("query.global_race_window_ms",
        [](Draft& d, uint32_t v) { d.config.query.global_race_window_ms = v; });
    str("query.tls_cert_file",
        [](Draft& d, const std::string& v) { d.config.query.tls.cert_file = v; });
    str("query.tls_key_file",
        [](Draft& d, const std::string& v) { d.config.query.tls.key_file = v; });
    // [auth], [metrics], [log]
    list("auth.ingest_keys",
         [](Draft& d, std::vector<std::string> v) { d.config.auth.ingest_keys = std::move(v); });
    list("auth.query_keys",
         [](Draft& d, std::vector<std::string> v) { d.config.auth.query_keys = std::move(v); });
    str("metrics.ingest_listen",
        [](Draft& d, const std::string& v) { d.config.metrics.ingest_listen = v; });
    str("metrics.query_listen",
        [](Draft& d, const std::string& v) { d.config.metrics.query_listen = v; });
    str("log.level", [](Draft& d, const std::string& v) { d.config.log_level = v; });
    return m;
  }();
  return *fields;
}

absl::Status Set(Draft& d, const std::string& key, const Raw& raw, std::string_view origin) {
  const auto& fields = Fields();
  auto it = fields.find(key);
  if (it == fields.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(origin), ": unknown key \"", key, "\""));
  }
  absl::Status s = it->second.set(d, raw);
  if (!s.ok())
    return absl::InvalidArgumentError(absl::StrCat(std::string(origin), ": ", s.message()));
  return absl::OkStatus();
}

// Converts a TOML leaf into the field's type, or names the key and type.
absl::StatusOr<Raw> FromToml(const std::string& key, const toml::node& node, Type type,
                             std::string_view origin) {
  auto wrong = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(origin), ": ", key, " must be ", std::string(TypeName(type))));
  };
  switch (type) {
    case Type::kString:
      if (auto v = node.value<std::string>(); v && node.is_string()) return Raw(*v);
      return wrong();
    case Type::kUint:
      if (node.is_integer()) {
        const int64_t v = *node.value<int64_t>();
        if (v < 0) return wrong();
        return Raw(v);
      }
      return wrong();
    case Type::kBool:
      if (node.is_boolean()) return Raw(*node.value<bool>());
      return wrong();
    case Type::kDouble:
      if (node.is_integer() || node.is_floating_point()) return Raw(*node.value<double>());
      return wrong();
    case Type::kStringList: {
      if (!node.is_array()) return wrong();
      std::vector<std::string> out;
      for (const auto& el : *node.as_array()) {
        if (!el.is_string()) return wrong();
        out.push_back(*el.value<std::string>());
      }
      return Raw(std::move(out));
    }
  }
  return wrong();
}

// Converts text (environment variable or flag) into the field's type.
absl::StatusOr<Raw> FromText(const std::string& key, const std::string& text, Type type,
                             std::string_view origin) {
  auto wrong = [&] {
    return absl::InvalidArgumentError(absl::StrCat(std::string(origin), ": ", key, " must be ",
                                                   std::string(TypeName(type)), ", got \"", text,
                                                   "\""));
  };
  switch (type) {
    case Type::kString:
      return Raw(text);
    case Type::kUint: {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v) || v < 0) return wrong();
      return Raw(v);
    }
    case Type::kBool: {
      const std::string t = absl::AsciiStrToLower(text);
      if (t == "true" || t == "1" || t == "yes") return Raw(true);
      if (t == "false" || t == "0" || t == "no") return Raw(false);
      return wrong();
    }
    case Type::kDouble: {
      double v;
      if (!absl::SimpleAtod(text, &v)) return wrong();
      return Raw(v);
    }
    case Type::kStringList: {
      std::vector<std::string> out;
      if (!text.empty()) out = absl::StrSplit(text, ',', absl::SkipWhitespace());
      for (auto& s : out) s = std::string(absl::StripAsciiWhitespace(s));
      return Raw(std::move(out));
    }
  }
  return wrong();
}

absl::Status Walk(Draft& d, const toml::table& table, const std::string& prefix,
                  std::string_view origin) {
  for (const auto& [k, node] : table) {
    const std::string key =
        prefix.empty() ? std::string(k.str()) : absl::StrCat(prefix, ".", std::string(k.str()));
    if (node.is_table()) {
      if (absl::Status s = Walk(d, *node.as_table(), key, origin); !s.ok()) return s;
      continue;
    }
    auto it = Fields().find(key);
    if (it == Fields().end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(origin), ": unknown key \"", key, "\""));
    }
    auto raw = FromToml(key, node, it->second.type, origin);
    if (!raw.ok()) return raw.status();
    if (absl::Status s = Set(d, key, *raw, origin); !s.ok()) return s;
  }
  return absl::OkStatus();
}

bool ValidListen(const std::string& v) {
  const size_t colon = v.rfind(':');
  int port;
  return colon != std::string::npos && colon > 0 && absl::SimpleAtoi(v.substr(colon + 1), &port) &&
         port >= 0 && port <= 65535;
}

// Resolves per-dialect settings and checks cross-field rules.
absl::StatusOr<Config> Finish(Draft d) {
  Config& c = d.config;
  auto& s = c.storage;
  static const std::vector<std::string> kBackends = {"memory", "sqlite", "postgres", "supabase",
                                                     "mysql"};
  if (std::find(kBackends.begin(), kBackends.end(), s.backend) == kBackends.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "storage.backend: \"", s.backend, "\" is not one of ", absl::StrJoin(kBackends, ", ")));
  }
  if (d.sqlite_path) s.sqlite_path = *d.sqlite_path;
  const SqlSection* sql = nullptr;
  if (s.backend == "postgres" || s.backend == "supabase") sql = &d.postgres;
  if (s.backend == "mysql") sql = &d.mysql;
  if (s.backend == "sqlite" && d.sqlite_auto_migrate) s.auto_migrate = *d.sqlite_auto_migrate;
  if (sql) {
    if (sql->connection_string) s.connection_string = *sql->connection_string;
    if (sql->replica) s.replica_connection_string = *sql->replica;
    if (sql->max_connections) s.max_connections = *sql->max_connections;
    if (sql->min_connections) s.min_connections = *sql->min_connections;
    if (sql->timeout) s.connection_timeout_seconds = *sql->timeout;
    if (sql->auto_migrate) s.auto_migrate = *sql->auto_migrate;
    const std::string section = s.backend == "mysql" ? "mysql" : "postgres";
    if (s.connection_string.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "storage.", section, ".connection_string: required for backend \"", s.backend, "\""));
    }
    if (s.max_connections == 0 || s.min_connections > s.max_connections) {
      return absl::InvalidArgumentError(absl::StrCat(
          "storage.", section, ".max_connections: must be >= 1 and >= min_connections"));
    }
  }
  if (s.backend == "sqlite" && s.sqlite_path.empty()) {
    return absl::InvalidArgumentError("storage.sqlite.database_path: must not be empty");
  }
  auto positive = [](const char* key, uint64_t v) -> absl::Status {
    return v == 0 ? absl::InvalidArgumentError(absl::StrCat(key, ": must be > 0"))
                  : absl::OkStatus();
  };
  for (auto [key, v] : std::initializer_list<std::pair<const char*, uint64_t>>{
           {"ingest.batch_size", c.ingest.batch_size},
           {"ingest.flush_interval_ms", c.ingest.flush_interval_ms},
           {"ingest.max_buffered_bytes", c.ingest.max_buffered_bytes},
           {"ingest.max_in_flight_flushes", c.ingest.max_in_flight_flushes},
           {"ingest.max_batch_events", c.ingest.max_batch_events},
           {"ingest.max_batch_bytes", c.ingest.max_batch_bytes},
           {"query.default_page_size", c.query.default_page_size},
           {"query.max_page_size", c.query.max_page_size},
           {"query.global_race_window_ms", c.query.global_race_window_ms}}) {
    if (absl::Status st = positive(key, v); !st.ok()) return st;
  }
  if (c.query.default_page_size > c.query.max_page_size) {
    return absl::InvalidArgumentError("query.default_page_size: must be <= query.max_page_size");
  }
  if (!(c.query.anomaly_sigma > 0)) {
    return absl::InvalidArgumentError("query.anomaly_sigma: must be > 0");
  }
  for (auto [key, v] : std::initializer_list<std::pair<const char*, const std::string*>>{
           {"ingest.listen", &c.ingest.listen},
           {"ingest.http_listen", &c.ingest.http_listen},
           {"query.listen", &c.query.listen},
           {"query.grpc_web_listen", &c.query.grpc_web_listen},
           {"metrics.ingest_listen", &c.metrics.ingest_listen},
           {"metrics.query_listen", &c.metrics.query_listen}}) {
    const bool optional =
        std::string_view(key) != "ingest.listen" && std::string_view(key) != "query.listen";
    if ((optional && v->empty()) || ValidListen(*v)) continue;
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": \"", *v, "\" is not host:port (port 0-65535)"));
  }
  for (const auto* tls : {&c.ingest.tls, &c.query.tls}) {
    if (tls->cert_file.empty() != tls->key_file.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(tls == &c.ingest.tls ? "ingest" : "query",
                       ".tls_cert_file/tls_key_file: set both or neither"));
    }
  }
  static const std::vector<std::string> kLevels = {"debug", "info", "warn", "error"};
  if (std::find(kLevels.begin(), kLevels.end(), c.log_level) == kLevels.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("log.level: \"", c.log_level, "\" is not one of debug, info, warn, error"));
  }
  return c;
}

absl::Status ParseInto(Draft& d, std::string_view text, std::string_view origin) {
  try {
    toml::table table = toml::parse(text, origin);
    return Walk(d, table, "", origin);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return absl::InvalidArgumentError(absl::StrCat(std::string(origin), ":", where.line, ":",
                                                   where.column, ": ",
                                                   std::string(e.description())));
  }
}

std::string EnvName(const std::string& key) {
  std::string out = "RACEWAY_";
  for (char c : key)
    out.push_back(c == '.' ? '_' : absl::ascii_toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

absl::StatusOr<Config> ParseConfig(std::string_view toml_text, std::string_view origin) {
  Draft d;
  if (absl::Status s = ParseInto(d, toml_text, origin); !s.ok()) return s;
  return Finish(std::move(d));
}

absl::StatusOr<Config> LoadConfig(const std::string& path,
                                  const std::map<std::string, std::string>& env,
                                  const std::vector<std::string>& flags) {
  Draft d;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) return absl::NotFoundError(absl::StrCat("config file ", path, ": cannot be read"));
    std::stringstream ss;
    ss << in.rdbuf();
    if (absl::Status s = ParseInto(d, ss.str(), path); !s.ok()) return s;
  }
  // Environment: only names that map to known keys are consulted, so other
  // RACEWAY_* variables (test harness URLs, ...) do not interfere.
  for (const auto& [key, field] : Fields()) {
    auto it = env.find(EnvName(key));
    if (it == env.end()) continue;
    auto raw = FromText(key, it->second, field.type, it->first);
    if (!raw.ok()) return raw.status();
    if (absl::Status s = Set(d, key, *raw, it->first); !s.ok()) return s;
  }
  for (const std::string& flag : flags) {
    if (flag.rfind("--", 0) != 0 || flag.find('=') == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag \"", flag, "\": expected --section.key=value"));
    }
    const size_t eq = flag.find('=');
    const std::string key = flag.substr(2, eq - 2);
    auto it = Fields().find(key);
    if (it == Fields().end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", key, ": unknown key \"", key, "\""));
    }
    auto raw = FromText(key, flag.substr(eq + 1), it->second.type, absl::StrCat("flag --", key));
    if (!raw.ok()) return raw.status();
    if (absl::Status s = Set(d, key, *raw, "flags"); !s.ok()) return s;
  }
  return Finish(std::move(d));
}

std::map<std::string, std::string> RacewayEnvironment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (kv.rfind("RACEWAY_", 0) != 0) continue;
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

}  // namespace raceway::service
