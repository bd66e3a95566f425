#ifndef RACEWAY_LIBS_MODEL_PERCENTILE_H_
#define RACEWAY_LIBS_MODEL_PERCENTILE_H_

// The p-th percentile (0..100) of ascending `sorted` values, interpolated
// linearly between the two nearest ranks; 0 for no values. Used by the load
// generators and benchmarks so their p50/p99 mean the same thing. Pure.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace raceway::model {

inline double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(sorted.size() - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - static_cast<double>(lo));
}

}  // namespace raceway::model

#endif  // RACEWAY_LIBS_MODEL_PERCENTILE_H_
