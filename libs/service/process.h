#ifndef RACEWAY_LIBS_SERVICE_PROCESS_H_
#define RACEWAY_LIBS_SERVICE_PROCESS_H_

// Process plumbing shared by the service binaries. Call from main only.

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "libs/service/config.h"
#include "libs/storage/storage.h"

namespace raceway::service {

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts
// afterwards, so WaitForTerminationSignal can take them synchronously.
void BlockTerminationSignals();

// Waits for SIGTERM or SIGINT; returns the signal number.
int WaitForTerminationSignal();

// "--config FILE" / "--config=FILE" and "--section.key=value" flags on top of
// the RACEWAY_* environment. "--help" prints usage and exits 0.
absl::StatusOr<Config> LoadConfigFromArgs(const char* program, int argc, char** argv);

// Logs each of config.warnings at level warn, naming its key. Call after
// SetLogLevel(config.log_level).
void LogConfigWarnings(const Config& config);

// StorageOptions::on_health_change for a service: each change of the
// storage's own health logged once (error while the database is lost, e.g.
// its SQLite file deleted or replaced; info when it is back).
void LogStorageHealthChange(const absl::Status& status);

// How a service binary opens its database. kWriter (raceway-ingest): as
// configured (migrates with auto_migrate, creates a missing SQLite file
// with storage.create_if_missing). kReader (raceway-query):
// StorageOptions::read_only, never creates or migrates.
enum class StorageRole { kWriter, kReader };

// A server the main loop below can stop.
class StoppableServer {
 public:
  virtual ~StoppableServer() = default;
  virtual void Shutdown() = 0;
};

// The whole main() of a service binary: block signals, load the config from
// the arguments, open the storage, `start` the server on it, wait for
// SIGTERM/SIGINT, shut down. Exit status: 0 clean stop, 1 cannot start,
// 2 bad configuration.
int RunServiceMain(const char* program, StorageRole role, int argc, char** argv,
                   const std::function<absl::StatusOr<std::unique_ptr<StoppableServer>>(
                       const Config&, std::shared_ptr<storage::Storage>)>& start);

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_PROCESS_H_
