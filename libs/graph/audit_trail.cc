#include "libs/graph/audit_trail.h"

#include <algorithm>
#include <string>

namespace raceway::graph {

std::vector<AuditTrail> BuildAuditTrails(const CausalGraph& graph, const RaceReport& races) {
  const CompactTrace& t = graph.trace();
  uint32_t only = kNone;
  if (!races.variable.empty()) {
    auto v = t.FindVariable(races.variable);
    if (!v) return {};
    only = *v;
  }
  std::vector<AuditTrail> trails(t.num_variables());
  for (uint32_t v = 0; v < t.num_variables(); ++v) {
    trails[v].variable = v;
    trails[v].variable_name = std::string(t.variable_name(v));
  }
  for (uint32_t i : graph.topological_order()) {
    const uint32_t v = t.variable(i);
    if (v == kNone || (only != kNone && v != only)) continue;
    auto& acc = trails[v].accesses;
    AuditAccess a;
    a.event = i;
    a.has_causal_link_to_previous = !acc.empty() && graph.HappensBefore(acc.back().event, i);
    a.is_race = races.races_with_earlier.size() > i && races.races_with_earlier[i] != 0;
    acc.push_back(a);
  }
  std::vector<AuditTrail> out;
  for (auto& trail : trails) {
    if (!trail.accesses.empty()) out.push_back(std::move(trail));
  }
  std::sort(out.begin(), out.end(), [](const AuditTrail& a, const AuditTrail& b) {
    return a.variable_name < b.variable_name;
  });
  return out;
}

AuditTrail BuildAuditTrail(const CausalGraph& graph, const LockSets& locks,
                           std::string_view variable) {
  RaceOptions options;
  options.max_pairs = 0;
  options.variable = std::string(variable);
  std::vector<AuditTrail> trails = BuildAuditTrails(graph, DetectRaces(graph, locks, options));
  if (trails.empty()) {
    AuditTrail empty;
    empty.variable_name = std::string(variable);
    return empty;
  }
  return std::move(trails.front());
}

}  // namespace raceway::graph
