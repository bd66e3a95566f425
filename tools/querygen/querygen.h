#ifndef RACEWAY_TOOLS_QUERYGEN_QUERYGEN_H_
#define RACEWAY_TOOLS_QUERYGEN_QUERYGEN_H_

// raceway-querygen as a library (the binary is main.cc; tests and
// bench/query call RunQueryLoad directly): N workers call
// raceway.v1.QueryService with a weighted mix of RPCs, spread round-robin
// over one channel per target, and the report gives requests/s, errors by
// gRPC code and per-RPC latency percentiles.
//
// The mix is scheduled deterministically: request k (counted over all
// workers) is the k-th entry of a smooth weighted round-robin sequence, so
// with --requests a multiple of the weights' sum every RPC is called exactly
// weight/sum of the time (the tests rely on it, and runs are comparable).
//
// Trace-scoped RPCs (AnalyzeTrace, GetRaces, ...) need trace ids: they are
// discovered by ListTraces (first page) at start and then every
// discovery_interval by a background caller (not counted in the report),
// and also from the mix's own ListTraces responses. Each such RPC picks a
// trace uniformly from the most recently listed page, as a dashboard user
// clicks on recent traces. With no trace known, the call is made with a
// random UUID and answers NOT_FOUND (reported as such).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace raceway::querygen {

// The RPCs the mix can contain, by their --mix name.
enum class Rpc {
  kListTraces,           // "list": ListTraces, first page (default size)
  kAnalyzeTrace,         // "analyze": AnalyzeTrace (no vector clocks)
  kGetRaces,             // "races": GetRaces, first page
  kGetCriticalPath,      // "critical-path"
  kGetAnomalies,         // "anomalies"
  kGetDependencies,      // "dependencies"
  kGetTrace,             // "trace": GetTrace, first page of events
  kListServices,         // "services"
  kGetServiceHealth,     // "health"
  kServiceDependencies,  // "service-deps": GetServiceDependencies
  kHotspots,             // "hotspots": GetHotspots
  kPerformance,          // "performance": GetPerformanceMetrics
  kDistributedEdges,     // "edges": ListDistributedEdges
  kGlobalRaces,          // "global-races": FindGlobalRaces, first page
};

// The --mix name and the gRPC method name of an RPC.
std::string_view RpcMixName(Rpc rpc);
std::string_view RpcMethodName(Rpc rpc);

struct MixEntry {
  Rpc rpc;
  uint32_t weight = 1;  // > 0.
};

// "list:1,analyze:2,health" (a missing weight = 1). INVALID_ARGUMENT naming
// an unknown RPC, a bad weight, a duplicate or an empty mix.
absl::StatusOr<std::vector<MixEntry>> ParseMix(std::string_view text);

// A dashboard's refresh: the trace list first, then a recent trace opened
// (analysis bundle, races, critical path), and the service overview:
// list:3,analyze:2,races:2,critical-path:2,services:1,health:1 (sum 11).
std::vector<MixEntry> DefaultMix();

struct QueryLoadOptions {
  std::vector<std::string> targets;  // HOST:PORT, at least one.
  int workers = 4;                   // Concurrent callers; worker i uses targets[i % n].
  // Stop after this long, or after `requests` requests, whichever comes
  // first (0 = no limit; at least one must be set).
  std::chrono::milliseconds duration{0};
  uint64_t requests = 0;
  double rate = 0;      // Requests/s over all workers; 0 = closed loop.
  std::string api_key;  // Sent as "authorization: Bearer KEY" when set.
  bool tls = false;
  std::string root_certs_file;  // PEM; empty = system roots.
  std::vector<MixEntry> mix;    // Empty = DefaultMix().
  std::chrono::milliseconds discovery_interval{2000};
  std::chrono::milliseconds call_timeout{30000};  // Per-RPC deadline.
  std::chrono::milliseconds connect_timeout{5000};
  // Progress callback, called about once per second (may be empty).
  std::function<void(const std::string&)> progress;
};

struct RpcLatency {
  std::string rpc;  // gRPC method name.
  uint64_t requests = 0;
  uint64_t errors = 0;  // Any non-OK status, NOT_FOUND included.
  // Over successful calls only (a fast failure says nothing about the
  // query path); 0 when there were none.
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0, mean_ms = 0;
};

struct QueryLoadReport {
  uint64_t requests = 0;
  uint64_t errors = 0;
  std::map<std::string, uint64_t> errors_by_code;  // "NOT_FOUND" -> n, ...
  double seconds = 0;                              // First request to the last answer.
  double requests_per_second = 0;
  std::vector<RpcLatency> per_rpc;  // In mix order.
  uint64_t traces_known = 0;        // Trace ids in the last listed page.
  uint64_t discovery_calls = 0;     // Background ListTraces (not counted above).
  std::string last_error;           // Code and message of the last failure.

  // Errors other than NOT_FOUND (an expected answer when traces are deleted
  // by retention between listing and opening) over requests.
  double HardErrorRatio() const;
  std::string ToText() const;  // Human-readable table, several lines.
  std::string ToJson() const;  // One line.
};

// Runs the load. Fails (without load) on bad options or when a target does
// not connect within connect_timeout; RPC failures are counted, not fatal.
absl::StatusOr<QueryLoadReport> RunQueryLoad(const QueryLoadOptions& options);

}  // namespace raceway::querygen

#endif  // RACEWAY_TOOLS_QUERYGEN_QUERYGEN_H_
