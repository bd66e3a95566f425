#ifndef RACEWAY_LIBS_SERVICE_LOG_H_
#define RACEWAY_LIBS_SERVICE_LOG_H_

// Structured logs: one JSON object per line on stderr
// {"ts":"…","level":"info","msg":"…","key":"value",…}. Thread-safe; lines
// from different threads never interleave.

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

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_LOG_H_
