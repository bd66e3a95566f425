#ifndef RACEWAY_LIBS_MODEL_WELFORD_H_
#define RACEWAY_LIBS_MODEL_WELFORD_H_

// Running mean/variance (Welford) with the parallel merge (Chan et al.) and
// its inverse, shared by baselines at ingest (storage) and anomaly scoring
// (graph). Value type; not synchronized.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace raceway::model {

struct WelfordStats {
  uint64_t count = 0;
  double mean = 0;
  double m2 = 0;  // Sum of squared deviations from the mean.
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();

  void Add(double x) {
    ++count;
    const double delta = x - mean;
    mean += delta / static_cast<double>(count);
    m2 += delta * (x - mean);
    min = std::min(min, x);
    max = std::max(max, x);
  }

  // Parallel merge: the statistics of the union of both sample sets.
  void Merge(const WelfordStats& o) {
    if (o.count == 0) return;
    if (count == 0) {
      *this = o;
      return;
    }
    const double n_a = static_cast<double>(count), n_b = static_cast<double>(o.count);
    const double n = n_a + n_b;
    const double delta = o.mean - mean;
    mean += delta * n_b / n;
    m2 += o.m2 + delta * delta * n_a * n_b / n;
    count += o.count;
    min = std::min(min, o.min);
    max = std::max(max, o.max);
  }

  // Inverse of Merge: removes a subset `o` previously merged in. min/max
  // cannot be un-merged and are kept. Removing everything yields empty.
  void Remove(const WelfordStats& o) {
    if (o.count == 0) return;
    if (o.count >= count) {
      count = 0;
      mean = 0;
      m2 = 0;
      return;
    }
    const double n = static_cast<double>(count), n_b = static_cast<double>(o.count);
    const double n_a = n - n_b;
    const double mean_a = (n * mean - n_b * o.mean) / n_a;
    const double delta = o.mean - mean_a;
    m2 = std::max(0.0, m2 - o.m2 - delta * delta * n_a * n_b / n);
    mean = mean_a;
    count -= o.count;
  }

  // Sample variance (n - 1); 0 with fewer than two samples.
  double Variance() const { return count > 1 ? m2 / static_cast<double>(count - 1) : 0.0; }
  double StdDev() const { return std::sqrt(Variance()); }
};

}  // namespace raceway::model

#endif  // RACEWAY_LIBS_MODEL_WELFORD_H_
