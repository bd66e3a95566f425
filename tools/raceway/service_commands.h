#ifndef RACEWAY_TOOLS_RACEWAY_SERVICE_COMMANDS_H_
#define RACEWAY_TOOLS_RACEWAY_SERVICE_COMMANDS_H_

// The `raceway` subcommands that talk to or run the services:
//   serve        ingest + query (+ gRPC-Web) in one process on one storage
//   demo         sends a small realistic distributed trace to an ingest
//   traces, trace, races, critical-path, audit, anomalies, services,
//   global-races, health   query commands (tables, or --json)
//   retention    deletes traces older than N hours (what the CronJob runs)
// Exit status: 0 success, 1 failure (server or storage error), 2 usage,
// 3 not found, 4 invalid argument, 5 server unreachable.
// Called from main only.

#include <string>
#include <vector>

namespace raceway::cli {

// Returns -1 when `command` is not one of these subcommands.
int RunServiceCommand(const std::string& command, const std::vector<std::string>& args);

// Usage lines for the subcommands above.
const char* ServiceCommandsUsage();

}  // namespace raceway::cli

#endif  // RACEWAY_TOOLS_RACEWAY_SERVICE_COMMANDS_H_
