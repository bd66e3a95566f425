#ifndef RACEWAY_LIBS_GRAPH_CLIENT_CLOCK_H_
#define RACEWAY_LIBS_GRAPH_CLIENT_CLOCK_H_

// Comparison of client-supplied causality vectors (ARCHITECTURE §4.5):
// standard vector-clock order, a < b when a <= b componentwise (missing
// components count as 0) and a != b. Pure functions; thread-safe.

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/repeated_ptr_field.h"
#include "libs/graph/compact_trace.h"
#include "raceway/v1/event.pb.h"

namespace raceway::graph {

enum class ClockOrder { kEqual, kBefore, kAfter, kConcurrent };

// Entries sorted by component, without zero clocks (CompactTrace's form).
ClockOrder CompareClientClocks(std::span<const ClientClockEntry> a,
                               std::span<const ClientClockEntry> b);

// A client vector keyed by component name, sorted by name, zeros removed.
using NamedClock = std::vector<std::pair<std::string, uint64_t>>;

// Normalises a proto causality vector (sort, drop zeros, a repeated
// component keeps its largest clock).
NamedClock NormalizeClientClock(
    const google::protobuf::RepeatedPtrField<raceway::v1::CausalityEntry>& entries);
// Same for an arbitrary list of (component, clock).
NamedClock NormalizeClientClock(NamedClock entries);

// Both arguments normalised.
ClockOrder CompareNamedClocks(const NamedClock& a, const NamedClock& b);

}  // namespace raceway::graph

#endif  // RACEWAY_LIBS_GRAPH_CLIENT_CLOCK_H_
