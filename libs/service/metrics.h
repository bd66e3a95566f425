#ifndef RACEWAY_LIBS_SERVICE_METRICS_H_
#define RACEWAY_LIBS_SERVICE_METRICS_H_

// Prometheus /metrics endpoint. The registry and the metric objects it hands
// out are thread-safe (prometheus-cpp's contract); Start once.

#include <prometheus/exposer.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace raceway::service {

class MetricsEndpoint {
 public:
  MetricsEndpoint() : registry_(std::make_shared<prometheus::Registry>()) {}
  prometheus::Registry& registry() { return *registry_; }

  // Serves GET /metrics on `listen` ("host:port", port 0 = free port).
  // Empty `listen` = off (metrics are still collected).
  absl::Status Start(const std::string& listen);
  int port() const { return port_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

// Latency buckets in seconds, 0.5 ms .. 10 s.
prometheus::Histogram::BucketBoundaries LatencyBuckets();

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_METRICS_H_
