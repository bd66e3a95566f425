#ifndef RACEWAY_LIBS_GRAPH_GLOBAL_RACES_H_
#define RACEWAY_LIBS_GRAPH_GLOBAL_RACES_H_

// Cross-trace ("global") races (ARCHITECTURE §4) over rows of the variable
// access index, fed in (variable, timestamp_ns) order — the order the
// storage index returns them in, page by page.
//
// A global race is a pair of accesses a (earlier or equal timestamp) and b to
// the same variable such that: they are in different traces (a pair within
// one trace is never a global race; per-trace races come from
// race_detector.h); they conflict (at least one write, not both atomic);
// |b.ts - a.ts| <= window (default 1 s); they are not protected (a shared
// lock not held in read mode by both); and they are not ordered: no
// distributed edge (x.distributed_span_id == y.upstream_span_id, non-empty,
// with x.ts <= y.ts, either direction) and no client vector-clock order
// (both vectors present and strictly ordered).
//
// Algorithm: a sweep. Per variable a sliding window of earlier accesses is
// kept, bucketed by (access class, lock set); each new access is compared
// only with the buckets of conflicting classes and non-protecting lock sets
// inside the window. Cost O(records + compared pairs); memory O(window).
//
// Thread-safety: GlobalRaceSweeper is a value type without synchronisation
// (one per stream); the free functions are pure.

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/graph/causal_graph.h"
#include "libs/graph/client_clock.h"
#include "libs/graph/race_detector.h"
#include "raceway/v1/event.pb.h"

namespace raceway::graph {

struct GlobalLockHold {
  std::string lock_id;
  bool read_mode = false;  // false = exclusive (also for unknown modes).
};

// One row of the variable-access index.
struct AccessRecord {
  std::string variable;
  int64_t timestamp_ns = 0;
  std::string event_id;
  std::string trace_id;
  std::string thread_id;
  std::string service_name;
  raceway::v1::AccessType access_type = raceway::v1::ACCESS_TYPE_UNSPECIFIED;
  std::string location;
  std::vector<GlobalLockHold> lock_set;
  std::string distributed_span_id;
  std::string upstream_span_id;
  // Client causality vector; used only when has_causality_vector (any
  // order, zeros allowed: it is normalised).
  bool has_causality_vector = false;
  NamedClock causality_vector;
};

struct GlobalRace {
  RaceSeverity severity = RaceSeverity::kWarning;
  AccessRecord first;   // Earlier by (timestamp, event id).
  AccessRecord second;  // In another trace.
  uint64_t gap_ns = 0;  // second.ts - first.ts.
};

struct GlobalRaceOptions {
  int64_t window_ns = 1'000'000'000;  // Must be >= 0.
};

// How two accesses of different traces relate: kSame (same event id),
// kBefore / kAfter through a distributed edge or client vector order, else
// kNotComparable. (Events of one trace are related by CausalGraph.)
Relation RelateAcrossTraces(const AccessRecord& a, const AccessRecord& b);

class GlobalRaceSweeper {
 public:
  explicit GlobalRaceSweeper(GlobalRaceOptions options = {});

  // Adds the next record and appends its races with earlier records in the
  // window to *out. INVALID_ARGUMENT (and no state change) when records are
  // not in (variable, timestamp_ns) order.
  absl::Status Add(const AccessRecord& record, std::vector<GlobalRace>* out);
  // Adds a record without reporting: to resume a paginated sweep, prime the
  // records from (resume timestamp - window) up to the resume point.
  absl::Status Prime(const AccessRecord& record);

  size_t window_size() const { return window_.size(); }

 private:
  struct Entry {
    AccessRecord record;
    uint8_t cls;
    uint32_t lockset;
  };
  struct Bucket {
    uint8_t cls;
    uint32_t lockset;
    std::deque<uint64_t> seqs;  // Window sequence numbers, in order.
  };
  absl::Status Insert(const AccessRecord& record, std::vector<GlobalRace>* out);
  uint32_t InternLockSet(const std::vector<GlobalLockHold>& locks);
  bool Compatible(uint32_t a, uint32_t b);

  GlobalRaceOptions options_;
  bool started_ = false;
  std::string variable_;
  int64_t last_ts_ = 0;
  std::deque<Entry> window_;
  uint64_t base_seq_ = 0;  // Sequence number of window_.front().
  std::vector<Bucket> buckets_;
  absl::flat_hash_map<std::vector<std::pair<std::string, bool>>, uint32_t> lockset_ids_;
  std::vector<std::vector<std::pair<std::string, bool>>> locksets_;
  absl::flat_hash_map<uint64_t, bool> compatible_;
};

// Whole-input convenience: records sorted by (variable, timestamp_ns).
absl::StatusOr<std::vector<GlobalRace>> FindGlobalRaces(std::span<const AccessRecord> records,
                                                        const GlobalRaceOptions& options = {});

}  // namespace raceway::graph

#endif  // RACEWAY_LIBS_GRAPH_GLOBAL_RACES_H_
