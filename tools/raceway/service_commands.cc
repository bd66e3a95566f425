#include "tools/raceway/service_commands.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <sstream>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/model/operation_key.h"
#include "libs/model/timestamp.h"
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
  std::map<std::string, std::string> values;  // --name value | --name=value
  std::vector<std::string> config_flags;      // --section.key=value
  bool json = false;
};

// One subcommand: its usage, the options it accepts and how to run it.
struct Command {
  const char* name;
  const char* args;     // Usage after the name.
  const char* summary;  // One line.
  size_t min_positional;
  size_t max_positional;
  std::vector<std::string> options;  // Options that take a value.
  bool query;                        // A query command: also --server, --key and --json.
  bool config;                       // Also --config FILE and --section.key=value.
  int (*run)(const Options&);
};

std::string Usage(const Command& c) {
  return absl::StrCat("usage: raceway ", c.name, *c.args ? " " : "", c.args,
                      c.query ? " [--server HOST:PORT] [--key KEY] [--json]" : "", "\n  ",
                      c.summary, "\n");
}

bool IsHelp(const std::string& arg) { return arg == "--help" || arg == "-h"; }

absl::StatusOr<Options> ParseOptions(const Command& c, const std::vector<std::string>& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a[0] != '-') {  // "-" alone is a value (audit's "all traces").
      o.positional.push_back(a);
      continue;
    }
    if (a.rfind("--", 0) != 0)
      return absl::InvalidArgumentError(absl::StrCat("unknown option ", a));
    std::string name = a.substr(2), value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (c.query && name == "json" && !inline_value) {
      o.json = true;
      continue;
    }
    const bool config_key = c.config && name.find('.') != std::string::npos;
    const bool known =
        config_key || std::find(c.options.begin(), c.options.end(), name) != c.options.end() ||
        (c.query && (name == "server" || name == "key")) || (c.config && name == "config");
    if (!known) return absl::InvalidArgumentError(absl::StrCat("unknown option --", name));
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
      value = args[++i];
    }
    if (config_key) {
      o.config_flags.push_back(absl::StrCat("--", name, "=", value));
    } else {
      o.values[name] = value;
    }
  }
  if (o.positional.size() < c.min_positional || o.positional.size() > c.max_positional) {
    return absl::InvalidArgumentError(
        o.positional.size() < c.min_positional
            ? "missing argument"
            : absl::StrCat("unexpected argument \"", o.positional[c.max_positional], "\""));
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

std::string JsonOf(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(m, &out, opts).ok()) return "";
  return out;
}

int PrintJson(const google::protobuf::Message& m) {
  const std::string out = JsonOf(m);
  if (out.empty()) return kFailure;
  std::cout << out;
  return kOk;
}

// Enum value names without their prefix: RACE_SEVERITY_CRITICAL -> CRITICAL.
std::string EnumLabel(const std::string& name, std::string_view prefix) {
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

std::string LinkLabel(v1::EdgeLinkType t) {
  // UNSPECIFIED is a parent edge between services (no span link).
  return t == v1::EDGE_LINK_TYPE_UNSPECIFIED
             ? "PARENT"
             : EnumLabel(v1::EdgeLinkType_Name(t), "EDGE_LINK_TYPE_");
}

std::string CallLabel(const std::string& from, const std::string& to) {
  return absl::StrCat(from, " -> ", to);
}

std::string MsValue(double ms) { return absl::StrFormat("%.3f ms", ms); }

std::string Joined(const google::protobuf::RepeatedPtrField<std::string>& items) {
  return absl::StrJoin(items, ",");
}

// What the analysis did with input it could not take at face value, one
// line each under a table.
void PrintNotes(const google::protobuf::RepeatedPtrField<v1::AnalysisDiagnostic>& diagnostics) {
  for (const auto& d : diagnostics) std::cout << "note: " << d.message() << "\n";
}

void PrintRaceGroups(const google::protobuf::RepeatedPtrField<v1::RaceGroup>& groups) {
  Table t({"SEVERITY", "VARIABLE", "LOCATION A", "LOCATION B", "COUNT", "THREADS"});
  for (const auto& g : groups) {
    t.Add({g.severity() == v1::RACE_SEVERITY_CRITICAL ? "CRITICAL" : "WARNING", g.variable(),
           g.location_a(), g.location_b(), absl::StrCat(g.count()), Joined(g.thread_ids())});
  }
  t.Print(std::cout);
}

void PrintPathTotal(const v1::CriticalPath& cp) {
  std::cout << "critical path " << Ms(cp.total_duration_ns()) << " of "
            << Ms(cp.trace_total_duration_ns()) << " (" << absl::StrFormat("%.2f", cp.percentage())
            << " %)\n";
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
    t.Add({tr.trace_id(), absl::StrCat(tr.event_count()), Time(tr.first_timestamp()),
           Time(tr.last_timestamp()), Joined(tr.services())});
  }
  t.Print(std::cout);
  std::cout << resp.total_count() << " trace(s)\n";
  return kOk;
}

int Trace(const Options& o) {
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

int Analyze(const Options& o) {
  QueryClient c(o);
  v1::AnalyzeTraceRequest req;
  req.set_trace_id(o.positional[0]);
  v1::AnalyzeTraceResponse resp;
  if (auto s = c.Call(&v1::QueryService::Stub::AnalyzeTrace, req, &resp); !s.ok()) {
    return ExitFor(s);
  }
  if (o.json) return PrintJson(resp);
  std::cout << "trace " << resp.summary().trace_id() << ": " << resp.summary().event_count()
            << " events, services " << Joined(resp.summary().services()) << "\n";
  PrintRaceGroups(resp.race_groups());
  std::cout << resp.race_count() << " racing pair(s)\n";
  PrintPathTotal(resp.critical_path());
  std::cout << resp.anomalies_size() << " anomal" << (resp.anomalies_size() == 1 ? "y" : "ies")
            << ", " << resp.dependencies().edges_size() << " service edge(s)\n";
  PrintNotes(resp.diagnostics());
  return kOk;
}

int Races(const Options& o) {
  QueryClient c(o);
  v1::GetRacesRequest req;
  req.set_trace_id(o.positional[0]);
  v1::GetRacesResponse resp;
  if (auto s = c.Call(&v1::QueryService::Stub::GetRaces, req, &resp); !s.ok()) return ExitFor(s);
  if (o.json) return PrintJson(resp);
  PrintRaceGroups(resp.groups());
  std::cout << resp.total_count() << " racing pair(s)\n";
  PrintNotes(resp.diagnostics());
  return kOk;
}

int CriticalPath(const Options& o) {
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
  PrintPathTotal(resp);
  PrintNotes(resp.diagnostics());
  return kOk;
}

int Audit(const Options& o) {
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
           EnumLabel(v1::AccessType_Name(a.access_type()), "ACCESS_TYPE_"), old_v, new_v,
           a.location(), a.has_causal_link_to_previous() ? "yes" : "no",
           a.is_race() ? "RACE" : ""});
  }
  t.Print(std::cout);
  return kOk;
}

int Anomalies(const Options& o) {
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
    t.Add({EnumLabel(v1::AnomalySeverity_Name(a.severity()), "ANOMALY_SEVERITY_"), a.operation(),
           Ms(a.duration_ns()), Ms(static_cast<uint64_t>(a.expected_mean_ns())),
           absl::StrCat(a.sigma()), a.slower() ? "slower" : "faster"});
  }
  t.Print(std::cout);
  return kOk;
}

int Deps(const Options& o) {
  QueryClient c(o);
  v1::GetDependenciesRequest req;
  req.set_trace_id(o.positional[0]);
  v1::TraceDependencies resp;
  if (auto s = c.Call(&v1::QueryService::Stub::GetDependencies, req, &resp); !s.ok()) {
    return ExitFor(s);
  }
  if (o.json) return PrintJson(resp);
  Table services({"SERVICE", "EVENTS"});
  for (const auto& s : resp.services()) services.Add({s.name(), absl::StrCat(s.event_count())});
  services.Print(std::cout);
  std::cout << "\n";
  Table edges({"CALL", "CALLS", "LINK"});
  for (const auto& e : resp.edges()) {
    edges.Add(
        {CallLabel(e.from(), e.to()), absl::StrCat(e.call_count()), LinkLabel(e.link_type())});
  }
  edges.Print(std::cout);
  return kOk;
}

std::string ClockText(const v1::VectorClock& clock) {
  return absl::StrJoin(clock.entries(), " ", [](std::string* out, const v1::CausalityEntry& e) {
    absl::StrAppend(out, e.component(), "=", e.clock());
  });
}

// HappensBefore of two events; TRACE (the reference CLI's shape) must hold
// both. Events of different traces are never both in TRACE; events of one
// trace are when TRACE holds either of them, found by paging TRACE's events.
int HappensBefore(const Options& o) {
  const std::string& trace = o.positional[0];
  QueryClient c(o);
  v1::HappensBeforeRequest req;
  req.set_event_a(o.positional[1]);
  req.set_event_b(o.positional[2]);
  v1::HappensBeforeResponse resp;
  if (auto s = c.Call(&v1::QueryService::Stub::HappensBefore, req, &resp); !s.ok()) {
    return ExitFor(s);
  }
  const auto not_in_trace = [&](const std::string& why) {
    std::cerr << "raceway hb: " << req.event_a() << " and " << req.event_b()
              << " are not both in trace " << trace << " (" << why << ")\n";
    return kNotFound;
  };
  if (resp.relation() == v1::HAPPENS_BEFORE_RELATION_NOT_COMPARABLE) {
    return not_in_trace("they belong to different traces");
  }
  v1::GetTraceRequest page_req;
  page_req.set_trace_id(trace);
  page_req.set_page_size(10000);
  bool found = false;
  do {
    v1::GetTraceResponse page;
    if (auto s = c.Call(&v1::QueryService::Stub::GetTrace, page_req, &page); !s.ok()) {
      return ExitFor(s);
    }
    found = std::any_of(page.events().begin(), page.events().end(), [&](const v1::Event& e) {
      return e.id() == req.event_a() || e.id() == req.event_b();
    });
    page_req.set_page_token(page.next_page_token());
  } while (!found && !page_req.page_token().empty());
  if (!found) return not_in_trace("they belong to another trace");
  if (o.json) return PrintJson(resp);
  static const std::map<v1::HappensBeforeRelation, const char*> kMeaning = {
      {v1::HAPPENS_BEFORE_RELATION_BEFORE, "A happens before B"},
      {v1::HAPPENS_BEFORE_RELATION_AFTER, "B happens before A"},
      {v1::HAPPENS_BEFORE_RELATION_CONCURRENT, "neither happens before the other"},
      {v1::HAPPENS_BEFORE_RELATION_SAME, "one event"}};
  const auto meaning = kMeaning.find(resp.relation());
  std::cout << EnumLabel(v1::HappensBeforeRelation_Name(resp.relation()),
                         "HAPPENS_BEFORE_RELATION_")
            << " (" << (meaning == kMeaning.end() ? "unknown" : meaning->second) << ")\n";
  Table t({"", "EVENT", "VECTOR CLOCK"});
  t.Add({"A", resp.clock_a().event_id(), ClockText(resp.clock_a())});
  t.Add({"B", resp.clock_b().event_id(), ClockText(resp.clock_b())});
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

// GetServiceDependencies for one service, then its recent traces.
int Service(const Options& o) {
  QueryClient c(o);
  uint32_t limit = 10;
  if (auto it = o.values.find("limit");
      it != o.values.end() && !absl::SimpleAtoi(it->second, &limit)) {
    std::cerr << "raceway: --limit must be a number\n";
    return kUsage;
  }
  v1::GetServiceDependenciesRequest deps_req;
  deps_req.set_service(o.positional[0]);
  v1::GetServiceDependenciesResponse deps;
  if (auto s = c.Call(&v1::QueryService::Stub::GetServiceDependencies, deps_req, &deps); !s.ok()) {
    return ExitFor(s);
  }
  v1::ListTracesRequest traces_req;
  traces_req.set_service(o.positional[0]);
  traces_req.set_page_size(limit);
  v1::ListTracesResponse traces;
  if (auto s = c.Call(&v1::QueryService::Stub::ListTraces, traces_req, &traces); !s.ok()) {
    return ExitFor(s);
  }
  if (o.json) {
    const std::string d = JsonOf(deps), t = JsonOf(traces);
    if (d.empty() || t.empty()) return kFailure;
    std::cout << "{\"dependencies\": " << d << ", \"recent_traces\": " << t << "}\n";
    return kOk;
  }
  Table calls({"DIRECTION", "SERVICE", "CALLS", "TRACES"});
  for (const auto& info : deps.services()) {
    for (const auto& to : info.calls_to()) {
      calls.Add(
          {"calls", to.service(), absl::StrCat(to.call_count()), absl::StrCat(to.trace_count())});
    }
    for (const auto& by : info.called_by()) {
      calls.Add({"called by", by.service(), absl::StrCat(by.call_count()),
                 absl::StrCat(by.trace_count())});
    }
  }
  std::cout << "service " << o.positional[0] << "\n";
  calls.Print(std::cout);
  std::cout << "\n";
  Table recent({"RECENT TRACE", "EVENTS", "LAST", "SERVICES"});
  for (const auto& tr : traces.traces()) {
    recent.Add({tr.trace_id(), absl::StrCat(tr.event_count()), Time(tr.last_timestamp()),
                Joined(tr.services())});
  }
  recent.Print(std::cout);
  std::cout << traces.total_count() << " trace(s)\n";
  return kOk;
}

int GlobalRaces(const Options& o) {
  QueryClient c(o);
  v1::FindGlobalRacesRequest req;
  if (auto it = o.values.find("variable"); it != o.values.end()) req.set_variable(it->second);
  if (auto it = o.values.find("window-ms"); it != o.values.end()) {
    uint64_t w;
    if (!absl::SimpleAtoi(it->second, &w)) {
      std::cerr << "raceway: --window-ms must be a number\n";
      return kUsage;
    }
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
    t.Add({s.service(), EnumLabel(v1::HealthStatus_Name(s.status()), "HEALTH_STATUS_"),
           absl::StrCat(s.seconds_since_last_activity(), " s"), absl::StrCat(s.trace_count()),
           absl::StrCat(s.event_count())});
  }
  t.Print(std::cout);
  return kOk;
}

int Hotspots(const Options& o) {
  QueryClient c(o);
  v1::GetHotspotsRequest req;
  uint32_t limit = 0;
  if (auto it = o.values.find("limit");
      it != o.values.end() && !absl::SimpleAtoi(it->second, &limit)) {
    std::cerr << "raceway: --limit must be a number\n";
    return kUsage;
  }
  req.set_limit(limit);
  v1::GetHotspotsResponse resp;
  if (auto s = c.Call(&v1::QueryService::Stub::GetHotspots, req, &resp); !s.ok()) {
    return ExitFor(s);
  }
  if (o.json) return PrintJson(resp);
  Table vars({"VARIABLE", "ACCESSES", "TRACES", "SERVICES"});
  for (const auto& v : resp.variables()) {
    vars.Add({v.variable(), absl::StrCat(v.access_count()), absl::StrCat(v.trace_count()),
              Joined(v.services())});
  }
  vars.Print(std::cout);
  std::cout << "\n";
  Table calls({"CALL", "CALLS"});
  for (const auto& s : resp.service_calls()) {
    calls.Add({CallLabel(s.from(), s.to()), absl::StrCat(s.call_count())});
  }
  calls.Print(std::cout);
  return kOk;
}

int Performance(const Options& o) {
  QueryClient c(o);
  v1::GetPerformanceMetricsRequest req;
  uint32_t slowest = 0;
  if (auto it = o.values.find("slowest");
      it != o.values.end() && !absl::SimpleAtoi(it->second, &slowest)) {
    std::cerr << "raceway: --slowest must be a number\n";
    return kUsage;
  }
  req.set_slowest_limit(slowest);
  v1::GetPerformanceMetricsResponse resp;
  if (auto s = c.Call(&v1::QueryService::Stub::GetPerformanceMetrics, req, &resp); !s.ok()) {
    return ExitFor(s);
  }
  if (o.json) return PrintJson(resp);
  const auto& lat = resp.trace_latency();
  std::cout << resp.trace_count() << " trace(s), " << resp.event_count() << " event(s), "
            << absl::StrFormat("%.1f", resp.events_per_second()) << " events/s\n"
            << "trace latency: avg " << MsValue(lat.avg_ms()) << ", p50 " << MsValue(lat.p50_ms())
            << ", p95 " << MsValue(lat.p95_ms()) << ", p99 " << MsValue(lat.p99_ms()) << "\n\n";
  Table slow({"SLOWEST TRACE", "DURATION", "SERVICES"});
  for (const auto& s : resp.slowest_traces()) {
    slow.Add({s.trace_id(), MsValue(s.duration_ms()), Joined(s.services())});
  }
  slow.Print(std::cout);
  for (const auto& [title, rows] :
       {std::pair{"EVENT KIND", &resp.by_event_type()}, std::pair{"SERVICE", &resp.by_service()}}) {
    std::cout << "\n";
    Table t({title, "AVG DURATION", "EVENTS"});
    for (const auto& d : *rows) {
      t.Add({d.name(), MsValue(d.avg_duration_ms()), absl::StrCat(d.count())});
    }
    t.Print(std::cout);
  }
  return kOk;
}

int Edges(const Options& o) {
  QueryClient c(o);
  v1::ListDistributedEdgesResponse resp;
  if (auto s = c.Call(&v1::QueryService::Stub::ListDistributedEdges,
                      v1::ListDistributedEdgesRequest{}, &resp);
      !s.ok()) {
    return ExitFor(s);
  }
  if (o.json) return PrintJson(resp);
  Table t({"CALL", "LINK", "CALLS", "TRACES"});
  for (const auto& e : resp.edges()) {
    t.Add({CallLabel(e.from_service(), e.to_service()), LinkLabel(e.link_type()),
           absl::StrCat(e.call_count()), absl::StrCat(e.trace_count())});
  }
  t.Print(std::cout);
  // The map is unordered on the wire; print it sorted.
  const std::map<std::string, uint64_t> by_type(resp.count_by_link_type().begin(),
                                                resp.count_by_link_type().end());
  for (const auto& [type, calls] : by_type) std::cout << type << ": " << calls << " call(s)\n";
  return kOk;
}

// ---------------------------------------------------------------- serve

absl::StatusOr<service::Config> ConfigFrom(const Options& o,
                                           const service::ConfigDefaults& defaults = {}) {
  const auto it = o.values.find("config");
  return service::LoadConfig(it == o.values.end() ? "" : it->second, service::RacewayEnvironment(),
                             o.config_flags, defaults);
}

int Serve(const Options& o) {
  service::BlockTerminationSignals();
  // The one-command development start creates its database (./raceway.db).
  auto config = ConfigFrom(o, {.create_if_missing = true});
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
  service::LogConfigWarnings(*config);
  service::Log(service::LogLevel::kInfo, service::AuthModeText(config->auth.ingest_keys),
               {{"api", "ingest"}});
  service::Log(service::LogLevel::kInfo, service::AuthModeText(config->auth.query_keys),
               {{"api", "query"}});
  storage::StorageOptions options = config->storage;
  options.on_health_change = &service::LogStorageHealthChange;
  auto storage = storage::OpenStorage(options);
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
                                          : "off");
  if ((*query)->grpc_web_port()) {
    std::cout << "\n  dashboard     http://127.0.0.1:" << (*query)->grpc_web_port() << "/";
  }
  std::cout << "\nTry: raceway demo --ingest 127.0.0.1:" << (*ingest)->grpc_port()
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
    model::FromUnixNanos(t, e.mutable_timestamp());
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

int Demo(const Options& o) {
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
            << "  raceway deps " << demo.id() << "\n"
            << "  raceway services\n";
  return kOk;
}

// ---------------------------------------------------------------- retention

int Retention(const Options& o) {
  auto config = ConfigFrom(o);
  if (!config.ok()) {
    std::cerr << "raceway retention: " << config.status().message() << "\n";
    return kUsage;
  }
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

// ---------------------------------------------------------------- dispatch

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"serve",
       "[--config FILE] [--section.key=value ...]",
       "ingest + query in one process (SQLite, created if missing, or memory)",
       0,
       0,
       {},
       false,
       true,
       Serve},
      {"demo",
       "[--ingest HOST:PORT] [--key KEY]",
       "send a demo trace: 2 services, a race, a slow call",
       0,
       0,
       {"ingest", "key"},
       false,
       false,
       Demo},
      {"traces",
       "[--limit N] [--service S]",
       "recent traces, newest first",
       0,
       0,
       {"limit", "service"},
       true,
       false,
       Traces},
      {"trace", "TRACE", "the events of a trace", 1, 1, {}, true, false, Trace},
      {"analyze",
       "TRACE",
       "races, critical path, anomalies, notes of a trace",
       1,
       1,
       {},
       true,
       false,
       Analyze},
      {"races",
       "TRACE",
       "races of a trace, grouped; then analysis notes",
       1,
       1,
       {},
       true,
       false,
       Races},
      {"critical-path",
       "TRACE",
       "longest causal chain of a trace; then notes",
       1,
       1,
       {},
       true,
       false,
       CriticalPath},
      {"audit",
       "TRACE|- VARIABLE",
       "accesses of a variable (- = all traces)",
       2,
       2,
       {},
       true,
       false,
       Audit},
      {"anomalies",
       "TRACE",
       "events slower/faster than their baseline",
       1,
       1,
       {},
       true,
       false,
       Anomalies},
      {"deps",
       "TRACE",
       "a trace's services and the calls between them",
       1,
       1,
       {},
       true,
       false,
       Deps},
      {"hb",
       "TRACE EVENT_A EVENT_B",
       "happens-before of two events, with vector clocks",
       3,
       3,
       {},
       true,
       false,
       HappensBefore},
      {"services", "", "services with event and trace counts", 0, 0, {}, true, false, Services},
      {"service",
       "NAME [--limit N]",
       "what NAME calls, who calls it, recent traces",
       1,
       1,
       {"limit"},
       true,
       false,
       Service},
      {"health", "", "per service: healthy, warning or critical", 0, 0, {}, true, false, Health},
      {"hotspots",
       "[--limit N]",
       "most accessed variables, busiest service calls",
       0,
       0,
       {"limit"},
       true,
       false,
       Hotspots},
      {"performance",
       "[--slowest N]",
       "trace latency, slowest traces, mean durations",
       0,
       0,
       {"slowest"},
       true,
       false,
       Performance},
      {"edges", "", "distributed (span) edges between services", 0, 0, {}, true, false, Edges},
      {"global-races",
       "[--variable V] [--window-ms N]",
       "races between different traces",
       0,
       0,
       {"variable", "window-ms"},
       true,
       false,
       GlobalRaces},
      {"retention",
       "[--hours N] [--config FILE] [--section.key=value ...]",
       "delete traces idle for more than N hours",
       0,
       0,
       {"hours"},
       false,
       true,
       Retention},
  };
  return *commands;
}

}  // namespace

std::string ServiceCommandsUsage() {
  std::string out;
  constexpr size_t kColumn = 48;  // Summaries start here; longer usages wrap.
  for (const Command& c : Commands()) {
    const std::string line = absl::StrCat("  raceway ", c.name, *c.args ? " " : "", c.args);
    absl::StrAppend(&out, line,
                    line.size() < kColumn ? std::string(kColumn - line.size(), ' ')
                                          : absl::StrCat("\n", std::string(kColumn, ' ')),
                    c.summary, "\n");
  }
  absl::StrAppend(&out,
                  "query commands also take [--server HOST:PORT] (RACEWAY_QUERY_ADDR, default "
                  "127.0.0.1:50052),\n"
                  "  [--key KEY] (RACEWAY_API_KEY) and [--json] (the response as proto JSON)\n"
                  "raceway help COMMAND (or COMMAND --help) prints one command's usage\n"
                  "exit status: 0 ok, 1 failure, 2 usage, 3 not found, 4 invalid argument, "
                  "5 unreachable\n");
  return out;
}

int RunServiceCommand(const std::string& command, const std::vector<std::string>& args) {
  const auto& commands = Commands();
  const auto c = std::find_if(commands.begin(), commands.end(),
                              [&](const Command& x) { return command == x.name; });
  if (c == commands.end()) return -1;
  if (std::any_of(args.begin(), args.end(), IsHelp)) {
    std::cout << Usage(*c);
    return kOk;
  }
  auto options = ParseOptions(*c, args);
  if (!options.ok()) {
    std::cerr << "raceway " << c->name << ": " << options.status().message() << "\n" << Usage(*c);
    return kUsage;
  }
  const int rc = c->run(*options);
  if (rc == kUsage) std::cerr << Usage(*c);
  return rc;
}

}  // namespace raceway::cli
