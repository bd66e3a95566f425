#include "libs/service/config.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>
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

// The reference Raceway's raceway.toml keys that map onto ours; applied in
// ApplyReference once every source is read.
struct ReferenceDraft {
  std::optional<std::string> host;
  std::optional<uint32_t> port;
  std::optional<bool> cors_enabled, cors_allow_all, auth_enabled, rate_limit_enabled;
  std::optional<std::vector<std::string>> cors_origins, api_keys;
  std::optional<uint32_t> rate_limit_rpm, batch_size, flush_interval_ms;
  std::optional<uint64_t> buffer_size;
  std::optional<std::string> level;
};

struct Draft {
  Config config;
  std::optional<std::string> sqlite_path;
  std::optional<bool> sqlite_auto_migrate;
  std::optional<bool> create_if_missing;
  SqlSection postgres, mysql;
  ReferenceDraft reference;
  std::set<std::string> set_keys;  // Our keys given by any source.
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
    boolean("storage.create_if_missing", [](Draft& d, bool v) { d.create_if_missing = v; });
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
    u32("ingest.rate_limit_rpm", [](Draft& d, uint32_t v) { d.config.ingest.rate_limit_rpm = v; });
    u32("ingest.rate_limit_burst",
        [](Draft& d, uint32_t v) { d.config.ingest.rate_limit_burst = v; });
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
    str("query.web_dir", [](Draft& d, const std::string& v) { d.config.query.web_dir = v; });
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
    u32("query.rate_limit_rpm", [](Draft& d, uint32_t v) { d.config.query.rate_limit_rpm = v; });
    u32("query.rate_limit_burst",
        [](Draft& d, uint32_t v) { d.config.query.rate_limit_burst = v; });
    str("query.tls_cert_file",
        [](Draft& d, const std::string& v) { d.config.query.tls.cert_file = v; });
    str("query.tls_key_file",
        [](Draft& d, const std::string& v) { d.config.query.tls.key_file = v; });
    // [auth], [metrics], [log], [analysis]
    list("auth.ingest_keys",
         [](Draft& d, std::vector<std::string> v) { d.config.auth.ingest_keys = std::move(v); });
    list("auth.query_keys",
         [](Draft& d, std::vector<std::string> v) { d.config.auth.query_keys = std::move(v); });
    str("metrics.ingest_listen",
        [](Draft& d, const std::string& v) { d.config.metrics.ingest_listen = v; });
    str("metrics.query_listen",
        [](Draft& d, const std::string& v) { d.config.metrics.query_listen = v; });
    str("log.level", [](Draft& d, const std::string& v) { d.config.log_level = v; });
    str("analysis.client_clocks",
        [](Draft& d, const std::string& v) { d.config.analysis.client_clocks = v; });
    return m;
  }();
  return *fields;
}

// Bytes of ingest buffer per event of the reference's engine.buffer_size
// (a bound in events): a reference SDK event decoded in memory, as
// max_buffered_bytes counts it, measured at about 1.2 KB.
constexpr uint64_t kBufferBytesPerEvent = 1280;

// The reference Raceway's keys (raceway.toml.example of Mode7Labs/raceway),
// accepted in the file only.
const std::map<std::string, Field>& ReferenceFields() {
  static const auto* fields = [] {
    auto* m = new std::map<std::string, Field>();
    auto text = [m](std::string key, std::optional<std::string> ReferenceDraft::*slot) {
      (*m)[key] = Field{Type::kString, [slot](Draft& d, const Raw& raw) {
                          d.reference.*slot = std::get<std::string>(raw);
                          return absl::OkStatus();
                        }};
    };
    auto flag = [m](std::string key, std::optional<bool> ReferenceDraft::*slot) {
      (*m)[key] = Field{Type::kBool, [slot](Draft& d, const Raw& raw) {
                          d.reference.*slot = std::get<bool>(raw);
                          return absl::OkStatus();
                        }};
    };
    auto strings = [m](std::string key,
                       std::optional<std::vector<std::string>> ReferenceDraft::*slot) {
      (*m)[key] = Field{Type::kStringList, [slot](Draft& d, const Raw& raw) {
                          d.reference.*slot = std::get<std::vector<std::string>>(raw);
                          return absl::OkStatus();
                        }};
    };
    auto count = [m](std::string key, std::optional<uint32_t> ReferenceDraft::*slot, int64_t max) {
      (*m)[key] = Field{Type::kUint, [key, slot, max](Draft& d, const Raw& raw) -> absl::Status {
                          const int64_t v = std::get<int64_t>(raw);
                          if (v > max) {
                            return absl::InvalidArgumentError(
                                absl::StrCat(key, ": ", v, " is out of range (0-", max, ")"));
                          }
                          d.reference.*slot = static_cast<uint32_t>(v);
                          return absl::OkStatus();
                        }};
    };
    // Accepted for compatibility; one warning each.
    auto no_effect = [m](std::string key, Type type, std::string why) {
      (*m)[key] = Field{type, [key, why](Draft& d, const Raw&) {
                          d.config.warnings.push_back({key, absl::StrCat("has no effect: ", why)});
                          return absl::OkStatus();
                        }};
    };
    constexpr int64_t kU32 = 0xffffffffLL;
    text("server.host", &ReferenceDraft::host);
    count("server.port", &ReferenceDraft::port, 65535);
    flag("server.cors_enabled", &ReferenceDraft::cors_enabled);
    strings("server.cors_origins", &ReferenceDraft::cors_origins);
    flag("server.rate_limit_enabled", &ReferenceDraft::rate_limit_enabled);
    count("server.rate_limit_rpm", &ReferenceDraft::rate_limit_rpm, kU32);
    flag("server.auth_enabled", &ReferenceDraft::auth_enabled);
    strings("server.api_keys", &ReferenceDraft::api_keys);
    flag("development.cors_allow_all", &ReferenceDraft::cors_allow_all);
    count("engine.batch_size", &ReferenceDraft::batch_size, kU32);
    count("engine.flush_interval_ms", &ReferenceDraft::flush_interval_ms, kU32);
    (*m)["engine.buffer_size"] =
        Field{Type::kUint, [](Draft& d, const Raw& raw) -> absl::Status {
                const int64_t v = std::get<int64_t>(raw);
                if (static_cast<uint64_t>(v) > UINT64_MAX / kBufferBytesPerEvent) {
                  return absl::InvalidArgumentError(
                      absl::StrCat("engine.buffer_size: ", v, " is out of range"));
                }
                d.reference.buffer_size = static_cast<uint64_t>(v);
                return absl::OkStatus();
              }};
    text("logging.level", &ReferenceDraft::level);
    no_effect("server.verbose", Type::kBool,
              "requests are not logged one by one (request counts and latencies are metrics)");
    no_effect("server.ui_password", Type::kString,
              "there is no web UI login; dashboards authenticate with auth.query_keys");
    no_effect("logging.include_modules", Type::kBool, "log lines carry no module names");
    no_effect("race_detection.enabled", Type::kBool, "race detection is always on");
    no_effect("anomaly_detection.enabled", Type::kBool, "anomaly detection is always on");
    no_effect("distributed_tracing.enabled", Type::kBool,
              "traces are always linked across services");
    return m;
  }();
  return *fields;
}

absl::Status Apply(Draft& d, const Field& field, const Raw& raw, std::string_view origin) {
  absl::Status s = field.set(d, raw);
  if (!s.ok())
    return absl::InvalidArgumentError(absl::StrCat(std::string(origin), ": ", s.message()));
  return absl::OkStatus();
}

absl::Status Set(Draft& d, const std::string& key, const Raw& raw, std::string_view origin) {
  const auto& fields = Fields();
  auto it = fields.find(key);
  if (it == fields.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(origin), ": unknown key \"", key, "\""));
  }
  d.set_keys.insert(key);
  return Apply(d, it->second, raw, origin);
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
    const bool ours = it != Fields().end();
    if (!ours) {
      it = ReferenceFields().find(key);
      if (it == ReferenceFields().end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(origin), ": unknown key \"", key, "\""));
      }
    }
    auto raw = FromToml(key, node, it->second.type, origin);
    if (!raw.ok()) return raw.status();
    absl::Status s = ours ? Set(d, key, *raw, origin) : Apply(d, it->second, *raw, origin);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

bool ValidListen(const std::string& v) {
  const size_t colon = v.rfind(':');
  int port;
  return colon != std::string::npos && colon > 0 && absl::SimpleAtoi(v.substr(colon + 1), &port) &&
         port >= 0 && port <= 65535;
}

// "trace" | "debug" | "info" | "warn" | "warning" | "error" in any case, as
// our level names; nullopt for anything else.
std::optional<std::string> NormalizeLevel(const std::string& level) {
  const std::string l = absl::AsciiStrToLower(level);
  if (l == "trace") return "debug";
  if (l == "warning") return "warn";
  if (l == "debug" || l == "info" || l == "warn" || l == "error") return l;
  return std::nullopt;
}

absl::Status BadLevel(const char* key, const std::string& level) {
  return absl::InvalidArgumentError(absl::StrCat(
      key, ": \"", level, "\" is not one of trace, debug, info, warn, warning, error"));
}

// Maps the reference keys onto ours. Ours win: a reference key whose target
// was set by any source only yields a warning.
absl::Status ApplyReference(Draft& d) {
  const ReferenceDraft& r = d.reference;
  Config& c = d.config;
  // True (and a warning for `from`) when `ours` was set, so `from` is ignored.
  auto shadowed = [&d](std::string_view from, bool given, const char* ours) {
    if (!d.set_keys.contains(ours)) return false;
    if (given) {
      d.config.warnings.push_back({std::string(from), absl::StrCat("ignored: ", ours, " is set")});
    }
    return true;
  };
  if (r.host || r.port) {
    if (r.host && r.host->empty()) {
      return absl::InvalidArgumentError("server.host: must not be empty");
    }
    const bool host_ignored = shadowed("server.host", r.host.has_value(), "ingest.http_listen");
    const bool port_ignored = shadowed("server.port", r.port.has_value(), "ingest.http_listen");
    if (!host_ignored && !port_ignored) {
      // The reference's defaults for whichever of the two is missing.
      const std::string host = r.host.value_or("127.0.0.1");
      c.ingest.http_listen =
          absl::StrCat(host.find(':') == std::string::npos ? host : "[" + host + "]", ":",
                       r.port.value_or(8080));
    }
  }
  if (r.cors_enabled || r.cors_origins || r.cors_allow_all) {
    bool any = false;
    for (auto [key, given] :
         {std::pair{"server.cors_enabled", r.cors_enabled.has_value()},
          std::pair{"server.cors_origins", r.cors_origins.has_value()},
          std::pair{"development.cors_allow_all", r.cors_allow_all.has_value()}}) {
      any |= shadowed(key, given, "query.cors_origins");
    }
    if (!any) {
      // As the reference: CORS off = no other origin; cors_allow_all = any.
      if (!r.cors_enabled.value_or(true)) {
        c.query.cors_origins.clear();
      } else if (r.cors_allow_all.value_or(false)) {
        c.query.cors_origins = {"*"};
      } else {
        c.query.cors_origins = r.cors_origins.value_or(std::vector<std::string>{"*"});
      }
    }
  }
  const bool keys_given = r.api_keys && !r.api_keys->empty();
  if (keys_given && std::find(r.api_keys->begin(), r.api_keys->end(), "") != r.api_keys->end()) {
    return absl::InvalidArgumentError("server.api_keys: keys must not be empty");
  }
  if (r.auth_enabled.value_or(false)) {
    if (!keys_given) {
      return absl::InvalidArgumentError(
          "server.api_keys: server.auth_enabled = true needs at least one key");
    }
    if (!shadowed("server.api_keys", true, "auth.ingest_keys")) c.auth.ingest_keys = *r.api_keys;
    if (!shadowed("server.api_keys", true, "auth.query_keys")) c.auth.query_keys = *r.api_keys;
  } else if (keys_given) {
    // The reference server ignores its keys unless auth_enabled; so do we,
    // loudly.
    d.config.warnings.push_back(
        {"server.api_keys", "ignored: server.auth_enabled is not true, authentication is off"});
  }
  if (r.rate_limit_enabled.value_or(false)) {
    // The reference's default rate (and, as its quota, a burst of a minute's
    // worth: our burst 0).
    const uint32_t rpm = r.rate_limit_rpm.value_or(1000);
    if (rpm == 0) {
      return absl::InvalidArgumentError(
          "server.rate_limit_rpm: must be > 0 when server.rate_limit_enabled = true");
    }
    if (!shadowed("server.rate_limit_rpm", true, "ingest.rate_limit_rpm")) {
      c.ingest.rate_limit_rpm = rpm;
    }
    if (!shadowed("server.rate_limit_rpm", true, "query.rate_limit_rpm")) {
      c.query.rate_limit_rpm = rpm;
    }
  }
  for (auto [key, value, ours, target] :
       {std::tuple{"engine.batch_size", r.batch_size, "ingest.batch_size", &c.ingest.batch_size},
        std::tuple{"engine.flush_interval_ms", r.flush_interval_ms, "ingest.flush_interval_ms",
                   &c.ingest.flush_interval_ms}}) {
    if (!value) continue;
    if (*value == 0) return absl::InvalidArgumentError(absl::StrCat(key, ": must be > 0"));
    if (!shadowed(key, true, ours)) *target = *value;
  }
  if (r.buffer_size) {
    if (*r.buffer_size == 0) return absl::InvalidArgumentError("engine.buffer_size: must be > 0");
    if (!shadowed("engine.buffer_size", true, "ingest.max_buffered_bytes")) {
      c.ingest.max_buffered_bytes = *r.buffer_size * kBufferBytesPerEvent;
    }
  }
  if (r.level) {
    auto level = NormalizeLevel(*r.level);
    if (!level) return BadLevel("logging.level", *r.level);
    if (!shadowed("logging.level", true, "log.level")) c.log_level = *level;
  }
  return absl::OkStatus();
}

// Resolves per-dialect settings and checks cross-field rules.
absl::StatusOr<Config> Finish(Draft d, const ConfigDefaults& defaults) {
  if (absl::Status s = ApplyReference(d); !s.ok()) return s;
  Config& c = d.config;
  auto& s = c.storage;
  s.create_if_missing = d.create_if_missing.value_or(defaults.create_if_missing);
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
  if (auto level = NormalizeLevel(c.log_level)) {
    c.log_level = *level;
  } else {
    return BadLevel("log.level", c.log_level);
  }
  static const std::vector<std::string> kClientClocks = {"auto", "trust", "ignore"};
  if (std::find(kClientClocks.begin(), kClientClocks.end(), c.analysis.client_clocks) ==
      kClientClocks.end()) {
    return absl::InvalidArgumentError(absl::StrCat("analysis.client_clocks: \"",
                                                   c.analysis.client_clocks,
                                                   "\" is not one of auto, trust, ignore"));
  }
  // An empty key would match a request that presents none.
  for (auto [key, keys] : {std::pair{"auth.ingest_keys", &c.auth.ingest_keys},
                           std::pair{"auth.query_keys", &c.auth.query_keys}}) {
    if (std::find(keys->begin(), keys->end(), "") != keys->end()) {
      return absl::InvalidArgumentError(absl::StrCat(key, ": keys must not be empty"));
    }
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

// RACEWAY_* variables that are not settings: read by the CLI, the tests
// and the scripts, which start services in the same environment.
bool IsNonConfigVariable(std::string_view name) {
  static constexpr std::string_view kPrefixes[] = {"RACEWAY_TEST_", "RACEWAY_BENCH_"};
  static constexpr std::string_view kNames[] = {
      "RACEWAY_API_KEY",     "RACEWAY_INGEST_ADDR", "RACEWAY_QUERY_ADDR",
      "RACEWAY_JOBS",        "RACEWAY_REQUIRE_ENV", "RACEWAY_STORAGE_TEST_SCALE",
      "RACEWAY_WEB_URL",     "RACEWAY_DEMO_TRACE",  "RACEWAY_ORIGIN_ALLOWED",
      "RACEWAY_ORIGIN_OTHER"};
  for (std::string_view prefix : kPrefixes) {
    if (name.starts_with(prefix)) return true;
  }
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

// A misspelled override would otherwise be ignored silently (e.g.
// RACEWAY_AUTH_INGEST_KEY leaving auth off), so unknown names are errors.
absl::Status CheckEnvironmentNames(const std::map<std::string, std::string>& env) {
  static const std::set<std::string>* const known = [] {
    auto* names = new std::set<std::string>;
    for (const auto& [key, field] : Fields()) names->insert(EnvName(key));
    return names;
  }();
  for (const auto& [name, value] : env) {
    if (!name.starts_with("RACEWAY_") || known->contains(name) || IsNonConfigVariable(name)) {
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "environment variable ", name,
        ": not a setting (RACEWAY_<SECTION>_<KEY> of a known key); unset it or fix its name"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string AuthModeText(const std::vector<std::string>& keys) {
  if (keys.empty()) return "auth: off";
  return absl::StrCat("auth: on (", keys.size(), keys.size() == 1 ? " key)" : " keys)");
}

absl::StatusOr<Config> ParseConfig(std::string_view toml_text, std::string_view origin) {
  Draft d;
  if (absl::Status s = ParseInto(d, toml_text, origin); !s.ok()) return s;
  return Finish(std::move(d), ConfigDefaults());
}

absl::StatusOr<Config> LoadConfig(const std::string& path,
                                  const std::map<std::string, std::string>& env,
                                  const std::vector<std::string>& flags,
                                  const ConfigDefaults& defaults) {
  Draft d;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) return absl::NotFoundError(absl::StrCat("config file ", path, ": cannot be read"));
    std::stringstream ss;
    ss << in.rdbuf();
    if (absl::Status s = ParseInto(d, ss.str(), path); !s.ok()) return s;
  }
  if (absl::Status s = CheckEnvironmentNames(env); !s.ok()) return s;
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
  return Finish(std::move(d), defaults);
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
