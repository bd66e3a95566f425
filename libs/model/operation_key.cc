#include "libs/model/operation_key.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "libs/model/timestamp.h"

namespace raceway::model {

using raceway::v1::AccessType;
using raceway::v1::Event;

std::string_view KindName(const Event& event) {
  switch (event.kind_case()) {
    case Event::kFunctionCall:
      return "FunctionCall";
    case Event::kAsyncSpawn:
      return "AsyncSpawn";
    case Event::kAsyncAwait:
      return "AsyncAwait";
    case Event::kStateChange:
      return "StateChange";
    case Event::kLockAcquire:
      return "LockAcquire";
    case Event::kLockRelease:
      return "LockRelease";
    case Event::kMemoryFence:
      return "MemoryFence";
    case Event::kHttpRequest:
      return "HttpRequest";
    case Event::kHttpResponse:
      return "HttpResponse";
    case Event::kDatabaseQuery:
      return "DatabaseQuery";
    case Event::kDatabaseResult:
      return "DatabaseResult";
    case Event::kError:
      return "Error";
    case Event::kCustom:
      return "Custom";
    case Event::KIND_NOT_SET:
      break;
  }
  return "Unknown";
}

std::string OperationKey(const Event& event) {
  auto keyed = [&](std::string_view arg) {
    return absl::StrCat(std::string(KindName(event)), "(", std::string(arg), ")");
  };
  switch (event.kind_case()) {
    case Event::kFunctionCall:
      return keyed(event.function_call().function_name());
    case Event::kStateChange:
      return keyed(event.state_change().variable());
    case Event::kLockAcquire:
      return keyed(event.lock_acquire().lock_type());
    case Event::kLockRelease:
      return keyed(event.lock_release().lock_type());
    case Event::kHttpRequest:
      return keyed(event.http_request().method());
    case Event::kHttpResponse:
      return keyed(absl::StrCat(event.http_response().status()));
    case Event::kError:
      return keyed(event.error().error_type());
    case Event::kCustom:
      return keyed(event.custom().name());
    case Event::kMemoryFence:
      return keyed(raceway::v1::MemoryOrdering_Name(event.memory_fence().ordering())
                       .substr(std::string_view("MEMORY_ORDERING_").size()));
    default:
      return std::string(KindName(event));
  }
}

std::optional<uint64_t> DurationNs(const Event& event) {
  if (event.metadata().has_duration_ns()) return event.metadata().duration_ns();
  constexpr uint64_t kMaxMs = std::numeric_limits<uint64_t>::max() / 1000000;
  auto from_ms = [&](uint64_t ms) -> uint64_t {
    return ms > kMaxMs ? std::numeric_limits<uint64_t>::max() : ms * 1000000;
  };
  if (event.has_http_response()) return from_ms(event.http_response().duration_ms());
  if (event.has_database_query()) return from_ms(event.database_query().duration_ms());
  return std::nullopt;
}

int64_t TimestampNanos(const Event& event) { return ToUnixNanosClamped(event.timestamp()); }

std::string Location(const Event& event) {
  switch (event.kind_case()) {
    case Event::kStateChange:
      return event.state_change().location();
    case Event::kLockAcquire:
      return event.lock_acquire().location();
    case Event::kLockRelease:
      return event.lock_release().location();
    case Event::kMemoryFence:
      return event.memory_fence().location();
    case Event::kAsyncAwait:
      return event.async_await().awaited_at();
    case Event::kFunctionCall: {
      const auto& f = event.function_call();
      if (f.file().empty()) return f.module();
      return f.line() ? absl::StrCat(f.file(), ":", f.line()) : f.file();
    }
    case Event::kHttpRequest:
      return event.http_request().url();
    default:
      return "";
  }
}

bool IsWrite(AccessType t) {
  return t == raceway::v1::ACCESS_TYPE_WRITE || t == raceway::v1::ACCESS_TYPE_ATOMIC_WRITE ||
         t == raceway::v1::ACCESS_TYPE_ATOMIC_RMW;
}

bool IsAtomic(AccessType t) {
  return t == raceway::v1::ACCESS_TYPE_ATOMIC_READ || t == raceway::v1::ACCESS_TYPE_ATOMIC_WRITE ||
         t == raceway::v1::ACCESS_TYPE_ATOMIC_RMW;
}

std::string_view AccessTypeName(AccessType t) {
  switch (t) {
    case raceway::v1::ACCESS_TYPE_READ:
      return "READ";
    case raceway::v1::ACCESS_TYPE_WRITE:
      return "WRITE";
    case raceway::v1::ACCESS_TYPE_ATOMIC_READ:
      return "ATOMIC_READ";
    case raceway::v1::ACCESS_TYPE_ATOMIC_WRITE:
      return "ATOMIC_WRITE";
    case raceway::v1::ACCESS_TYPE_ATOMIC_RMW:
      return "ATOMIC_RMW";
    default:
      return "UNSPECIFIED";
  }
}

}  // namespace raceway::model
