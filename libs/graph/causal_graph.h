#ifndef RACEWAY_LIBS_GRAPH_CAUSAL_GRAPH_H_
#define RACEWAY_LIBS_GRAPH_CAUSAL_GRAPH_H_

// The causal DAG of one trace (ARCHITECTURE §4) and the vector clocks
// derived from it.
//
// Edges (u -> v means u happens before v):
//  * parent:        parent_id -> event. A missing parent makes the event a
//                   root; it is never dropped.
//  * program order: consecutive events of one thread_id in index order
//                   (compact_trace.h): (timestamp, id) order, except that
//                   explicit same-thread edges (parent, spawn -> await)
//                   win over timestamps that contradict them.
//  * join:          for an AsyncAwait{future_id = f} and every AsyncSpawn s
//                   with task_id == f (s != the await): s -> await, and
//                   for every thread X, (last event of the task on X) ->
//                   await. The task of s = the proper descendants of s
//                   through parent edges (after parent cycles are broken,
//                   see below); "last" = greatest index. This
//                   orders every event of the task before the await (the
//                   task's events on X precede its last one on X in program
//                   order) and contains the contract's "last event of the
//                   task" edge.
//  * span:          for an event e with upstream_span_id = u and every
//                   thread X: (the latest event of span u on thread X whose
//                   order timestamp <= e's) -> e (order timestamps, see
//                   CompactTrace::order_timestamp_ns: they are sorted along
//                   each thread). Every other event of span u on X with
//                   order timestamp <= e's precedes that one in program order,
//                   so this has exactly the reachability of the contract's
//                   "e after all events of span u not later than e" without
//                   all-pairs edges.
// Edges between two events of the same thread that point forward in index
// order are implied by program order and not stored.
//
// Cycles (bad client data, e.g. a parent with a later timestamp on another
// thread) are broken deterministically, in two steps:
//  1. Parent cycles: in every cycle of parent pointers, each parent edge
//     that points backwards in index order is dropped (the parent relation
//     then is a forest, which defines join tasks).
//  2. In every strongly connected component of the full graph, each edge
//     that points backwards in index order is dropped. Only edges
//     that lie on a cycle are ever dropped, program-order edges never are,
//     and what remains is acyclic (all remaining intra-component edges
//     point forwards). Dropped edges are reported.
//
// Vector clocks: one component per thread; clock(e)[X] = number of events of
// thread X that happen before or equal e. They are computed in topological
// order and stored compactly: per event only an id of the thread's last
// "snapshot" (taken when a cross-thread edge brought new knowledge) plus the
// event's own program-order position, so memory is O(n + snapshots * t)
// instead of O(n * t). happens-before(a, b) in the DAG is then O(1):
// position(a) <= clock(b)[thread(a)].
//
// Client causality vectors add ordering, never remove it:
// HappensBefore(a, b) = DAG path a -> b, or (client order is usable for both
// events, client(a) < client(b) in vector-clock order, and there is no DAG
// path b -> a). The client order is an additional test; it is not folded
// into the DAG, so it is not composed transitively with DAG paths.
//
// Which client vectors are usable (ClientClockMode; kAuto is the default).
// kTrust: every event that carries a vector. kIgnore: none. kAuto: per
// trace, each component C is judged on its values v_e(C) (0 if missing):
// e is an advance point of C when v_e(C) > 0 and v_e(C) > v_p(C) for every
// immediate DAG predecessor p (program order and kept cross edges). C is trusted when
//  (i)   it is monotone: v_p(C) <= v_e(C) on every kept edge p -> e;
//  (ii)  for each value x, among the advance points with v(C) = x the one
//        with the smallest vector (saturating sum of entries; ties by
//        index) is the origin, and every other one is strictly greater
//        than the origin in vector order (it received the origin's clock),
//        or equal to it and DAG-ordered with it;
//  (iii) the origins, by increasing value, each DAG-happen-before the next.
// An event's vector is usable only when it has a positive entry and all of
// its components are trusted (dropping a component could create order).
// Cost: O(m log m + sum over kept edges of both ends' vector lengths), m =
// vector entries; nothing when no event carries a vector.
//
// Thread-safety: Build() is pure; a built graph is immutable and safe for
// concurrent readers. Built from a span it keeps pointers into the caller's
// events (which must outlive it); built from an rvalue vector it owns them.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/graph/client_clock.h"
#include "libs/graph/compact_trace.h"
#include "libs/graph/diagnostics.h"
#include "raceway/v1/event.pb.h"

namespace raceway::graph {

enum class EdgeKind : uint8_t { kParent = 0, kJoin = 1, kSpan = 2, kProgramOrder = 3 };
std::string_view EdgeKindName(EdgeKind kind);

struct Edge {
  uint32_t from = 0;
  uint32_t to = 0;
  EdgeKind kind = EdgeKind::kParent;
  friend bool operator==(const Edge&, const Edge&) = default;
};

// Relation of two events (query.proto HappensBeforeRelation).
enum class Relation { kSame, kBefore, kAfter, kConcurrent, kNotComparable };
std::string_view RelationName(Relation r);

// A client clock component that kAuto did not trust in this trace.
struct IgnoredClientComponent {
  uint32_t component = 0;  // CompactTrace::client_component_name().
  uint64_t events = 0;     // Events carrying it (non-zero).
  std::string reason;      // One line, naming events, threads and values.
  // Up to kMaxDiagnosticExamples event indices: the offending ones first,
  // then other carriers in index order.
  std::vector<uint32_t> examples;
};

class CausalGraph {
 public:
  static absl::StatusOr<CausalGraph> Build(std::span<const raceway::v1::Event> events,
                                           ClientClockMode client_clocks = ClientClockMode::kAuto);
  static absl::StatusOr<CausalGraph> Build(std::span<const raceway::v1::Event* const> events,
                                           ClientClockMode client_clocks = ClientClockMode::kAuto);
  // Owns the events (safe for temporaries).
  static absl::StatusOr<CausalGraph> Build(std::vector<raceway::v1::Event>&& events,
                                           ClientClockMode client_clocks = ClientClockMode::kAuto);
  static CausalGraph Build(CompactTrace trace,
                           ClientClockMode client_clocks = ClientClockMode::kAuto);

  CausalGraph(CausalGraph&&) = default;
  CausalGraph& operator=(CausalGraph&&) = default;

  const CompactTrace& trace() const { return trace_; }
  uint32_t size() const { return trace_.size(); }

  // Program-order predecessor (kNone for a thread's first event).
  uint32_t program_order_predecessor(uint32_t i) const;
  // Kept non-program-order predecessors of i (sorted) and their kinds.
  std::span<const uint32_t> cross_predecessors(uint32_t i) const {
    return {preds_.data() + pred_begin_[i], pred_begin_[i + 1] - pred_begin_[i]};
  }
  std::span<const EdgeKind> cross_predecessor_kinds(uint32_t i) const {
    return {pred_kinds_.data() + pred_begin_[i], pred_begin_[i + 1] - pred_begin_[i]};
  }
  // Every kept edge including program order, sorted by (to, from).
  std::vector<Edge> Edges() const;
  // Edges dropped to break cycles, sorted by (to, from).
  std::span<const Edge> dropped_edges() const { return dropped_; }
  // A linear extension of the DAG: among the events whose predecessors are
  // all emitted, the smallest index comes first. Equals index order unless
  // some kept edge points backwards in index order.
  std::span<const uint32_t> topological_order() const { return topo_; }

  // Vector clock component of `event` for `thread`.
  uint32_t clock(uint32_t event, uint32_t thread) const {
    return thread == trace_.thread(event) ? trace_.position(event)
                                          : snapshots_[size_t{clock_id_[event]} * nt_ + thread];
  }
  // The computed clock: (thread_id, clock) for every thread with clock > 0,
  // sorted by thread_id. Views into the caller's events.
  std::vector<std::pair<std::string_view, uint64_t>> VectorClock(uint32_t event) const;

  // DAG reachability a -> b (false when a == b). O(1).
  bool DagHappensBefore(uint32_t a, uint32_t b) const {
    return a != b && trace_.position(a) <= clock(b, trace_.thread(a));
  }
  // DAG reachability, or usable client-vector order not contradicted by
  // the DAG.
  bool HappensBefore(uint32_t a, uint32_t b) const;
  Relation Relate(uint32_t a, uint32_t b) const;

  ClientClockMode client_clock_mode() const { return client_clocks_; }
  // The event's client vector may order it (see the rule above). O(1).
  bool client_order_usable(uint32_t i) const {
    return !client_usable_.empty() && client_usable_[i] != 0;
  }
  // Client-vector order of a and b; kConcurrent unless both are usable.
  ClockOrder ClientOrder(uint32_t a, uint32_t b) const {
    if (!client_order_usable(a) || !client_order_usable(b)) return ClockOrder::kConcurrent;
    return CompareClientClocks(trace_.client_clock(a), trace_.client_clock(b));
  }
  // Components kAuto ignored, by component name.
  std::span<const IgnoredClientComponent> ignored_client_components() const {
    return ignored_components_;
  }

  uint32_t num_clock_snapshots() const {
    return nt_ == 0 ? 0 : static_cast<uint32_t>(snapshots_.size() / nt_);
  }
  // Approximate heap bytes owned (trace included).
  size_t MemoryBytes() const;

 private:
  explicit CausalGraph(CompactTrace trace) : trace_(std::move(trace)) {}
  void BuildEdges();
  void BreakCycles();
  void ComputeTopologicalOrder();
  void ComputeClocks();
  void JudgeClientClocks();

  CompactTrace trace_;
  ClientClockMode client_clocks_ = ClientClockMode::kAuto;
  uint32_t nt_ = 0;
  std::vector<uint32_t> pred_begin_;
  std::vector<uint32_t> preds_;
  std::vector<EdgeKind> pred_kinds_;
  std::vector<Edge> dropped_;
  std::vector<uint32_t> topo_;
  std::vector<uint32_t> clock_id_;
  std::vector<uint32_t> snapshots_;
  std::vector<uint8_t> client_usable_;  // Empty = no event usable.
  std::vector<IgnoredClientComponent> ignored_components_;
};

}  // namespace raceway::graph

#endif  // RACEWAY_LIBS_GRAPH_CAUSAL_GRAPH_H_
