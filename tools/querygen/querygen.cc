#include "tools/querygen/querygen.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libs/client/credentials.h"
#include "libs/model/percentile.h"
#include "raceway/v1/query.grpc.pb.h"

namespace raceway::querygen {
namespace {

namespace v1 = raceway::v1;
using Clock = std::chrono::steady_clock;

struct RpcName {
  Rpc rpc;
  const char* mix;
  const char* method;
};

constexpr RpcName kRpcNames[] = {
    {Rpc::kListTraces, "list", "ListTraces"},
    {Rpc::kAnalyzeTrace, "analyze", "AnalyzeTrace"},
    {Rpc::kGetRaces, "races", "GetRaces"},
    {Rpc::kGetCriticalPath, "critical-path", "GetCriticalPath"},
    {Rpc::kGetAnomalies, "anomalies", "GetAnomalies"},
    {Rpc::kGetDependencies, "dependencies", "GetDependencies"},
    {Rpc::kGetTrace, "trace", "GetTrace"},
    {Rpc::kListServices, "services", "ListServices"},
    {Rpc::kGetServiceHealth, "health", "GetServiceHealth"},
    {Rpc::kServiceDependencies, "service-deps", "GetServiceDependencies"},
    {Rpc::kHotspots, "hotspots", "GetHotspots"},
    {Rpc::kPerformance, "performance", "GetPerformanceMetrics"},
    {Rpc::kDistributedEdges, "edges", "ListDistributedEdges"},
    {Rpc::kGlobalRaces, "global-races", "FindGlobalRaces"},
};

const RpcName& NameOf(Rpc rpc) {
  for (const auto& n : kRpcNames) {
    if (n.rpc == rpc) return n;
  }
  return kRpcNames[0];  // Unreachable: every enumerator is listed.
}

bool NeedsTrace(Rpc rpc) {
  switch (rpc) {
    case Rpc::kAnalyzeTrace:
    case Rpc::kGetRaces:
    case Rpc::kGetCriticalPath:
    case Rpc::kGetAnomalies:
    case Rpc::kGetDependencies:
    case Rpc::kGetTrace:
      return true;
    default:
      return false;
  }
}

std::string CodeName(grpc::StatusCode code) {
  // gRPC and Abseil share the numbering; Abseil has the canonical names.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

// Smooth weighted round-robin (as in nginx): a sequence of length sum(w)
// in which entry i appears w_i times, spread out rather than in runs, so
// that a short run still sees every RPC in proportion.
std::vector<size_t> Schedule(const std::vector<MixEntry>& mix) {
  int64_t total = 0;
  for (const auto& m : mix) total += m.weight;
  std::vector<int64_t> current(mix.size(), 0);
  std::vector<size_t> out;
  out.reserve(static_cast<size_t>(total));
  for (int64_t step = 0; step < total; ++step) {
    size_t best = 0;
    for (size_t i = 0; i < mix.size(); ++i) {
      current[i] += mix[i].weight;
      if (current[i] > current[best]) best = i;
    }
    current[best] -= total;
    out.push_back(best);
  }
  return out;
}

std::string RandomUuid(std::mt19937_64& rng) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx";
  for (char& c : out) {
    if (c == 'x') c = kHex[rng() & 15];
  }
  return out;
}

// Trace ids of the most recently listed page, shared by all workers.
class TraceDirectory {
 public:
  void Update(const v1::ListTracesResponse& r) {
    if (r.traces_size() == 0) return;  // Keep what we had: an empty page says little.
    std::vector<std::string> ids;
    ids.reserve(static_cast<size_t>(r.traces_size()));
    for (const auto& t : r.traces()) ids.push_back(t.trace_id());
    std::lock_guard<std::mutex> lk(mu_);
    ids_ = std::move(ids);
  }
  // Empty when none is known.
  std::string Pick(std::mt19937_64& rng) {
    std::lock_guard<std::mutex> lk(mu_);
    if (ids_.empty()) return "";
    return ids_[rng() % ids_.size()];
  }
  size_t size() {
    std::lock_guard<std::mutex> lk(mu_);
    return ids_.size();
  }

 private:
  std::mutex mu_;
  std::vector<std::string> ids_;
};

// Per-worker tallies, merged after the workers stop (no sharing while hot).
struct WorkerStats {
  std::vector<std::vector<double>> latencies_ms;  // Per mix entry, OK calls.
  std::vector<uint64_t> requests, errors;         // Per mix entry.
  std::map<std::string, uint64_t> errors_by_code;
  std::string last_error;
  Clock::time_point last_done{};
};

class Caller {
 public:
  Caller(std::shared_ptr<grpc::Channel> channel, const QueryLoadOptions& options,
         TraceDirectory* traces)
      : stub_(v1::QueryService::NewStub(channel)), options_(options), traces_(traces) {}

  // Makes one call of `rpc` and returns its status.
  grpc::Status Call(Rpc rpc, std::mt19937_64& rng) {
    grpc::ClientContext context;
    Prepare(&context);
    std::string trace_id;
    if (NeedsTrace(rpc)) {
      trace_id = traces_->Pick(rng);
      if (trace_id.empty()) trace_id = RandomUuid(rng);
    }
    switch (rpc) {
      case Rpc::kListTraces: {
        v1::ListTracesRequest req;
        v1::ListTracesResponse resp;
        grpc::Status s = stub_->ListTraces(&context, req, &resp);
        if (s.ok()) traces_->Update(resp);
        return s;
      }
      case Rpc::kAnalyzeTrace: {
        v1::AnalyzeTraceRequest req;
        req.set_trace_id(trace_id);
        v1::AnalyzeTraceResponse resp;
        return stub_->AnalyzeTrace(&context, req, &resp);
      }
      case Rpc::kGetRaces: {
        v1::GetRacesRequest req;
        req.set_trace_id(trace_id);
        v1::GetRacesResponse resp;
        return stub_->GetRaces(&context, req, &resp);
      }
      case Rpc::kGetCriticalPath: {
        v1::GetCriticalPathRequest req;
        req.set_trace_id(trace_id);
        v1::CriticalPath resp;
        return stub_->GetCriticalPath(&context, req, &resp);
      }
      case Rpc::kGetAnomalies: {
        v1::GetAnomaliesRequest req;
        req.set_trace_id(trace_id);
        v1::GetAnomaliesResponse resp;
        return stub_->GetAnomalies(&context, req, &resp);
      }
      case Rpc::kGetDependencies: {
        v1::GetDependenciesRequest req;
        req.set_trace_id(trace_id);
        v1::TraceDependencies resp;
        return stub_->GetDependencies(&context, req, &resp);
      }
      case Rpc::kGetTrace: {
        v1::GetTraceRequest req;
        req.set_trace_id(trace_id);
        v1::GetTraceResponse resp;
        return stub_->GetTrace(&context, req, &resp);
      }
      case Rpc::kListServices: {
        v1::ListServicesResponse resp;
        return stub_->ListServices(&context, v1::ListServicesRequest(), &resp);
      }
      case Rpc::kGetServiceHealth: {
        v1::GetServiceHealthResponse resp;
        return stub_->GetServiceHealth(&context, v1::GetServiceHealthRequest(), &resp);
      }
      case Rpc::kServiceDependencies: {
        v1::GetServiceDependenciesResponse resp;
        return stub_->GetServiceDependencies(&context, v1::GetServiceDependenciesRequest(), &resp);
      }
      case Rpc::kHotspots: {
        v1::GetHotspotsResponse resp;
        return stub_->GetHotspots(&context, v1::GetHotspotsRequest(), &resp);
      }
      case Rpc::kPerformance: {
        v1::GetPerformanceMetricsResponse resp;
        return stub_->GetPerformanceMetrics(&context, v1::GetPerformanceMetricsRequest(), &resp);
      }
      case Rpc::kDistributedEdges: {
        v1::ListDistributedEdgesResponse resp;
        return stub_->ListDistributedEdges(&context, v1::ListDistributedEdgesRequest(), &resp);
      }
      case Rpc::kGlobalRaces: {
        v1::FindGlobalRacesResponse resp;
        return stub_->FindGlobalRaces(&context, v1::FindGlobalRacesRequest(), &resp);
      }
    }
    return grpc::Status(grpc::StatusCode::INTERNAL, "unknown rpc");
  }

 private:
  void Prepare(grpc::ClientContext* context) const {
    context->set_deadline(std::chrono::system_clock::now() + options_.call_timeout);
    if (!options_.api_key.empty()) {
      context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.api_key));
    }
  }

  std::unique_ptr<v1::QueryService::Stub> stub_;
  const QueryLoadOptions& options_;
  TraceDirectory* traces_;
};

}  // namespace

std::string_view RpcMixName(Rpc rpc) { return NameOf(rpc).mix; }
std::string_view RpcMethodName(Rpc rpc) { return NameOf(rpc).method; }

absl::StatusOr<std::vector<MixEntry>> ParseMix(std::string_view text) {
  std::vector<MixEntry> out;
  for (absl::string_view part : absl::StrSplit(std::string(text), ',', absl::SkipWhitespace())) {
    std::string item(absl::StripAsciiWhitespace(part));
    std::string name = item, weight_text;
    if (auto colon = item.find(':'); colon != std::string::npos) {
      name = item.substr(0, colon);
      weight_text = item.substr(colon + 1);
    }
    const RpcName* found = nullptr;
    for (const auto& n : kRpcNames) {
      if (name == n.mix) found = &n;
    }
    if (found == nullptr) {
      std::string known;
      for (const auto& n : kRpcNames) absl::StrAppend(&known, known.empty() ? "" : ", ", n.mix);
      return absl::InvalidArgumentError(
          absl::StrCat("mix: unknown rpc \"", name, "\" (known: ", known, ")"));
    }
    uint32_t weight = 1;
    if (!weight_text.empty() &&
        (!absl::SimpleAtoi(weight_text, &weight) || weight == 0 || weight > 1000)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mix: weight of ", name, " must be an integer 1..1000, got \"", weight_text, "\""));
    }
    for (const auto& m : out) {
      if (m.rpc == found->rpc) {
        return absl::InvalidArgumentError(absl::StrCat("mix: ", name, " listed twice"));
      }
    }
    out.push_back({found->rpc, weight});
  }
  if (out.empty()) return absl::InvalidArgumentError("mix: empty");
  return out;
}

std::vector<MixEntry> DefaultMix() {
  return {{Rpc::kListTraces, 3},      {Rpc::kAnalyzeTrace, 2}, {Rpc::kGetRaces, 2},
          {Rpc::kGetCriticalPath, 2}, {Rpc::kListServices, 1}, {Rpc::kGetServiceHealth, 1}};
}

double QueryLoadReport::HardErrorRatio() const {
  if (requests == 0) return 0;
  uint64_t hard = errors;
  if (auto it = errors_by_code.find("NOT_FOUND"); it != errors_by_code.end()) hard -= it->second;
  return static_cast<double>(hard) / static_cast<double>(requests);
}

std::string QueryLoadReport::ToText() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof(line),
                "%llu requests in %.2f s = %.1f requests/s; %llu errors (%.2f %% other than "
                "NOT_FOUND)\n",
                static_cast<unsigned long long>(requests), seconds, requests_per_second,
                static_cast<unsigned long long>(errors), 100.0 * HardErrorRatio());
  out += line;
  if (!errors_by_code.empty()) {
    out += "errors by code:";
    for (const auto& [code, n] : errors_by_code) absl::StrAppend(&out, " ", code, "=", n);
    out += "\n";
  }
  std::snprintf(line, sizeof(line), "%-24s %9s %7s %9s %9s %9s %9s %9s\n", "rpc", "requests",
                "errors", "mean ms", "p50 ms", "p90 ms", "p99 ms", "max ms");
  out += line;
  for (const auto& r : per_rpc) {
    std::snprintf(line, sizeof(line), "%-24s %9llu %7llu %9.2f %9.2f %9.2f %9.2f %9.2f\n",
                  r.rpc.c_str(), static_cast<unsigned long long>(r.requests),
                  static_cast<unsigned long long>(r.errors), r.mean_ms, r.p50_ms, r.p90_ms,
                  r.p99_ms, r.max_ms);
    out += line;
  }
  absl::StrAppend(&out, "traces known (last listed page): ", traces_known,
                  "; background ListTraces calls: ", discovery_calls, "\n");
  if (!last_error.empty()) absl::StrAppend(&out, "last error: ", last_error, "\n");
  return out;
}

std::string QueryLoadReport::ToJson() const {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "{\"requests\":%llu,\"errors\":%llu,\"hard_error_ratio\":%.6f,\"seconds\":%.3f,"
                "\"requests_per_second\":%.1f,\"traces_known\":%llu,\"discovery_calls\":%llu,",
                static_cast<unsigned long long>(requests), static_cast<unsigned long long>(errors),
                HardErrorRatio(), seconds, requests_per_second,
                static_cast<unsigned long long>(traces_known),
                static_cast<unsigned long long>(discovery_calls));
  std::string out = buf;
  out += "\"errors_by_code\":{";
  bool first = true;
  for (const auto& [code, n] : errors_by_code) {
    absl::StrAppend(&out, first ? "" : ",", "\"", code, "\":", n);
    first = false;
  }
  out += "},\"per_rpc\":[";
  first = true;
  for (const auto& r : per_rpc) {
    std::snprintf(buf, sizeof(buf),
                  "%s{\"rpc\":\"%s\",\"requests\":%llu,\"errors\":%llu,\"mean_ms\":%.3f,"
                  "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}",
                  first ? "" : ",", r.rpc.c_str(), static_cast<unsigned long long>(r.requests),
                  static_cast<unsigned long long>(r.errors), r.mean_ms, r.p50_ms, r.p90_ms,
                  r.p99_ms, r.max_ms);
    out += buf;
    first = false;
  }
  absl::StrAppend(&out, "],\"last_error\":\"", JsonEscape(last_error), "\"}");
  return out;
}

absl::StatusOr<QueryLoadReport> RunQueryLoad(const QueryLoadOptions& options) {
  if (options.targets.empty()) return absl::InvalidArgumentError("set at least one target");
  if (options.workers < 1) return absl::InvalidArgumentError("workers must be >= 1");
  if (options.duration.count() <= 0 && options.requests == 0) {
    return absl::InvalidArgumentError("set a duration or a request count");
  }
  if (options.rate < 0 || !std::isfinite(options.rate)) {
    return absl::InvalidArgumentError("rate must be >= 0");
  }
  const std::vector<MixEntry> mix = options.mix.empty() ? DefaultMix() : options.mix;
  for (const auto& m : mix) {
    if (m.weight == 0) return absl::InvalidArgumentError("mix weights must be > 0");
  }
  const std::vector<size_t> schedule = Schedule(mix);

  auto credentials = client::ChannelCredentials(options.tls, options.root_certs_file);
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments args;
  // AnalyzeTrace of a 100k-event trace is tens of MB (audit trails): the
  // 4 MB default would turn big traces into RESOURCE_EXHAUSTED errors.
  args.SetMaxReceiveMessageSize(-1);
  args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, "raceway-querygen/1");
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (const auto& target : options.targets) {
    auto channel = grpc::CreateCustomChannel(target, *credentials, args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + options.connect_timeout)) {
      return absl::UnavailableError(absl::StrCat("cannot connect to ", target, " within ",
                                                 options.connect_timeout.count(), " ms"));
    }
    channels.push_back(std::move(channel));
  }

  TraceDirectory traces;
  std::atomic<uint64_t> discovery_calls{0};
  // Initial discovery, so the first trace RPCs have ids to use.
  {
    Caller discover(channels[0], options, &traces);
    std::mt19937_64 rng(1);
    (void)discover.Call(Rpc::kListTraces, rng);
    ++discovery_calls;
  }

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> next_ticket{0};
  std::atomic<uint64_t> done{0}, failed{0};
  std::atomic<int> workers_done{0};
  std::vector<WorkerStats> stats(static_cast<size_t>(options.workers));
  const auto start = Clock::now();
  const auto deadline =
      options.duration.count() > 0 ? start + options.duration : Clock::time_point::max();

  std::vector<std::thread> workers;
  for (int w = 0; w < options.workers; ++w) {
    workers.emplace_back([&, w] {
      WorkerStats& st = stats[static_cast<size_t>(w)];
      st.latencies_ms.resize(mix.size());
      st.requests.assign(mix.size(), 0);
      st.errors.assign(mix.size(), 0);
      Caller caller(channels[static_cast<size_t>(w) % channels.size()], options, &traces);
      std::mt19937_64 rng(0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(w + 1));
      while (!stop.load(std::memory_order_relaxed)) {
        const uint64_t k = next_ticket.fetch_add(1);
        if (options.requests > 0 && k >= options.requests) break;
        if (options.rate > 0) {
          // Open loop: ticket k is due at start + k / rate, whatever the
          // latency of earlier calls.
          const auto due =
              start + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(static_cast<double>(k) / options.rate));
          while (Clock::now() < due && !stop.load(std::memory_order_relaxed)) {
            std::this_thread::sleep_until(
                std::min(due, Clock::now() + std::chrono::milliseconds(50)));
          }
        }
        if (stop.load(std::memory_order_relaxed) || Clock::now() >= deadline) break;
        const size_t m = schedule[k % schedule.size()];
        const auto t0 = Clock::now();
        grpc::Status s = caller.Call(mix[m].rpc, rng);
        const auto t1 = Clock::now();
        st.last_done = t1;
        ++st.requests[m];
        if (s.ok()) {
          st.latencies_ms[m].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        } else {
          ++st.errors[m];
          ++st.errors_by_code[CodeName(s.error_code())];
          st.last_error = absl::StrCat(std::string(RpcMethodName(mix[m].rpc)), ": ",
                                       CodeName(s.error_code()), ": ", s.error_message());
          failed.fetch_add(1, std::memory_order_relaxed);
        }
        done.fetch_add(1, std::memory_order_relaxed);
      }
      ++workers_done;
    });
  }

  // Background discovery: keeps the trace list fresh even when the mix has
  // no ListTraces (e.g. --mix=analyze).
  std::mutex wake_mu;
  std::condition_variable wake;
  std::thread discovery([&] {
    Caller discover(channels[0], options, &traces);
    std::mt19937_64 rng(2);
    std::unique_lock<std::mutex> lk(wake_mu);
    while (!stop.load()) {
      wake.wait_for(lk, options.discovery_interval, [&] { return stop.load(); });
      if (stop.load()) break;
      lk.unlock();
      (void)discover.Call(Rpc::kListTraces, rng);
      ++discovery_calls;
      lk.lock();
    }
  });

  auto last_report = start;
  uint64_t last_done = 0;
  while (workers_done.load() < options.workers) {
    const auto now = Clock::now();
    if (now >= deadline) stop = true;
    if (options.progress && now - last_report >= std::chrono::seconds(1)) {
      const uint64_t d = done.load();
      const double dt = std::chrono::duration<double>(now - last_report).count();
      char line[160];
      std::snprintf(line, sizeof(line), "%6.1fs requests %llu (%.1f/s) errors %llu",
                    std::chrono::duration<double>(now - start).count(),
                    static_cast<unsigned long long>(d), static_cast<double>(d - last_done) / dt,
                    static_cast<unsigned long long>(failed.load()));
      options.progress(line);
      last_report = now;
      last_done = d;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& t : workers) t.join();
  {
    std::lock_guard<std::mutex> lk(wake_mu);
    stop = true;
  }
  wake.notify_all();
  discovery.join();

  QueryLoadReport report;
  Clock::time_point end = start;
  for (const auto& st : stats) end = std::max(end, st.last_done);
  report.seconds = std::chrono::duration<double>(end - start).count();
  for (size_t m = 0; m < mix.size(); ++m) {
    RpcLatency r;
    r.rpc = std::string(RpcMethodName(mix[m].rpc));
    std::vector<double> all;
    for (const auto& st : stats) {
      r.requests += st.requests[m];
      r.errors += st.errors[m];
      all.insert(all.end(), st.latencies_ms[m].begin(), st.latencies_ms[m].end());
    }
    std::sort(all.begin(), all.end());
    r.p50_ms = model::Percentile(all, 50);
    r.p90_ms = model::Percentile(all, 90);
    r.p99_ms = model::Percentile(all, 99);
    r.max_ms = all.empty() ? 0 : all.back();
    double sum = 0;
    for (double x : all) sum += x;
    r.mean_ms = all.empty() ? 0 : sum / static_cast<double>(all.size());
    report.requests += r.requests;
    report.errors += r.errors;
    report.per_rpc.push_back(std::move(r));
  }
  for (const auto& st : stats) {
    for (const auto& [code, n] : st.errors_by_code) report.errors_by_code[code] += n;
    if (!st.last_error.empty()) report.last_error = st.last_error;
  }
  report.requests_per_second =
      report.seconds > 0 ? static_cast<double>(report.requests) / report.seconds : 0;
  report.traces_known = traces.size();
  report.discovery_calls = discovery_calls.load();
  return report;
}

}  // namespace raceway::querygen
