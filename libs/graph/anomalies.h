#ifndef RACEWAY_LIBS_GRAPH_ANOMALIES_H_
#define RACEWAY_LIBS_GRAPH_ANOMALIES_H_

// Duration anomalies against learned baselines (ARCHITECTURE §4).
//
// For every event with a duration (model::DurationNs), its operation key
// (model::OperationKey) selects a stored baseline. The trace's own
// contribution to that key (Welford stats over this trace's events with the
// same key) is removed with the inverse step (WelfordStats::Remove) when
// options.baselines_include_trace is true (the default: ingest updates
// baselines with every event). Then, if at least min_samples remain:
//  * sigma > 0: anomalous when |d - mean| > k * sigma; severity by
//    z = |d - mean| / sigma: z > 5 CRITICAL, z > 3 WARNING, else MINOR.
//  * sigma = 0: anomalous when |d - mean| > zero_sigma_fraction * mean
//    (20 %; with mean 0 any non-zero duration); severity MINOR, sigma 0.
// Slower (d > mean) and faster outliers are both reported.
//
// Thread-safety: DetectAnomalies is a pure function of immutable inputs.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "libs/graph/compact_trace.h"
#include "libs/model/welford.h"

namespace raceway::graph {

enum class AnomalySeverity : uint8_t { kMinor = 1, kWarning = 2, kCritical = 3 };
std::string_view AnomalySeverityName(AnomalySeverity s);

// Stored baselines by operation key.
using BaselineMap = absl::flat_hash_map<std::string, model::WelfordStats>;

struct AnomalyOptions {
  double sigma_threshold = 2.0;  // k; must be > 0.
  uint64_t min_samples = 5;      // Baseline samples (after removal) needed.
  double zero_sigma_fraction = 0.2;
  bool baselines_include_trace = true;
};

struct Anomaly {
  uint32_t event = 0;  // Event index.
  std::string_view event_id;
  std::string operation;  // Baseline key.
  AnomalySeverity severity = AnomalySeverity::kMinor;
  uint64_t duration_ns = 0;
  double expected_mean_ns = 0;  // Without this trace.
  double expected_stddev_ns = 0;
  double sigma = 0;  // |d - mean| / stddev; 0 when stddev = 0.
  bool slower = false;
  uint64_t baseline_samples = 0;  // Without this trace.
  int64_t timestamp_ns = 0;
  std::string description;
};

// Anomalies sorted by event index. INVALID_ARGUMENT for a non-positive or
// non-finite threshold or fraction.
absl::StatusOr<std::vector<Anomaly>> DetectAnomalies(const CompactTrace& trace,
                                                     const BaselineMap& baselines,
                                                     const AnomalyOptions& options = {});

}  // namespace raceway::graph

#endif  // RACEWAY_LIBS_GRAPH_ANOMALIES_H_
