#ifndef RACEWAY_LIBS_STORAGE_COMMON_DERIVE_H_
#define RACEWAY_LIBS_STORAGE_COMMON_DERIVE_H_

// The derived-row rules shared by every backend (ARCHITECTURE §5), so that
// all backends agree. A backend's WriteBatch:
//   1. PrepareEvent() for every event (no lock needed);
//   2. inserts the events, skipping ids already stored (duplicates);
//   3. Aggregate() over the NEWLY stored events only, and writes the per-key
//      deltas with additive / min / max upserts (keys come sorted, which also
//      gives SQL backends a deterministic lock order);
//   4. ResolveParentCalls() to find the parent edges completed by this batch.
// Because only newly stored events contribute and every delta is additive
// (or min/max), derived rows are idempotent and independent of arrival
// order.
//
// Rules:
// - trace summary: event_count, first_ns = min timestamp, last_ns = max.
// - trace_services (trace, service): event_count, first/last, and the count
//   and sum of durations (model::DurationNs) of events with a duration.
// - trace_kinds (trace, kind name): count and sum of durations (events with a
//   duration only).
// - trace_variables (trace, variable, service): StateChange access counts.
// - spans (trace, distributed_span_id, service): event_count, first/last.
// - span_edges (trace, upstream_span_id -> distributed_span_id): from every
//   event with both ids set and different. Its link type: tags["link_type"]
//   when it is one of HttpCall, GrpcCall, MessageQueue, DatabaseQuery, Custom
//   (priority 0); else HttpRequest/HttpResponse -> HttpCall and
//   DatabaseQuery/DatabaseResult -> DatabaseQuery (priority 1); else HttpCall
//   (priority 2, the reference SDKs propagate spans over HTTP). An edge keeps
//   the smallest (priority, type) seen, so the result is order-free.
// - baselines per model::OperationKey: Welford stats of the durations.
// - service calls from parent edges: a parent edge p -> c whose events are
//   both stored and whose service names differ counts one call
//   (service(p) -> service(c)) in c's trace. It is counted when the second of
//   the two events is stored: when c arrives after p (lookup of p by id), or
//   when p arrives after c (c waits in a "waiting children" table keyed by
//   parent id until p arrives).
// - causal_edges: one "parent" row per event with a parent_id (whether or
//   not the parent is stored); trace_roots: events with no parent_id;
//   variable-access index: one row per StateChange.
//
// Thread-compatible value types; functions are pure.

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "libs/model/welford.h"
#include "raceway/v1/event.pb.h"

namespace raceway::storage::common {

struct LinkClass {
  std::string_view type;  // Static storage.
  int priority = 2;       // Lower wins; ties by type.
};
bool LinkBetter(const LinkClass& a, const LinkClass& b);  // a wins over b
LinkClass ClassifyLink(const raceway::v1::Event& event);

// Facts about one event computed once, before any lock is taken.
struct PreparedEvent {
  const raceway::v1::Event* event = nullptr;
  int64_t timestamp_ns = 0;
  std::optional<uint64_t> duration_ns;
  std::string_view kind;  // model::KindName (static storage).
  std::string operation;  // model::OperationKey; set only with a duration.
  // DurationNs clamped to int64 (for INTEGER columns).
  int64_t duration_column() const {
    return static_cast<int64_t>(
        std::min<uint64_t>(*duration_ns, std::numeric_limits<int64_t>::max()));
  }
};
PreparedEvent PrepareEvent(const raceway::v1::Event& event);

struct TraceDelta {
  uint64_t event_count = 0;
  int64_t first_ns = std::numeric_limits<int64_t>::max();
  int64_t last_ns = std::numeric_limits<int64_t>::min();
};
struct ServiceDelta {
  uint64_t event_count = 0;
  int64_t first_ns = std::numeric_limits<int64_t>::max();
  int64_t last_ns = std::numeric_limits<int64_t>::min();
  uint64_t duration_count = 0;
  double duration_sum_ns = 0;
};
struct KindDelta {
  uint64_t duration_count = 0;
  double duration_sum_ns = 0;
};
struct SpanDelta {
  uint64_t event_count = 0;
  int64_t first_ns = std::numeric_limits<int64_t>::max();
  int64_t last_ns = std::numeric_limits<int64_t>::min();
};

using Key2 = std::tuple<std::string_view, std::string_view>;
using Key3 = std::tuple<std::string_view, std::string_view, std::string_view>;

// Per-key deltas of one batch. Keys view into the batch's events.
struct BatchAggregates {
  std::map<std::string_view, TraceDelta> traces;  // trace
  std::map<Key2, ServiceDelta> trace_services;    // (trace, service)
  std::map<Key2, KindDelta> trace_kinds;          // (trace, kind)
  std::map<Key3, uint64_t> trace_variables;       // (trace, variable, service)
  std::map<Key3, SpanDelta> spans;                // (trace, span, service)
  std::map<Key3, LinkClass> span_edges;           // (trace, from span, to span)
  std::map<std::string_view, raceway::model::WelfordStats> baselines;  // operation
};
BatchAggregates Aggregate(std::span<const PreparedEvent* const> new_events);

// A stored child whose parent was not stored yet.
struct WaitingChild {
  std::string parent_id;
  std::string child_id;
  std::string trace_id;      // The child's.
  std::string service_name;  // The child's.
};

// Backend hooks used by ResolveParentCalls inside the write transaction.
// They must see rows written earlier in the same transaction. They may
// throw; ResolveParentCalls is exception-neutral.
class ParentResolver {
 public:
  virtual ~ParentResolver() = default;
  // Service of an event stored before this batch, or nullopt.
  virtual std::optional<std::string> StoredService(std::string_view event_id) = 0;
  // Cheap check: false when no child waits for any parent (lets the
  // per-event TakeWaitingChildren probes be skipped).
  virtual bool AnyWaitingChildren() = 0;
  // Removes and returns the children waiting for `parent_id`.
  virtual std::vector<WaitingChild> TakeWaitingChildren(std::string_view parent_id) = 0;
  virtual void AddWaitingChild(const WaitingChild& child) = 0;
};

// (trace, from service, to service) -> calls completed by this batch.
using ServiceCallDeltas = std::map<std::tuple<std::string, std::string, std::string>, uint64_t>;
ServiceCallDeltas ResolveParentCalls(std::span<const PreparedEvent* const> new_events,
                                     ParentResolver& resolver);

}  // namespace raceway::storage::common

#endif  // RACEWAY_LIBS_STORAGE_COMMON_DERIVE_H_
