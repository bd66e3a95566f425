#ifndef RACEWAY_SERVICES_QUERY_QUERY_SERVICE_H_
#define RACEWAY_SERVICES_QUERY_QUERY_SERVICE_H_

// raceway.v1.QueryService over the storage reader and libs/graph
// (ARCHITECTURE §4, §6). gRPC's synchronous API calls the handlers from its
// thread pool; the implementation is thread-safe (the trace cache and the
// reader are).

#include <memory>
#include <string>
#include <vector>

#include "libs/graph/client_clock.h"
#include "libs/service/config.h"
#include "libs/storage/storage.h"
#include "raceway/v1/query.grpc.pb.h"
#include "services/query/query_metrics.h"
#include "services/query/trace_cache.h"

namespace raceway::query {

class QueryServiceImpl final : public raceway::v1::QueryService::Service {
 public:
  // `client_clocks` is config.analysis.client_clocks, parsed by the caller
  // (QueryServer::Start refuses a bad value).
  QueryServiceImpl(std::shared_ptr<storage::EventReader> reader, const service::Config& config,
                   graph::ClientClockMode client_clocks, QueryMetrics& metrics);

  using Ctx = grpc::ServerContext;
  grpc::Status ListTraces(Ctx*, const raceway::v1::ListTracesRequest*,
                          raceway::v1::ListTracesResponse*) override;
  grpc::Status GetTrace(Ctx*, const raceway::v1::GetTraceRequest*,
                        raceway::v1::GetTraceResponse*) override;
  grpc::Status AnalyzeTrace(Ctx*, const raceway::v1::AnalyzeTraceRequest*,
                            raceway::v1::AnalyzeTraceResponse*) override;
  grpc::Status GetRaces(Ctx*, const raceway::v1::GetRacesRequest*,
                        raceway::v1::GetRacesResponse*) override;
  grpc::Status GetCriticalPath(Ctx*, const raceway::v1::GetCriticalPathRequest*,
                               raceway::v1::CriticalPath*) override;
  grpc::Status GetAuditTrail(Ctx*, const raceway::v1::GetAuditTrailRequest*,
                             raceway::v1::GetAuditTrailResponse*) override;
  grpc::Status GetAnomalies(Ctx*, const raceway::v1::GetAnomaliesRequest*,
                            raceway::v1::GetAnomaliesResponse*) override;
  grpc::Status GetDependencies(Ctx*, const raceway::v1::GetDependenciesRequest*,
                               raceway::v1::TraceDependencies*) override;
  grpc::Status HappensBefore(Ctx*, const raceway::v1::HappensBeforeRequest*,
                             raceway::v1::HappensBeforeResponse*) override;
  grpc::Status FindGlobalRaces(Ctx*, const raceway::v1::FindGlobalRacesRequest*,
                               raceway::v1::FindGlobalRacesResponse*) override;
  grpc::Status ListServices(Ctx*, const raceway::v1::ListServicesRequest*,
                            raceway::v1::ListServicesResponse*) override;
  grpc::Status GetServiceDependencies(Ctx*, const raceway::v1::GetServiceDependenciesRequest*,
                                      raceway::v1::GetServiceDependenciesResponse*) override;
  grpc::Status GetServiceHealth(Ctx*, const raceway::v1::GetServiceHealthRequest*,
                                raceway::v1::GetServiceHealthResponse*) override;
  grpc::Status GetHotspots(Ctx*, const raceway::v1::GetHotspotsRequest*,
                           raceway::v1::GetHotspotsResponse*) override;
  grpc::Status GetPerformanceMetrics(Ctx*, const raceway::v1::GetPerformanceMetricsRequest*,
                                     raceway::v1::GetPerformanceMetricsResponse*) override;
  grpc::Status ListDistributedEdges(Ctx*, const raceway::v1::ListDistributedEdgesRequest*,
                                    raceway::v1::ListDistributedEdgesResponse*) override;

 private:
  // Auth, then the analysed trace (INVALID_ARGUMENT / NOT_FOUND / storage).
  absl::StatusOr<std::shared_ptr<const AnalyzedTrace>> Analyzed(const std::string& field,
                                                                const std::string& trace_id);
  grpc::Status Fail(const absl::Status& status);
  // The cached anomalies, or rescored with `sigma` when it is set and differs.
  absl::Status FillAnomalies(const AnalyzedTrace& t, double sigma,
                             google::protobuf::RepeatedPtrField<raceway::v1::Anomaly>* out) const;
  uint32_t PageSize(uint32_t requested) const;
  grpc::Status GlobalAuditTrail(const raceway::v1::GetAuditTrailRequest& request,
                                raceway::v1::GetAuditTrailResponse* response);

  std::shared_ptr<storage::EventReader> reader_;
  const service::QueryConfig config_;
  const std::vector<std::string> api_keys_;
  QueryMetrics& metrics_;
  TraceCache cache_;
};

}  // namespace raceway::query

#endif  // RACEWAY_SERVICES_QUERY_QUERY_SERVICE_H_
