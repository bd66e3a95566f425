#ifndef RACEWAY_TOOLS_RACEWAY_SERVICE_COMMANDS_H_
#define RACEWAY_TOOLS_RACEWAY_SERVICE_COMMANDS_H_

// The `raceway` subcommands that talk to or run the services:
//   serve        ingest + query (+ gRPC-Web) in one process on one storage
//   demo         sends a small realistic distributed trace to an ingest
//   query commands (QueryService over gRPC; a table, or --json = the proto
//   JSON of the response):
//     traces, trace, analyze, races, critical-path, audit, anomalies, deps,
//     hb (happens-before of two events), services, service (one service's
//     dependencies and recent traces), health, hotspots, performance,
//     edges, global-races
//     analyze, races and critical-path print the analysis diagnostics under
//     the table, one "note: ..." line each.
//   retention    deletes traces older than N hours (what the CronJob runs)
// Every subcommand's --help / -h prints its usage on stdout and exits 0
// without doing anything else; unknown options and wrong arguments are
// usage errors.
// Exit status: 0 success, 1 failure (server or storage error), 2 usage,
// 3 not found, 4 invalid argument, 5 server unreachable.
// Called from main only (single-threaded).

#include <string>
#include <vector>

namespace raceway::cli {

// Runs `command` with `args` (the arguments after it) and returns its exit
// status; -1 when `command` is not one of these subcommands.
int RunServiceCommand(const std::string& command, const std::vector<std::string>& args);

// Usage lines for all the subcommands above.
std::string ServiceCommandsUsage();

}  // namespace raceway::cli

#endif  // RACEWAY_TOOLS_RACEWAY_SERVICE_COMMANDS_H_
