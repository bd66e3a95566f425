#ifndef RACEWAY_LIBS_GRAPH_CLIENT_CLOCK_H_
#define RACEWAY_LIBS_GRAPH_CLIENT_CLOCK_H_

// Comparison of client-supplied causality vectors (ARCHITECTURE §4.5):
// standard vector-clock order, a < b when a <= b componentwise (missing
// components count as 0) and a != b; and the setting that decides which
// components of a trace are trusted to order events (the rule itself is in
// causal_graph.h and the README). Pure functions; thread-safe.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "libs/graph/compact_trace.h"
#include "raceway/v1/event.pb.h"

namespace raceway::graph {

enum class ClockOrder { kEqual, kBefore, kAfter, kConcurrent };

// Which client clock components may order events within a trace
// (config analysis.client_clocks):
//  kAuto   only components that behave as vector clocks in that trace;
//  kTrust  every component (the client's word);
//  kIgnore none (client vectors are stored and shown, never used).
enum class ClientClockMode { kAuto, kTrust, kIgnore };

// "auto" | "trust" | "ignore"; INVALID_ARGUMENT naming
// analysis.client_clocks otherwise.
absl::StatusOr<ClientClockMode> ParseClientClockMode(std::string_view text);
std::string_view ClientClockModeName(ClientClockMode mode);

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
