#include "services/query/query_metrics.h"

#include "absl/strings/str_cat.h"
#include "libs/service/metrics.h"

namespace raceway::query {

QueryMetrics::QueryMetrics(prometheus::Registry& r)
    : latency_(prometheus::BuildHistogram()
                   .Name("raceway_query_rpc_seconds")
                   .Help("Query RPC latency by method")
                   .Register(r)),
      calls_(prometheus::BuildCounter()
                 .Name("raceway_query_rpc_total")
                 .Help("Query RPCs by method and gRPC status code")
                 .Register(r)),
      cache_(prometheus::BuildCounter()
                 .Name("raceway_query_cache_total")
                 .Help("Trace analysis cache lookups")
                 .Register(r)),
      cache_hits_(cache_.Add({{"result", "hit"}})),
      cache_misses_(cache_.Add({{"result", "miss"}})),
      storage_errors_(prometheus::BuildCounter()
                          .Name("raceway_query_storage_errors_total")
                          .Help("Storage reads that failed")
                          .Register(r)
                          .Add({})) {}

void QueryMetrics::Observe(const std::string& rpc, grpc::StatusCode code, double seconds) {
  latency_.Add({{"method", rpc}}, service::LatencyBuckets()).Observe(seconds);
  calls_.Add({{"method", rpc}, {"code", absl::StrCat(static_cast<int>(code))}}).Increment();
}

}  // namespace raceway::query
