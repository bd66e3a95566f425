#include "libs/model/validation.h"

#include <cmath>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "libs/model/timestamp.h"
#include "libs/model/uuid.h"

namespace raceway::model {
namespace {

using google::protobuf::Value;
using raceway::v1::Event;

// Returns the byte offset of the first invalid UTF-8 sequence, or npos.
size_t InvalidUtf8At(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong encodings, surrogates and out-of-range code points.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

}  // namespace

std::string EchoSafe(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes && s.find('\0') == std::string_view::npos &&
      InvalidUtf8At(s) == std::string_view::npos) {
    return std::string(s);
  }
  std::string out;
  for (char ch : s.substr(0, max_bytes)) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(c >= 0x20 && c < 0x7f ? ch : '?');
  }
  if (s.size() > max_bytes) out += "...";
  return out;
}

namespace {

class Checker {
 public:
  explicit Checker(const ValidationLimits& limits) : limits_(limits) {}

  const std::optional<FieldError>& error() const { return error_; }
  bool failed() const { return error_.has_value(); }

  void Fail(std::string field, std::string reason) {
    if (!error_) error_ = FieldError{std::move(field), std::move(reason)};
  }

  // Text of any kind: size bound, UTF-8, no NUL (SQL text columns and JSONB
  // cannot hold NUL, and we never store an event some backend cannot).
  void Text(std::string_view field, std::string_view s, size_t max) {
    if (failed()) return;
    if (s.size() > max) {
      Fail(std::string(field), absl::StrCat("is ", s.size(), " bytes; the limit is ", max));
      return;
    }
    if (s.find('\0') != std::string_view::npos) {
      Fail(std::string(field), "contains a NUL byte");
      return;
    }
    if (const size_t at = InvalidUtf8At(s); at != std::string_view::npos) {
      Fail(std::string(field), absl::StrCat("is not valid UTF-8 (byte ", at, ")"));
    }
  }
  void Identifier(std::string_view field, std::string_view s) {
    Text(field, s, limits_.max_identifier_bytes);
  }
  void FreeText(std::string_view field, std::string_view s) {
    Text(field, s, limits_.max_text_bytes);
  }
  void Required(std::string_view field, std::string_view s) {
    if (!failed() && s.empty()) Fail(std::string(field), "is required and must not be empty");
    Identifier(field, s);
  }
  void Uuid(std::string_view field, std::string_view s, bool required) {
    if (failed()) return;
    if (s.empty()) {
      if (required) Fail(std::string(field), "is required (a UUID)");
      return;
    }
    if (!IsCanonicalUuid(s)) {
      Fail(std::string(field),
           "must be a canonical lower-case UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
    }
  }
  void Count(std::string_view field, size_t n) {
    if (!failed() && n > limits_.max_list_entries) {
      Fail(std::string(field),
           absl::StrCat("has ", n, " entries; the limit is ", limits_.max_list_entries));
    }
  }
  void StringMap(std::string_view field, const google::protobuf::Map<std::string, std::string>& m) {
    Count(field, m.size());
    for (const auto& [k, v] : m) {
      if (failed()) return;
      const std::string path = absl::StrCat(std::string(field), "[\"", EchoSafe(k, 64), "\"]");
      Identifier(path, k);
      FreeText(path, v);
    }
  }
  // JSON value: size, depth, finite numbers, valid strings.
  void Json(std::string_view field, const Value& v) {
    if (failed()) return;
    const size_t bytes = v.ByteSizeLong();
    if (bytes > limits_.max_json_bytes) {
      Fail(std::string(field),
           absl::StrCat("JSON value is ", bytes, " bytes; the limit is ", limits_.max_json_bytes));
      return;
    }
    JsonNode(field, v, 1);
  }

 private:
  void JsonNode(std::string_view field, const Value& v, int depth) {
    if (failed()) return;
    if (depth > limits_.max_json_depth) {
      Fail(std::string(field), absl::StrCat("JSON nesting deeper than ", limits_.max_json_depth));
      return;
    }
    switch (v.kind_case()) {
      case Value::kNumberValue:
        if (!std::isfinite(v.number_value())) {
          Fail(std::string(field), "JSON number is not finite (NaN or infinity)");
        }
        break;
      case Value::kStringValue:
        Text(field, v.string_value(), limits_.max_json_bytes);
        break;
      case Value::kStructValue:
        for (const auto& [k, child] : v.struct_value().fields()) {
          Text(field, k, limits_.max_json_bytes);
          JsonNode(field, child, depth + 1);
          if (failed()) return;
        }
        break;
      case Value::kListValue:
        for (const auto& child : v.list_value().values()) {
          JsonNode(field, child, depth + 1);
          if (failed()) return;
        }
        break;
      default:  // null, bool, or unset (treated as absent).
        break;
    }
  }

  const ValidationLimits& limits_;
  std::optional<FieldError> error_;
};

void CheckKind(const Event& e, Checker& c) {
  switch (e.kind_case()) {
    case Event::kFunctionCall: {
      const auto& k = e.function_call();
      c.Identifier("function_call.function_name", k.function_name());
      c.Identifier("function_call.module", k.module());
      c.FreeText("function_call.file", k.file());
      if (k.has_args()) c.Json("function_call.args", k.args());
      break;
    }
    case Event::kAsyncSpawn:
      c.Uuid("async_spawn.task_id", e.async_spawn().task_id(), /*required=*/true);
      c.FreeText("async_spawn.spawned_by", e.async_spawn().spawned_by());
      break;
    case Event::kAsyncAwait:
      c.Uuid("async_await.future_id", e.async_await().future_id(), /*required=*/true);
      c.FreeText("async_await.awaited_at", e.async_await().awaited_at());
      break;
    case Event::kStateChange: {
      const auto& k = e.state_change();
      c.Required("state_change.variable", k.variable());
      if (!c.failed() && (k.access_type() == raceway::v1::ACCESS_TYPE_UNSPECIFIED ||
                          !raceway::v1::AccessType_IsValid(k.access_type()))) {
        c.Fail("state_change.access_type",
               "must be READ, WRITE, ATOMIC_READ, ATOMIC_WRITE or ATOMIC_RMW");
      }
      if (k.has_old_value()) c.Json("state_change.old_value", k.old_value());
      if (k.has_new_value()) c.Json("state_change.new_value", k.new_value());
      c.FreeText("state_change.location", k.location());
      break;
    }
    case Event::kLockAcquire:
      c.Required("lock_acquire.lock_id", e.lock_acquire().lock_id());
      c.Identifier("lock_acquire.lock_type", e.lock_acquire().lock_type());
      c.FreeText("lock_acquire.location", e.lock_acquire().location());
      break;
    case Event::kLockRelease:
      c.Required("lock_release.lock_id", e.lock_release().lock_id());
      c.Identifier("lock_release.lock_type", e.lock_release().lock_type());
      c.FreeText("lock_release.location", e.lock_release().location());
      break;
    case Event::kMemoryFence:
      if (e.memory_fence().ordering() == raceway::v1::MEMORY_ORDERING_UNSPECIFIED ||
          !raceway::v1::MemoryOrdering_IsValid(e.memory_fence().ordering())) {
        c.Fail("memory_fence.ordering", "must be RELAXED, ACQUIRE, RELEASE, ACQ_REL or SEQ_CST");
      }
      c.FreeText("memory_fence.location", e.memory_fence().location());
      break;
    case Event::kHttpRequest: {
      const auto& k = e.http_request();
      c.Identifier("http_request.method", k.method());
      c.FreeText("http_request.url", k.url());
      c.StringMap("http_request.headers", k.headers());
      if (k.has_body()) c.Json("http_request.body", k.body());
      break;
    }
    case Event::kHttpResponse: {
      const auto& k = e.http_response();
      if (k.status() > 999) c.Fail("http_response.status", "must be an HTTP status (0-999)");
      c.StringMap("http_response.headers", k.headers());
      if (k.has_body()) c.Json("http_response.body", k.body());
      break;
    }
    case Event::kDatabaseQuery:
      c.FreeText("database_query.query", e.database_query().query());
      c.Identifier("database_query.database", e.database_query().database());
      break;
    case Event::kDatabaseResult:
      break;
    case Event::kError: {
      const auto& k = e.error();
      c.Identifier("error.error_type", k.error_type());
      c.FreeText("error.message", k.message());
      c.Count("error.stack_trace", k.stack_trace_size());
      for (int i = 0; i < k.stack_trace_size() && !c.failed(); ++i) {
        c.FreeText(absl::StrCat("error.stack_trace[", i, "]"), k.stack_trace(i));
      }
      break;
    }
    case Event::kCustom:
      c.Identifier("custom.name", e.custom().name());
      if (e.custom().has_data()) c.Json("custom.data", e.custom().data());
      break;
    case Event::KIND_NOT_SET:
      c.Fail("kind", "exactly one event kind is required (function_call, state_change, ...)");
      break;
  }
}

}  // namespace

std::optional<FieldError> ValidateEvent(const Event& e, const ValidationLimits& limits) {
  Checker c(limits);
  c.Uuid("id", e.id(), /*required=*/true);
  c.Uuid("trace_id", e.trace_id(), /*required=*/true);
  c.Uuid("parent_id", e.parent_id(), /*required=*/false);
  if (!c.failed() && !e.parent_id().empty() && e.parent_id() == e.id()) {
    c.Fail("parent_id", "must differ from id");
  }
  if (!c.failed()) {
    if (!e.has_timestamp()) {
      c.Fail("timestamp", "is required");
    } else {
      // Storage orders and measures events in int64 nanoseconds: an instant
      // it cannot hold would be saturated and silently misordered.
      const auto& ts = e.timestamp();
      if (ts.nanos() < 0 || ts.nanos() > 999999999) {
        c.Fail("timestamp", absl::StrCat("nanos ", ts.nanos(), " is out of range (0-999999999)"));
      } else if (!ToUnixNanos(ts)) {
        c.Fail("timestamp", absl::StrCat("seconds ", ts.seconds(), " is out of range (supported: ",
                                         kTimestampRangeText, ")"));
      }
    }
  }
  if (!c.failed() && !e.has_metadata()) c.Fail("metadata", "is required");
  const auto& m = e.metadata();
  c.Required("metadata.thread_id", m.thread_id());
  c.Required("metadata.service_name", m.service_name());
  c.Identifier("metadata.environment", m.environment());
  c.Identifier("metadata.instance_id", m.instance_id());
  c.Identifier("metadata.distributed_span_id", m.distributed_span_id());
  c.Identifier("metadata.upstream_span_id", m.upstream_span_id());
  c.StringMap("metadata.tags", m.tags());
  c.Count("causality_vector", e.causality_vector_size());
  for (int i = 0; i < e.causality_vector_size() && !c.failed(); ++i) {
    c.Required(absl::StrCat("causality_vector[", i, "].component"),
               e.causality_vector(i).component());
  }
  c.Count("lock_set", e.lock_set_size());
  for (int i = 0; i < e.lock_set_size() && !c.failed(); ++i) {
    c.Required(absl::StrCat("lock_set[", i, "]"), e.lock_set(i));
  }
  if (!c.failed()) CheckKind(e, c);
  if (!c.failed()) {
    const size_t bytes = e.ByteSizeLong();
    if (bytes > limits.max_event_bytes) {
      c.Fail("", absl::StrCat("event is ", bytes, " bytes; the limit is ", limits.max_event_bytes));
    }
  }
  return c.error();
}

absl::StatusOr<BatchValidation> ValidateBatch(
    const google::protobuf::RepeatedPtrField<Event>& events, const ValidationLimits& limits) {
  if (static_cast<size_t>(events.size()) > limits.max_batch_events) {
    return absl::InvalidArgumentError(absl::StrCat("events: batch has ", events.size(),
                                                   " events; the limit is ",
                                                   limits.max_batch_events, " (max_batch_events)"));
  }
  size_t total = 0;
  for (const auto& e : events) total += e.ByteSizeLong();
  if (total > limits.max_batch_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("events: batch is ", total,
                                                   " bytes; the limit is ", limits.max_batch_bytes,
                                                   " (max_batch_bytes)"));
  }
  BatchValidation out;
  out.valid_indices.reserve(events.size());
  absl::flat_hash_map<std::string_view, uint32_t> first_index;
  first_index.reserve(events.size());
  for (int i = 0; i < events.size(); ++i) {
    const Event& e = events.Get(i);
    const auto index = static_cast<uint32_t>(i);
    auto error = ValidateEvent(e, limits);
    if (!error) {
      auto [it, inserted] = first_index.try_emplace(e.id(), index);
      if (!inserted) {
        error = FieldError{
            "id", absl::StrCat("duplicate id within the batch (first at index ", it->second, ")")};
      }
    }
    if (error) {
      out.rejections.push_back(Rejection{index, EchoSafe(e.id(), 128), std::move(*error)});
    } else {
      out.valid_indices.push_back(index);
    }
  }
  return out;
}

}  // namespace raceway::model
