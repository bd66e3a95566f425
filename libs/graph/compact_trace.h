#ifndef RACEWAY_LIBS_GRAPH_COMPACT_TRACE_H_
#define RACEWAY_LIBS_GRAPH_COMPACT_TRACE_H_

// The compact, index-based form of one trace that every analysis in
// libs/graph works on: events addressed by an index, strings (threads,
// services, variables, spans, client clock components) interned to dense
// integer ids.
//
// Index order: events are sorted by (timestamp, id); then, where that order
// contradicts an explicit edge between two events of one thread (a parent,
// or AsyncSpawn{task_id = f} -> AsyncAwait{future_id = f}), the thread's
// events are reordered: each thread's program order is the
// lexicographically smallest (by (timestamp, id)) linear extension of its
// explicit same-thread edges (edges on a cycle are left to the cycle rule
// of causal_graph.h), and the global index interleaves the threads so that
// order_timestamp_ns() is non-decreasing. Without such contradictions the
// index order is exactly (timestamp, id). Within one thread, index order is
// always program order.
//
// Thread-safety: Build() is a pure function; a built CompactTrace is
// immutable, so any number of threads may read it concurrently. Built from a
// span it keeps pointers into the caller's events, which must outlive it;
// built from an rvalue vector it owns the events.

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "raceway/v1/event.pb.h"

namespace raceway::graph {

// "No such index / id".
inline constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

// One entry of a normalised client causality vector: component interned,
// entries sorted by component, zero clocks removed (missing = 0).
struct ClientClockEntry {
  uint32_t component = 0;
  uint64_t clock = 0;
};

class CompactTrace {
 public:
  // All events must share one trace_id and have distinct ids
  // (INVALID_ARGUMENT otherwise); any input order. At most 2^32 - 2 events.
  static absl::StatusOr<CompactTrace> Build(std::span<const raceway::v1::Event> events);
  static absl::StatusOr<CompactTrace> Build(std::span<const raceway::v1::Event* const> events);
  // Takes ownership of the events (safe for temporaries).
  static absl::StatusOr<CompactTrace> Build(std::vector<raceway::v1::Event>&& events);

  CompactTrace(CompactTrace&&) = default;
  CompactTrace& operator=(CompactTrace&&) = default;
  CompactTrace(const CompactTrace&) = delete;
  CompactTrace& operator=(const CompactTrace&) = delete;

  // Number of events. Event indices are 0..size()-1 in index order (above).
  uint32_t size() const { return static_cast<uint32_t>(events_.size()); }
  std::string_view trace_id() const { return trace_id_; }

  const raceway::v1::Event& event(uint32_t i) const { return *events_[i]; }
  std::string_view id(uint32_t i) const { return events_[i]->id(); }
  // The event's own timestamp (for display; not sorted when reordered).
  int64_t timestamp_ns(uint32_t i) const { return ts_[i]; }
  // The largest timestamp among the event and its program-order
  // predecessors: non-decreasing in index order, equal to timestamp_ns()
  // unless the thread was reordered. Use it wherever sorted times are needed.
  int64_t order_timestamp_ns(uint32_t i) const { return order_ts_.empty() ? ts_[i] : order_ts_[i]; }
  // Events placed after an event with a later (timestamp, id) to follow
  // explicit same-thread edges; ascending. Empty when nothing was reordered.
  std::span<const uint32_t> reordered_events() const { return reordered_; }
  raceway::v1::Event::KindCase kind(uint32_t i) const {
    return static_cast<raceway::v1::Event::KindCase>(kind_[i]);
  }
  // Index of the event with this id, if it is in the trace.
  std::optional<uint32_t> Find(std::string_view id) const;

  // Parent index; kNone for a root or when the parent is not in the trace.
  uint32_t parent(uint32_t i) const { return parent_[i]; }
  // parent_id was set but names no event of the trace (an orphan, which is
  // analysed as a root).
  bool parent_missing(uint32_t i) const;
  // All such orphans, ascending.
  std::span<const uint32_t> missing_parents() const { return missing_parents_; }

  // Threads (metadata.thread_id), interned in order of first appearance.
  uint32_t num_threads() const { return static_cast<uint32_t>(thread_names_.size()); }
  uint32_t thread(uint32_t i) const { return thread_[i]; }
  std::string_view thread_name(uint32_t t) const { return thread_names_[t]; }
  // 1-based position of the event in its thread's program order.
  uint32_t position(uint32_t i) const { return pos_[i]; }
  // The thread's events in program order (index order).
  std::span<const uint32_t> thread_events(uint32_t t) const {
    return {thread_events_.data() + thread_begin_[t], thread_begin_[t + 1] - thread_begin_[t]};
  }

  uint32_t num_services() const { return static_cast<uint32_t>(service_names_.size()); }
  uint32_t service(uint32_t i) const { return service_[i]; }
  std::string_view service_name(uint32_t s) const { return service_names_[s]; }

  // distributed_span_id / upstream_span_id, interned together; kNone if empty.
  uint32_t span(uint32_t i) const { return span_[i]; }
  uint32_t upstream_span(uint32_t i) const { return upstream_[i]; }
  uint32_t num_spans() const { return static_cast<uint32_t>(span_names_.size()); }
  std::string_view span_name(uint32_t s) const { return span_names_[s]; }

  // Duration (model::DurationNs); 0 when the event has none.
  uint64_t duration_ns(uint32_t i) const { return duration_[i]; }
  bool has_duration(uint32_t i) const { return (flags_[i] & kHasDuration) != 0; }
  // The event carries a client lock_set.
  bool has_client_lock_set(uint32_t i) const { return (flags_[i] & kHasLockSet) != 0; }

  // StateChange events: variable (interned), access type, location (interned).
  // variable() is kNone for other kinds.
  uint32_t variable(uint32_t i) const { return variable_[i]; }
  uint32_t num_variables() const { return static_cast<uint32_t>(variable_names_.size()); }
  std::string_view variable_name(uint32_t v) const { return variable_names_[v]; }
  std::optional<uint32_t> FindVariable(std::string_view name) const;
  raceway::v1::AccessType access_type(uint32_t i) const {
    return static_cast<raceway::v1::AccessType>(access_[i]);
  }
  uint32_t location(uint32_t i) const { return location_[i]; }
  std::string_view location_name(uint32_t l) const { return location_names_[l]; }
  // Rank of the location string in lexicographic order (for canonical pairs).
  uint32_t location_rank(uint32_t l) const { return location_rank_[l]; }
  // Indices of all StateChange events, ascending.
  std::span<const uint32_t> accesses() const { return accesses_; }

  // LockAcquire/LockRelease events: the interned lock_id (kNone for other
  // kinds) and whether the lock_type is a read mode (IsReadLockType).
  uint32_t lock(uint32_t i) const { return lock_[i]; }
  bool lock_read_mode(uint32_t i) const { return (flags_[i] & kLockRead) != 0; }
  uint32_t num_locks() const { return static_cast<uint32_t>(lock_names_.size()); }
  std::string_view lock_name(uint32_t l) const { return lock_names_[l]; }
  std::optional<uint32_t> FindLock(std::string_view name) const;
  // "RwLock::Read" or any type ending in "::Read".
  static bool IsReadLockType(std::string_view lock_type);

  // AsyncSpawn task_id and AsyncAwait future_id values, interned together
  // (empty ones are not): the awaits as (event, task) in index order, and
  // the spawns of each task in index order.
  struct TaskEvent {
    uint32_t event = 0;
    uint32_t task = 0;
  };
  uint32_t num_tasks() const { return static_cast<uint32_t>(task_names_.size()); }
  std::string_view task_name(uint32_t k) const { return task_names_[k]; }
  std::span<const TaskEvent> awaits() const { return awaits_; }
  std::span<const uint32_t> spawns_of(uint32_t task) const {
    return {task_spawns_.data() + task_spawn_begin_[task],
            task_spawn_begin_[task + 1] - task_spawn_begin_[task]};
  }

  // Client causality vector: present when the event carried a non-empty
  // causality_vector (the normalised entries may still be empty if all
  // clocks were 0).
  bool has_client_clock(uint32_t i) const { return client_begin_[i] != kNone; }
  std::span<const ClientClockEntry> client_clock(uint32_t i) const;
  std::string_view client_component_name(uint32_t c) const { return component_names_[c]; }
  uint32_t num_client_components() const { return static_cast<uint32_t>(component_names_.size()); }
  // Some event carries a client vector.
  bool any_client_clock() const { return any_client_clock_; }

  // Approximate heap bytes owned (not counting the caller's events).
  size_t MemoryBytes() const;

 private:
  CompactTrace() = default;
  static absl::StatusOr<CompactTrace> BuildSorted(std::vector<const raceway::v1::Event*> events);
  // After sorting and parent resolution, before program order is derived:
  // reorders threads whose explicit same-thread edges point backwards.
  void FollowExplicitEdges();
  // Fills awaits_ and the per-task spawn lists from (event, task) pairs
  // whose indices are mapped through `index` (empty = identity).
  void IndexTasks(std::vector<TaskEvent> spawns, std::vector<TaskEvent> awaits,
                  const std::vector<uint32_t>& index);

  std::shared_ptr<const std::vector<raceway::v1::Event>> owned_;  // Owning builds only.
  std::string_view trace_id_;
  std::vector<const raceway::v1::Event*> events_;
  std::vector<int64_t> ts_;
  std::vector<int64_t> order_ts_;    // Empty unless reordered.
  std::vector<uint32_t> reordered_;  // Sorted indices.
  std::vector<uint8_t> kind_;
  std::vector<uint32_t> parent_;
  std::vector<uint32_t> missing_parents_;  // Sorted indices of orphans.
  std::vector<uint32_t> thread_;
  std::vector<uint32_t> pos_;
  std::vector<uint32_t> thread_begin_;
  std::vector<uint32_t> thread_events_;
  std::vector<std::string_view> thread_names_;
  std::vector<uint32_t> service_;
  std::vector<std::string_view> service_names_;
  std::vector<uint32_t> span_;
  std::vector<uint32_t> upstream_;
  std::vector<std::string_view> span_names_;
  std::vector<uint64_t> duration_;
  static constexpr uint8_t kHasDuration = 1, kHasLockSet = 2, kLockRead = 4;
  std::vector<uint32_t> lock_;
  std::vector<std::string_view> lock_names_;
  absl::flat_hash_map<std::string_view, uint32_t> lock_ids_;
  std::vector<uint8_t> flags_;
  std::vector<uint32_t> variable_;
  std::vector<uint8_t> access_;
  std::vector<uint32_t> location_;
  std::vector<std::string_view> variable_names_;
  absl::flat_hash_map<std::string_view, uint32_t> variable_ids_;
  std::vector<std::string_view> location_names_;
  std::vector<uint32_t> location_rank_;
  std::vector<uint32_t> accesses_;
  std::vector<uint32_t> client_begin_;  // kNone = no client vector.
  std::vector<uint32_t> client_end_;
  std::vector<ClientClockEntry> client_entries_;
  std::vector<std::string_view> component_names_;
  bool any_client_clock_ = false;
  std::vector<std::string_view> task_names_;
  std::vector<TaskEvent> awaits_;
  std::vector<uint32_t> task_spawn_begin_ = {0};
  std::vector<uint32_t> task_spawns_;
  // Ids: canonical UUIDs by their 128-bit value, any other id by its text.
  absl::flat_hash_map<std::pair<uint64_t, uint64_t>, uint32_t> uuid_index_;
  absl::flat_hash_map<std::string_view, uint32_t> other_index_;
};

}  // namespace raceway::graph

#endif  // RACEWAY_LIBS_GRAPH_COMPACT_TRACE_H_
