#ifndef RACEWAY_LIBS_SERVICE_CONFIG_H_
#define RACEWAY_LIBS_SERVICE_CONFIG_H_

// raceway.toml (ARCHITECTURE §8): one TOML file, then environment
// overrides (RACEWAY_<SECTION>_<KEY>, e.g. RACEWAY_STORAGE_BACKEND,
// RACEWAY_STORAGE_POSTGRES_CONNECTION_STRING, RACEWAY_INGEST_LISTEN), then
// command-line flags (--section.key=value, e.g. --ingest.listen=0.0.0.0:50051).
// Unknown keys and bad values fail with a message naming the key; so does
// an unknown RACEWAY_* environment variable (a misspelled override), except
// the few the CLI, tests and scripts read (RACEWAY_TEST_*, RACEWAY_BENCH_*,
// RACEWAY_API_KEY, RACEWAY_JOBS, ...; the list is in config.cc).
//
// The file also accepts the reference Raceway's raceway.toml sections
// ([server], [engine], [logging], [race_detection], [anomaly_detection],
// [distributed_tracing], [development]; docs/operations.md has the mapping).
// Those keys exist in the file only (no environment variable or flag), and
// one of ours that is set anywhere (file, environment, flag) wins over the
// reference key it would map from. Reference keys with no effect here, and
// shadowed ones, come back as Config::warnings.
// Pure functions; thread-safe.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/storage/factory.h"

namespace raceway::service {

struct TlsConfig {
  std::string cert_file;  // PEM; both empty = plaintext.
  std::string key_file;
};

struct IngestConfig {
  std::string listen = "127.0.0.1:50051";      // gRPC; port 0 = pick a free port.
  std::string http_listen = "127.0.0.1:8080";  // POST /events; "" = off.
  uint32_t batch_size = 1000;                  // Flush when this many events wait.
  uint32_t flush_interval_ms = 5;              // ... or when the oldest waited this long.
  uint64_t max_buffered_bytes = 256ull << 20;  // Backpressure bound (decoded, in memory).
  uint32_t max_queue_delay_ms = 2000;          // Refuse while the queue is this far behind.
  uint32_t max_in_flight_flushes = 2;          // Concurrent transactions (1 for sqlite).
  uint32_t max_batch_events = 10000;           // Per request.
  uint64_t max_batch_bytes = 64ull << 20;      // Per request.
  uint32_t retry_after_ms = 200;               // Suggested delay in RESOURCE_EXHAUSTED.
  uint32_t shutdown_grace_seconds = 25;
  // Per-client limit on the HTTP port (POST /events ...; libs/service/
  // rate_limiter.h): requests per minute, 0 = off; and how many at once,
  // 0 = rate_limit_rpm.
  uint32_t rate_limit_rpm = 0;
  uint32_t rate_limit_burst = 0;
  TlsConfig tls;
};

struct QueryConfig {
  std::string listen = "127.0.0.1:50052";          // gRPC.
  std::string grpc_web_listen = "127.0.0.1:8081";  // gRPC-Web; "" = off.
  // Origins whose pages may call this port from a browser (CORS). Empty =
  // none: same-origin pages (a dashboard served on this port) need no CORS,
  // and any other web page a developer visits must not read traces. Open it
  // with e.g. ["http://localhost:5173"] for a dashboard dev server, or
  // ["*"] for any origin.
  std::vector<std::string> cors_origins;
  // The web dashboard on grpc_web_listen: "" = the bundle built into the
  // binary; a directory = its files instead, read on each request
  // (development: web/dist after `npm run build`).
  std::string web_dir;
  uint32_t cache_traces = 256;  // Analysed traces kept in memory.
  uint32_t default_page_size = 100;
  uint32_t max_page_size = 1000;
  double anomaly_sigma = 2.0;
  uint32_t global_race_window_ms = 1000;
  // As IngestConfig's, on the gRPC-Web / Connect JSON port.
  uint32_t rate_limit_rpm = 0;
  uint32_t rate_limit_burst = 0;
  TlsConfig tls;
};

struct AuthConfig {
  // Empty lists = authentication off for that service.
  std::vector<std::string> ingest_keys;
  std::vector<std::string> query_keys;
};

struct MetricsConfig {
  std::string ingest_listen = "127.0.0.1:9091";  // "" = off.
  std::string query_listen = "127.0.0.1:9092";
};

struct AnalysisConfig {
  // How client causality vectors order events (libs/graph README):
  // "auto" = only components that behave as clocks in the trace,
  // "trust" = every component, "ignore" = none.
  std::string client_clocks = "auto";
};

// A setting that was accepted but changes nothing: a reference key with no
// meaning here, or one a key of ours overrides. The caller logs each
// (LogConfigWarnings in process.h).
struct ConfigWarning {
  std::string key;
  std::string message;
};

struct Config {
  // [storage]; storage.create_if_missing (sqlite: create a missing database
  // file) comes from ConfigDefaults unless a source sets it.
  storage::StorageOptions storage;
  uint32_t retention_hours = 168;  // 0 = keep forever.
  // Memory backend only: ingest refuses (RESOURCE_EXHAUSTED) beyond this
  // many stored events. 0 = unbounded.
  uint64_t max_events_in_memory = 0;
  IngestConfig ingest;
  QueryConfig query;
  AuthConfig auth;
  MetricsConfig metrics;
  AnalysisConfig analysis;
  // debug | info | warn | error; "trace" and "warning" are read as debug
  // and warn (the reference's names), in any case.
  std::string log_level = "info";
  std::vector<ConfigWarning> warnings;
};

// The defaults that differ between the binaries loading a config, used
// when no source (file, environment, flag) sets the key.
struct ConfigDefaults {
  // storage.create_if_missing: false for raceway-ingest (and the CLI's
  // config-driven commands): a configured SQLite file is expected to exist,
  // so one deleted while the service was stopped is a start error instead of
  // a silent new empty database. `raceway serve`, the one-command
  // development start, passes true. raceway-query never creates (it opens
  // the database read-only).
  bool create_if_missing = false;
};

// Parses TOML text (no environment, no flags) with ConfigDefaults().
// `origin` names the source in error messages.
absl::StatusOr<Config> ParseConfig(std::string_view toml_text, std::string_view origin);

// The full chain: `defaults`, then the file (optional; empty path = no
// file, missing file = error), then `env` (normally the process
// environment), then `flags`.
absl::StatusOr<Config> LoadConfig(const std::string& path,
                                  const std::map<std::string, std::string>& env,
                                  const std::vector<std::string>& flags,
                                  const ConfigDefaults& defaults = ConfigDefaults());

// "auth: on (N keys)" or "auth: off", for the start log.
std::string AuthModeText(const std::vector<std::string>& keys);

// The process environment restricted to RACEWAY_* variables.
std::map<std::string, std::string> RacewayEnvironment();

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_CONFIG_H_
