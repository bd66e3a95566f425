// raceway-query: the query service binary.
//   raceway-query [--config raceway.toml] [--section.key=value ...]
// SIGTERM/SIGINT: stop serving and exit 0.

#include "libs/service/process.h"
#include "services/query/query_server.h"

int main(int argc, char** argv) {
  return raceway::service::RunServiceMain(
      "raceway-query", argc, argv,
      [](const raceway::service::Config& config, std::shared_ptr<raceway::storage::Storage> storage)
          -> absl::StatusOr<std::unique_ptr<raceway::service::StoppableServer>> {
        return raceway::query::QueryServer::Start(config, std::move(storage));
      });
}
