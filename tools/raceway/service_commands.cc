#include "tools/raceway/service_commands.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/model/operation_key.h"
#include "libs/model/uuid.h"
#include "libs/service/config.h"
#include "libs/service/log.h"
#include "libs/service/process.h"
#include "libs/storage/factory.h"
#include "raceway/v1/ingest.grpc.pb.h"
#include "raceway/v1/query.grpc.pb.h"
#include "services/ingest/ingest_server.h"
#include "services/query/query_server.h"

namespace raceway::cli {
namespace {

namespace v1 = raceway::v1;

enum Exit { kOk = 0, kFailure = 1, kUsage = 2, kNotFound = 3, kInvalid = 4, kUnreachable = 5 };

struct Options {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;
  bool json = false;
};

Options ParseOptions(const std::vector<std::string>& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json") {
      o.json = true;
    } else if (a.rfind("--", 0) == 0) {
      const size_t eq = a.find('=');
      if (eq != std::string::npos) {
        o.values[a.substr(2, eq - 2)] = a.substr(eq + 1);
      } else if (i + 1 < args.size()) {
        o.values[a.substr(2)] = args[++i];
      } else {
        o.values[a.substr(2)] = "";
      }
    } else {
      o.positional.push_back(a);
    }
  }
  return o;
}

std::string Value(const Options& o, const std::string& key, const char* env,
                  const std::string& fallback) {
  if (auto it = o.values.find(key); it != o.values.end()) return it->second;
  if (const char* v = std::getenv(env); v && *v) return v;
  return fallback;
}

int ExitFor(const grpc::Status& s) {
  std::cerr << "raceway: " << s.error_message() << " (gRPC code " << s.error_code() << ")\n";
  switch (s.error_code()) {
    case grpc::StatusCode::NOT_FOUND:
      return kNotFound;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return kInvalid;
    case grpc::StatusCode::UNAVAILABLE:
      return kUnreachable;
    default:
      return kFailure;
  }
}

std::string Time(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S",
                          absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos()),
                          absl::UTCTimeZone());
}

std::string Ms(uint64_t ns) { return absl::StrCat(static_cast<double>(ns) / 1e6, " ms"); }

// Left-aligned text table.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out) const {
    std::vector<size_t> width;
    for (const auto& r : rows_) {
      width.resize(std::max(width.size(), r.size()));
      for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    }
    for (const auto& r : rows_) {
      for (size_t i = 0; i < r.size(); ++i) {
        out << r[i];
        if (i + 1 < r.size()) out << std::string(width[i] - r[i].size() + 2, ' ');
      }
      out << "\n";
    }
    if (rows_.size() == 1) out << "(none)\n";
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

class QueryClient {
 public:
  explicit QueryClient(const Options& o)
      : key_(Value(o, "key", "RACEWAY_API_KEY", "")),
        stub_(v1::QueryService::NewStub(
            grpc::CreateChannel(Value(o, "server", "RACEWAY_QUERY_ADDR", "127.0.0.1:50052"),
                                grpc::InsecureChannelCredentials()))) {}

  template <typename Req, typename Resp>
  grpc::Status Call(grpc::Status (v1::QueryService::Stub::*m)(grpc::ClientContext*, const Req&,
                                                              Resp*),
                    const Req& req, Resp* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    if (!key_.empty()) ctx.AddMetadata("authorization", "Bearer " + key_);
    return (stub_.get()->*m)(&ctx, req, resp);
  }

 private:
  std::string key_;
  std::unique_ptr<v1::QueryService::Stub> stub_;
};

int PrintJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(m, &out, opts).ok()) return kFailure;
  std::cout << out;
  return kOk;
}

int Traces(const Options& o) {
  QueryClient c(o);
  v1::ListTracesRequest req;
  uint32_t limit = 20;
  if (auto it = o.values.find("limit");
      it != o.values.end() && !absl::SimpleAtoi(it->second, &limit)) {
    std::cerr << "raceway: --limit must be a number\n";
    return kUsage;
  }
  req.set_page_size(limit);
  if (auto it = o.values.find("service"); it != o.values.end()) req.set_service(it->second);
  v1::ListTracesResponse resp;
  if (auto s = c.Call(&v1::QueryService::Stub::ListTraces, req, &resp); !s.ok()) return ExitFor(s);
  if (o.json) return PrintJson(resp);
  Table t({"TRACE", "EVENTS", "FIRST", "LAST", "SERVICES"});
  for (const auto& tr : resp.traces()) {
    std::string services;
    for (const auto& s : tr.services()) services += (services.empty() ? "" : ",") + s;
    t.Add({tr.trace_id(), absl::StrCat(tr.event_count()), Time(tr.first_timestamp()),
           Time(tr.last_timestamp()), services});
  }
  t.Print(std::cout);
  std::cout << resp.total_count() << " trace(s)\n";
  return kOk;
}

int Trace(const Options& o) {
  if (o.positional.size() != 1) return kUsage;
  QueryClient c(o);
  v1::GetTraceRequest req;
  req.set_trace_id(o.positional[0]);
  v1::GetTraceResponse resp;
  if (auto s = c.Call(&v1::QueryService::Stub::GetTrace, req, &resp); !s.ok()) return ExitFor(s);
  if (o.json) return PrintJson(resp);
  Table t({"TIME", "THREAD", "SERVICE", "KIND", "EVENT"});
  for (const auto& e : resp.events()) {
    t.Add({Time(e.timestamp()), e.metadata().thread_id(), e.metadata().service_name(),
           model::OperationKey(e), e.id()});
  }
  t.Print(std::cout);
  if (!resp.next_page_token().empty()) std::cout << "(more events: use --json and paging)\n";
  return kOk;
}

int Races(const Options& o) {
  if (o.positional.size() != 1) return kUsage;
  QueryClient c(o);
  v1::GetRacesRequest req;
  req.set_trace_id(o.positional[0]);
  v1::GetRacesResponse resp;
  if (auto s = c.Call(&v1::QueryService::Stub::GetRaces, req, &resp); !s.ok()) return ExitFor(s);
  if (o.json) return PrintJson(resp);
  Table t({"SEVERITY", "VARIABLE", "LOCATION A", "LOCATION B", "COUNT", "THREADS"});
  for (const auto& g : resp.groups()) {
    std::string threads;
    for (const auto& th : g.thread_ids()) threads += (threads.empty() ? "" : ",") + th;
    t.Add({g.severity() == v1::RACE_SEVERITY_CRITICAL ? "CRITICAL" : "WARNING", g.variable(),
           g.location_a(), g.location_b(), absl::StrCat(g.count()), threads});
  }
  t.Print(std::cout);
  std::cout << resp.total_count() << " racing pair(s)\n";
  return kOk;
}

int CriticalPath(const Options& o) {
  if (o.positional.size() != 1) return kUsage;
  QueryClient c(o);
  v1::GetCriticalPathRequest req;
  req.set_trace_id(o.positional[0]);
  v1::CriticalPath resp;
  if (auto s = c.Call(&v1::QueryService::Stub::GetCriticalPath, req, &resp); !s.ok()) {
    return ExitFor(s);
  }
  if (o.json) return PrintJson(resp);
  Table t({"#", "KIND", "THREAD", "SERVICE", "DURATION", "LOCATION"});
  int i = 0;
  for (const auto& s : resp.steps()) {
    t.Add({absl::StrCat(++i), s.kind(), s.thread_id(), s.service_name(), Ms(s.duration_ns()),
           s.location()});
  }
  t.Print(std::cout);
  std::cout << "critical path " << Ms(resp.total_duration_ns()) << " of "
            << Ms(resp.trace_total_duration_ns()) << " (" << std::fixed << std::setprecision(2)
            << resp.percentage() << " %)\n";
  return kOk;
}

int Audit(const Options& o) {
  if (o.positional.size() != 2) return kUsage;
  QueryClient c(o);
  v1::GetAuditTrailRequest req;
  if (o.positional[0] != "-") req.set_trace_id(o.positional[0]);
  req.set_variable(o.positional[1]);
  v1::GetAuditTrailResponse resp;
  if (auto s = c.Call(&v1::QueryService::Stub::GetAuditTrail, req, &resp); !s.ok()) {
    return ExitFor(s);
  }
  if (o.json) return PrintJson(resp);
  Table t({"TIME", "THREAD", "ACCESS", "OLD", "NEW", "LOCATION", "CAUSAL", "RACE"});
  for (const auto& a : resp.trail().accesses()) {
    std::string old_v, new_v;
    (void)google::protobuf::util::MessageToJsonString(a.old_value(), &old_v);
    (void)google::protobuf::util::MessageToJsonString(a.new_value(), &new_v);
    t.Add({Time(a.timestamp()), a.thread_id(),
           std::string(v1::AccessType_Name(a.access_type()).substr(12)), old_v, new_v, a.location(),
           a.has_causal_link_to_previous() ? "yes" : "no", a.is_race() ? "RACE" : ""});
  }
  t.Print(std::cout);
  return kOk;
}

int Anomalies(const Options& o) {
  if (o.positional.size() != 1) return kUsage;
  QueryClient c(o);
  v1::GetAnomaliesRequest req;
  req.set_trace_id(o.positional[0]);
  v1::GetAnomaliesResponse resp;
  if (auto s = c.Call(&v1::QueryService::Stub::GetAnomalies, req, &resp); !s.ok()) {
    return ExitFor(s);
  }
  if (o.json) return PrintJson(resp);
  Table t({"SEVERITY", "OPERATION", "DURATION", "EXPECTED", "SIGMA", "DIRECTION"});
  for (const auto& a : resp.anomalies()) {
    t.Add({std::string(v1::AnomalySeverity_Name(a.severity()).substr(17)), a.operation(),
           Ms(a.duration_ns()), Ms(static_cast<uint64_t>(a.expected_mean_ns())),
           absl::StrCat(a.sigma()), a.slower() ? "slower" : "faster"});
  }
  t.Print(std::cout);
  return kOk;
}

int Services(const Options& o) {
  QueryClient c(o);
  v1::ListServicesResponse resp;
  if (auto s = c.Call(&v1::QueryService::Stub::ListServices, v1::ListServicesRequest{}, &resp);
      !s.ok()) {
    return ExitFor(s);
  }
  if (o.json) return PrintJson(resp);
  Table t({"SERVICE", "EVENTS", "TRACES", "LAST SEEN"});
  for (const auto& s : resp.services()) {
    t.Add({s.name(), absl::StrCat(s.event_count()), absl::StrCat(s.trace_count()),
           Time(s.last_seen())});
  }
  t.Print(std::cout);
  return kOk;
}

int GlobalRaces(const Options& o) {
  QueryClient c(o);
  v1::FindGlobalRacesRequest req;
  if (auto it = o.values.find("variable"); it != o.values.end()) req.set_variable(it->second);
  if (auto it = o.values.find("window-ms"); it != o.values.end()) {
    uint64_t w;
    if (!absl::SimpleAtoi(it->second, &w)) return kUsage;
    req.set_window_ms(w);
  }
  v1::FindGlobalRacesResponse resp;
  if (auto s = c.Call(&v1::QueryService::Stub::FindGlobalRaces, req, &resp); !s.ok()) {
    return ExitFor(s);
  }
  if (o.json) return PrintJson(resp);
  Table t({"SEVERITY", "VARIABLE", "FIRST (trace/thread)", "SECOND (trace/thread)", "GAP"});
  for (const auto& r : resp.races()) {
    t.Add({r.severity() == v1::RACE_SEVERITY_CRITICAL ? "CRITICAL" : "WARNING", r.variable(),
           r.first().trace_id().substr(0, 8) + "/" + r.first().thread_id(),
           r.second().trace_id().substr(0, 8) + "/" + r.second().thread_id(), Ms(r.gap_ns())});
  }
  t.Print(std::cout);
  return kOk;
}

int Health(const Options& o) {
  QueryClient c(o);
  v1::GetServiceHealthResponse resp;
  if (auto s =
          c.Call(&v1::QueryService::Stub::GetServiceHealth, v1::GetServiceHealthRequest{}, &resp);
      !s.ok()) {
    return ExitFor(s);
  }
  if (o.json) return PrintJson(resp);
  Table t({"SERVICE", "STATUS", "IDLE", "TRACES", "EVENTS"});
  for (const auto& s : resp.services()) {
    t.Add({s.service(), std::string(v1::HealthStatus_Name(s.status()).substr(14)),
           absl::StrCat(s.seconds_since_last_activity(), " s"), absl::StrCat(s.trace_count()),
           absl::StrCat(s.event_count())});
  }
  t.Print(std::cout);
  return kOk;
}

// ---------------------------------------------------------------- serve

absl::StatusOr<service::Config> ConfigFrom(const std::vector<std::string>& args,
                                           std::vector<std::string>* rest) {
  std::string path;
  std::vector<std::string> flags;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) {
      path = args[++i];
    } else if (args[i].rfind("--config=", 0) == 0) {
      path = args[i].substr(9);
    } else if (args[i].rfind("--", 0) == 0 && args[i].find('.') != std::string::npos) {
      flags.push_back(args[i]);
    } else if (rest) {
      rest->push_back(args[i]);
    }
  }
  return service::LoadConfig(path, service::RacewayEnvironment(), flags);
}

int Serve(const std::vector<std::string>& args) {
  service::BlockTerminationSignals();
  auto config = ConfigFrom(args, nullptr);
  if (!config.ok()) {
    std::cerr << "raceway serve: " << config.status().message() << "\n";
    return kUsage;
  }
  if (config->storage.backend != "memory" && config->storage.backend != "sqlite") {
    std::cerr << "raceway serve: the all-in-one mode runs on memory or sqlite; use the "
                 "raceway-ingest and raceway-query services for "
              << config->storage.backend << "\n";
    return kUsage;
  }
  service::SetLogLevel(config->log_level);
  auto storage = storage::OpenStorage(config->storage);
  if (!storage.ok()) {
    std::cerr << "raceway serve: " << storage.status().message() << "\n";
    return kFailure;
  }
  std::shared_ptr<storage::Storage> shared = std::move(*storage);
  auto ingest = ingest::IngestServer::Start(*config, shared);
  if (!ingest.ok()) {
    std::cerr << "raceway serve: " << ingest.status().message() << "\n";
    return kFailure;
  }
  auto query = query::QueryServer::Start(*config, shared);
  if (!query.ok()) {
    std::cerr << "raceway serve: " << query.status().message() << "\n";
    return kFailure;
  }
  std::cout << "Raceway is running on " << config->storage.backend
            << (config->storage.backend == "sqlite" ? " (" + config->storage.sqlite_path + ")" : "")
            << "\n  ingest gRPC   127.0.0.1:" << (*ingest)->grpc_port() << "\n  ingest HTTP   "
            << ((*ingest)->http_port()
                    ? absl::StrCat("127.0.0.1:", (*ingest)->http_port(), "/events")
                    : "off")
            << "\n  query gRPC    127.0.0.1:" << (*query)->grpc_port() << "\n  query gRPC-Web "
            << ((*query)->grpc_web_port() ? absl::StrCat("127.0.0.1:", (*query)->grpc_web_port())
                                          : "off")
            << "\nTry: raceway demo --ingest 127.0.0.1:" << (*ingest)->grpc_port()
            << " && raceway traces --server 127.0.0.1:" << (*query)->grpc_port() << "\n"
            << std::flush;
  service::WaitForTerminationSignal();
  (*ingest)->Shutdown();
  (*query)->Shutdown();
  return kOk;
}

// ---------------------------------------------------------------- demo

constexpr int64_t kMs = 1000000;

class DemoTrace {
 public:
  DemoTrace(int64_t start_ns) : trace_(model::NewUuidV4()), start_ns_(start_ns) {}
  const std::string& id() const { return trace_; }

  v1::Event& Add(const std::string& service, const std::string& thread, int64_t at_ms,
                 int64_t duration_ms, const std::string& parent = "") {
    v1::Event& e = events_.emplace_back();
    e.set_id(model::NewUuidV4());
    e.set_trace_id(trace_);
    if (!parent.empty()) e.set_parent_id(parent);
    const int64_t t = start_ns_ + at_ms * kMs;
    e.mutable_timestamp()->set_seconds(t / 1000000000);
    e.mutable_timestamp()->set_nanos(static_cast<int32_t>(t % 1000000000));
    e.mutable_metadata()->set_thread_id(thread);
    e.mutable_metadata()->set_service_name(service);
    e.mutable_metadata()->set_environment("demo");
    e.mutable_metadata()->set_duration_ns(static_cast<uint64_t>(duration_ms * kMs));
    return e;
  }
  std::vector<v1::Event>& events() { return events_; }

 private:
  std::string trace_;
  int64_t start_ns_;
  std::vector<v1::Event> events_;
};

// A checkout: the api service calls the payments service over HTTP; two
// payment workers update `inventory` under a mutex (protected) and
// `balance` without one (a race); `charge` takes `charge_ms`.
DemoTrace Checkout(int64_t start_ns, int64_t charge_ms, bool racy) {
  DemoTrace t(start_ns);
  auto& root = t.Add("api", "api-main", 0, 40 + charge_ms);
  root.mutable_function_call()->set_function_name("handle_checkout");
  root.mutable_function_call()->set_file("api/checkout.rs");
  root.mutable_function_call()->set_line(10);
  root.mutable_metadata()->set_distributed_span_id("span-api");
  const std::string root_id = root.id();
  auto& req = t.Add("api", "api-main", 1, 30 + charge_ms, root_id);
  req.mutable_http_request()->set_method("POST");
  req.mutable_http_request()->set_url("http://payments/charge");
  req.mutable_metadata()->set_distributed_span_id("span-api");
  auto& charge = t.Add("payments", "pay-main", 2, charge_ms);
  charge.mutable_function_call()->set_function_name("charge");
  charge.mutable_metadata()->set_distributed_span_id("span-pay");
  charge.mutable_metadata()->set_upstream_span_id("span-api");
  const std::string charge_id = charge.id();
  for (int w = 1; w <= 2; ++w) {
    const std::string thread = absl::StrCat("pay-worker-", w);
    auto& lock = t.Add("payments", thread, 3 + w, 0, charge_id);
    lock.mutable_lock_acquire()->set_lock_id("inventory_mutex");
    lock.mutable_lock_acquire()->set_lock_type("Mutex");
    lock.mutable_metadata()->set_distributed_span_id("span-pay");
    auto& inv = t.Add("payments", thread, 4 + w, 1, charge_id);
    inv.mutable_state_change()->set_variable("inventory");
    inv.mutable_state_change()->set_access_type(v1::ACCESS_TYPE_WRITE);
    inv.mutable_state_change()->mutable_new_value()->set_number_value(100 - w);
    inv.mutable_state_change()->set_location("payments/stock.rs:21");
    inv.mutable_metadata()->set_distributed_span_id("span-pay");
    auto& unlock = t.Add("payments", thread, 5 + w, 0, charge_id);
    unlock.mutable_lock_release()->set_lock_id("inventory_mutex");
    unlock.mutable_lock_release()->set_lock_type("Mutex");
    unlock.mutable_metadata()->set_distributed_span_id("span-pay");
    if (racy) {
      auto& bal = t.Add("payments", thread, 8 + w, 2, charge_id);
      bal.mutable_state_change()->set_variable("balance");
      bal.mutable_state_change()->set_access_type(v1::ACCESS_TYPE_WRITE);
      bal.mutable_state_change()->mutable_old_value()->set_number_value(100);
      bal.mutable_state_change()->mutable_new_value()->set_number_value(100 - 10 * w);
      bal.mutable_state_change()->set_location(absl::StrCat("payments/ledger.rs:", 40 + w));
      bal.mutable_metadata()->set_distributed_span_id("span-pay");
    }
  }
  auto& resp = t.Add("api", "api-main", 32 + charge_ms, 1, root_id);
  resp.mutable_http_response()->set_status(200);
  resp.mutable_http_response()->set_duration_ms(static_cast<uint64_t>(30 + charge_ms));
  resp.mutable_metadata()->set_distributed_span_id("span-api");
  return t;
}

int Demo(const std::vector<std::string>& args) {
  Options o = ParseOptions(args);
  const std::string addr = Value(o, "ingest", "RACEWAY_INGEST_ADDR", "127.0.0.1:50051");
  const std::string key = Value(o, "key", "RACEWAY_API_KEY", "");
  auto stub =
      v1::IngestService::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  const int64_t now = absl::ToUnixNanos(absl::Now());
  v1::SubmitRequest req;
  // Ten ordinary checkouts teach the baselines (charge ~ 5 ms), then the
  // demo checkout: a slow charge (80 ms) and the racy balance update.
  for (int i = 0; i < 10; ++i) {
    DemoTrace t = Checkout(now - (20 - i) * 1000 * kMs, 5 + (i % 3), /*racy=*/false);
    for (auto& e : t.events()) *req.add_events() = e;
  }
  DemoTrace demo = Checkout(now - 1000 * kMs, 80, /*racy=*/true);
  for (auto& e : demo.events()) *req.add_events() = e;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (!key.empty()) ctx.AddMetadata("authorization", "Bearer " + key);
  v1::SubmitResponse resp;
  grpc::Status s = stub->Submit(&ctx, req, &resp);
  if (!s.ok()) return ExitFor(s);
  std::cout << "Sent " << req.events_size() << " events (" << resp.result().accepted() << " new, "
            << resp.result().duplicate() << " duplicate) to " << addr << ".\n"
            << "Demo trace: " << demo.id() << "\n"
            << "  two services (api -> payments over HTTP), a race on `balance`,\n"
            << "  `inventory` protected by inventory_mutex, and a slow `charge` (80 ms vs ~6 ms).\n"
            << "Look at it:\n"
            << "  raceway races " << demo.id() << "\n"
            << "  raceway critical-path " << demo.id() << "\n"
            << "  raceway audit " << demo.id() << " balance\n"
            << "  raceway anomalies " << demo.id() << "\n"
            << "  raceway services\n";
  return kOk;
}

// ---------------------------------------------------------------- retention

int Retention(const std::vector<std::string>& args) {
  std::vector<std::string> rest;
  auto config = ConfigFrom(args, &rest);
  if (!config.ok()) {
    std::cerr << "raceway retention: " << config.status().message() << "\n";
    return kUsage;
  }
  Options o = ParseOptions(rest);
  uint64_t hours = config->retention_hours;
  if (auto it = o.values.find("hours");
      it != o.values.end() && !absl::SimpleAtoi(it->second, &hours)) {
    std::cerr << "raceway retention: --hours must be a whole number\n";
    return kUsage;
  }
  if (hours == 0) {
    std::cerr << "raceway retention: retention is off (0 hours); nothing to do\n";
    return kOk;
  }
  auto storage = storage::OpenStorage(config->storage);
  if (!storage.ok()) {
    std::cerr << "raceway retention: " << storage.status().message() << "\n";
    return kFailure;
  }
  const int64_t cutoff = absl::ToUnixNanos(absl::Now() - absl::Hours(static_cast<int64_t>(hours)));
  auto deleted = (*storage)->DeleteTracesBefore(cutoff);
  if (!deleted.ok()) {
    std::cerr << "raceway retention: " << deleted.status().message() << "\n";
    return kFailure;
  }
  std::cout << "deleted " << *deleted << " trace(s) with no activity in the last " << hours
            << " hour(s)\n";
  return kOk;
}

}  // namespace

const char* ServiceCommandsUsage() {
  return "  raceway serve [--config FILE] [--section.key=value ...]   ingest + query in one "
         "process\n"
         "  raceway demo [--ingest HOST:PORT]                          send a demo trace\n"
         "  raceway traces [--limit N] [--service S]\n"
         "  raceway trace ID | races ID | critical-path ID | anomalies ID\n"
         "  raceway audit ID|- VARIABLE          (- = across all traces)\n"
         "  raceway services | health | global-races [--variable V] [--window-ms N]\n"
         "    query commands: [--server HOST:PORT] (RACEWAY_QUERY_ADDR, default 127.0.0.1:50052)\n"
         "                    [--key KEY] (RACEWAY_API_KEY) [--json]\n"
         "  raceway retention [--hours N] [--config FILE]   delete traces older than N hours\n"
         "exit status: 0 ok, 1 failure, 2 usage, 3 not found, 4 invalid argument, 5 unreachable\n";
}

int RunServiceCommand(const std::string& command, const std::vector<std::string>& args) {
  if (command == "serve") return Serve(args);
  if (command == "demo") return Demo(args);
  if (command == "retention") return Retention(args);
  static const std::map<std::string, int (*)(const Options&)> kQueries = {
      {"traces", Traces},     {"trace", Trace},
      {"races", Races},       {"critical-path", CriticalPath},
      {"audit", Audit},       {"anomalies", Anomalies},
      {"services", Services}, {"global-races", GlobalRaces},
      {"health", Health}};
  auto it = kQueries.find(command);
  if (it == kQueries.end()) return -1;
  const int rc = it->second(ParseOptions(args));
  if (rc == kUsage) std::cerr << "usage:\n" << ServiceCommandsUsage();
  return rc;
}

}  // namespace raceway::cli
