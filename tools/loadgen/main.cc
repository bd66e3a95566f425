// raceway-loadgen: drives raceway-ingest with realistic traces over N
// concurrent streams and reports committed events/s and ack latency.
// See Usage() below; exit codes: 0 ok, 1 error or events not delivered,
// 2 acked events missing from storage (--verify-storage / --embedded).

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/storage/factory.h"
#include "tools/loadgen/loadgen.h"

#ifdef RACEWAY_LOADGEN_EMBEDDED
#include "libs/service/config.h"
#include "services/ingest/ingest_server.h"
#endif

namespace {

using raceway::client::ClientOptions;
using raceway::loadgen::LoadOptions;

const char kUsage[] = R"(raceway-loadgen: load generator for raceway-ingest

Usage: raceway-loadgen [flags]

Connection:
  --target=HOST:PORT        ingest gRPC address (default 127.0.0.1:50051)
  --api-key=KEY             sent as "authorization: Bearer KEY"
  --tls                     use TLS; --root-certs=FILE (PEM), --tls-server-name=NAME
Load:
  --streams=N               concurrent streams (default 4)
  --unary                   use unary Submit instead of streams (N concurrent calls)
  --batch-size=N            events per batch (default 1000)
  --linger-ms=N             max wait to fill a batch (default 5)
  --max-in-flight=N         unacked batches per stream (default 8)
  --max-buffered-events=N   client buffer bound (default 200000)
  --duration=SECONDS        run this long (default 10 unless --events)
  --events=N                send exactly N events
  --rate=EVENTS_PER_S       pace the producers (default 0 = as fast as possible)
  --producers=N             generator threads (default 1)
  --threads-per-trace=N     worker threads per trace (default 3)
  --race-probability=P      chance of an unprotected write per worker (default 0.3)
  --seed=N
Verification / server:
  --verify-storage=URL      after the run, check every acked event is stored
                            (sqlite:///path.db, postgres://..., mysql://...)
  --embedded=URL            start an in-process ingest server over this storage
                            (memory://, sqlite:///tmp/x.db, ...) and verify it;
                            --ingest.KEY=VALUE flags configure that server
                            (e.g. --ingest.batch_size=2000)
Output:
  --json                    print the final report as one JSON line
  --quiet                   no progress lines
Exit codes: 0 ok; 1 error or undelivered events; 2 acked events missing.
)";

struct Flags {
  LoadOptions load;
  std::string verify_url;
  std::string embedded_url;
  std::vector<std::string> server_flags;
  bool json = false;
  bool quiet = false;
};

bool ParseFlags(int argc, char** argv, Flags* f, std::string* error) {
  std::map<std::string, std::function<bool(const std::string&)>> with_value;
  auto u64 = [](uint64_t* out) {
    return [out](const std::string& v) { return absl::SimpleAtoi(v, out); };
  };
  auto u32 = [](uint32_t* out) {
    return [out](const std::string& v) { return absl::SimpleAtoi(v, out) && *out > 0; };
  };
  auto str = [](std::string* out) {
    return [out](const std::string& v) {
      *out = v;
      return true;
    };
  };
  ClientOptions& c = f->load.client;
  uint64_t linger = 5, duration = 0, max_buffered = 200000;
  double rate = 0, race = 0.3;
  int64_t producers = 1, threads = 3;
  with_value["target"] = str(&c.target);
  with_value["api-key"] = str(&c.api_key);
  with_value["root-certs"] = str(&c.root_certs_file);
  with_value["tls-server-name"] = str(&c.tls_server_name);
  with_value["streams"] = u32(&c.streams);
  with_value["batch-size"] = u32(&c.max_batch_events);
  with_value["max-in-flight"] = u32(&c.max_in_flight_per_stream);
  with_value["linger-ms"] = u64(&linger);
  with_value["max-buffered-events"] = u64(&max_buffered);
  with_value["duration"] = u64(&duration);
  with_value["events"] = u64(&f->load.events);
  with_value["rate"] = [&](const std::string& v) {
    return absl::SimpleAtod(v, &rate) && rate >= 0;
  };
  with_value["producers"] = [&](const std::string& v) {
    return absl::SimpleAtoi(v, &producers) && producers > 0 && producers <= 64;
  };
  with_value["threads-per-trace"] = [&](const std::string& v) {
    return absl::SimpleAtoi(v, &threads) && threads >= 0 && threads <= 1000;
  };
  with_value["race-probability"] = [&](const std::string& v) {
    return absl::SimpleAtod(v, &race) && race >= 0 && race <= 1;
  };
  with_value["seed"] = u64(&f->load.seed);
  with_value["verify-storage"] = str(&f->verify_url);
  with_value["embedded"] = str(&f->embedded_url);
  c.streams = 4;

  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      *error = "";
      return false;
    }
    if (arg.rfind("--", 0) != 0) {
      *error = absl::StrCat("unexpected argument ", arg);
      return false;
    }
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (name.rfind("ingest.", 0) == 0 || name.rfind("storage.", 0) == 0) {
      f->server_flags.push_back(arg);
      continue;
    }
    if (name == "tls" || name == "unary" || name == "json" || name == "quiet") {
      if (has_value) {
        *error = absl::StrCat("--", name, " takes no value");
        return false;
      }
      if (name == "tls") c.tls = true;
      if (name == "unary") c.transport = ClientOptions::Transport::kUnary;
      if (name == "json") f->json = true;
      if (name == "quiet") f->quiet = true;
      continue;
    }
    auto it = with_value.find(name);
    if (it == with_value.end()) {
      *error = absl::StrCat("unknown flag --", name);
      return false;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        *error = absl::StrCat("--", name, " needs a value");
        return false;
      }
      value = argv[++i];
    }
    if (!it->second(value)) {
      *error = absl::StrCat("bad value for --", name, ": ", value);
      return false;
    }
  }
  c.linger = std::chrono::milliseconds(linger);
  c.max_buffered_events = max_buffered;
  f->load.rate = rate;
  f->load.producers = static_cast<int>(producers);
  f->load.shape.threads = static_cast<int>(threads);
  f->load.shape.race_probability = race;
  f->load.duration = std::chrono::seconds(duration);
  if (duration == 0 && f->load.events == 0) f->load.duration = std::chrono::seconds(10);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  std::string error;
  if (!ParseFlags(argc, argv, &flags, &error)) {
    if (error.empty()) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::fprintf(stderr, "raceway-loadgen: %s (see --help)\n", error.c_str());
    return 1;
  }
  if (!flags.server_flags.empty() && flags.embedded_url.empty()) {
    std::fprintf(stderr, "raceway-loadgen: %s needs --embedded\n", flags.server_flags[0].c_str());
    return 1;
  }

  std::shared_ptr<raceway::storage::Storage> storage;
  const std::string storage_url =
      !flags.embedded_url.empty() ? flags.embedded_url : flags.verify_url;
  if (!storage_url.empty()) {
    auto options = raceway::storage::StorageOptionsFromUrl(storage_url);
    if (!options.ok()) {
      std::fprintf(stderr, "raceway-loadgen: %s\n", options.status().ToString().c_str());
      return 1;
    }
    if (options->backend == "memory" && flags.embedded_url.empty()) {
      std::fprintf(stderr,
                   "raceway-loadgen: a memory:// store lives in the server's process; "
                   "use --embedded=memory:// to test it\n");
      return 1;
    }
    auto opened = raceway::storage::OpenStorage(*options);
    if (!opened.ok()) {
      std::fprintf(stderr, "raceway-loadgen: opening %s: %s\n", storage_url.c_str(),
                   opened.status().ToString().c_str());
      return 1;
    }
    storage = std::move(*opened);
    flags.load.verify = true;
  }

#ifdef RACEWAY_LOADGEN_EMBEDDED
  std::unique_ptr<raceway::ingest::IngestServer> server;
  if (!flags.embedded_url.empty()) {
    auto config = raceway::service::LoadConfig("", {}, flags.server_flags);
    if (!config.ok()) {
      std::fprintf(stderr, "raceway-loadgen: %s\n", config.status().ToString().c_str());
      return 1;
    }
    config->ingest.listen = "127.0.0.1:0";
    config->ingest.http_listen = "";
    config->metrics.ingest_listen = "";
    auto started = raceway::ingest::IngestServer::Start(*config, storage);
    if (!started.ok()) {
      std::fprintf(stderr, "raceway-loadgen: embedded server: %s\n",
                   started.status().ToString().c_str());
      return 1;
    }
    server = std::move(*started);
    flags.load.client.target = absl::StrCat("127.0.0.1:", server->grpc_port());
  }
#else
  if (!flags.embedded_url.empty()) {
    std::fprintf(stderr, "raceway-loadgen: built without the ingest library: no --embedded\n");
    return 1;
  }
#endif

  if (!flags.quiet) {
    flags.load.progress = [](const std::string& line) {
      std::fprintf(stderr, "%s\n", line.c_str());
    };
    std::fprintf(stderr, "raceway-loadgen: %s, %u %s, batch %u, %s\n",
                 flags.load.client.target.c_str(), flags.load.client.streams,
                 flags.load.client.transport == ClientOptions::Transport::kUnary ? "unary workers"
                                                                                 : "streams",
                 flags.load.client.max_batch_events,
                 flags.load.events > 0
                     ? absl::StrCat(flags.load.events, " events").c_str()
                     : absl::StrCat(flags.load.duration.count() / 1000, " s").c_str());
  }
  auto report = raceway::loadgen::RunLoad(flags.load, storage.get());
#ifdef RACEWAY_LOADGEN_EMBEDDED
  if (server) server->Shutdown();
#endif
  if (!report.ok()) {
    std::fprintf(stderr, "raceway-loadgen: %s\n", report.status().ToString().c_str());
    return 1;
  }
  if (flags.json) {
    std::printf("%s\n", report->ToJson().c_str());
  } else {
    std::fputs(report->ToText().c_str(), stdout);
  }
  if (report->missing > 0) return 2;
  if (!report->flush_status.ok() || report->failed > 0) return 1;
  return 0;
}
