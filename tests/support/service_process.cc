#include "tests/support/service_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace raceway::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& s, size_t n = 4000) {
  return s.size() <= n ? s : s.substr(s.size() - n);
}

// The fields "<x>_port":"<n>" of the first log line whose msg is `msg`.
bool FindStartedLine(const std::string& log, const std::string& msg,
                     std::map<std::string, int>* fields) {
  const std::string needle = absl::StrCat("\"msg\":\"", msg, "\"");
  std::istringstream lines(log);
  std::string line;
  static const std::regex kPort("\"([a-z_]+_port)\":\"?([0-9]+)\"?");
  while (std::getline(lines, line)) {
    if (line.find(needle) == std::string::npos) continue;
    for (std::sregex_iterator it(line.begin(), line.end(), kPort), end; it != end; ++it) {
      int port = 0;
      if (absl::SimpleAtoi((*it)[2].str(), &port)) (*fields)[(*it)[1].str()] = port;
    }
    return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceProcess>> ServiceProcess::Start(
    const std::string& binary, const std::vector<std::string>& args,
    const std::string& started_message, absl::Duration timeout) {
  static int counter = 0;
  const std::string log_path = (std::filesystem::temp_directory_path() /
                                absl::StrCat("raceway_child_", getpid(), "_", ++counter, ".log"))
                                   .string();

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  // The child starts with an empty signal mask whatever the test thread has.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);

  std::vector<std::string> argv_strings = {binary};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = 0;
  const int rc = posix_spawn(&pid, binary.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("posix_spawn ", binary, ": ", strerror(rc)));
  }
  std::unique_ptr<ServiceProcess> process(new ServiceProcess(pid, log_path));

  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const std::string log = ReadFile(log_path);
    if (FindStartedLine(log, started_message, &process->fields_)) return process;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      process->pid_ = 0;
      return absl::InternalError(absl::StrCat(binary, " exited (status ", status, ") before \"",
                                              started_message, "\"; log:\n", Tail(log)));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(binary, " did not log \"", started_message, "\"; log:\n", Tail(log)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

ServiceProcess::~ServiceProcess() {
  if (pid_ != 0) Stop(SIGKILL);
  std::error_code ignored;
  std::filesystem::remove(log_path_, ignored);
}

int ServiceProcess::Port(const std::string& field) const {
  auto it = fields_.find(field);
  return it == fields_.end() ? 0 : it->second;
}

std::string ServiceProcess::Address(const std::string& field) const {
  return absl::StrCat("127.0.0.1:", Port(field));
}

int ServiceProcess::Stop(int sig) {
  if (pid_ == 0) return -1;
  kill(pid_, sig);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = 0;
  return status;
}

std::string ServiceProcess::Log() const { return ReadFile(log_path_); }

}  // namespace raceway::testing
