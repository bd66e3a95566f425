#include "libs/service/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace raceway::service {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

}  // namespace

void SetLogLevel(std::string_view level) {
  if (level == "debug") g_level = static_cast<int>(LogLevel::kDebug);
  if (level == "info") g_level = static_cast<int>(LogLevel::kInfo);
  if (level == "warn") g_level = static_cast<int>(LogLevel::kWarn);
  if (level == "error") g_level = static_cast<int>(LogLevel::kError);
}

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
  std::string line = "{\"ts\":";
  AppendJsonString(line,
                   absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()));
  line += ",\"level\":\"";
  line += kNames[static_cast<int>(level)];
  line += "\",\"msg\":";
  AppendJsonString(line, msg);
  for (const auto& [k, v] : fields) {
    line.push_back(',');
    AppendJsonString(line, k);
    line.push_back(':');
    AppendJsonString(line, v);
  }
  line += "}\n";
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

bool LogThrottle::Admit(uint64_t* suppressed) {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t next = next_ns_.load(std::memory_order_relaxed);
  const int64_t interval = std::chrono::nanoseconds(interval_).count();
  if (now < next || !next_ns_.compare_exchange_strong(next, now + interval)) {
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  *suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
  return true;
}

}  // namespace raceway::service
