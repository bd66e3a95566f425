#ifndef RACEWAY_LIBS_GRAPH_AUDIT_TRAIL_H_
#define RACEWAY_LIBS_GRAPH_AUDIT_TRAIL_H_

// Audit trail of (trace, variable) (ARCHITECTURE §4): the variable's
// StateChange events in the graph's topological order (a linear extension of
// happens-before; among unordered events the smallest index, i.e. the
// earliest (timestamp, id) unless reordered, comes first), each with has_causal_link_to_previous
// (the previous access HappensBefore this one) and is_race (this access races, as defined in
// race_detector.h, with ANY earlier access of the trail). is_race comes from
// the race detector's per-access flags, so it costs no pair comparisons of
// its own.
//
// Thread-safety: pure functions of immutable inputs.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libs/graph/causal_graph.h"
#include "libs/graph/lock_sets.h"
#include "libs/graph/race_detector.h"
#include "raceway/v1/event.pb.h"

namespace raceway::graph {

// One access; everything else (id, thread, service, access type, old/new
// value, location, timestamp) is graph.trace().event(event), kept out of the
// struct so a 1M-access trail stays small.
struct AuditAccess {
  uint32_t event = 0;  // Event index (a StateChange).
  bool has_causal_link_to_previous = false;
  bool is_race = false;
};

struct AuditTrail {
  uint32_t variable = kNone;  // CompactTrace variable id; kNone if absent.
  std::string variable_name;
  std::vector<AuditAccess> accesses;
};

// One trail per variable covered by `races` (all variables, or the report's
// variable filter), sorted by variable name.
std::vector<AuditTrail> BuildAuditTrails(const CausalGraph& graph, const RaceReport& races);

// The trail of one variable (empty when the trace never touches it); runs
// the race detector for that variable only.
AuditTrail BuildAuditTrail(const CausalGraph& graph, const LockSets& locks,
                           std::string_view variable);

}  // namespace raceway::graph

#endif  // RACEWAY_LIBS_GRAPH_AUDIT_TRAIL_H_
