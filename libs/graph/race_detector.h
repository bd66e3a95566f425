#ifndef RACEWAY_LIBS_GRAPH_RACE_DETECTOR_H_
#define RACEWAY_LIBS_GRAPH_RACE_DETECTOR_H_

// Data races within one trace (ARCHITECTURE §4).
//
// A race is an unordered pair {a, b} of StateChange events on the same
// variable with different thread_id such that neither HappensBefore the
// other (CausalGraph::HappensBefore: DAG or usable client vector order), their
// lock sets do not protect them (LockSets::Protects), and they conflict: at
// least one writes (WRITE, ATOMIC_WRITE, ATOMIC_RMW) and not both are
// atomic. Severity: CRITICAL if both write, else WARNING. EVERY such pair is
// found (and counted); the pair list keeps at most max_pairs of them.
//
// Algorithm (not all-pairs): accesses are visited in the graph's
// topological order. Per variable the detector keeps, per thread, the
// program-order position of its latest access and lists of its accesses
// split by (lock set, access class). For an access b and a thread X:
//  * if X's latest access position <= clock(b)[X], all of X's accesses
//    happen before b: one comparison skips the thread (FastTrack's epoch
//    test);
//  * otherwise, in each of X's lists of a conflicting class whose lock set
//    does not protect b, the accesses not ordered before b are exactly a
//    suffix (program order is a chain, so the ordered ones are a prefix),
//    found by a binary search and reported one by one.
// Cost: O(n * t_v) epoch tests (t_v = threads touching the variable, so
// O(n * t)), plus per concurrent thread O(lists) and a binary search, plus
// O(1) per reported pair, plus a client-vector comparison for pairs whose
// only ordering is client-supplied. Memory O(accesses).
//
// Thread-safety: DetectRaces is a pure function of immutable inputs.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libs/graph/causal_graph.h"
#include "libs/graph/lock_sets.h"
#include "raceway/v1/event.pb.h"

namespace raceway::graph {

enum class RaceSeverity : uint8_t { kWarning = 1, kCritical = 2 };
std::string_view RaceSeverityName(RaceSeverity s);

// At least one writes and not both are atomic.
bool Conflicts(raceway::v1::AccessType a, raceway::v1::AccessType b);
// CRITICAL when both write, else WARNING.
RaceSeverity SeverityOf(raceway::v1::AccessType a, raceway::v1::AccessType b);

struct RacePair {
  uint32_t first = 0;     // Event index; the smaller one.
  uint32_t second = 0;    // Event index; later.
  uint32_t variable = 0;  // CompactTrace::variable_name().
  RaceSeverity severity = RaceSeverity::kWarning;
  friend bool operator==(const RacePair&, const RacePair&) = default;
};

// Races grouped by (variable, location pair). Views into the input events.
struct RaceGroup {
  uint32_t variable = 0;
  std::string_view variable_name;
  std::string_view location_a;  // Lexicographically <= location_b.
  std::string_view location_b;
  RaceSeverity severity = RaceSeverity::kWarning;  // Highest in the group.
  uint64_t count = 0;
  std::vector<std::string_view> thread_ids;  // Distinct, sorted.
};

struct RaceOptions {
  // Pairs kept in RaceReport::pairs: the first max_pairs by (first, second).
  // All races are still counted, grouped and flagged.
  size_t max_pairs = 10000;
  // Only this variable; empty = all variables.
  std::string variable;
};

struct RaceReport {
  std::vector<RacePair> pairs;    // Sorted by (first, second).
  uint64_t total_pairs = 0;       // All races, kept or not.
  std::vector<RaceGroup> groups;  // Sorted by (variable, location_a, location_b).
  // Per event index: 1 when this StateChange races with an access that comes
  // earlier in the graph's topological order (the audit trail's is_race).
  std::vector<uint8_t> races_with_earlier;
  // RaceOptions::variable the report was computed for (empty = all).
  std::string variable;

  bool truncated() const { return pairs.size() < total_pairs; }
};

RaceReport DetectRaces(const CausalGraph& graph, const LockSets& locks,
                       const RaceOptions& options = {});

// Human-readable text for RacePair.description, e.g. "CRITICAL race on
// balance: WRITE at balance.rs:12 (thread worker-1) and WRITE at
// balance.rs:45 (thread worker-2) are concurrent and share no lock".
std::string DescribeRace(const CausalGraph& graph, const RacePair& pair);

}  // namespace raceway::graph

#endif  // RACEWAY_LIBS_GRAPH_RACE_DETECTOR_H_
