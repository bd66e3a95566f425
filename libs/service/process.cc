#include "libs/service/process.h"

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

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

}  // namespace raceway::service
