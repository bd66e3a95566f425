#include "libs/service/process.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "libs/service/log.h"
#include "libs/storage/factory.h"

namespace raceway::service {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void BlockTerminationSignals() {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal() {
  sigset_t set = TerminationSignals();
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

absl::StatusOr<Config> LoadConfigFromArgs(const char* program, int argc, char** argv) {
  std::string config_path;
  std::vector<std::string> flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(9);
    } else if (arg == "--help" || arg == "-h") {
      std::cout << "usage: " << program
                << " [--config raceway.toml] [--section.key=value ...]\n"
                   "Settings: raceway.toml, then RACEWAY_<SECTION>_<KEY> environment "
                   "variables, then flags.\n";
      std::exit(0);
    } else {
      flags.push_back(arg);
    }
  }
  return LoadConfig(config_path, RacewayEnvironment(), flags);
}

void LogConfigWarnings(const Config& config) {
  for (const ConfigWarning& w : config.warnings) {
    Log(LogLevel::kWarn, "config setting ignored", {{"key", w.key}, {"reason", w.message}});
  }
}

void LogStorageHealthChange(const absl::Status& status) {
  if (status.ok()) {
    Log(LogLevel::kInfo, "storage database is back");
  } else {
    Log(LogLevel::kError, "storage database lost", {{"error", std::string(status.message())}});
  }
}

int RunServiceMain(const char* program, StorageRole role, int argc, char** argv,
                   const std::function<absl::StatusOr<std::unique_ptr<StoppableServer>>(
                       const Config&, std::shared_ptr<storage::Storage>)>& start) {
  BlockTerminationSignals();
  auto config = LoadConfigFromArgs(program, argc, argv);
  if (!config.ok()) {
    std::cerr << program << ": " << config.status().message() << "\n";
    return 2;
  }
  SetLogLevel(config->log_level);
  LogConfigWarnings(*config);
  // The effective mode, so a key that did not take effect is visible.
  Log(LogLevel::kInfo, AuthModeText(config->auth.ingest_keys), {{"api", "ingest"}});
  Log(LogLevel::kInfo, AuthModeText(config->auth.query_keys), {{"api", "query"}});
  storage::StorageOptions options = config->storage;
  options.read_only = role == StorageRole::kReader;
  options.on_health_change = &LogStorageHealthChange;
  auto storage = storage::OpenStorage(options);
  if (!storage.ok()) {
    Log(LogLevel::kError, "cannot open storage",
        {{"backend", config->storage.backend}, {"error", std::string(storage.status().message())}});
    return 1;
  }
  auto server = start(*config, std::move(*storage));
  if (!server.ok()) {
    Log(LogLevel::kError, "cannot start", {{"error", std::string(server.status().message())}});
    return 1;
  }
  const int sig = WaitForTerminationSignal();
  Log(LogLevel::kInfo, "signal received, stopping", {{"signal", strsignal(sig)}});
  (*server)->Shutdown();
  return 0;
}

}  // namespace raceway::service
