#ifndef RACEWAY_TESTS_SUPPORT_SERVICE_PROCESS_H_
#define RACEWAY_TESTS_SUPPORT_SERVICE_PROCESS_H_

// A Raceway service binary (raceway-ingest, raceway-query) run as a child
// process, for tests that need real process boundaries: kill -9, two
// processes on one database. The child's stderr (the JSON log) goes to a
// file; Start returns once the "<name> started" line has been logged and
// reads the ports from it, so the child can listen on port 0.
//
// Not thread-safe: one test thread owns a ServiceProcess.

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace raceway::testing {

class ServiceProcess {
 public:
  // Runs `binary args...`; waits up to `timeout` for a log line whose
  // "msg" is `started_message` (e.g. "ingest started"). Fails with the
  // log's tail if the child exits or the timeout passes.
  static absl::StatusOr<std::unique_ptr<ServiceProcess>> Start(
      const std::string& binary, const std::vector<std::string>& args,
      const std::string& started_message, absl::Duration timeout = absl::Seconds(30));

  // Kills (SIGKILL) and reaps the child if it still runs.
  ~ServiceProcess();

  // A numeric field of the started line, e.g. Port("grpc_port"); 0 if absent.
  int Port(const std::string& field) const;
  std::string Address(const std::string& field) const;  // "127.0.0.1:<port>"

  // Sends `sig` and waits for the child to end; returns its wait status.
  int Stop(int sig);
  // Everything the child has logged so far.
  std::string Log() const;

  pid_t pid() const { return pid_; }

 private:
  ServiceProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}

  pid_t pid_;
  std::string log_path_;
  std::map<std::string, int> fields_;
};

}  // namespace raceway::testing

#endif  // RACEWAY_TESTS_SUPPORT_SERVICE_PROCESS_H_
