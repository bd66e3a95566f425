// raceway-ingest: the ingest service binary.
//   raceway-ingest [--config raceway.toml] [--section.key=value ...]

#include <csignal>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "libs/service/config.h"
#include "libs/service/log.h"
#include "libs/storage/factory.h"
#include "services/ingest/ingest_server.h"

namespace {

int WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the signals in every thread; main waits for them synchronously.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  std::string config_path;
  std::vector<std::string> flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(9);
    } else if (arg == "--help" || arg == "-h") {
      std::cout << "usage: raceway-ingest [--config FILE] [--section.key=value ...]\n";
      return 0;
    } else {
      flags.push_back(arg);
    }
  }
  auto config = raceway::service::LoadConfig(config_path, raceway::service::RacewayEnvironment(), flags);
  if (!config.ok()) {
    std::cerr << "raceway-ingest: " << config.status().message() << "\n";
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
  auto server = raceway::ingest::IngestServer::Start(*config, shared);
  if (!server.ok()) {
    raceway::service::Log(raceway::service::LogLevel::kError, "cannot start",
                          {{"error", std::string(server.status().message())}});
    return 1;
  }
  const int sig = WaitForSignal();
  raceway::service::Log(raceway::service::LogLevel::kInfo, "signal received, draining",
                        {{"signal", strsignal(sig)}});
  (*server)->Shutdown();
  return 0;
}
