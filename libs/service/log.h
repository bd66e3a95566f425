#ifndef RACEWAY_LIBS_SERVICE_LOG_H_
#define RACEWAY_LIBS_SERVICE_LOG_H_

// Structured logs: one JSON object per line on stderr
// {"ts":"…","level":"info","msg":"…","key":"value",…}. Thread-safe; lines
// from different threads never interleave.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace raceway::service {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug" | "info" | "warn" | "error"; anything else keeps the level.
void SetLogLevel(std::string_view level);

using LogField = std::pair<std::string_view, std::string>;

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

// Lets one line through per interval and counts the ones it holds back, for
// errors that repeat per request (a storage outage fails every commit).
// Thread-safe.
class LogThrottle {
 public:
  explicit LogThrottle(std::chrono::milliseconds interval) : interval_(interval) {}
  // True when a line may be written now; then *suppressed is the number of
  // lines held back since the last one written.
  bool Admit(uint64_t* suppressed);

 private:
  const std::chrono::milliseconds interval_;
  std::atomic<int64_t> next_ns_{0};  // steady_clock time of the next line.
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_LOG_H_
