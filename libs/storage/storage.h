#ifndef RACEWAY_LIBS_STORAGE_STORAGE_H_
#define RACEWAY_LIBS_STORAGE_STORAGE_H_

// The storage library's interfaces (ARCHITECTURE §7), split by role:
// EventWriter is what the ingest service uses, EventReader what the query
// service uses. A Storage is both.
//
// Thread safety: every method of every implementation may be called
// concurrently from any number of threads without external synchronization.
// Errors are absl::Status values whose codes map 1:1 to gRPC codes:
// UNAVAILABLE (database unreachable or timed out: retry later),
// INVALID_ARGUMENT (bad token or argument), NOT_FOUND, FAILED_PRECONDITION
// (schema out of date and auto_migrate off), INTERNAL. No exception escapes.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/storage/types.h"
#include "raceway/v1/event.pb.h"

namespace raceway::storage {

class EventWriter {
 public:
  virtual ~EventWriter() = default;

  // Stores `events` (already validated) and every derived row in ONE
  // transaction: causal edges, trace roots, the variable-access index,
  // trace summaries, spans and span edges, service aggregates and the
  // baseline merges (parallel Welford, inside the database statement).
  // Idempotent: an id already stored counts as a duplicate and changes
  // nothing, including derived rows. Order-free: a child may be written
  // before its parent, in this batch or any other. Either everything is
  // committed or nothing is (on error the caller may retry the whole batch).
  // Ids must be distinct within one call.
  virtual absl::StatusOr<WriteResult> WriteBatch(
      std::span<const raceway::v1::Event* const> events) = 0;

  // Deletes every trace whose last activity is before `cutoff_ns` (last_ns <
  // cutoff_ns), with all its derived rows and aggregates. Returns the number
  // of traces deleted. Baselines keep their statistics (they summarise
  // history, not live traces). Each trace is deleted atomically; large
  // deletions may run as several transactions (so ingest is not blocked for
  // long): after an error, some traces may be gone and a retry finishes.
  // An event id deleted here may be written again later (as a new event).
  virtual absl::StatusOr<uint64_t> DeleteTracesBefore(int64_t cutoff_ns) = 0;

  // Removes all data (events, derived rows, baselines). Schema stays.
  virtual absl::Status Clear() = 0;
};

class EventReader {
 public:
  virtual ~EventReader() = default;

  // NOT_FOUND when absent.
  virtual absl::StatusOr<raceway::v1::Event> GetEvent(const std::string& id) = 0;

  // NOT_FOUND when the trace has no events.
  virtual absl::StatusOr<TraceSummary> GetTraceSummary(const std::string& trace_id) = 0;

  // All events of a trace in (timestamp, id) order (for analysis).
  // NOT_FOUND when the trace has no events.
  virtual absl::StatusOr<std::vector<raceway::v1::Event>> GetTraceEvents(
      const std::string& trace_id) = 0;

  // One page of a trace's events in (timestamp, id) order; default page
  // 1000, cap 10000. A token stays valid while writes continue: events are
  // keyed by (timestamp, id), so a page resumes strictly after the last key
  // (events stored meanwhile appear if their key is after it). NOT_FOUND
  // when the trace has no events.
  virtual absl::StatusOr<Page<raceway::v1::Event>> GetTraceEventsPage(const std::string& trace_id,
                                                                      const PageRequest& page) = 0;

  // Traces newest first by (last_ns desc, trace_id desc); default page 100,
  // cap 1000. `total` (if not null) receives the number of matching traces.
  // The filter's time range applies to last_ns. Paging while writes
  // continue: a page resumes strictly after the previous page's last
  // (last_ns, trace_id), so no trace is returned twice in one listing and
  // every trace whose last activity does not change during the listing is
  // returned once. last_ns only grows, so a trace updated during the
  // listing moves towards the front: it may be missed by this listing (it
  // is first in a new one). New traces appear when they sort after the
  // cursor.
  virtual absl::StatusOr<Page<TraceSummary>> ListTraces(const TraceFilter& filter,
                                                        const PageRequest& page,
                                                        uint64_t* total) = 0;

  // Variable-access index rows ordered by (variable, timestamp_ns,
  // event_id); `variable` empty = all variables; `range` applies to the
  // access's timestamp. Default page 1000, cap 10000. Served by an index on
  // (variable, timestamp). Keyset tokens: nothing skipped or repeated while
  // writes continue.
  virtual absl::StatusOr<Page<VariableAccess>> GetVariableAccesses(const std::string& variable,
                                                                   const TimeRange& range,
                                                                   const PageRequest& page) = 0;

  // Baselines for the given operation keys (missing keys are omitted).
  virtual absl::StatusOr<std::vector<Baseline>> GetBaselines(
      const std::vector<std::string>& operations) = 0;

  // Per-service statistics over all stored traces, sorted by name.
  //
  // The aggregate reads below that take a TimeRange consider the traces
  // with activity in the range: first_ns < range.end and last_ns >=
  // range.start (all events of such a trace count).
  virtual absl::StatusOr<std::vector<ServiceStats>> ListServices() = 0;

  // Service-to-service calls aggregated over traces with activity in
  // `range`, sorted by (from, to, link_type).
  virtual absl::StatusOr<std::vector<ServiceCallRow>> ListServiceCalls(const TimeRange& range) = 0;

  // Top variables by access count (ties by name), at most `limit`.
  virtual absl::StatusOr<std::vector<VariableStats>> TopVariables(const TimeRange& range,
                                                                  uint32_t limit) = 0;

  // Average durations per event kind ("FunctionCall", ...) or per service.
  virtual absl::StatusOr<std::vector<DurationStats>> DurationsByKind(const TimeRange& range) = 0;
  virtual absl::StatusOr<std::vector<DurationStats>> DurationsByService(const TimeRange& range) = 0;

  virtual absl::StatusOr<uint64_t> CountEvents() = 0;
  virtual absl::StatusOr<uint64_t> CountTraces() = 0;
};

class Storage : public EventWriter, public EventReader {
 public:
  // "memory", "sqlite", "postgres", "supabase", "mysql".
  virtual std::string BackendName() const = 0;
};

}  // namespace raceway::storage

#endif  // RACEWAY_LIBS_STORAGE_STORAGE_H_
