#include "libs/graph/trace_analysis.h"

#include <utility>

namespace raceway::graph {

absl::StatusOr<TraceAnalysis> AnalyzeTrace(CausalGraph graph, const BaselineMap* baselines,
                                           const AnalysisOptions& options) {
  std::vector<Anomaly> anomalies;
  if (baselines != nullptr) {
    absl::StatusOr<std::vector<Anomaly>> a =
        DetectAnomalies(graph.trace(), *baselines, options.anomalies);
    if (!a.ok()) return a.status();
    anomalies = *std::move(a);
  }
  LockSets locks = LockSets::Compute(graph.trace());
  RaceReport races = DetectRaces(graph, locks, options.races);
  CriticalPath path = ComputeCriticalPath(graph);
  std::vector<AuditTrail> trails;
  if (options.audit_trails) trails = BuildAuditTrails(graph, races);
  TraceDependencies deps = ComputeDependencies(graph.trace());
  return TraceAnalysis{std::move(graph),  std::move(locks),     std::move(races), std::move(path),
                       std::move(trails), std::move(anomalies), std::move(deps)};
}

absl::StatusOr<TraceAnalysis> AnalyzeTrace(std::span<const raceway::v1::Event> events,
                                           const BaselineMap* baselines,
                                           const AnalysisOptions& options) {
  absl::StatusOr<CausalGraph> graph = CausalGraph::Build(events);
  if (!graph.ok()) return graph.status();
  return AnalyzeTrace(*std::move(graph), baselines, options);
}

absl::StatusOr<TraceAnalysis> AnalyzeTrace(std::span<const raceway::v1::Event* const> events,
                                           const BaselineMap* baselines,
                                           const AnalysisOptions& options) {
  absl::StatusOr<CausalGraph> graph = CausalGraph::Build(events);
  if (!graph.ok()) return graph.status();
  return AnalyzeTrace(*std::move(graph), baselines, options);
}

absl::StatusOr<TraceAnalysis> AnalyzeTrace(std::vector<raceway::v1::Event>&& events,
                                           const BaselineMap* baselines,
                                           const AnalysisOptions& options) {
  absl::StatusOr<CausalGraph> graph = CausalGraph::Build(std::move(events));
  if (!graph.ok()) return graph.status();
  return AnalyzeTrace(*std::move(graph), baselines, options);
}

}  // namespace raceway::graph
