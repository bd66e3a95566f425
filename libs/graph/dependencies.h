#ifndef RACEWAY_LIBS_GRAPH_DEPENDENCIES_H_
#define RACEWAY_LIBS_GRAPH_DEPENDENCIES_H_

// Service dependencies of one trace (ARCHITECTURE §4).
//
// Services: every service_name of the trace with its event count (a
// single-service trace still lists its service).
// Calls (caller -> callee, counted):
//  * every parent edge parent -> event whose services differ is one call;
//  * a distributed span link is one call per distinct (upstream span u,
//    downstream span d) pair (d = the event's distributed_span_id, or the
//    event itself when it has none), attributed to the first event e of the
//    pair in index order, from the latest event of span u whose order
//    timestamp is not later than e's (else span u's earliest event), when the services differ
//    and e's own parent edge did not already count as a cross-service call.
//    Events of span u missing from the trace give no call.
// Link type of a call (first rule that matches, callee checked before
// caller): tags["link_type"] naming a type ("HttpCall", "GrpcCall",
// "MessageQueue", "DatabaseQuery", "Custom"); tags["rpc.system"] == "grpc"
// -> GrpcCall; a "messaging.system" tag -> MessageQueue; an
// HttpRequest/HttpResponse event -> HttpCall; a DatabaseQuery/DatabaseResult
// event or a "db.system" tag -> DatabaseQuery; else Custom.
//
// Thread-safety: pure functions of immutable inputs.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libs/graph/compact_trace.h"
#include "raceway/v1/event.pb.h"

namespace raceway::graph {

enum class LinkType : uint8_t {
  kHttpCall = 1,
  kGrpcCall = 2,
  kMessageQueue = 3,
  kDatabaseQuery = 4,
  kCustom = 5,
};
std::string_view LinkTypeName(LinkType t);  // "HttpCall", ...

LinkType ClassifyLink(const raceway::v1::Event& caller, const raceway::v1::Event& callee);

struct ServiceNode {
  std::string name;
  uint64_t event_count = 0;
};

struct ServiceEdge {
  std::string from;  // Caller.
  std::string to;    // Callee.
  uint64_t call_count = 0;
  LinkType link_type = LinkType::kCustom;
};

struct TraceDependencies {
  std::vector<ServiceNode> services;  // Sorted by name.
  std::vector<ServiceEdge> edges;     // Sorted by (from, to, link_type).
};

TraceDependencies ComputeDependencies(const CompactTrace& trace);

}  // namespace raceway::graph

#endif  // RACEWAY_LIBS_GRAPH_DEPENDENCIES_H_
