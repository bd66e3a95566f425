#ifndef RACEWAY_LIBS_GRAPH_CRITICAL_PATH_H_
#define RACEWAY_LIBS_GRAPH_CRITICAL_PATH_H_

// Critical path (ARCHITECTURE §4): the maximum-weight path in the causal DAG,
// weight = duration_ns of every event on it (root included; no duration =
// 0). Computed by dynamic programming in topological order, O(n + edges).
// Ties: among predecessors with equal best weight the smallest index
// (earliest (timestamp, id) unless reordered, compact_trace.h) is taken;
// among equal-weight end points, the smallest index (so zero-weight tails
// are not appended). Sums saturate at
// UINT64_MAX.
//
// Thread-safety: ComputeCriticalPath is a pure function of immutable input.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libs/graph/causal_graph.h"

namespace raceway::graph {

struct CriticalPathStep {
  uint32_t event = 0;  // Event index.
  std::string_view event_id;
  std::string kind;      // model::OperationKey, e.g. "FunctionCall(handle_request)".
  std::string location;  // model::Location.
  int64_t timestamp_ns = 0;
  uint64_t duration_ns = 0;
  std::string_view thread_id;
  std::string_view service_name;
};

struct CriticalPath {
  std::vector<CriticalPathStep> steps;   // Root first; empty for an empty trace.
  uint64_t total_duration_ns = 0;        // Sum over the path.
  uint64_t trace_total_duration_ns = 0;  // Sum over all events.
  double percentage = 0;                 // 100 * total / trace_total (0 if trace_total = 0).
};

CriticalPath ComputeCriticalPath(const CausalGraph& graph);

}  // namespace raceway::graph

#endif  // RACEWAY_LIBS_GRAPH_CRITICAL_PATH_H_
