// raceway-query: the query service binary.
//   raceway-query [--config raceway.toml] [--section.key=value ...]
// Opens the database read-only: never creates it, never migrates it (a
// missing database or a schema with pending migrations stops the start).
// SIGTERM/SIGINT: stop serving and exit 0.

#include "libs/service/process.h"
#include "services/query/query_server.h"

int main(int argc, char** argv) {
  return raceway::service::RunServiceMain(
      "raceway-query", raceway::service::StorageRole::kReader, argc, argv,
      [](const raceway::service::Config& config, std::shared_ptr<raceway::storage::Storage> storage)
          -> absl::StatusOr<std::unique_ptr<raceway::service::StoppableServer>> {
        return raceway::query::QueryServer::Start(config, std::move(storage));
      });
}
