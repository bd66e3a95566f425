// Benchmarks of libs/graph. Run: build/bench/graph/graph_bench
//
// Traces are request-shaped: per phase, "main" spawns one task per worker
// thread, each worker does ~40 events (private and shared variables; shared
// ones mostly under their guard mutex (one of 16; 2 % of the time a wrong
// one), some atomic, a few unprotected and racy; function calls with durations; a distributed span
// per task), then main awaits every task. Threads = main + workers.
//
// Counters: items_per_second (events), races, peak_B_per_event (peak heap
// allocated during the analysis, excluding the input events, divided by
// events), input_B_per_event (the protobuf events themselves).
//
// BM_AnalyzeSdkStyleTrace runs the same traces as the reference SDKs would
// send them: every event carries the process's shared "<service>#<instance>"
// client clock component, each thread counting its own events (so the
// client clock rule has to judge 1M vector entries and ignores the
// component), and 1 in 5 same-thread parent/child pairs have swapped
// timestamps (TypeScript's made-up microseconds), so program order must be
// rebuilt from the parent edges.

#include <malloc.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "libs/graph/trace_analysis.h"
#include "tests/graph/oracle.h"

// ---------------------------------------------------------------- heap meter
namespace {
std::atomic<int64_t> g_current{0};
std::atomic<int64_t> g_peak{0};

void Note(int64_t delta) {
  const int64_t now = g_current.fetch_add(delta, std::memory_order_relaxed) + delta;
  int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
void* Allocate(size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  Note(static_cast<int64_t>(malloc_usable_size(p)));
  return p;
}
void Free(void* p) {
  if (p == nullptr) return;
  Note(-static_cast<int64_t>(malloc_usable_size(p)));
  std::free(p);
}
}  // namespace

void* operator new(size_t n) { return Allocate(n); }
void* operator new[](size_t n) { return Allocate(n); }
void operator delete(void* p) noexcept { Free(p); }
void operator delete[](void* p) noexcept { Free(p); }
void operator delete(void* p, size_t) noexcept { Free(p); }
void operator delete[](void* p, size_t) noexcept { Free(p); }

namespace raceway::graph {
namespace {

using raceway::v1::Event;

std::vector<Event> MakeTrace(int64_t n, int threads, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const std::string trace = "00000000-0000-4000-8000-000000000001";
  std::vector<Event> out;
  out.reserve(static_cast<size_t>(n) + 4096);
  uint64_t next_id = 0;
  int64_t now = 1767225600LL * 1000000000LL;
  auto make = [&](const std::string& thread, const std::string* parent,
                  const char* service) -> Event& {
    Event& e = out.emplace_back();
    char id[40];
    const uint64_t k = ++next_id;
    std::snprintf(id, sizeof id, "%08llx-0000-4000-8000-%012llx",
                  static_cast<unsigned long long>(k >> 48), static_cast<unsigned long long>(k));
    e.set_id(id);
    e.set_trace_id(trace);
    if (parent != nullptr) e.set_parent_id(*parent);
    now += 1000;
    e.mutable_timestamp()->set_seconds(now / 1000000000);
    e.mutable_timestamp()->set_nanos(static_cast<int32_t>(now % 1000000000));
    e.mutable_metadata()->set_thread_id(thread);
    e.mutable_metadata()->set_service_name(service);
    return e;
  };
  const int workers = threads - 1;
  std::vector<std::string> names;
  for (int w = 0; w < workers; ++w) names.push_back(absl::StrCat("worker-", w));
  int64_t phase = 0;
  while (static_cast<int64_t>(out.size()) < n) {
    ++phase;
    const std::string span = absl::StrCat("span-", phase);
    Event& root = make("main", nullptr, "api");
    root.mutable_function_call()->set_function_name("handle_request");
    root.mutable_metadata()->set_duration_ns(static_cast<uint64_t>(uni(1, 50)) * 100000);
    root.mutable_metadata()->set_distributed_span_id(span);
    const std::string root_id = root.id();
    std::vector<std::string> spawn_ids;
    for (int w = 0; w < workers; ++w) {
      Event& s = make("main", &root_id, "api");
      s.mutable_async_spawn()->set_task_id(absl::StrCat("task-", phase, "-", w));
      s.mutable_metadata()->set_distributed_span_id(span);
      spawn_ids.push_back(s.id());
    }
    // Workers interleave in time (round robin), each a parent chain.
    std::vector<std::string> last = spawn_ids;
    const int per_worker = 40;
    for (int step = 0; step < per_worker; ++step) {
      for (int w = 0; w < workers; ++w) {
        const std::string& thread = names[w];
        auto link = [&](Event& e) {
          if (step == 0) e.mutable_metadata()->set_upstream_span_id(span);
          e.mutable_metadata()->set_distributed_span_id(absl::StrCat(span, "-", w));
          last[w] = e.id();
        };
        const int k = uni(0, 99);
        if (k < 60) {
          const bool shared = uni(0, 99) < 30;
          const int mode = uni(0, 99);
          const int var = uni(0, 255);
          std::string variable =
              shared ? absl::StrCat("shared-", var) : absl::StrCat(thread, ".local-", uni(0, 7));
          const bool locked = shared && mode < 85;
          // Each shared variable has its guard mutex; 2 % take a wrong one.
          const std::string lock = absl::StrCat("mutex-", uni(0, 49) == 0 ? uni(0, 15) : var % 16);
          if (locked) {
            Event& a = make(thread, &last[w], "worker");
            a.mutable_lock_acquire()->set_lock_id(lock);
            a.mutable_lock_acquire()->set_lock_type("Mutex");
            link(a);
          }
          Event& e = make(thread, &last[w], "worker");
          auto* sc = e.mutable_state_change();
          sc->set_variable(variable);
          sc->set_location(absl::StrCat("src/", shared ? "shared" : "local", ".rs:", uni(1, 20)));
          raceway::v1::AccessType type =
              uni(0, 1) ? raceway::v1::ACCESS_TYPE_READ : raceway::v1::ACCESS_TYPE_WRITE;
          if (shared && mode >= 85 && mode < 95) type = raceway::v1::ACCESS_TYPE_ATOMIC_RMW;
          if (shared && mode >= 95) {
            type = uni(0, 4) == 0 ? raceway::v1::ACCESS_TYPE_WRITE : raceway::v1::ACCESS_TYPE_READ;
          }
          sc->set_access_type(type);
          sc->mutable_new_value()->set_number_value(step);
          link(e);
          if (locked) {
            Event& r = make(thread, &last[w], "worker");
            r.mutable_lock_release()->set_lock_id(lock);
            r.mutable_lock_release()->set_lock_type("Mutex");
            link(r);
          }
        } else {
          Event& e = make(thread, &last[w], "worker");
          e.mutable_function_call()->set_function_name(absl::StrCat("step_", uni(0, 9)));
          e.mutable_metadata()->set_duration_ns(static_cast<uint64_t>(uni(1, 1000)) * 1000);
          link(e);
        }
      }
    }
    for (int w = 0; w < workers; ++w) {
      Event& a = make("main", &root_id, "api");
      a.mutable_async_await()->set_future_id(absl::StrCat("task-", phase, "-", w));
    }
  }
  return out;
}

// The SDK-style variant of MakeTrace's events (see the top comment).
void MakeSdkStyle(std::vector<Event>* events, uint64_t seed) {
  std::mt19937_64 rng(seed);
  absl::flat_hash_map<std::string, uint64_t> counter;
  absl::flat_hash_map<std::string, Event*> previous;
  for (Event& e : *events) {
    const std::string& thread = e.metadata().thread_id();
    auto* entry = e.add_causality_vector();
    entry->set_component("api#ip-10-0-0-7-4242");
    entry->set_clock(++counter[thread]);
    Event*& prev = previous[thread];
    if (prev != nullptr && e.parent_id() == prev->id() && rng() % 5 == 0) {
      std::swap(*prev->mutable_timestamp(), *e.mutable_timestamp());
      prev = nullptr;  // Swap disjoint pairs only.
    } else {
      prev = &e;
    }
  }
}

// One cached trace at a time (1M protobuf events are large).
const std::vector<Event>& Trace(int64_t n, int threads, int64_t* input_bytes,
                                bool sdk_style = false) {
  static std::unique_ptr<std::vector<Event>> cached;
  static int64_t cached_n = -1, cached_threads = -1, cached_bytes = 0;
  static bool cached_sdk_style = false;
  if (cached_n != n || cached_threads != threads || cached_sdk_style != sdk_style) {
    cached.reset();
    const int64_t before = g_current.load();
    cached = std::make_unique<std::vector<Event>>(MakeTrace(n, threads, 1234));
    if (sdk_style) MakeSdkStyle(cached.get(), 99);
    cached_bytes = g_current.load() - before;
    cached_n = n;
    cached_threads = threads;
    cached_sdk_style = sdk_style;
  }
  *input_bytes = cached_bytes;
  return *cached;
}

void Analyze(benchmark::State& state, bool sdk_style) {
  int64_t input_bytes = 0;
  const auto& events =
      Trace(state.range(0), static_cast<int>(state.range(1)), &input_bytes, sdk_style);
  AnalysisOptions options;  // Races (pairs capped at 10000, all counted), path, trails, deps.
  int64_t peak = 0;
  uint64_t races = 0, snapshots = 0, dropped = 0, reordered = 0, ignored = 0;
  for (auto _ : state) {
    const int64_t base = g_current.load();
    g_peak.store(base);
    auto analysis = AnalyzeTrace(std::span<const Event>(events), nullptr, options);
    if (!analysis.ok()) {
      state.SkipWithError("analysis failed");
      return;
    }
    peak = std::max(peak, g_peak.load() - base);
    races = analysis->races.total_pairs;
    snapshots = analysis->graph.num_clock_snapshots();
    dropped = analysis->graph.dropped_edges().size();
    reordered = analysis->graph.trace().reordered_events().size();
    ignored = analysis->graph.ignored_client_components().size();
    benchmark::DoNotOptimize(analysis->critical_path.total_duration_ns);
    benchmark::DoNotOptimize(analysis->audit_trails.data());
  }
  const double n = static_cast<double>(events.size());
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events.size()));
  state.counters["events"] = n;
  state.counters["races"] = static_cast<double>(races);
  state.counters["clock_snapshots"] = static_cast<double>(snapshots);
  state.counters["dropped_edges"] = static_cast<double>(dropped);
  state.counters["peak_B_per_event"] = static_cast<double>(peak) / n;
  state.counters["input_B_per_event"] = static_cast<double>(input_bytes) / n;
  if (sdk_style) {
    state.counters["reordered"] = static_cast<double>(reordered);
    state.counters["ignored_components"] = static_cast<double>(ignored);
  }
}

void BM_AnalyzeTrace(benchmark::State& state) { Analyze(state, /*sdk_style=*/false); }
BENCHMARK(BM_AnalyzeTrace)
    ->ArgNames({"events", "threads"})
    ->Args({10000, 4})
    ->Args({10000, 64})
    ->Args({100000, 4})
    ->Args({100000, 64})
    ->Args({1000000, 4})
    ->Args({1000000, 64})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

void BM_AnalyzeSdkStyleTrace(benchmark::State& state) { Analyze(state, /*sdk_style=*/true); }
BENCHMARK(BM_AnalyzeSdkStyleTrace)
    ->ArgNames({"events", "threads"})
    ->Args({100000, 4})
    ->Args({100000, 64})
    ->Args({1000000, 4})
    ->Args({1000000, 64})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

// The pieces of AnalyzeTrace, for the profile.
void BM_Stage(benchmark::State& state) {
  int64_t input_bytes = 0;
  const auto& events = Trace(state.range(0), static_cast<int>(state.range(1)), &input_bytes);
  const int stage = static_cast<int>(state.range(2));
  auto graph = CausalGraph::Build(std::span<const Event>(events));
  const LockSets locks = LockSets::Compute(graph->trace());
  const RaceReport races = DetectRaces(*graph, locks);
  for (auto _ : state) {
    switch (stage) {
      case 0:
        benchmark::DoNotOptimize(CompactTrace::Build(std::span<const Event>(events))->size());
        break;
      case 1:
        benchmark::DoNotOptimize(CausalGraph::Build(std::span<const Event>(events))->size());
        break;
      case 2:
        benchmark::DoNotOptimize(LockSets::Compute(graph->trace()).num_sets());
        break;
      case 3:
        benchmark::DoNotOptimize(ComputeCriticalPath(*graph).total_duration_ns);
        break;
      case 4:
        benchmark::DoNotOptimize(BuildAuditTrails(*graph, races).size());
        break;
      case 5:
        benchmark::DoNotOptimize(ComputeDependencies(graph->trace()).edges.size());
        break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events.size()));
  static const char* kNames[] = {"compact_trace", "causal_graph(incl. compact)",
                                 "lock_sets",     "critical_path",
                                 "audit_trails",  "dependencies"};
  state.SetLabel(kNames[stage]);
}
BENCHMARK(BM_Stage)
    ->ArgNames({"events", "threads", "stage"})
    ->ArgsProduct({{100000, 1000000}, {4, 64}, {0, 1, 2, 3, 4, 5}})
    ->Unit(benchmark::kMillisecond);

// Race detection alone on a built graph + lock sets.
void BM_DetectRaces(benchmark::State& state) {
  int64_t input_bytes = 0;
  const auto& events = Trace(state.range(0), static_cast<int>(state.range(1)), &input_bytes);
  auto graph = CausalGraph::Build(std::span<const Event>(events));
  const LockSets locks = LockSets::Compute(graph->trace());
  uint64_t races = 0;
  for (auto _ : state) {
    const RaceReport r = DetectRaces(*graph, locks);
    races = r.total_pairs;
    benchmark::DoNotOptimize(r.pairs.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events.size()));
  state.counters["races"] = static_cast<double>(races);
}
BENCHMARK(BM_DetectRaces)
    ->ArgNames({"events", "threads"})
    ->Args({10000, 4})
    ->Args({10000, 64})
    ->Args({100000, 4})
    ->Args({100000, 64})
    ->Args({1000000, 4})
    ->Args({1000000, 64})
    ->Unit(benchmark::kMillisecond);

// The brute-force oracle's all-pairs race check (happens-before taken from
// the computed clocks, O(1) per query, so only the pair enumeration is
// brute force): the reference product's approach.
void BM_OracleAllPairs(benchmark::State& state) {
  int64_t input_bytes = 0;
  const auto& events = Trace(state.range(0), static_cast<int>(state.range(1)), &input_bytes);
  auto graph = CausalGraph::Build(std::span<const Event>(events));
  const oracle::Oracle o(events, /*compute_reachability=*/false);
  uint64_t races = 0;
  for (auto _ : state) {
    const auto all =
        o.AllRacesWith([&](uint32_t a, uint32_t b) { return graph->HappensBefore(a, b); });
    races = all.size();
    benchmark::DoNotOptimize(all.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events.size()));
  state.counters["races"] = static_cast<double>(races);
}
BENCHMARK(BM_OracleAllPairs)
    ->ArgNames({"events", "threads"})
    ->Args({10000, 4})
    ->Args({10000, 64})
    ->Unit(benchmark::kMillisecond);

// The full oracle: naive edges + BFS reachability from every event + all
// pairs (what the property tests compare against).
void BM_OracleFull(benchmark::State& state) {
  int64_t input_bytes = 0;
  const auto& events = Trace(state.range(0), static_cast<int>(state.range(1)), &input_bytes);
  uint64_t races = 0;
  for (auto _ : state) {
    const oracle::Oracle o(events);
    races = o.AllRaces().size();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events.size()));
  state.counters["races"] = static_cast<double>(races);
}
BENCHMARK(BM_OracleFull)
    ->ArgNames({"events", "threads"})
    ->Args({10000, 4})
    ->Args({10000, 64})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

}  // namespace
}  // namespace raceway::graph

BENCHMARK_MAIN();
