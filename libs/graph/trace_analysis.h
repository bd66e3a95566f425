#ifndef RACEWAY_LIBS_GRAPH_TRACE_ANALYSIS_H_
#define RACEWAY_LIBS_GRAPH_TRACE_ANALYSIS_H_

// One call that runs every per-trace analysis of ARCHITECTURE §4 — causal
// graph and vector clocks, lock sets, races, critical path, audit trails,
// anomalies, dependencies — and bundles the results (what AnalyzeTrace
// returns), with diagnostics saying what the analysis did to input it could
// not take at face value. Results refer to events by index into
// graph.trace(). Given a span, the events are the caller's and must outlive
// the TraceAnalysis; given an rvalue vector, the analysis owns them.
//
// Thread-safety: AnalyzeTrace is a pure function; the result is immutable
// and safe for concurrent readers.

#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/graph/anomalies.h"
#include "libs/graph/audit_trail.h"
#include "libs/graph/causal_graph.h"
#include "libs/graph/critical_path.h"
#include "libs/graph/dependencies.h"
#include "libs/graph/diagnostics.h"
#include "libs/graph/lock_sets.h"
#include "libs/graph/race_detector.h"
#include "raceway/v1/event.pb.h"

namespace raceway::graph {

struct AnalysisOptions {
  RaceOptions races;
  AnomalyOptions anomalies;
  bool audit_trails = true;
  // Which client causality vectors may order events (causal_graph.h).
  // Ignored by the overload that takes an already built graph (the graph's
  // own mode applies).
  ClientClockMode client_clocks = ClientClockMode::kAuto;
};

struct TraceAnalysis {
  CausalGraph graph;  // Events, edges, topological order, vector clocks.
  LockSets locks;
  RaceReport races;
  CriticalPath critical_path;
  std::vector<AuditTrail> audit_trails;  // Empty unless options.audit_trails.
  std::vector<Anomaly> anomalies;        // Empty without baselines.
  TraceDependencies dependencies;
  // CollectDiagnostics(graph, critical_path).
  std::vector<Diagnostic> diagnostics;
};

// What the analysis of this graph did, sorted by (kind, subject):
//  kIgnoredClientClock  per ignored component (graph.ignored_client_components());
//  kReorderedEvents     per thread with events placed after an event with a
//                       later (timestamp, id) (CompactTrace::reordered_events);
//  kDroppedCyclicEdges  per edge kind of graph.dropped_edges();
//  kMissingParents      orphans analysed as roots, if any;
//  kMissingDurations    critical-path steps without a duration, if any.
// Example events index graph.trace(); at most kMaxDiagnosticExamples each.
std::vector<Diagnostic> CollectDiagnostics(const CausalGraph& graph, const CriticalPath& path);

// `events`: one trace, any order. `baselines` may be null (no anomalies).
absl::StatusOr<TraceAnalysis> AnalyzeTrace(std::span<const raceway::v1::Event> events,
                                           const BaselineMap* baselines = nullptr,
                                           const AnalysisOptions& options = {});
absl::StatusOr<TraceAnalysis> AnalyzeTrace(std::span<const raceway::v1::Event* const> events,
                                           const BaselineMap* baselines = nullptr,
                                           const AnalysisOptions& options = {});
absl::StatusOr<TraceAnalysis> AnalyzeTrace(std::vector<raceway::v1::Event>&& events,
                                           const BaselineMap* baselines = nullptr,
                                           const AnalysisOptions& options = {});
// Same, on an already built graph (moved in).
absl::StatusOr<TraceAnalysis> AnalyzeTrace(CausalGraph graph, const BaselineMap* baselines,
                                           const AnalysisOptions& options = {});

}  // namespace raceway::graph

#endif  // RACEWAY_LIBS_GRAPH_TRACE_ANALYSIS_H_
