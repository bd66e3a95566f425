#ifndef RACEWAY_SERVICES_INGEST_INGEST_METRICS_H_
#define RACEWAY_SERVICES_INGEST_INGEST_METRICS_H_

// Prometheus metrics of the ingest service. Thread-safe (prometheus-cpp
// metric objects are).

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

#include "services/ingest/group_committer.h"

namespace raceway::ingest {

class IngestMetrics : public CommitterObserver {
 public:
  explicit IngestMetrics(prometheus::Registry& registry);

  // Events seen in requests / their outcome.
  void Received(size_t n) { received_.Increment(static_cast<double>(n)); }
  void Accepted(size_t n) { accepted_.Increment(static_cast<double>(n)); }
  void Duplicate(size_t n) { duplicate_.Increment(static_cast<double>(n)); }
  void Rejected(size_t n) { rejected_.Increment(static_cast<double>(n)); }
  // A whole request refused: "backpressure", "unavailable", "too_large",
  // "unauthenticated", "storage_error", "rate_limited".
  void Refused(const std::string& reason);

  void OnCommit(size_t events, size_t requests, double seconds) override;
  void OnStorageError(const absl::Status& status) override;
  void OnBufferedBytes(uint64_t bytes) override;

 private:
  prometheus::Family<prometheus::Counter>& refused_family_;
  prometheus::Counter& received_;
  prometheus::Counter& accepted_;
  prometheus::Counter& duplicate_;
  prometheus::Counter& rejected_;
  prometheus::Counter& storage_errors_;
  prometheus::Histogram& batch_events_;
  prometheus::Histogram& batch_requests_;
  prometheus::Histogram& commit_seconds_;
  prometheus::Gauge& buffered_bytes_;
};

}  // namespace raceway::ingest

#endif  // RACEWAY_SERVICES_INGEST_INGEST_METRICS_H_
