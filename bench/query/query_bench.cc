// Query latency benchmark (ARCHITECTURE §10: analysis latency for big
// traces, query latency under concurrent ingest). See README.md.
//
//   query_bench [--backends=sqlite,postgres] [--postgres=URL]
//               [--sizes=1000,10000,100000] [--list-traces=100000]
//               [--global-accesses=1000000] [--calls=N] [--ingest-seconds=5]
//               [--json]
//
// Per backend, data is written directly through a storage writer (batches
// of 1000, fast) and queried over real gRPC on loopback through an
// in-process QueryServer that reads through its own storage object, as
// the raceway-query process would:
//   1. AnalyzeTrace p50/p99 for one trace of each size, cold (analysis
//      cache missed on every call) and warm (cache hit).
//   2. The cold numbers again while raceway-loadgen ingests at half its
//      peak rate into the same database through an in-process IngestServer
//      with its own storage object.
//   3. ListTraces p50/p99 with --list-traces small traces: first page, a
//      page deep into the list (reached by following tokens), and the first
//      page filtered by service.
//   4. FindGlobalRaces over --global-accesses StateChange accesses: first
//      page latency and the time to page through all races.
//
// Cold analysis: query.cache_traces cannot turn the cache off (the cache
// keeps at least one entry: TraceCache clamps max_traces to >= 1), so the
// server runs with cache_traces = 0 (= 1 entry) and the cold loop
// alternates between two traces of the same size: each call evicts the
// other trace, so every call reads the events and analyses them.
//
// The database is cleared before each section: use a dedicated one. With
// --json, the table goes to stderr and stdout gets one JSON object per
// measurement.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/support/workload.h"
#include "libs/model/percentile.h"
#include "libs/model/uuid.h"
#include "libs/service/config.h"
#include "libs/storage/factory.h"
#include "raceway/v1/query.grpc.pb.h"
#include "services/ingest/ingest_server.h"
#include "services/query/query_server.h"
#include "tools/loadgen/loadgen.h"

namespace raceway::bench {
namespace {

namespace v1 = raceway::v1;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- flags

struct Flags {
  std::vector<uint64_t> sizes = {1000, 10000, 100000};
  uint64_t list_traces = 100000;
  uint64_t global_accesses = 1000000;
  std::vector<std::string> backends = {"sqlite", "postgres"};
  std::string postgres_url;
  uint64_t calls = 0;  // 0 = by trace size.
  uint64_t ingest_seconds = 5;
  bool json = false;
};

const char kUsage[] = R"(query_bench: query latency benchmark (see bench/query/README.md)

  --backends=sqlite,postgres    backends to measure (default both)
  --postgres=URL                PostgreSQL URL (default $RACEWAY_TEST_POSTGRES_URL;
                                postgres is skipped when neither is set). The
                                database is CLEARED: use a dedicated one.
  --sizes=1000,10000,100000     AnalyzeTrace trace sizes (events); empty = skip 1-2
  --calls=N                     AnalyzeTrace calls per measurement (default:
                                2,000,000/size, clamped to 30..200)
  --ingest-seconds=S            loadgen peak measurement length (default 5; 0 = skip 2)
  --list-traces=N               traces stored for ListTraces (default 100000; 0 = skip)
  --global-accesses=N           accesses for FindGlobalRaces (default 1000000; 0 = skip)
  --json                        one JSON object per measurement on stdout
                                (the table goes to stderr)
)";

bool ParseList(const std::string& v, std::vector<uint64_t>* out) {
  out->clear();
  for (absl::string_view part : absl::StrSplit(v, ',', absl::SkipWhitespace())) {
    uint64_t n;
    if (!absl::SimpleAtoi(part, &n) || n == 0) return false;
    out->push_back(n);
  }
  return true;
}

bool ParseFlags(int argc, char** argv, Flags* f, std::string* error) {
  if (const char* env = std::getenv("RACEWAY_TEST_POSTGRES_URL")) f->postgres_url = env;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      *error = "";
      return false;
    }
    if (arg == "--json") {
      f->json = true;
      continue;
    }
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) {
      *error = absl::StrCat("unexpected argument ", arg);
      return false;
    }
    const std::string name = arg.substr(2, eq - 2), value = arg.substr(eq + 1);
    bool ok = true;
    if (name == "sizes") {
      ok = ParseList(value, &f->sizes);
    } else if (name == "list-traces") {
      ok = absl::SimpleAtoi(value, &f->list_traces);
    } else if (name == "global-accesses") {
      ok = absl::SimpleAtoi(value, &f->global_accesses);
    } else if (name == "calls") {
      ok = absl::SimpleAtoi(value, &f->calls);
    } else if (name == "ingest-seconds") {
      ok = absl::SimpleAtoi(value, &f->ingest_seconds);
    } else if (name == "postgres") {
      f->postgres_url = value;
    } else if (name == "backends") {
      f->backends = absl::StrSplit(value, ',', absl::SkipWhitespace());
      for (const auto& b : f->backends) ok = ok && (b == "sqlite" || b == "postgres");
    } else {
      *error = absl::StrCat("unknown flag --", name);
      return false;
    }
    if (!ok) {
      *error = absl::StrCat("bad value for --", name, ": ", value);
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------- output

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return absl::StrCat(a, " ", b, " ", c);
}

double Load1() {
  std::ifstream in("/proc/loadavg");
  double a = 0;
  in >> a;
  return a;
}

// Percentile of unsorted samples.
double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return model::Percentile(v, p);
}

struct Measurement {
  std::string backend;
  std::string name;  // e.g. "AnalyzeTrace cold"
  uint64_t size = 0;
  std::vector<double> ms;                             // One per call.
  std::string notes;                                  // Free text for the table.
  std::vector<std::pair<std::string, double>> extra;  // JSON numbers.
};

class Output {
 public:
  explicit Output(bool json) : json_(json), table_(json ? stderr : stdout) {}

  void Line(const std::string& text) {
    std::fprintf(table_, "%s\n", text.c_str());
    std::fflush(table_);
  }

  void Header() {
    std::fprintf(table_, "%-9s %-34s %8s %6s %10s %10s %10s %10s  %s\n", "backend", "measurement",
                 "size", "calls", "p50 ms", "p99 ms", "mean ms", "max ms", "notes");
    std::fflush(table_);
  }

  void Emit(const Measurement& m) {
    double sum = 0, max = 0;
    for (double x : m.ms) {
      sum += x;
      max = std::max(max, x);
    }
    const double mean = m.ms.empty() ? 0 : sum / static_cast<double>(m.ms.size());
    const double p50 = Percentile(m.ms, 50), p99 = Percentile(m.ms, 99);
    const double load1 = Load1();
    std::fprintf(table_, "%-9s %-34s %8llu %6zu %10.2f %10.2f %10.2f %10.2f  %s [load %.2f]\n",
                 m.backend.c_str(), m.name.c_str(), static_cast<unsigned long long>(m.size),
                 m.ms.size(), p50, p99, mean, max, m.notes.c_str(), load1);
    std::fflush(table_);
    if (json_) {
      std::string out = absl::StrCat("{\"backend\":\"", m.backend, "\",\"measurement\":\"", m.name,
                                     "\",\"size\":", m.size, ",\"calls\":", m.ms.size());
      char buf[256];
      std::snprintf(buf, sizeof(buf),
                    ",\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"mean_ms\":%.3f,\"max_ms\":%.3f,"
                    "\"load1\":%.2f",
                    p50, p99, mean, max, load1);
      out += buf;
      for (const auto& [k, v] : m.extra) {
        std::snprintf(buf, sizeof(buf), ",\"%s\":%.3f", k.c_str(), v);
        out += buf;
      }
      out += "}";
      std::printf("%s\n", out.c_str());
      std::fflush(stdout);
    }
  }

 private:
  bool json_;
  FILE* table_;
};

// ---------------------------------------------------------------- data

constexpr size_t kWriteBatch = 1000;

// Writes `events` in batches of kWriteBatch through `writer`.
absl::Status WriteAll(storage::EventWriter& writer, const std::vector<v1::Event>& events) {
  std::vector<const v1::Event*> ptrs;
  for (size_t i = 0; i < events.size(); i += kWriteBatch) {
    ptrs.clear();
    for (size_t j = i; j < std::min(events.size(), i + kWriteBatch); ++j) {
      ptrs.push_back(&events[j]);
    }
    auto written = writer.WriteBatch(ptrs);
    if (!written.ok()) return written.status();
  }
  return absl::OkStatus();
}

// One big trace of `n` events of the shared storage workload
// (bench/support/workload.h): its batches are ~10 interleaved requests of
// ~100 events over 4 services and 8 threads (parent chains, spans, locks,
// state changes of 5 shared variables, HTTP and database calls), folded
// into one trace id. Rewritten so the fold stays consistent: span ids are
// made unique per batch (a batch's requests are distinct requests) and the
// per-thread client clocks keep increasing across batches.
std::vector<v1::Event> BigTrace(Workload& workload, uint64_t n) {
  const std::string trace_id = model::NewUuidV4();
  std::vector<v1::Event> out;
  out.reserve(n);
  std::map<std::string, uint64_t> clocks;
  for (uint64_t batch = 0; out.size() < n; ++batch) {
    const int want = static_cast<int>(std::min<uint64_t>(kWriteBatch, n - out.size()));
    for (auto& e : workload.NextBatch(want)) {
      e.set_trace_id(trace_id);
      auto* m = e.mutable_metadata();
      if (!m->distributed_span_id().empty()) {
        m->set_distributed_span_id(absl::StrCat("b", batch, "-", m->distributed_span_id()));
      }
      if (!m->upstream_span_id().empty()) {
        m->set_upstream_span_id(absl::StrCat("b", batch, "-", m->upstream_span_id()));
      }
      for (auto& c : *e.mutable_causality_vector()) c.set_clock(++clocks[c.component()]);
      out.push_back(std::move(e));
    }
  }
  return out;
}

// `count` small request traces (3-5 events: a gateway call and 2-4
// downstream calls), one per millisecond so last activity is distinct.
std::vector<v1::Event> SmallTraces(uint64_t first, uint64_t count, std::mt19937_64& rng) {
  static const char* kServices[] = {"gateway", "orders", "payments", "ledger"};
  std::vector<v1::Event> out;
  out.reserve(count * 5);
  for (uint64_t t = first; t < first + count; ++t) {
    const std::string trace_id = model::NewUuidV4();
    const int64_t t0 = kWorkloadBaseNs + static_cast<int64_t>(t) * 1000000;
    const int n = 3 + static_cast<int>(rng() % 3);
    std::string root_id;
    for (int k = 0; k < n; ++k) {
      v1::Event& e = out.emplace_back();
      e.set_id(model::NewUuidV4());
      e.set_trace_id(trace_id);
      if (k > 0) e.set_parent_id(root_id);
      const int64_t ns = t0 + k * 50000;
      e.mutable_timestamp()->set_seconds(ns / 1000000000);
      e.mutable_timestamp()->set_nanos(static_cast<int32_t>(ns % 1000000000));
      auto* m = e.mutable_metadata();
      m->set_service_name(k == 0 ? kServices[0] : kServices[1 + rng() % 3]);
      m->set_thread_id(k == 0 ? "main" : absl::StrCat("worker-", k));
      m->set_duration_ns(1000000 + rng() % 5000000);
      auto* f = e.mutable_function_call();
      f->set_function_name(k == 0 ? "handle_request" : absl::StrCat("call_", k));
      f->set_module(m->service_name());
      if (k == 0) root_id = e.id();
    }
  }
  return out;
}

// Accesses for the global-race sweep: traces of 10 StateChange events on
// one thread (1 ms apart), a new trace every 20 ms, each access to one of
// 1000 shared variables, half writes, 90 % under the variable's lock. Per
// variable there is then about one access every 2 s, so the 1 s window
// holds ~0.5 earlier accesses and ~7 % of accesses race with one of
// another trace (~70k races per 1M accesses).
std::vector<v1::Event> AccessTraces(uint64_t first, uint64_t count, std::mt19937_64& rng) {
  static const char* kServices[] = {"orders", "payments", "inventory", "ledger"};
  std::vector<v1::Event> out;
  out.reserve(count * 10);
  for (uint64_t t = first; t < first + count; ++t) {
    const std::string trace_id = model::NewUuidV4();
    const int64_t t0 = kWorkloadBaseNs + static_cast<int64_t>(t) * 20000000;
    const char* service = kServices[t % 4];
    const std::string thread = absl::StrCat("worker-", t % 8);
    std::string parent;
    for (int k = 0; k < 10; ++k) {
      v1::Event& e = out.emplace_back();
      e.set_id(model::NewUuidV4());
      e.set_trace_id(trace_id);
      if (!parent.empty()) e.set_parent_id(parent);
      parent = e.id();
      const int64_t ns = t0 + k * 1000000;
      e.mutable_timestamp()->set_seconds(ns / 1000000000);
      e.mutable_timestamp()->set_nanos(static_cast<int32_t>(ns % 1000000000));
      auto* m = e.mutable_metadata();
      m->set_service_name(service);
      m->set_thread_id(thread);
      const std::string variable = absl::StrCat("account.", rng() % 1000, ".balance");
      auto* sc = e.mutable_state_change();
      sc->set_variable(variable);
      const bool write = rng() % 2 == 0;
      sc->set_access_type(write ? v1::ACCESS_TYPE_WRITE : v1::ACCESS_TYPE_READ);
      sc->mutable_new_value()->set_number_value(static_cast<double>(rng() % 100000));
      if (write) sc->mutable_old_value()->set_number_value(static_cast<double>(rng() % 100000));
      sc->set_location(absl::StrCat("src/accounts.rs:", 10 + k));
      if (rng() % 10 != 0) e.add_lock_set(absl::StrCat("lock.", variable));
    }
  }
  return out;
}

// ---------------------------------------------------------------- gRPC

std::unique_ptr<v1::QueryService::Stub> Connect(int port) {
  grpc::ChannelArguments args;
  // A 100k-event AnalyzeTrace answer is tens of MB (audit trails).
  args.SetMaxReceiveMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                           grpc::InsecureChannelCredentials(), args);
  channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return v1::QueryService::NewStub(channel);
}

template <typename Fn>
absl::StatusOr<double> TimedMs(Fn&& fn) {
  const auto t0 = Clock::now();
  grpc::Status s = fn();
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }
  return ms;
}

void Deadline(grpc::ClientContext* c) {
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
}

absl::StatusOr<double> Analyze(v1::QueryService::Stub& stub, const std::string& trace_id,
                               uint64_t* races = nullptr) {
  v1::AnalyzeTraceRequest req;
  req.set_trace_id(trace_id);
  v1::AnalyzeTraceResponse resp;
  auto ms = TimedMs([&] {
    grpc::ClientContext c;
    Deadline(&c);
    return stub.AnalyzeTrace(&c, req, &resp);
  });
  if (ms.ok() && races != nullptr) *races = resp.race_count();
  return ms;
}

#define BENCH_ASSIGN(lhs, expr)                 \
  auto lhs##_or = (expr);                       \
  if (!lhs##_or.ok()) return lhs##_or.status(); \
  auto lhs = std::move(*lhs##_or)

#define BENCH_CHECK(expr) \
  if (absl::Status _s = (expr); !_s.ok()) return _s

// ---------------------------------------------------------------- sections

struct Backend {
  std::string name;
  storage::StorageOptions options;
};

class Bench {
 public:
  Bench(const Flags& flags, Output& out) : flags_(flags), out_(out) {}

  absl::Status Run(const Backend& b) {
    backend_ = b;
    BENCH_ASSIGN(writer, storage::OpenStorage(b.options));
    writer_ = std::move(writer);
    BENCH_ASSIGN(reader, storage::OpenStorage(b.options));
    reader_ = std::move(reader);
    config_.storage = b.options;
    config_.query.listen = "127.0.0.1:0";
    config_.query.grpc_web_listen = "";
    config_.query.cache_traces = 0;  // = 1 entry: see the file comment.
    config_.metrics.query_listen = "";
    config_.metrics.ingest_listen = "";
    config_.ingest.listen = "127.0.0.1:0";
    config_.ingest.http_listen = "";
    BENCH_ASSIGN(server, query::QueryServer::Start(config_, reader_));
    server_ = std::move(server);
    stub_ = Connect(server_->grpc_port());

    if (!flags_.sizes.empty()) BENCH_CHECK(AnalyzeSection());
    if (flags_.list_traces > 0) BENCH_CHECK(ListSection());
    if (flags_.global_accesses > 0) BENCH_CHECK(GlobalSection());
    stub_.reset();
    server_->Shutdown();
    server_.reset();
    BENCH_CHECK(writer_->Clear());
    reader_.reset();
    writer_.reset();
    return absl::OkStatus();
  }

 private:
  uint64_t Calls(uint64_t size) const {
    if (flags_.calls > 0) return flags_.calls;
    return std::clamp<uint64_t>(2000000 / size, 30, 200);
  }

  Measurement M(const std::string& name, uint64_t size) const {
    Measurement m;
    m.backend = backend_.name;
    m.name = name;
    m.size = size;
    return m;
  }

  absl::Status Write(const std::vector<v1::Event>& events, const std::string& what) {
    const auto t0 = Clock::now();
    BENCH_CHECK(WriteAll(*writer_, events));
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    out_.Line(absl::StrCat("# ", backend_.name, ": wrote ", what, ": ", events.size(),
                           " events in ", absl::StrFormat("%.1f", s), " s (",
                           absl::StrFormat("%.0f", static_cast<double>(events.size()) / s),
                           " events/s)"));
    return absl::OkStatus();
  }

  // Cold: alternate the two traces of a size (each call a cache miss).
  absl::Status MeasureCold(const std::string& name, uint64_t size, const std::string& notes,
                           std::vector<std::pair<std::string, double>> extra = {}) {
    const auto& [a, b] = traces_[size];
    Measurement m = M(name, size);
    uint64_t races = 0;
    for (uint64_t i = 0; i < Calls(size); ++i) {
      BENCH_ASSIGN(ms, Analyze(*stub_, i % 2 ? a : b, &races));
      m.ms.push_back(ms);
    }
    m.notes = absl::StrCat(notes, notes.empty() ? "" : "; ", "races ", races);
    m.extra = std::move(extra);
    m.extra.emplace_back("races", static_cast<double>(races));
    out_.Emit(m);
    return absl::OkStatus();
  }

  absl::Status AnalyzeSection() {
    out_.Line(absl::StrCat("# ", backend_.name, ": AnalyzeTrace; load average ", LoadAverage()));
    BENCH_CHECK(writer_->Clear());
    Workload workload;
    for (uint64_t size : flags_.sizes) {
      auto a = BigTrace(workload, size);
      auto b = BigTrace(workload, size);
      BENCH_CHECK(Write(a, absl::StrCat("trace A of ", size)));
      BENCH_CHECK(Write(b, absl::StrCat("trace B of ", size)));
      traces_[size] = {a[0].trace_id(), b[0].trace_id()};
    }
    for (uint64_t size : flags_.sizes) {
      BENCH_CHECK(MeasureCold("AnalyzeTrace cold", size, "miss each call"));
      const std::string& a = traces_[size].first;
      BENCH_CHECK(Analyze(*stub_, a).status());  // Fill the cache.
      Measurement m = M("AnalyzeTrace warm", size);
      for (uint64_t i = 0; i < Calls(size); ++i) {
        BENCH_ASSIGN(ms, Analyze(*stub_, a));
        m.ms.push_back(ms);
      }
      m.notes = "cache hit";
      out_.Emit(m);
    }
    if (flags_.ingest_seconds > 0) BENCH_CHECK(UnderIngest());
    return absl::OkStatus();
  }

  absl::Status UnderIngest() {
    // A separate storage object, as a separate raceway-ingest process has.
    BENCH_ASSIGN(ingest_storage, storage::OpenStorage(backend_.options));
    std::shared_ptr<storage::Storage> ingest_writer = std::move(ingest_storage);
    BENCH_ASSIGN(ingest, ingest::IngestServer::Start(config_, ingest_writer));
    loadgen::LoadOptions load;
    load.client.target = absl::StrCat("127.0.0.1:", ingest->grpc_port());
    load.client.streams = 4;  // raceway-loadgen's default.
    load.duration = std::chrono::seconds(flags_.ingest_seconds);
    BENCH_ASSIGN(peak, loadgen::RunLoad(load, nullptr));
    if (peak.acked == 0) {
      return absl::InternalError(absl::StrCat("loadgen committed nothing: ", peak.last_error));
    }
    out_.Line(absl::StrCat(
        "# ", backend_.name, ": loadgen peak ", absl::StrFormat("%.0f", peak.committed_per_second),
        " committed events/s over ", flags_.ingest_seconds,
        " s; ingesting at half of it while measuring; load average ", LoadAverage()));

    // RunLoad has no stop signal: run it in short chunks until told to stop.
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> acked{0}, failed{0};
    std::atomic<int64_t> busy_ns{0};
    absl::Status load_status;
    load.rate = peak.committed_per_second / 2;
    load.duration = std::chrono::seconds(3);
    std::thread background([&] {
      uint64_t seed = 100;
      while (!stop.load()) {
        load.seed = ++seed;
        const auto t0 = Clock::now();
        auto r = loadgen::RunLoad(load, nullptr);
        busy_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
        if (!r.ok()) {
          load_status = r.status();
          return;
        }
        acked += r->acked;
        failed += r->failed;
      }
    });
    // Let the ingest reach its steady rate before measuring.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    absl::Status measured = absl::OkStatus();
    for (uint64_t size : flags_.sizes) {
      measured = MeasureCold("AnalyzeTrace cold + ingest", size,
                             absl::StrFormat("ingest at %.0f ev/s", load.rate),
                             {{"ingest_target_events_per_s", load.rate}});
      if (!measured.ok()) break;
    }
    stop = true;
    background.join();
    ingest->Shutdown();
    BENCH_CHECK(measured);
    BENCH_CHECK(load_status);
    const double seconds = static_cast<double>(busy_ns.load()) / 1e9;
    out_.Line(absl::StrCat("# ", backend_.name, ": achieved ingest ",
                           absl::StrFormat("%.0f", static_cast<double>(acked.load()) / seconds),
                           " committed events/s (target ", absl::StrFormat("%.0f", load.rate),
                           ") over ", absl::StrFormat("%.1f", seconds), " s, ", acked.load(),
                           " events, ", failed.load(), " failed"));
    return absl::OkStatus();
  }

  absl::Status ListSection() {
    out_.Line(absl::StrCat("# ", backend_.name, ": ListTraces; load average ", LoadAverage()));
    BENCH_CHECK(writer_->Clear());
    std::mt19937_64 rng(7);
    const uint64_t chunk = 20000;
    uint64_t written = 0;
    const auto t0 = Clock::now();
    for (uint64_t first = 0; first < flags_.list_traces; first += chunk) {
      auto events = SmallTraces(first, std::min(chunk, flags_.list_traces - first), rng);
      BENCH_CHECK(WriteAll(*writer_, events));
      written += events.size();
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    out_.Line(absl::StrCat("# ", backend_.name, ": wrote ", flags_.list_traces, " traces (",
                           written, " events) in ", absl::StrFormat("%.1f", s), " s"));

    auto list = [&](const v1::ListTracesRequest& req,
                    v1::ListTracesResponse* resp) -> absl::StatusOr<double> {
      return TimedMs([&] {
        grpc::ClientContext c;
        Deadline(&c);
        return stub_->ListTraces(&c, req, resp);
      });
    };
    const uint64_t calls = 200;
    v1::ListTracesResponse resp;
    {
      Measurement m = M("ListTraces first page", flags_.list_traces);
      for (uint64_t i = 0; i < calls; ++i) {
        resp.Clear();
        BENCH_ASSIGN(ms, list(v1::ListTracesRequest(), &resp));
        m.ms.push_back(ms);
      }
      m.notes = absl::StrCat("page 100, total_count ", resp.total_count());
      out_.Emit(m);
    }
    // Walk the tokens to the middle of the list; every page on the way is
    // a deeper one, so the walk itself is a measurement.
    const uint64_t depth_pages = std::max<uint64_t>(1, flags_.list_traces / 2 / 100);
    std::string token;
    {
      Measurement m = M("ListTraces walk to middle", flags_.list_traces);
      v1::ListTracesRequest req;
      for (uint64_t p = 0; p < depth_pages; ++p) {
        req.set_page_token(token);
        resp.Clear();
        BENCH_ASSIGN(ms, list(req, &resp));
        m.ms.push_back(ms);
        token = resp.next_page_token();
        if (token.empty()) break;
      }
      double total = 0;
      for (double x : m.ms) total += x;
      m.notes = absl::StrFormat("%zu pages of 100 in %.2f s", m.ms.size(), total / 1000);
      out_.Emit(m);
    }
    if (!token.empty()) {
      Measurement m = M("ListTraces deep page", flags_.list_traces);
      v1::ListTracesRequest req;
      req.set_page_token(token);
      for (uint64_t i = 0; i < calls; ++i) {
        resp.Clear();
        BENCH_ASSIGN(ms, list(req, &resp));
        m.ms.push_back(ms);
      }
      m.notes = absl::StrCat("page after ", depth_pages * 100, " traces");
      out_.Emit(m);
    }
    {
      Measurement m = M("ListTraces service filter", flags_.list_traces);
      v1::ListTracesRequest req;
      req.set_service("ledger");
      for (uint64_t i = 0; i < calls; ++i) {
        resp.Clear();
        BENCH_ASSIGN(ms, list(req, &resp));
        m.ms.push_back(ms);
      }
      m.notes = absl::StrCat("service=ledger, total_count ", resp.total_count());
      out_.Emit(m);
    }
    return absl::OkStatus();
  }

  absl::Status GlobalSection() {
    out_.Line(absl::StrCat("# ", backend_.name, ": FindGlobalRaces; load average ", LoadAverage()));
    BENCH_CHECK(writer_->Clear());
    std::mt19937_64 rng(11);
    const uint64_t traces = std::max<uint64_t>(1, flags_.global_accesses / 10);
    const uint64_t chunk = 10000;
    const auto t0 = Clock::now();
    for (uint64_t first = 0; first < traces; first += chunk) {
      auto events = AccessTraces(first, std::min(chunk, traces - first), rng);
      BENCH_CHECK(WriteAll(*writer_, events));
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    out_.Line(absl::StrCat("# ", backend_.name, ": wrote ", traces * 10, " accesses in ", traces,
                           " traces in ", absl::StrFormat("%.1f", s), " s"));

    auto find = [&](const v1::FindGlobalRacesRequest& req,
                    v1::FindGlobalRacesResponse* resp) -> absl::StatusOr<double> {
      return TimedMs([&] {
        grpc::ClientContext c;
        Deadline(&c);
        return stub_->FindGlobalRaces(&c, req, resp);
      });
    };
    v1::FindGlobalRacesResponse resp;
    const uint64_t calls = 30;
    {
      Measurement m = M("FindGlobalRaces first page", traces * 10);
      for (uint64_t i = 0; i < calls; ++i) {
        resp.Clear();
        BENCH_ASSIGN(ms, find(v1::FindGlobalRacesRequest(), &resp));
        m.ms.push_back(ms);
      }
      m.notes = absl::StrCat("page 100 (default), all variables, ", resp.races_size(), " races");
      out_.Emit(m);
    }
    {
      Measurement m = M("FindGlobalRaces first page, 1 var", traces * 10);
      v1::FindGlobalRacesRequest req;
      req.set_variable("account.500.balance");
      for (uint64_t i = 0; i < calls; ++i) {
        resp.Clear();
        BENCH_ASSIGN(ms, find(req, &resp));
        m.ms.push_back(ms);
      }
      m.notes = absl::StrCat("variable filter, ", resp.races_size(), " races");
      out_.Emit(m);
    }
    {
      Measurement m = M("FindGlobalRaces all pages", traces * 10);
      v1::FindGlobalRacesRequest req;
      req.set_page_size(1000);
      uint64_t races = 0;
      do {
        resp.Clear();
        BENCH_ASSIGN(ms, find(req, &resp));
        m.ms.push_back(ms);
        races += static_cast<uint64_t>(resp.races_size());
        req.set_page_token(resp.next_page_token());
      } while (!resp.next_page_token().empty());
      double total = 0;
      for (double x : m.ms) total += x;
      m.notes = absl::StrFormat("%llu races in %zu pages of 1000: %.1f s total",
                                static_cast<unsigned long long>(races), m.ms.size(), total / 1000);
      m.extra = {{"races", static_cast<double>(races)}, {"total_s", total / 1000}};
      out_.Emit(m);
    }
    return absl::OkStatus();
  }

  const Flags& flags_;
  Output& out_;
  Backend backend_;
  std::shared_ptr<storage::Storage> writer_, reader_;
  service::Config config_;
  std::unique_ptr<query::QueryServer> server_;
  std::unique_ptr<v1::QueryService::Stub> stub_;
  std::map<uint64_t, std::pair<std::string, std::string>> traces_;  // size -> (A, B)
};

}  // namespace
}  // namespace raceway::bench

int main(int argc, char** argv) {
  using namespace raceway::bench;
  Flags flags;
  std::string error;
  if (!ParseFlags(argc, argv, &flags, &error)) {
    if (error.empty()) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::fprintf(stderr, "query_bench: %s (see --help)\n", error.c_str());
    return 1;
  }
  Output out(flags.json);
  out.Line(absl::StrCat("# query_bench: load average at start ", LoadAverage(), " (",
                        std::thread::hardware_concurrency(), " cores)"));

  std::vector<Backend> backends;
  std::filesystem::path dir;
  for (const auto& name : flags.backends) {
    Backend b;
    b.name = name;
    if (name == "sqlite") {
      dir = std::filesystem::temp_directory_path() /
            absl::StrCat("raceway_qbench_", raceway::model::NewUuidV4());
      std::filesystem::create_directories(dir);
      b.options.backend = "sqlite";
      b.options.sqlite_path = (dir / "raceway.db").string();
    } else {
      if (flags.postgres_url.empty()) {
        out.Line("# postgres: skipped (no --postgres=URL and RACEWAY_TEST_POSTGRES_URL unset)");
        continue;
      }
      auto parsed = raceway::storage::StorageOptionsFromUrl(flags.postgres_url);
      if (!parsed.ok()) {
        std::fprintf(stderr, "query_bench: %s\n", parsed.status().ToString().c_str());
        return 1;
      }
      b.options = *parsed;
    }
    backends.push_back(std::move(b));
  }

  out.Header();
  int rc = 0;
  for (const auto& b : backends) {
    Bench bench(flags, out);
    if (absl::Status s = bench.Run(b); !s.ok()) {
      std::fprintf(stderr, "query_bench: %s: %s\n", b.name.c_str(), s.ToString().c_str());
      rc = 1;
    }
  }
  if (!dir.empty()) std::filesystem::remove_all(dir);
  out.Line(absl::StrCat("# query_bench: load average at end ", LoadAverage()));
  return rc;
}
