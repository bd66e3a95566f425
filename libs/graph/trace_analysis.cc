#include "libs/graph/trace_analysis.h"

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"

namespace raceway::graph {

std::vector<Diagnostic> CollectDiagnostics(const CausalGraph& graph, const CriticalPath& path) {
  const CompactTrace& t = graph.trace();
  std::vector<Diagnostic> out;
  auto plural = [](uint64_t n, const char* one, const char* many) {
    return absl::StrCat(n, " ", n == 1 ? one : many);
  };

  for (const IgnoredClientComponent& c : graph.ignored_client_components()) {
    out.push_back({DiagnosticKind::kIgnoredClientClock,
                   std::string(t.client_component_name(c.component)), c.events, c.reason,
                   c.examples});
  }

  {
    std::vector<Diagnostic> per_thread(t.num_threads());
    for (uint32_t i : t.reordered_events()) {
      Diagnostic& d = per_thread[t.thread(i)];
      ++d.count;
      if (d.events.size() < kMaxDiagnosticExamples) d.events.push_back(i);
    }
    for (uint32_t th = 0; th < t.num_threads(); ++th) {
      Diagnostic& d = per_thread[th];
      if (d.count == 0) continue;
      d.kind = DiagnosticKind::kReorderedEvents;
      d.subject = std::string(t.thread_name(th));
      d.message = absl::StrCat(
          "thread ", d.subject, ": ", plural(d.count, "event", "events"),
          " placed after an event with a later timestamp, to follow their parent or awaited "
          "spawn on the same thread (explicit edges win over skewed timestamps)");
      out.push_back(std::move(d));
    }
  }

  for (EdgeKind kind : {EdgeKind::kParent, EdgeKind::kJoin, EdgeKind::kSpan}) {
    Diagnostic d;
    const Edge* first = nullptr;
    for (const Edge& e : graph.dropped_edges()) {
      if (e.kind != kind) continue;
      if (first == nullptr) first = &e;
      ++d.count;
      if (d.events.size() < kMaxDiagnosticExamples &&
          std::find(d.events.begin(), d.events.end(), e.to) == d.events.end()) {
        d.events.push_back(e.to);
      }
    }
    if (first == nullptr) continue;
    d.kind = DiagnosticKind::kDroppedCyclicEdges;
    d.subject = std::string(EdgeKindName(kind));
    d.message = absl::StrCat(d.count, " ", d.subject, d.count == 1 ? " edge" : " edges",
                             " dropped because they closed a cycle (contradictory client data), "
                             "e.g. ",
                             std::string(t.id(first->from)), " -> ", std::string(t.id(first->to)));
    out.push_back(std::move(d));
  }

  if (!t.missing_parents().empty()) {
    Diagnostic d;
    d.kind = DiagnosticKind::kMissingParents;
    d.count = t.missing_parents().size();
    for (uint32_t i : t.missing_parents()) {
      if (d.events.size() == kMaxDiagnosticExamples) break;
      d.events.push_back(i);
    }
    d.message = absl::StrCat(plural(d.count, "event names", "events name"),
                             " a parent_id that is not in the trace; analysed as ",
                             d.count == 1 ? "a root" : "roots");
    out.push_back(std::move(d));
  }

  if (!path.steps.empty()) {
    Diagnostic d;
    d.kind = DiagnosticKind::kMissingDurations;
    for (const CriticalPathStep& step : path.steps) {
      if (t.has_duration(step.event)) continue;
      ++d.count;
      if (d.events.size() < kMaxDiagnosticExamples) d.events.push_back(step.event);
    }
    if (d.count > 0) {
      d.message = absl::StrCat(d.count, " of ", path.steps.size(),
                               " critical-path events have no duration (counted as 0)");
      out.push_back(std::move(d));
    }
  }

  std::stable_sort(out.begin(), out.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.kind, a.subject) < std::tie(b.kind, b.subject);
  });
  return out;
}

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
  std::vector<Diagnostic> diagnostics = CollectDiagnostics(graph, path);
  return TraceAnalysis{std::move(graph), std::move(locks),      std::move(races),
                       std::move(path),  std::move(trails),     std::move(anomalies),
                       std::move(deps),  std::move(diagnostics)};
}

absl::StatusOr<TraceAnalysis> AnalyzeTrace(std::span<const raceway::v1::Event> events,
                                           const BaselineMap* baselines,
                                           const AnalysisOptions& options) {
  absl::StatusOr<CausalGraph> graph = CausalGraph::Build(events, options.client_clocks);
  if (!graph.ok()) return graph.status();
  return AnalyzeTrace(*std::move(graph), baselines, options);
}

absl::StatusOr<TraceAnalysis> AnalyzeTrace(std::span<const raceway::v1::Event* const> events,
                                           const BaselineMap* baselines,
                                           const AnalysisOptions& options) {
  absl::StatusOr<CausalGraph> graph = CausalGraph::Build(events, options.client_clocks);
  if (!graph.ok()) return graph.status();
  return AnalyzeTrace(*std::move(graph), baselines, options);
}

absl::StatusOr<TraceAnalysis> AnalyzeTrace(std::vector<raceway::v1::Event>&& events,
                                           const BaselineMap* baselines,
                                           const AnalysisOptions& options) {
  absl::StatusOr<CausalGraph> graph = CausalGraph::Build(std::move(events), options.client_clocks);
  if (!graph.ok()) return graph.status();
  return AnalyzeTrace(*std::move(graph), baselines, options);
}

}  // namespace raceway::graph
