#ifndef RACEWAY_SERVICES_QUERY_QUERY_SERVER_H_
#define RACEWAY_SERVICES_QUERY_QUERY_SERVER_H_

// The query service (ARCHITECTURE §6): raceway.v1.QueryService over gRPC,
// the same service as gRPC-Web on its own HTTP port (forwarded through the
// in-process channel), health, reflection and /metrics. Start/Shutdown from
// one controlling thread. Shutdown is idempotent and run by the destructor.

#include <memory>

#include "absl/status/statusor.h"
#include "libs/service/config.h"
#include "libs/service/process.h"
#include "libs/storage/storage.h"

namespace raceway::query {

class QueryServer : public service::StoppableServer {
 public:
  // INVALID_ARGUMENT naming the key for a config value it cannot use
  // (analysis.client_clocks); other errors when a port cannot be bound.
  static absl::StatusOr<std::unique_ptr<QueryServer>> Start(
      const service::Config& config, std::shared_ptr<storage::EventReader> reader);

  virtual ~QueryServer() = default;
  virtual int grpc_port() const = 0;
  virtual int grpc_web_port() const = 0;  // 0 when off.
  virtual int metrics_port() const = 0;   // 0 when off.
  void Shutdown() override = 0;
};

}  // namespace raceway::query

#endif  // RACEWAY_SERVICES_QUERY_QUERY_SERVER_H_
