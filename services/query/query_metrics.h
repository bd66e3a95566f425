#ifndef RACEWAY_SERVICES_QUERY_QUERY_METRICS_H_
#define RACEWAY_SERVICES_QUERY_QUERY_METRICS_H_

// Prometheus metrics of the query service: per-RPC latency and outcome,
// trace-cache hits/misses, storage errors. Thread-safe.

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <string>

#include "services/query/trace_cache.h"

namespace raceway::query {

class QueryMetrics : public CacheObserver {
 public:
  explicit QueryMetrics(prometheus::Registry& registry);

  void OnCacheHit() override { cache_hits_.Increment(); }
  void OnCacheMiss() override { cache_misses_.Increment(); }
  void StorageError() { storage_errors_.Increment(); }
  void Observe(const std::string& rpc, grpc::StatusCode code, double seconds);

 private:
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Counter>& cache_;
  prometheus::Counter& cache_hits_;
  prometheus::Counter& cache_misses_;
  prometheus::Counter& storage_errors_;
};

// Observes one RPC's latency and status when it goes out of scope.
class RpcScope {
 public:
  RpcScope(QueryMetrics& metrics, const char* rpc, const grpc::Status* status)
      : metrics_(metrics), rpc_(rpc), status_(status), start_(std::chrono::steady_clock::now()) {}
  ~RpcScope() {
    metrics_.Observe(
        rpc_, status_->error_code(),
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }

 private:
  QueryMetrics& metrics_;
  const char* rpc_;
  const grpc::Status* status_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace raceway::query

#endif  // RACEWAY_SERVICES_QUERY_QUERY_METRICS_H_
