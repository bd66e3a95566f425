#ifndef RACEWAY_TESTS_GRAPH_CLOCK_TRACES_H_
#define RACEWAY_TESTS_GRAPH_CLOCK_TRACES_H_

// Random traces for the client clock rule and for skewed timestamps:
//  * GenuineClockTrace: a simulation of threads with a correct vector-clock
//    implementation (one component per thread, incremented on every receive
//    and on most other events), exchanging messages the DAG never sees, plus
//    DAG edges that are real happens-before (parents and spans whose
//    receiver merged the sender's clock).
//  * SharedComponentTrace: the reference Python/Go/Rust SDKs' vectors: every
//    context of the process carries the same component, each counting its
//    own events, from 0 (a new request) or from the clock of the event it
//    was forked from (a goroutine / task; its first event's parent).
//  * SkewedTrace: per thread a parent chain whose timestamps are permuted
//    (TypeScript's Date.now() plus made-up microseconds), with some
//    cross-thread parents.

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "raceway/v1/event.pb.h"
#include "tests/graph/random_trace.h"

namespace raceway::graph::testing {

struct ClockTraceOptions {
  int max_threads = 5;
  int max_events = 60;
  int variables = 3;
};

namespace internal {

inline raceway::v1::Event NewEvent(std::mt19937_64& rng, const std::string& trace, int64_t ns,
                                   const std::string& thread) {
  raceway::v1::Event e;
  e.set_id(RandomId(rng));
  e.set_trace_id(trace);
  e.mutable_timestamp()->set_seconds(ns / 1000000000);
  e.mutable_timestamp()->set_nanos(static_cast<int32_t>(ns % 1000000000));
  e.mutable_metadata()->set_thread_id(thread);
  e.mutable_metadata()->set_service_name("svc");
  return e;
}

// A StateChange (most of the time) or a FunctionCall.
inline void SetRandomKind(std::mt19937_64& rng, int variables, raceway::v1::Event* e) {
  std::uniform_int_distribution<int> pct(0, 99);
  if (pct(rng) < 70) {
    auto* sc = e->mutable_state_change();
    sc->set_variable(absl::StrCat("v", std::uniform_int_distribution<int>(0, variables - 1)(rng)));
    sc->set_access_type(pct(rng) < 50 ? raceway::v1::ACCESS_TYPE_READ
                                      : raceway::v1::ACCESS_TYPE_WRITE);
    sc->set_location(absl::StrCat("app.py:", pct(rng) % 5));
    sc->mutable_new_value()->set_number_value(1);
  } else {
    e->mutable_function_call()->set_function_name("f");
  }
}

inline void SetVector(const std::map<std::string, uint64_t>& clock, std::mt19937_64& rng,
                      raceway::v1::Event* e) {
  std::vector<std::pair<std::string, uint64_t>> entries(clock.begin(), clock.end());
  std::shuffle(entries.begin(), entries.end(), rng);  // SDKs send any order.
  for (auto& [c, v] : entries) {
    auto* entry = e->add_causality_vector();
    entry->set_component(c);
    entry->set_clock(v);
  }
}

}  // namespace internal

inline std::vector<raceway::v1::Event> GenuineClockTrace(std::mt19937_64& rng,
                                                         const ClockTraceOptions& o = {}) {
  using Clock = std::map<std::string, uint64_t>;
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  auto merge = [](Clock& into, const Clock& from) {
    for (auto& [c, v] : from) into[c] = std::max(into[c], v);
  };
  static const char* kSpans[] = {"s1", "s2", "s3"};
  const std::string trace = RandomId(rng);
  const int threads = uni(2, o.max_threads);
  const int n = uni(2, o.max_events);
  std::vector<Clock> vc(threads);
  std::vector<std::vector<Clock>> inbox(threads);
  std::vector<int> last(threads, -1);
  std::vector<int> thread_of;
  std::vector<Clock> clock_of;
  std::map<std::string, std::vector<int>> span_events;
  std::vector<raceway::v1::Event> out;
  int64_t ns = 1767225600LL * 1000000000LL;
  for (int i = 0; i < n; ++i) {
    const int th = uni(0, threads - 1);
    ns += uni(1, 1000) * 1000;  // Strictly increasing: timestamps are true here.
    raceway::v1::Event e = internal::NewEvent(rng, trace, ns, absl::StrCat("worker-", th));
    bool received = false;
    if (!inbox[th].empty() && chance(0.6)) {  // Messages the DAG never sees.
      for (const Clock& m : inbox[th]) merge(vc[th], m);
      inbox[th].clear();
      received = true;
    }
    int parent = last[th];
    if (!out.empty() && chance(0.15)) {  // A cross-thread parent is a real receive.
      const int p = uni(0, static_cast<int>(out.size()) - 1);
      if (thread_of[p] != th) {
        parent = p;
        merge(vc[th], clock_of[p]);
        received = true;
      }
    }
    if (parent >= 0) e.set_parent_id(out[parent].id());
    if (chance(0.15)) {  // Upstream span: the receiver merges what it links to.
      const std::string u = kSpans[uni(0, 2)];
      e.mutable_metadata()->set_upstream_span_id(u);
      for (int d : span_events[u]) merge(vc[th], clock_of[d]);
      received |= !span_events[u].empty();
    }
    if (chance(0.3)) {
      const std::string s = kSpans[uni(0, 2)];
      e.mutable_metadata()->set_distributed_span_id(s);
      span_events[s].push_back(i);
    }
    if (received || last[th] < 0 || chance(0.85)) ++vc[th][absl::StrCat("svc#worker-", th)];
    internal::SetRandomKind(rng, o.variables, &e);
    internal::SetVector(vc[th], rng, &e);
    thread_of.push_back(th);
    clock_of.push_back(vc[th]);
    last[th] = i;
    if (chance(0.35)) inbox[uni(0, threads - 1)].push_back(vc[th]);  // May be a self-send.
    out.push_back(std::move(e));
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

inline constexpr char kSharedComponent[] = "py-shop#vm-5315";

inline std::vector<raceway::v1::Event> SharedComponentTrace(std::mt19937_64& rng,
                                                            const ClockTraceOptions& o = {}) {
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  const std::string trace = RandomId(rng);
  const int threads = uni(2, o.max_threads);
  const int n = uni(2, o.max_events);
  // Incoming trace headers give every context the same upstream entry.
  const bool upstream = chance(0.3);
  std::vector<uint64_t> counter(threads, 0);
  std::vector<int> last(threads, -1);
  std::vector<int> thread_of;
  std::vector<uint64_t> value_of;
  std::vector<raceway::v1::Event> out;
  int64_t ns = 1767225600LL * 1000000000LL;
  for (int i = 0; i < n; ++i) {
    const int th = uni(0, threads - 1);
    ns += uni(1, 1000) * 1000;
    raceway::v1::Event e = internal::NewEvent(
        rng, trace, ns, absl::StrCat("python-5315-", absl::Hex(0xb4f01c30u + th, absl::kZeroPad8)));
    int parent = last[th];
    if (parent < 0 && !out.empty() && chance(0.4)) {  // A forked context.
      parent = uni(0, static_cast<int>(out.size()) - 1);
      counter[th] = value_of[parent];
    }
    if (parent >= 0) e.set_parent_id(out[parent].id());
    ++counter[th];
    std::map<std::string, uint64_t> clock = {{kSharedComponent, counter[th]}};
    if (upstream) clock["ts-gateway#vm-7001"] = 7;
    internal::SetRandomKind(rng, o.variables, &e);
    internal::SetVector(clock, rng, &e);
    thread_of.push_back(th);
    value_of.push_back(counter[th]);
    last[th] = i;
    out.push_back(std::move(e));
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

inline std::vector<raceway::v1::Event> SkewedTrace(std::mt19937_64& rng,
                                                   const ClockTraceOptions& o = {}) {
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  const std::string trace = RandomId(rng);
  const int threads = uni(1, o.max_threads);
  const int n = uni(2, o.max_events);
  std::vector<std::vector<int>> of_thread(threads);
  std::vector<raceway::v1::Event> out;
  int64_t ns = 1767225600LL * 1000000000LL;
  for (int i = 0; i < n; ++i) {
    const int th = uni(0, threads - 1);
    ns += uni(0, 300) * 1000;  // Ties too.
    raceway::v1::Event e = internal::NewEvent(rng, trace, ns, absl::StrCat("node-4242-", th));
    if (!of_thread[th].empty()) {
      e.set_parent_id(out[of_thread[th].back()].id());
    } else if (!out.empty() && chance(0.5)) {
      e.set_parent_id(out[uni(0, static_cast<int>(out.size()) - 1)].id());
    }
    internal::SetRandomKind(rng, o.variables, &e);
    of_thread[th].push_back(i);
    out.push_back(std::move(e));
  }
  // Permute timestamps within each thread: fully, or adjacent swaps only
  // (the TypeScript pattern, about 1 pair in 5).
  for (const std::vector<int>& list : of_thread) {
    std::vector<google::protobuf::Timestamp> ts;
    for (int i : list) ts.push_back(out[i].timestamp());
    if (chance(0.5)) {
      std::shuffle(ts.begin(), ts.end(), rng);
    } else {
      for (size_t k = 1; k < ts.size(); ++k) {
        if (chance(0.2)) std::swap(ts[k - 1], ts[k]);
      }
    }
    for (size_t k = 0; k < list.size(); ++k) *out[list[k]].mutable_timestamp() = ts[k];
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

inline std::vector<raceway::v1::Event> WithoutVectors(std::vector<raceway::v1::Event> events) {
  for (auto& e : events) e.clear_causality_vector();
  return events;
}

}  // namespace raceway::graph::testing

#endif  // RACEWAY_TESTS_GRAPH_CLOCK_TRACES_H_
