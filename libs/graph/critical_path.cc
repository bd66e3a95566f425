#include "libs/graph/critical_path.h"

#include <algorithm>
#include <limits>

#include "libs/model/operation_key.h"

namespace raceway::graph {
namespace {

uint64_t SatAdd(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

// The path's events are scattered protobuf trees; prefetch them a few steps
// ahead of building the labels.
inline void Prefetch(const void* p) { __builtin_prefetch(p, 0, 1); }
void PrefetchPayload(const raceway::v1::Event& e) {
  Prefetch(&e.metadata());
  switch (e.kind_case()) {
    case raceway::v1::Event::kFunctionCall:
      Prefetch(&e.function_call());
      break;
    case raceway::v1::Event::kStateChange:
      Prefetch(&e.state_change());
      break;
    case raceway::v1::Event::kLockAcquire:
      Prefetch(&e.lock_acquire());
      break;
    case raceway::v1::Event::kLockRelease:
      Prefetch(&e.lock_release());
      break;
    case raceway::v1::Event::kAsyncAwait:
      Prefetch(&e.async_await());
      break;
    default:
      break;
  }
}
void PrefetchStrings(const raceway::v1::Event& e) {
  Prefetch(&e.id());
  switch (e.kind_case()) {
    case raceway::v1::Event::kFunctionCall:
      Prefetch(&e.function_call().function_name());
      Prefetch(&e.function_call().file());
      Prefetch(&e.function_call().module());
      break;
    case raceway::v1::Event::kStateChange:
      Prefetch(&e.state_change().variable());
      Prefetch(&e.state_change().location());
      break;
    default:
      break;
  }
}

}  // namespace

CriticalPath ComputeCriticalPath(const CausalGraph& graph) {
  const CompactTrace& t = graph.trace();
  const uint32_t n = t.size();
  CriticalPath out;
  if (n == 0) return out;
  std::vector<uint64_t> best(n, 0);
  std::vector<uint32_t> via(n, kNone);
  for (uint32_t b : graph.topological_order()) {
    uint64_t in = 0;
    uint32_t from = kNone;
    auto consider = [&](uint32_t a) {
      if (from == kNone || best[a] > in || (best[a] == in && a < from)) {
        in = best[a];
        from = a;
      }
    };
    const uint32_t po = graph.program_order_predecessor(b);
    if (po != kNone) consider(po);
    for (uint32_t a : graph.cross_predecessors(b)) consider(a);
    best[b] = SatAdd(in, t.duration_ns(b));
    via[b] = from;
  }
  uint32_t end = 0;
  for (uint32_t i = 1; i < n; ++i) {
    if (best[i] > best[end]) end = i;
  }
  for (uint32_t i = 0; i < n; ++i)
    out.trace_total_duration_ns = SatAdd(out.trace_total_duration_ns, t.duration_ns(i));
  out.total_duration_ns = best[end];
  std::vector<uint32_t> path;
  for (uint32_t v = end; v != kNone; v = via[v]) path.push_back(v);
  std::reverse(path.begin(), path.end());
  out.steps.reserve(path.size());
  for (size_t k = 0; k < path.size(); ++k) {
    if (k + 16 < path.size()) Prefetch(&t.event(path[k + 16]));
    if (k + 10 < path.size()) PrefetchPayload(t.event(path[k + 10]));
    if (k + 5 < path.size()) PrefetchStrings(t.event(path[k + 5]));
    if (k + 2 < path.size()) Prefetch(t.event(path[k + 2]).id().data());
    const uint32_t v = path[k];
    const auto& e = t.event(v);
    out.steps.push_back({v, t.id(v), model::OperationKey(e), model::Location(e), t.timestamp_ns(v),
                         t.duration_ns(v), t.thread_name(t.thread(v)),
                         t.service_name(t.service(v))});
  }
  out.percentage = out.trace_total_duration_ns == 0
                       ? 0.0
                       : 100.0 * static_cast<double>(out.total_duration_ns) /
                             static_cast<double>(out.trace_total_duration_ns);
  return out;
}

}  // namespace raceway::graph
