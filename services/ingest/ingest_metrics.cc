#include "services/ingest/ingest_metrics.h"

#include "libs/service/metrics.h"

namespace raceway::ingest {
namespace {

prometheus::Counter& EventCounter(prometheus::Registry& r, const std::string& outcome) {
  return prometheus::BuildCounter()
      .Name("raceway_ingest_events_total")
      .Help("Events by outcome: received, accepted, duplicate, rejected")
      .Register(r)
      .Add({{"outcome", outcome}});
}

}  // namespace

IngestMetrics::IngestMetrics(prometheus::Registry& r)
    : refused_family_(prometheus::BuildCounter()
                          .Name("raceway_ingest_refused_requests_total")
                          .Help("Requests refused as a whole, by reason")
                          .Register(r)),
      received_(EventCounter(r, "received")),
      accepted_(EventCounter(r, "accepted")),
      duplicate_(EventCounter(r, "duplicate")),
      rejected_(EventCounter(r, "rejected")),
      storage_errors_(prometheus::BuildCounter()
                          .Name("raceway_ingest_storage_errors_total")
                          .Help("Failed commit attempts")
                          .Register(r)
                          .Add({})),
      batch_events_(
          prometheus::BuildHistogram()
              .Name("raceway_ingest_commit_events")
              .Help("Events per group commit")
              .Register(r)
              .Add({}, prometheus::Histogram::BucketBoundaries{1, 10, 50, 100, 250, 500, 1000, 2500,
                                                               5000, 10000, 50000})),
      batch_requests_(
          prometheus::BuildHistogram()
              .Name("raceway_ingest_commit_requests")
              .Help("Client requests merged per group commit")
              .Register(r)
              .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128})),
      commit_seconds_(prometheus::BuildHistogram()
                          .Name("raceway_ingest_commit_seconds")
                          .Help("Latency of one group-commit transaction")
                          .Register(r)
                          .Add({}, service::LatencyBuckets())),
      buffered_bytes_(prometheus::BuildGauge()
                          .Name("raceway_ingest_buffered_bytes")
                          .Help("Bytes of accepted, not yet committed requests")
                          .Register(r)
                          .Add({})) {}

void IngestMetrics::Refused(const std::string& reason) {
  refused_family_.Add({{"reason", reason}}).Increment();
}

void IngestMetrics::OnCommit(size_t events, size_t requests, double seconds) {
  batch_events_.Observe(static_cast<double>(events));
  batch_requests_.Observe(static_cast<double>(requests));
  commit_seconds_.Observe(seconds);
}

void IngestMetrics::OnStorageError(const absl::Status&) { storage_errors_.Increment(); }

void IngestMetrics::OnBufferedBytes(uint64_t bytes) {
  buffered_bytes_.Set(static_cast<double>(bytes));
}

}  // namespace raceway::ingest
