#ifndef RACEWAY_TESTS_GRAPH_RANDOM_TRACE_H_
#define RACEWAY_TESTS_GRAPH_RANDOM_TRACE_H_

// Random small traces exercising every edge kind and every race rule:
// threads, locks (Mutex, RwLock::Read/Write, stray releases, client
// lock_sets), spawns/awaits, atomics, missing and cyclic parents, timestamp
// ties, distributed spans and client causality vectors.

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "raceway/v1/event.pb.h"

namespace raceway::graph::testing {

struct RandomTraceOptions {
  int max_threads = 5;
  int max_events = 60;
  int variables = 3;
  double client_clock_rate = 0.2;
  double cyclic_parent_rate = 0.04;
};

inline std::string RandomId(std::mt19937_64& rng) {
  const uint64_t a = rng(), b = rng();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(b >> 52),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

inline std::vector<raceway::v1::Event> RandomTrace(std::mt19937_64& rng,
                                                   const RandomTraceOptions& o = {}) {
  using raceway::v1::Event;
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  const std::string trace = RandomId(rng);
  const int threads = uni(1, o.max_threads);
  const int n = uni(2, o.max_events);
  static const char* kTasks[] = {"task-a", "task-b", "task-c"};
  static const char* kSpans[] = {"span-1", "span-2", "span-3"};
  static const char* kLocks[] = {"m1", "m2", "rw"};
  std::vector<Event> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    Event e;
    e.set_id(RandomId(rng));
    e.set_trace_id(trace);
    // Small time range so that ties happen.
    const int64_t ms = uni(0, n / 2 + 3);
    e.mutable_timestamp()->set_seconds(1767225600 + ms / 1000);
    e.mutable_timestamp()->set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
    auto* md = e.mutable_metadata();
    md->set_thread_id(absl::StrCat("t", uni(0, threads - 1)));
    md->set_service_name(chance(0.7) ? "api" : "db");
    if (chance(0.5)) md->set_duration_ns(static_cast<uint64_t>(uni(0, 20)) * 1000000);
    if (chance(0.15)) md->set_distributed_span_id(kSpans[uni(0, 2)]);
    if (chance(0.15)) md->set_upstream_span_id(kSpans[uni(0, 2)]);
    // Parent: an earlier generated event, a missing one, or none.
    const int p = uni(0, 9);
    if (p < 5 && !out.empty()) {
      e.set_parent_id(out[uni(0, static_cast<int>(out.size()) - 1)].id());
    } else if (p == 5) {
      e.set_parent_id(RandomId(rng));  // Missing parent: an orphan.
    }
    const int k = uni(0, 99);
    if (k < 45) {
      auto* sc = e.mutable_state_change();
      sc->set_variable(absl::StrCat("v", uni(0, o.variables - 1)));
      static const raceway::v1::AccessType kTypes[] = {
          raceway::v1::ACCESS_TYPE_READ,        raceway::v1::ACCESS_TYPE_WRITE,
          raceway::v1::ACCESS_TYPE_WRITE,       raceway::v1::ACCESS_TYPE_READ,
          raceway::v1::ACCESS_TYPE_ATOMIC_READ, raceway::v1::ACCESS_TYPE_ATOMIC_WRITE,
          raceway::v1::ACCESS_TYPE_ATOMIC_RMW};
      sc->set_access_type(kTypes[uni(0, 6)]);
      sc->set_location(absl::StrCat("f.rs:", uni(1, 4)));
      sc->mutable_new_value()->set_number_value(i);
    } else if (k < 60) {
      const int l = uni(0, 2);
      e.mutable_lock_acquire()->set_lock_id(kLocks[l]);
      e.mutable_lock_acquire()->set_lock_type(
          l < 2 ? "Mutex" : (chance(0.6) ? "RwLock::Read" : "RwLock::Write"));
    } else if (k < 72) {
      const int l = uni(0, 2);
      e.mutable_lock_release()->set_lock_id(kLocks[l]);
      e.mutable_lock_release()->set_lock_type(
          l < 2 ? "Mutex" : (chance(0.6) ? "RwLock::Read" : "RwLock::Write"));
    } else if (k < 79) {
      e.mutable_async_spawn()->set_task_id(kTasks[uni(0, 2)]);
    } else if (k < 86) {
      e.mutable_async_await()->set_future_id(kTasks[uni(0, 2)]);
    } else {
      e.mutable_function_call()->set_function_name(absl::StrCat("f", uni(0, 3)));
    }
    if (chance(0.08)) e.add_lock_set(kLocks[uni(0, 2)]);
    if (chance(o.client_clock_rate)) {
      const int comps = uni(1, 2);
      for (int c = 0; c < comps; ++c) {
        auto* entry = e.add_causality_vector();
        entry->set_component(c == 0 ? "c1" : "c2");
        entry->set_clock(static_cast<uint64_t>(uni(0, 3)));
      }
    }
    out.push_back(std::move(e));
  }
  // Some parents pointing at any event, so parent cycles appear.
  for (auto& e : out) {
    if (chance(o.cyclic_parent_rate)) e.set_parent_id(out[uni(0, n - 1)].id());
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

}  // namespace raceway::graph::testing

#endif  // RACEWAY_TESTS_GRAPH_RANDOM_TRACE_H_
