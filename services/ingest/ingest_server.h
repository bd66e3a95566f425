#ifndef RACEWAY_SERVICES_INGEST_INGEST_SERVER_H_
#define RACEWAY_SERVICES_INGEST_INGEST_SERVER_H_

// The ingest service (ARCHITECTURE §5): raceway.v1.IngestService over gRPC
// plus the HTTP/JSON intake, group-committing into one EventWriter.
// Start/Shutdown from one controlling thread; the server's own threads do
// the rest. Shutdown is idempotent and also run by the destructor.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "libs/service/config.h"
#include "libs/service/process.h"
#include "libs/storage/storage.h"

namespace raceway::ingest {

class IngestServer : public service::StoppableServer {
 public:
  // Binds config.ingest.listen (port 0 = free port) and, when set,
  // config.ingest.http_listen and config.metrics.ingest_listen. Writes to
  // `storage`; reads it only for the HTTP port's /health and /status.
  static absl::StatusOr<std::unique_ptr<IngestServer>> Start(
      const service::Config& config, std::shared_ptr<storage::Storage> storage);

  virtual ~IngestServer() = default;
  virtual int grpc_port() const = 0;
  virtual int http_port() const = 0;     // 0 when off.
  virtual int metrics_port() const = 0;  // 0 when off.

  // Stops accepting, commits everything already accepted, answers waiting
  // clients, then stops the servers. Blocks until done.
  void Shutdown() override = 0;
};

}  // namespace raceway::ingest

#endif  // RACEWAY_SERVICES_INGEST_INGEST_SERVER_H_
