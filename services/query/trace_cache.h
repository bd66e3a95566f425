#ifndef RACEWAY_SERVICES_QUERY_TRACE_CACHE_H_
#define RACEWAY_SERVICES_QUERY_TRACE_CACHE_H_

// Cache of analysed traces for the query service.
//
// Freshness: every Get reads the trace's summary row (one indexed lookup)
// and reuses a cached analysis only while (event_count, last_ns) are
// unchanged. Events are immutable and only ever added (or the whole trace
// deleted by retention), so any event committed by any ingest replica
// changes the summary and is visible to the next query; a deleted trace is
// NOT_FOUND and evicted.
//
// Bounds: at most `max_traces` entries and `max_events` events in total,
// least recently used evicted first. Concurrent misses for the same trace
// share one analysis (single flight).
//
// Thread safety: all methods may be called from any thread.

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "libs/graph/trace_analysis.h"
#include "libs/storage/common/mutex.h"
#include "libs/storage/storage.h"

namespace raceway::query {

// One analysed trace. Immutable once published; `events` own the protos
// the analysis points into.
struct AnalyzedTrace {
  storage::TraceSummary summary;
  std::vector<raceway::v1::Event> events;
  graph::BaselineMap baselines;
  std::unique_ptr<graph::TraceAnalysis> analysis;
};

class CacheObserver {
 public:
  virtual ~CacheObserver() = default;
  virtual void OnCacheHit() = 0;
  virtual void OnCacheMiss() = 0;
};

class TraceCache {
 public:
  TraceCache(storage::EventReader& reader, size_t max_traces, uint64_t max_events,
             graph::AnalysisOptions options, CacheObserver* observer = nullptr);

  // NOT_FOUND for an unknown trace; storage errors pass through.
  absl::StatusOr<std::shared_ptr<const AnalyzedTrace>> Get(const std::string& trace_id);

  size_t size() const;

 private:
  struct Slot {
    // Filled once; waiters block on `ready`.
    std::shared_ptr<const AnalyzedTrace> value;
    absl::Status status;
    bool ready = false;
    uint64_t event_count = 0;
    int64_t last_ns = 0;
    std::list<std::string>::iterator lru;
  };

  absl::StatusOr<std::shared_ptr<const AnalyzedTrace>> Build(const storage::TraceSummary& s);
  void EvictLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  storage::EventReader& reader_;
  const size_t max_traces_;
  const uint64_t max_events_;
  const graph::AnalysisOptions options_;
  CacheObserver* const observer_;

  mutable storage::common::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Slot>> slots_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // Front = most recent.
  uint64_t cached_events_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace raceway::query

#endif  // RACEWAY_SERVICES_QUERY_TRACE_CACHE_H_
