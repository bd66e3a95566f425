#ifndef RACEWAY_LIBS_STORAGE_TYPES_H_
#define RACEWAY_LIBS_STORAGE_TYPES_H_

// Plain value types exchanged through the storage interfaces. Times are
// nanoseconds since the Unix epoch (int64), durations nanoseconds.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "raceway/v1/event.pb.h"

namespace raceway::storage {

// Outcome of one WriteBatch: every event is either newly stored or a
// duplicate of an already stored id.
struct WriteResult {
  uint32_t accepted = 0;
  uint32_t duplicate = 0;
  // Positions (into the span given to WriteBatch) of the events that were
  // already stored, ascending; size() == duplicate. The ingest service uses
  // it to attribute duplicates to the client requests merged into one
  // group commit. Every backend fills it.
  std::vector<uint32_t> duplicate_indices;
};

// Pagination: page_size 0 means the method's default; sizes above the
// method's cap are clamped. Tokens are opaque strings produced by the same
// backend kind; a malformed token is INVALID_ARGUMENT.
struct PageRequest {
  uint32_t page_size = 0;
  std::string page_token;
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_page_token;  // Empty on the last page.
};

// Half-open time range [start_ns, end_ns); unset bounds are open.
struct TimeRange {
  std::optional<int64_t> start_ns;
  std::optional<int64_t> end_ns;
  bool Contains(int64_t t) const {
    return (!start_ns || t >= *start_ns) && (!end_ns || t < *end_ns);
  }
};

struct TraceSummary {
  std::string trace_id;
  uint64_t event_count = 0;
  int64_t first_ns = 0;
  int64_t last_ns = 0;
  std::vector<std::string> services;  // Sorted, distinct.
};

struct TraceFilter {
  uint64_t min_events = 0;
  std::string service;      // Empty = any.
  TimeRange last_activity;  // Filter on last_ns.
};

// One row of the variable-access index (StateChange events), used by
// global race detection and global audit trails without loading traces.
struct VariableAccess {
  std::string variable;
  int64_t timestamp_ns = 0;
  std::string event_id;
  std::string trace_id;
  std::string thread_id;
  std::string service_name;
  raceway::v1::AccessType access_type = raceway::v1::ACCESS_TYPE_UNSPECIFIED;
  std::string location;
  std::vector<std::string> lock_set;  // As sent by the client.
  std::string distributed_span_id;
  std::string upstream_span_id;
};

// Welford running statistics of one operation key (durations in ns).
struct Baseline {
  std::string operation;
  uint64_t count = 0;
  double mean = 0;
  double m2 = 0;  // Sum of squared deviations from the mean.
  double min = 0;
  double max = 0;
};

// A link between two services derived from a parent edge or a distributed
// span edge whose endpoints have different service names.
struct ServiceCallRow {
  std::string from_service;
  std::string to_service;
  // "HttpCall", "GrpcCall", "MessageQueue", "DatabaseQuery", "Custom" (span
  // edges: an explicit tags["link_type"] of an event creating the edge,
  // else inferred from its kind, else HttpCall; see common/derive.h) or
  // "Parent" for parent edges.
  std::string link_type;
  uint64_t call_count = 0;
  uint64_t trace_count = 0;
};

struct ServiceStats {
  std::string service;
  uint64_t event_count = 0;
  uint64_t trace_count = 0;
  int64_t first_ns = 0;
  int64_t last_ns = 0;
};

struct VariableStats {
  std::string variable;
  uint64_t access_count = 0;
  uint64_t trace_count = 0;
  std::vector<std::string> services;
};

// Average durations grouped by a dimension (event kind or service).
struct DurationStats {
  std::string name;
  uint64_t count = 0;  // Events with a duration.
  double avg_duration_ns = 0;
};

}  // namespace raceway::storage

#endif  // RACEWAY_LIBS_STORAGE_TYPES_H_
