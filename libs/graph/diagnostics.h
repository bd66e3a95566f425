#ifndef RACEWAY_LIBS_GRAPH_DIAGNOSTICS_H_
#define RACEWAY_LIBS_GRAPH_DIAGNOSTICS_H_

// What an analysis did with input it could not take at face value
// (ARCHITECTURE §4): client clock components it ignored, events it placed
// out of timestamp order, cyclic edges it dropped, orphans it treated as
// roots, events without duration on the critical path. One entry per
// (kind, subject); plain values, safe to copy and share.

#include <cstdint>
#include <string>
#include <vector>

namespace raceway::graph {

enum class DiagnosticKind : uint8_t {
  kIgnoredClientClock,  // subject = the client clock component.
  kReorderedEvents,     // subject = the thread_id.
  kDroppedCyclicEdges,  // subject = the edge kind ("parent", "join", "span").
  kMissingParents,      // subject = "".
  kMissingDurations,    // subject = "" (events on the critical path).
};

// At most this many example events per diagnostic.
inline constexpr size_t kMaxDiagnosticExamples = 5;

struct Diagnostic {
  DiagnosticKind kind = DiagnosticKind::kMissingParents;
  std::string subject;
  uint64_t count = 0;            // Events or edges concerned.
  std::string message;           // One line for people.
  std::vector<uint32_t> events;  // Example event indices (into the trace).
};

}  // namespace raceway::graph

#endif  // RACEWAY_LIBS_GRAPH_DIAGNOSTICS_H_
