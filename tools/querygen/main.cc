// raceway-querygen: drives raceway-query with a dashboard-like mix of RPCs
// from N concurrent workers and reports requests/s, errors by gRPC code and
// per-RPC latency percentiles. See kUsage below; exit codes: 0 ok, 1 bad
// usage or no connection, 3 errors (other than NOT_FOUND) above
// --max-error-ratio.

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tools/querygen/querygen.h"

namespace {

using raceway::querygen::QueryLoadOptions;

const char kUsage[] = R"(raceway-querygen: query load generator for raceway-query

Usage: raceway-querygen [flags]

Connection:
  --targets=HOST:PORT[,HOST:PORT...]
                            query gRPC addresses (default 127.0.0.1:50052);
                            workers are spread round-robin, one channel each
  --api-key=KEY             sent as "authorization: Bearer KEY"
  --tls                     use TLS; --root-certs=FILE (PEM)
Load:
  --workers=N               concurrent callers (default 4)
  --duration=SECONDS        run this long (default 10 unless --requests)
  --requests=N              make exactly N requests
  --rate=R                  total requests/s, open loop (default 0 = closed loop)
  --mix=NAME:W,...          weighted RPC mix (default
                            list:3,analyze:2,races:2,critical-path:2,services:1,health:1)
                            names: list analyze races critical-path anomalies
                            dependencies trace services health service-deps
                            hotspots performance edges global-races
  --discovery-ms=N          refresh the trace list every N ms (default 2000)
  --timeout-ms=N            per-call deadline (default 30000)
Output / exit:
  --json                    print the report as one JSON line
  --quiet                   no progress lines
  --max-error-ratio=X       fail (exit 3) when errors other than NOT_FOUND
                            exceed X of the requests (default 0)
Exit codes: 0 ok; 1 usage or connection error; 3 too many errors.
)";

struct Flags {
  QueryLoadOptions load;
  double max_error_ratio = 0;
  bool json = false;
  bool quiet = false;
};

bool ParseFlags(int argc, char** argv, Flags* f, std::string* error) {
  std::map<std::string, std::function<bool(const std::string&)>> with_value;
  uint64_t duration = 0, discovery_ms = 2000, timeout_ms = 30000;
  int64_t workers = 4;
  std::string targets = "127.0.0.1:50052", mix;
  with_value["targets"] = [&](const std::string& v) {
    targets = v;
    return !v.empty();
  };
  with_value["api-key"] = [&](const std::string& v) {
    f->load.api_key = v;
    return true;
  };
  with_value["root-certs"] = [&](const std::string& v) {
    f->load.root_certs_file = v;
    return true;
  };
  with_value["workers"] = [&](const std::string& v) {
    return absl::SimpleAtoi(v, &workers) && workers > 0 && workers <= 1024;
  };
  with_value["duration"] = [&](const std::string& v) { return absl::SimpleAtoi(v, &duration); };
  with_value["requests"] = [&](const std::string& v) {
    return absl::SimpleAtoi(v, &f->load.requests);
  };
  with_value["rate"] = [&](const std::string& v) {
    return absl::SimpleAtod(v, &f->load.rate) && f->load.rate >= 0;
  };
  with_value["mix"] = [&](const std::string& v) {
    mix = v;
    return true;
  };
  with_value["discovery-ms"] = [&](const std::string& v) {
    return absl::SimpleAtoi(v, &discovery_ms) && discovery_ms > 0;
  };
  with_value["timeout-ms"] = [&](const std::string& v) {
    return absl::SimpleAtoi(v, &timeout_ms) && timeout_ms > 0;
  };
  with_value["max-error-ratio"] = [&](const std::string& v) {
    return absl::SimpleAtod(v, &f->max_error_ratio) && f->max_error_ratio >= 0 &&
           f->max_error_ratio <= 1;
  };

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
    if (name == "tls" || name == "json" || name == "quiet") {
      if (has_value) {
        *error = absl::StrCat("--", name, " takes no value");
        return false;
      }
      if (name == "tls") f->load.tls = true;
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
  f->load.targets = absl::StrSplit(targets, ',', absl::SkipWhitespace());
  if (f->load.targets.empty()) {
    *error = "--targets is empty";
    return false;
  }
  if (!mix.empty()) {
    auto parsed = raceway::querygen::ParseMix(mix);
    if (!parsed.ok()) {
      *error = std::string(parsed.status().message());
      return false;
    }
    f->load.mix = *parsed;
  }
  f->load.workers = static_cast<int>(workers);
  f->load.discovery_interval = std::chrono::milliseconds(discovery_ms);
  f->load.call_timeout = std::chrono::milliseconds(timeout_ms);
  f->load.duration = std::chrono::seconds(duration);
  if (duration == 0 && f->load.requests == 0) f->load.duration = std::chrono::seconds(10);
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
    std::fprintf(stderr, "raceway-querygen: %s (see --help)\n", error.c_str());
    return 1;
  }
  if (!flags.quiet) {
    flags.load.progress = [](const std::string& line) {
      std::fprintf(stderr, "%s\n", line.c_str());
    };
    const std::string limit = flags.load.requests > 0
                                  ? absl::StrCat(flags.load.requests, " requests")
                                  : absl::StrCat(flags.load.duration.count() / 1000, " s");
    std::fprintf(
        stderr, "raceway-querygen: %s, %d workers, %s, %s\n",
        absl::StrJoin(flags.load.targets, ",").c_str(), flags.load.workers, limit.c_str(),
        flags.load.rate > 0 ? absl::StrCat(flags.load.rate, " requests/s").c_str() : "closed loop");
  }
  auto report = raceway::querygen::RunQueryLoad(flags.load);
  if (!report.ok()) {
    std::fprintf(stderr, "raceway-querygen: %s\n", report.status().ToString().c_str());
    return 1;
  }
  if (flags.json) {
    std::printf("%s\n", report->ToJson().c_str());
  } else {
    std::fputs(report->ToText().c_str(), stdout);
  }
  if (report->HardErrorRatio() > flags.max_error_ratio) {
    std::fprintf(stderr,
                 "raceway-querygen: %.4f of the requests failed with errors other than "
                 "NOT_FOUND (max %.4f)\n",
                 report->HardErrorRatio(), flags.max_error_ratio);
    return 3;
  }
  return 0;
}
