#include "libs/graph/anomalies.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "libs/model/operation_key.h"

namespace raceway::graph {

std::string_view AnomalySeverityName(AnomalySeverity s) {
  switch (s) {
    case AnomalySeverity::kMinor:
      return "MINOR";
    case AnomalySeverity::kWarning:
      return "WARNING";
    case AnomalySeverity::kCritical:
      return "CRITICAL";
  }
  return "UNKNOWN";
}

absl::StatusOr<std::vector<Anomaly>> DetectAnomalies(const CompactTrace& trace,
                                                     const BaselineMap& baselines,
                                                     const AnomalyOptions& options) {
  if (!(options.sigma_threshold > 0) || !std::isfinite(options.sigma_threshold)) {
    return absl::InvalidArgumentError("anomaly sigma threshold must be a positive number");
  }
  if (!(options.zero_sigma_fraction >= 0) || !std::isfinite(options.zero_sigma_fraction)) {
    return absl::InvalidArgumentError("zero-sigma fraction must be a non-negative number");
  }
  const uint32_t n = trace.size();
  // Operation key per event with a duration, and this trace's own stats.
  std::vector<std::pair<uint32_t, std::string>> keyed;
  absl::flat_hash_map<std::string, model::WelfordStats> own;
  for (uint32_t i = 0; i < n; ++i) {
    if (!trace.has_duration(i)) continue;
    std::string key = model::OperationKey(trace.event(i));
    if (!baselines.contains(key)) continue;
    own[key].Add(static_cast<double>(trace.duration_ns(i)));
    keyed.emplace_back(i, std::move(key));
  }
  // Baselines without this trace, per key.
  absl::flat_hash_map<std::string, model::WelfordStats> adjusted;
  for (const auto& [key, stats] : own) {
    model::WelfordStats b = baselines.at(key);
    if (options.baselines_include_trace) b.Remove(stats);
    adjusted.emplace(key, b);
  }
  std::vector<Anomaly> out;
  for (auto& [i, key] : keyed) {
    const model::WelfordStats& b = adjusted.at(key);
    if (b.count < options.min_samples || b.count == 0) continue;
    const double d = static_cast<double>(trace.duration_ns(i));
    const double mean = b.mean;
    const double sd = b.StdDev();
    const double diff = std::fabs(d - mean);
    Anomaly a;
    if (sd > 0) {
      const double z = diff / sd;
      if (!(z > options.sigma_threshold)) continue;
      a.sigma = z;
      a.severity = z > 5 ? AnomalySeverity::kCritical
                         : (z > 3 ? AnomalySeverity::kWarning : AnomalySeverity::kMinor);
    } else {
      if (!(diff > options.zero_sigma_fraction * std::fabs(mean))) continue;
      a.sigma = 0;
      a.severity = AnomalySeverity::kMinor;
    }
    a.event = i;
    a.event_id = trace.id(i);
    a.duration_ns = trace.duration_ns(i);
    a.expected_mean_ns = mean;
    a.expected_stddev_ns = sd;
    a.slower = d > mean;
    a.baseline_samples = b.count;
    a.timestamp_ns = trace.timestamp_ns(i);
    if (sd > 0) {
      a.description = absl::StrFormat(
          "%s took %.3f ms, %.1f sigma %s than the baseline mean %.3f ms (stddev %.3f ms, %d "
          "samples)",
          key, d / 1e6, a.sigma, a.slower ? "slower" : "faster", mean / 1e6, sd / 1e6, b.count);
    } else {
      a.description = absl::StrFormat(
          "%s took %.3f ms, %.0f%% %s than the constant baseline %.3f ms (%d samples)", key,
          d / 1e6, mean > 0 ? 100.0 * diff / mean : 100.0, a.slower ? "slower" : "faster",
          mean / 1e6, b.count);
    }
    a.operation = std::move(key);
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace raceway::graph
