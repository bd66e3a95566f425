// raceway-query: the query service binary.
//   raceway-query [--config raceway.toml] [--section.key=value ...]

#include <csignal>
#include <cstring>
#include <iostream>

#include "libs/service/config.h"
#include "libs/service/log.h"
#include "libs/service/process.h"
#include "libs/storage/factory.h"
#include "services/query/query_server.h"

int main(int argc, char** argv) {
  raceway::service::BlockTerminationSignals();
  auto config = raceway::service::LoadConfigFromArgs("raceway-query", argc, argv);
  if (!config.ok()) {
    std::cerr << "raceway-query: " << config.status().message() << "\n";
    return 2;
  }
  raceway::service::SetLogLevel(config->log_level);
  auto storage = raceway::storage::OpenStorage(config->storage);
  if (!storage.ok()) {
    raceway::service::Log(raceway::service::LogLevel::kError, "cannot open storage",
                          {{"backend", config->storage.backend},
                           {"error", std::string(storage.status().message())}});
    return 1;
  }
  std::shared_ptr<raceway::storage::Storage> shared = std::move(*storage);
  auto server = raceway::query::QueryServer::Start(*config, shared);
  if (!server.ok()) {
    raceway::service::Log(raceway::service::LogLevel::kError, "cannot start",
                          {{"error", std::string(server.status().message())}});
    return 1;
  }
  const int sig = raceway::service::WaitForTerminationSignal();
  raceway::service::Log(raceway::service::LogLevel::kInfo, "signal received, stopping",
                        {{"signal", strsignal(sig)}});
  (*server)->Shutdown();
  return 0;
}
