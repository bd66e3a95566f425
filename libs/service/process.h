#ifndef RACEWAY_LIBS_SERVICE_PROCESS_H_
#define RACEWAY_LIBS_SERVICE_PROCESS_H_

// Process plumbing shared by the service binaries. Call from main only.

#include "absl/status/statusor.h"
#include "libs/service/config.h"

namespace raceway::service {

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts
// afterwards, so WaitForTerminationSignal can take them synchronously.
void BlockTerminationSignals();

// Waits for SIGTERM or SIGINT; returns the signal number.
int WaitForTerminationSignal();

// "--config FILE" / "--config=FILE" and "--section.key=value" flags on top of
// the RACEWAY_* environment. "--help" prints usage and exits 0.
absl::StatusOr<Config> LoadConfigFromArgs(const char* program, int argc, char** argv);

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_PROCESS_H_
