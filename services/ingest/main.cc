// raceway-ingest: the ingest service binary.
//   raceway-ingest [--config raceway.toml] [--section.key=value ...]
// A missing SQLite file stops the start unless storage.create_if_missing =
// true. SIGTERM/SIGINT: stop accepting, commit what was accepted, exit 0.

#include "libs/service/process.h"
#include "services/ingest/ingest_server.h"

int main(int argc, char** argv) {
  return raceway::service::RunServiceMain(
      "raceway-ingest", raceway::service::StorageRole::kWriter, argc, argv,
      [](const raceway::service::Config& config, std::shared_ptr<raceway::storage::Storage> storage)
          -> absl::StatusOr<std::unique_ptr<raceway::service::StoppableServer>> {
        return raceway::ingest::IngestServer::Start(config, std::move(storage));
      });
}
