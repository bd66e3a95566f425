#ifndef RACEWAY_LIBS_STORAGE_MEMORY_MEMORY_STORAGE_H_
#define RACEWAY_LIBS_STORAGE_MEMORY_MEMORY_STORAGE_H_

// In-memory Storage for tests and the all-in-one development mode. Same
// semantics as the SQL backends (derived rows, aggregates, page tokens); no
// durability. Data is indexed like the SQL schema: events by id and by
// (trace, timestamp, id), traces by (last_ns, trace_id), variable accesses
// by (variable, timestamp, id), plus per-trace aggregates.
//
// Thread safety: all methods may be called concurrently. One mutex
// guards all state: writers hold it exclusively for the insert/derive step
// only (events are prepared before locking), readers share it. (Running
// out of memory is not recoverable here: std::bad_alloc propagates.)

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "libs/model/welford.h"
#include "libs/storage/common/derive.h"
#include "libs/storage/common/mutex.h"
#include "libs/storage/storage.h"

namespace raceway::storage {

class MemoryStorage final : public Storage {
 public:
  MemoryStorage() = default;
  MemoryStorage(const MemoryStorage&) = delete;
  MemoryStorage& operator=(const MemoryStorage&) = delete;

  std::string BackendName() const override { return "memory"; }

  absl::StatusOr<WriteResult> WriteBatch(
      std::span<const raceway::v1::Event* const> events) override;
  absl::StatusOr<uint64_t> DeleteTracesBefore(int64_t cutoff_ns) override;
  absl::Status Clear() override;

  absl::StatusOr<raceway::v1::Event> GetEvent(const std::string& id) override;
  absl::StatusOr<TraceSummary> GetTraceSummary(const std::string& trace_id) override;
  absl::StatusOr<std::vector<raceway::v1::Event>> GetTraceEvents(
      const std::string& trace_id) override;
  absl::StatusOr<Page<raceway::v1::Event>> GetTraceEventsPage(const std::string& trace_id,
                                                              const PageRequest& page) override;
  absl::StatusOr<Page<TraceSummary>> ListTraces(const TraceFilter& filter, const PageRequest& page,
                                                uint64_t* total) override;
  absl::StatusOr<Page<VariableAccess>> GetVariableAccesses(const std::string& variable,
                                                           const TimeRange& range,
                                                           const PageRequest& page) override;
  absl::StatusOr<std::vector<Baseline>> GetBaselines(
      const std::vector<std::string>& operations) override;
  absl::StatusOr<std::vector<ServiceStats>> ListServices() override;
  absl::StatusOr<std::vector<ServiceCallRow>> ListServiceCalls(const TimeRange& range) override;
  absl::StatusOr<std::vector<VariableStats>> TopVariables(const TimeRange& range,
                                                          uint32_t limit) override;
  absl::StatusOr<std::vector<DurationStats>> DurationsByKind(const TimeRange& range) override;
  absl::StatusOr<std::vector<DurationStats>> DurationsByService(const TimeRange& range) override;
  absl::StatusOr<uint64_t> CountEvents() override;
  absl::StatusOr<uint64_t> CountTraces() override;

 private:
  using EventKey = std::pair<int64_t, std::string>;  // (timestamp_ns, id)
  using StrPair = std::pair<std::string, std::string>;

  struct TraceState {
    common::TraceDelta summary;
    std::map<EventKey, raceway::v1::Event> events;
    std::map<std::string, common::ServiceDelta, std::less<>> services;
    std::map<std::string, common::KindDelta, std::less<>> kinds;
    std::map<StrPair, uint64_t> variables;            // (variable, service)
    std::map<StrPair, common::SpanDelta> spans;       // (span, service)
    std::map<StrPair, common::LinkClass> span_edges;  // (from span, to span)
    std::map<StrPair, uint64_t> service_calls;        // (from, to) parent edges
    std::set<std::string> roots;
    std::map<std::string, std::string> causal_edges;  // child -> parent
    std::set<StrPair> waiting;                        // (parent, child) of this trace
  };

  class Resolver;

  bool InRange(const TraceState& t, const TimeRange& range) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  TraceSummary Summary(const std::string& trace_id, const TraceState& t) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void EraseTrace(const std::string& trace_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable common::Mutex mu_;
  absl::node_hash_map<std::string, TraceState> traces_ ABSL_GUARDED_BY(mu_);
  // id -> the stored event (a node of TraceState::events; stable).
  absl::flat_hash_map<std::string, const raceway::v1::Event*> by_id_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<int64_t, std::string>> by_last_ ABSL_GUARDED_BY(mu_);
  // variable -> (timestamp_ns, event id) -> access.
  std::map<std::string, std::map<EventKey, VariableAccess>, std::less<>> accesses_
      ABSL_GUARDED_BY(mu_);
  // (parent id, child id) -> waiting child.
  std::map<StrPair, common::WaitingChild> waiting_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, raceway::model::WelfordStats, std::less<>> baselines_ ABSL_GUARDED_BY(mu_);
};

}  // namespace raceway::storage

#endif  // RACEWAY_LIBS_STORAGE_MEMORY_MEMORY_STORAGE_H_
