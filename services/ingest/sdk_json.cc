#include "services/ingest/sdk_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "google/protobuf/util/type_resolver.h"
#include "google/protobuf/util/type_resolver_util.h"
#include "libs/model/uuid.h"
#include "services/ingest/sdk_body_scanner.h"

namespace raceway::ingest {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;
using model::FieldError;
using raceway::v1::Event;

constexpr char kValueTypeUrl[] = "type.googleapis.com/google.protobuf.Value";
// Arrays/objects nested deeper than this make the whole body invalid (the
// validator's per-value limit, 64 by default, applies below this).
constexpr int kMaxJsonNesting = 100;
// google.protobuf.Value nests 3 message levels per JSON object level
// (Value -> Struct -> map entry) and 2 per array level. The JSON transcoder
// itself stops at 100 object levels; this bound only has to admit that.
constexpr int kMaxProtoRecursion = 400;
// JSON numbers are parsed as doubles: integers above this are not exact.
constexpr uint64_t kMaxExactInteger = (uint64_t{1} << 53) - 1;

google::protobuf::util::TypeResolver* Resolver() {
  static google::protobuf::util::TypeResolver* const resolver =
      google::protobuf::util::NewTypeResolverForDescriptorPool(
          "type.googleapis.com", google::protobuf::DescriptorPool::generated_pool());
  return resolver;
}

std::string FirstLine(std::string_view s) {
  const size_t nl = s.find('\n');
  std::string_view line = s.substr(0, nl);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
  return std::string(line);
}

// The JSON number `text` times 10^scale, rounded to the nearest integer with
// halves away from zero, computed on the decimal digits (never through a
// double, so 2^53 + 1 and 1.0000005 are exact). nullopt when `text` is not
// an RFC 8259 number, is negative (-0 is zero) or the result exceeds
// INT64_MAX.
std::optional<uint64_t> ScaledDecimal(std::string_view text, int scale) {
  if (!IsJsonNumber(text)) return std::nullopt;
  const bool negative = text[0] == '-';
  if (negative) text.remove_prefix(1);
  const size_t e_at = text.find_first_of("eE");
  std::string_view mantissa = text.substr(0, e_at);
  // Saturated: beyond any body length the outcome (0 or too large) is fixed.
  constexpr int64_t kMaxExponent = int64_t{1} << 40;
  int64_t exponent = 0;
  if (e_at != std::string_view::npos) {
    std::string_view e = text.substr(e_at + 1);
    const bool e_negative = e[0] == '-';
    if (e[0] == '+' || e[0] == '-') e.remove_prefix(1);
    for (char c : e) exponent = std::min(kMaxExponent, exponent * 10 + (c - '0'));
    if (e_negative) exponent = -exponent;
  }
  // Digits of int.frac without the point, and the power of ten they carry.
  const size_t dot = mantissa.find('.');
  std::string_view int_part = mantissa.substr(0, dot);
  std::string_view frac_part = dot == std::string_view::npos ? "" : mantissa.substr(dot + 1);
  auto digit = [&](size_t k) {
    return k < int_part.size() ? int_part[k] : frac_part[k - int_part.size()];
  };
  const size_t total = int_part.size() + frac_part.size();
  size_t first = 0;
  while (first < total && digit(first) == '0') ++first;
  if (first == total) return 0;  // Zero, whatever its sign or exponent.
  if (negative) return std::nullopt;
  // value = significant digits (m of them) * 10^power.
  const int64_t m = static_cast<int64_t>(total - first);
  const int64_t power = exponent - static_cast<int64_t>(frac_part.size()) + scale;
  const int64_t int_digits = m + power;      // Digits before the decimal point.
  if (int_digits > 19) return std::nullopt;  // >= 10^19 > INT64_MAX.
  uint64_t value = 0;
  for (int64_t k = 0; k < int_digits; ++k) {
    value = value * 10 + (k < m ? static_cast<uint64_t>(digit(first + k) - '0') : 0);
  }
  // Round on the first dropped digit: >= 5 means the rest is >= one half.
  if (int_digits >= 0 && int_digits < m && digit(first + int_digits) >= '5') ++value;
  if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return value;
}

// Parses any JSON text (already depth-checked by BodyScanner) into a Value
// with protobuf's own JSON parser.
absl::StatusOr<Value> ParseJson(std::string_view text) {
  std::string binary;
  auto status =
      google::protobuf::util::JsonToBinaryString(Resolver(), kValueTypeUrl, text, &binary);
  if (!status.ok()) {
    const std::string full = status.ToString();
    // "INVALID_ARGUMENT:Unexpected token.\n<snippet>\n   ^" -> first line,
    // without the code prefix, plus the (sanitised) snippet for context.
    std::string msg(status.message().data(), status.message().size());
    std::string first = FirstLine(msg);
    std::string snippet;
    if (const size_t nl = msg.find('\n'); nl != std::string::npos) {
      snippet = FirstLine(std::string_view(msg).substr(nl + 1));
    }
    std::string out = absl::StrCat("body is not valid JSON: ", first);
    if (!snippet.empty()) absl::StrAppend(&out, " (near: ", model::EchoSafe(snippet, 60), ")");
    return absl::InvalidArgumentError(out);
  }
  Value value;
  google::protobuf::io::ArrayInputStream raw(binary.data(), static_cast<int>(binary.size()));
  google::protobuf::io::CodedInputStream in(&raw);
  in.SetRecursionLimit(kMaxProtoRecursion);
  if (!value.ParseFromCodedStream(&in)) {
    return absl::InvalidArgumentError("body is not valid JSON: nesting is too deep");
  }
  return value;
}

// Deterministic (sorted map keys) compact JSON text of a Value.
std::string PrintJson(const Value& value) {
  std::string binary;
  {
    google::protobuf::io::StringOutputStream raw(&binary);
    google::protobuf::io::CodedOutputStream out(&raw);
    out.SetSerializationDeterministic(true);
    value.SerializeToCodedStream(&out);
  }
  std::string json;
  auto status =
      google::protobuf::util::BinaryToJsonString(Resolver(), kValueTypeUrl, binary, &json);
  if (!status.ok()) return "null";  // Only for non-finite numbers, which we never produce.
  return json;
}

const char* TypeName(const Value& v) {
  switch (v.kind_case()) {
    case Value::kNullValue:
      return "null";
    case Value::kNumberValue:
      return "a number";
    case Value::kStringValue:
      return "a string";
    case Value::kBoolValue:
      return "a boolean";
    case Value::kStructValue:
      return "an object";
    case Value::kListValue:
      return "an array";
    default:
      return "nothing";
  }
}

std::string FormatNumber(double d) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  if (ec != std::errc()) return "?";
  return std::string(buf, end);
}

// ----------------------------------------------------------------- to proto

struct KindName {
  std::string_view sdk;    // "StateChange"
  std::string_view proto;  // "state_change"
};
constexpr KindName kKinds[] = {
    {"FunctionCall", "function_call"},
    {"AsyncSpawn", "async_spawn"},
    {"AsyncAwait", "async_await"},
    {"StateChange", "state_change"},
    {"LockAcquire", "lock_acquire"},
    {"LockRelease", "lock_release"},
    {"MemoryFence", "memory_fence"},
    {"HttpRequest", "http_request"},
    {"HttpResponse", "http_response"},
    {"DatabaseQuery", "database_query"},
    {"DatabaseResult", "database_result"},
    {"Error", "error"},
    {"Custom", "custom"},
};

std::string KnownKinds() {
  std::string out;
  for (const auto& k : kKinds) {
    if (!out.empty()) out += ", ";
    out += k.sdk;
  }
  return out;
}

struct EnumName {
  std::string_view sdk;
  int value;
};
constexpr EnumName kAccessTypes[] = {
    {"Read", raceway::v1::ACCESS_TYPE_READ},
    {"Write", raceway::v1::ACCESS_TYPE_WRITE},
    {"AtomicRead", raceway::v1::ACCESS_TYPE_ATOMIC_READ},
    {"AtomicWrite", raceway::v1::ACCESS_TYPE_ATOMIC_WRITE},
    {"AtomicRMW", raceway::v1::ACCESS_TYPE_ATOMIC_RMW},
};
constexpr EnumName kOrderings[] = {
    {"Relaxed", raceway::v1::MEMORY_ORDERING_RELAXED},
    {"Acquire", raceway::v1::MEMORY_ORDERING_ACQUIRE},
    {"Release", raceway::v1::MEMORY_ORDERING_RELEASE},
    {"AcqRel", raceway::v1::MEMORY_ORDERING_ACQ_REL},
    {"SeqCst", raceway::v1::MEMORY_ORDERING_SEQ_CST},
};

template <size_t N>
std::string_view EnumToSdk(const EnumName (&table)[N], int value) {
  for (const auto& e : table) {
    if (e.value == value) return e.sdk;
  }
  return "";
}

class Converter {
 public:
  // `durations`: the raw text of this event's duration numbers (nullptr when
  // converting a Value that did not come from a body).
  explicit Converter(const EventTokens* durations) : durations_(durations) {}

  const std::optional<FieldError>& error() const { return error_; }
  bool failed() const { return error_.has_value(); }

  void Fail(std::string field, std::string reason) {
    if (!error_) error_ = FieldError{std::move(field), std::move(reason)};
  }

  void ConvertEvent(const Value& value, Event* out) {
    if (value.kind_case() != Value::kStructValue) {
      Fail("", absl::StrCat("an event must be a JSON object, got ", TypeName(value)));
      return;
    }
    const Struct& o = value.struct_value();
    Id(o, "id", "id", out->mutable_id());
    Id(o, "trace_id", "trace_id", out->mutable_trace_id());
    Id(o, "parent_id", "parent_id", out->mutable_parent_id());
    Time(o, out);
    Metadata(o, out);
    CausalityVector(o, out);
    if (const Value* v = Get(o, "lock_set")) StringList(*v, "lock_set", out->mutable_lock_set());
    Kind(o, out);
  }

 private:
  // The value under `key`, or nullptr when absent or null.
  static const Value* Get(const Struct& o, const char* key) {
    auto it = o.fields().find(key);
    if (it == o.fields().end() || it->second.kind_case() == Value::kNullValue) return nullptr;
    return &it->second;
  }
  // The value under `key` including null; nullptr when absent.
  static const Value* GetRaw(const Struct& o, const char* key) {
    auto it = o.fields().find(key);
    return it == o.fields().end() ? nullptr : &it->second;
  }

  const Struct* Object(const Value& v, const std::string& path) {
    if (failed()) return nullptr;
    if (v.kind_case() != Value::kStructValue) {
      Fail(path, absl::StrCat("must be an object, got ", TypeName(v)));
      return nullptr;
    }
    return &v.struct_value();
  }

  void String(const Struct& o, const char* key, const std::string& path, std::string* out) {
    if (failed()) return;
    const Value* v = Get(o, key);
    if (v == nullptr) return;
    if (v->kind_case() != Value::kStringValue) {
      Fail(path, absl::StrCat("must be a string, got ", TypeName(*v)));
      return;
    }
    *out = v->string_value();
  }

  // UUID strings: upper-case hex is normalised to the canonical lower case;
  // anything else is passed through for the validator to judge.
  void Id(const Struct& o, const char* key, const std::string& path, std::string* out) {
    String(o, key, path, out);
    if (failed() || out->empty()) return;
    if (auto bytes = model::ParseUuid(*out)) *out = model::FormatUuid(*bytes);
  }

  std::optional<uint64_t> UInt(const Value& v, const std::string& path, uint64_t max) {
    if (failed()) return std::nullopt;
    const std::string range =
        max == kMaxExactInteger
            ? std::string(
                  "an integer between 0 and 9007199254740991 (2^53 - 1, the largest "
                  "integer a JSON number carries exactly)")
            : absl::StrCat("an integer between 0 and ", max);
    if (v.kind_case() != Value::kNumberValue) {
      Fail(path, absl::StrCat("must be ", range, ", got ", TypeName(v)));
      return std::nullopt;
    }
    const double d = v.number_value();
    if (!(d >= 0) || d != std::floor(d) || d > static_cast<double>(max)) {
      Fail(path, absl::StrCat("must be ", range, ", got ", FormatNumber(d)));
      return std::nullopt;
    }
    return static_cast<uint64_t>(d);
  }

  std::optional<uint64_t> UIntField(const Struct& o, const char* key, const std::string& path,
                                    uint64_t max) {
    const Value* v = Get(o, key);
    if (v == nullptr || failed()) return std::nullopt;
    return UInt(*v, path, max);
  }

  struct DurationValue {
    uint64_t ns;
    uint64_t whole;  // The value rounded in its own unit (ns or ms).
  };
  // metadata.duration_ns (scale 0) or a kind's duration_ms (scale 6): the
  // number's decimal text times 10^scale, rounded to the nearest ns
  // (ScaledDecimal), and rounded to its own whole unit (from the text, not
  // from the rounded ns: 2.4999995 ms is 2 ms). The text is the body's own
  // when the scanner recorded it, else the shortest text of the double.
  std::optional<DurationValue> Duration(const Struct& o, const char* key, const std::string& path,
                                        int scale) {
    if (failed()) return std::nullopt;
    const std::string range =
        scale == 0 ? "a number of nanoseconds between 0 and 9223372036854775807"
                   : "a number of milliseconds between 0 and 9223372036854.775807 (the int64 "
                     "nanosecond range)";
    std::string_view raw;
    if (durations_ != nullptr) raw = scale == 0 ? durations_->duration_ns : durations_->duration_ms;
    std::string text(raw);
    if (raw.empty()) {
      const Value* v = Get(o, key);
      if (v == nullptr) return std::nullopt;
      if (v->kind_case() != Value::kNumberValue) {
        Fail(path, absl::StrCat("must be ", range, ", got ", TypeName(*v)));
        return std::nullopt;
      }
      text = FormatNumber(v->number_value());
    }
    const auto ns = ScaledDecimal(text, scale);
    if (!ns) {
      Fail(path, absl::StrCat("must be ", range, ", got ", model::EchoSafe(text, 64)));
      return std::nullopt;
    }
    // In range as ns, so in range in the (coarser) unit too.
    return DurationValue{*ns, *ScaledDecimal(text, 0)};
  }

  // duration_ms is an integer field: it keeps the nearest whole ms, and
  // when the nanoseconds are not whole ms, metadata.duration_ns carries them
  // (model::DurationNs reads it first) unless the event sent its own.
  template <typename Kind>
  static void SetDurationMs(const DurationValue& d, Kind* kind, Event* out) {
    kind->set_duration_ms(d.whole);
    if (d.ns % 1000000 != 0 && out->has_metadata() && !out->metadata().has_duration_ns()) {
      out->mutable_metadata()->set_duration_ns(d.ns);
    }
  }

  // JSON-valued field. keep_null: a JSON null is stored as a null Value
  // (non-optional fields: new_value, args, data); otherwise null = absent.
  template <typename SetFn>
  void JsonField(const Struct& o, const char* key, bool keep_null, SetFn mutable_fn) {
    if (failed()) return;
    const Value* v = keep_null ? GetRaw(o, key) : Get(o, key);
    if (v == nullptr) return;
    *mutable_fn() = *v;
  }

  void StringMap(const Struct& o, const char* key, const std::string& path,
                 google::protobuf::Map<std::string, std::string>* out) {
    if (failed()) return;
    const Value* v = Get(o, key);
    if (v == nullptr) return;
    const Struct* m = Object(*v, path);
    if (m == nullptr) return;
    for (const auto& [k, val] : m->fields()) {
      if (val.kind_case() == Value::kNullValue) continue;  // Go/JS "omitted" values.
      if (val.kind_case() != Value::kStringValue) {
        Fail(absl::StrCat(path, "[\"", model::EchoSafe(k, 64), "\"]"),
             absl::StrCat("must be a string, got ", TypeName(val)));
        return;
      }
      (*out)[k] = val.string_value();
    }
  }

  void StringList(const Value& v, const std::string& path,
                  google::protobuf::RepeatedPtrField<std::string>* out) {
    if (failed()) return;
    if (v.kind_case() != Value::kListValue) {
      Fail(path, absl::StrCat("must be an array of strings, got ", TypeName(v)));
      return;
    }
    const auto& items = v.list_value().values();
    for (int i = 0; i < items.size(); ++i) {
      if (items[i].kind_case() != Value::kStringValue) {
        Fail(absl::StrCat(path, "[", i, "]"),
             absl::StrCat("must be a string, got ", TypeName(items[i])));
        return;
      }
      out->Add(std::string(items[i].string_value()));
    }
  }

  template <size_t N>
  int Enum(const Struct& o, const char* key, const std::string& path, const EnumName (&table)[N]) {
    if (failed()) return 0;
    std::string choices;
    for (const auto& e : table) {
      if (!choices.empty()) choices += ", ";
      absl::StrAppend(&choices, "\"", std::string(e.sdk), "\"");
    }
    const Value* v = Get(o, key);
    if (v == nullptr) {
      Fail(path, absl::StrCat("is required: one of ", choices));
      return 0;
    }
    if (v->kind_case() != Value::kStringValue) {
      Fail(path, absl::StrCat("must be one of ", choices, ", got ", TypeName(*v)));
      return 0;
    }
    for (const auto& e : table) {
      if (e.sdk == v->string_value()) return e.value;
    }
    Fail(path, absl::StrCat("must be one of ", choices, ", got \"",
                            model::EchoSafe(v->string_value(), 64), "\""));
    return 0;
  }

  void Time(const Struct& o, Event* out) {
    if (failed()) return;
    const Value* v = Get(o, "timestamp");
    if (v == nullptr) return;  // The validator reports the missing timestamp.
    const std::string kExample = "\"2025-10-16T12:34:56.123456789Z\"";
    if (v->kind_case() != Value::kStringValue) {
      Fail("timestamp",
           absl::StrCat("must be an RFC 3339 string such as ", kExample, ", got ", TypeName(*v)));
      return;
    }
    std::string text = v->string_value();
    // RFC 3339 allows lower-case 't'/'z' and (section 5.6 note) a space.
    if (text.size() > 10 && (text[10] == 't' || text[10] == ' ')) text[10] = 'T';
    if (!text.empty() && text.back() == 'z') text.back() = 'Z';
    // Nanoseconds are the finest stored unit: a 10th digit would be cut off
    // silently by the parser.
    if (text.size() > 20 && text[19] == '.') {
      const size_t end = std::min(text.find_first_not_of("0123456789", 20), text.size());
      if (const size_t digits = end - 20; digits > 9) {
        Fail("timestamp", absl::StrCat("has ", digits,
                                       " fractional digits; at most 9 (nanoseconds) are stored, "
                                       "got \"",
                                       model::EchoSafe(v->string_value(), 64), "\""));
        return;
      }
    }
    google::protobuf::Timestamp ts;
    if (!google::protobuf::util::TimeUtil::FromString(text, &ts)) {
      Fail("timestamp", absl::StrCat("must be an RFC 3339 timestamp such as ", kExample,
                                     " (years 0001-9999), got \"",
                                     model::EchoSafe(v->string_value(), 64), "\""));
      return;
    }
    *out->mutable_timestamp() = ts;
  }

  void Metadata(const Struct& o, Event* out) {
    if (failed()) return;
    const Value* v = Get(o, "metadata");
    if (v == nullptr) return;  // The validator reports the missing metadata.
    const Struct* m = Object(*v, "metadata");
    if (m == nullptr) return;
    auto* md = out->mutable_metadata();
    String(*m, "thread_id", "metadata.thread_id", md->mutable_thread_id());
    if (auto pid = UIntField(*m, "process_id", "metadata.process_id", 2147483647)) {
      md->set_process_id(static_cast<int32_t>(*pid));
    }
    String(*m, "service_name", "metadata.service_name", md->mutable_service_name());
    String(*m, "environment", "metadata.environment", md->mutable_environment());
    StringMap(*m, "tags", "metadata.tags", md->mutable_tags());
    if (auto d = Duration(*m, "duration_ns", "metadata.duration_ns", 0)) md->set_duration_ns(d->ns);
    String(*m, "instance_id", "metadata.instance_id", md->mutable_instance_id());
    String(*m, "distributed_span_id", "metadata.distributed_span_id",
           md->mutable_distributed_span_id());
    String(*m, "upstream_span_id", "metadata.upstream_span_id", md->mutable_upstream_span_id());
  }

  void CausalityVector(const Struct& o, Event* out) {
    if (failed()) return;
    const Value* v = Get(o, "causality_vector");
    if (v == nullptr) return;
    if (v->kind_case() != Value::kListValue) {
      Fail("causality_vector",
           absl::StrCat("must be an array of [component, clock] pairs, got ", TypeName(*v)));
      return;
    }
    const auto& items = v->list_value().values();
    for (int i = 0; i < items.size() && !failed(); ++i) {
      const std::string path = absl::StrCat("causality_vector[", i, "]");
      const Value& item = items[i];
      if (item.kind_case() != Value::kListValue || item.list_value().values_size() != 2) {
        Fail(path, absl::StrCat("must be a [component, clock] pair, got ",
                                item.kind_case() == Value::kListValue
                                    ? absl::StrCat("an array of ", item.list_value().values_size())
                                    : std::string(TypeName(item))));
        return;
      }
      const Value& component = item.list_value().values(0);
      if (component.kind_case() != Value::kStringValue) {
        Fail(path + "[0]", absl::StrCat("must be a string, got ", TypeName(component)));
        return;
      }
      auto clock = UInt(item.list_value().values(1), path + "[1]", kMaxExactInteger);
      if (!clock) return;
      auto* entry = out->add_causality_vector();
      entry->set_component(component.string_value());
      entry->set_clock(*clock);
    }
  }

  void Kind(const Struct& o, Event* out) {
    if (failed()) return;
    const Value* v = Get(o, "kind");
    if (v == nullptr) {
      Fail("kind", absl::StrCat("is required: an object with one key naming the kind (",
                                KnownKinds(), "), e.g. {\"StateChange\": {...}}"));
      return;
    }
    std::string name;
    const Value* payload = nullptr;
    if (v->kind_case() == Value::kStringValue) {
      name = v->string_value();
    } else if (v->kind_case() == Value::kStructValue) {
      const auto& fields = v->struct_value().fields();
      if (fields.size() != 1) {
        Fail("kind", absl::StrCat("must have exactly one key naming the kind (", KnownKinds(),
                                  "), got ", fields.size(), " keys"));
        return;
      }
      name = fields.begin()->first;
      payload = &fields.begin()->second;
    } else {
      Fail("kind",
           absl::StrCat("must be an object with one key naming the kind, got ", TypeName(*v)));
      return;
    }
    const bool known =
        name == "FunctionReturn" || std::any_of(std::begin(kKinds), std::end(kKinds),
                                                [&](const KindName& k) { return k.sdk == name; });
    if (!known) {
      Fail("kind", absl::StrCat("unknown kind \"", model::EchoSafe(name, 64),
                                "\" (expected one of ", KnownKinds(), ")"));
      return;
    }
    const std::string base = absl::StrCat("kind.", name);
    if (payload == nullptr) {
      Fail("kind", absl::StrCat("kind \"", name, "\" needs its fields: {\"", name, "\": {...}}"));
      return;
    }
    const Struct* p = Object(*payload, base);
    if (p == nullptr) return;
    auto path = [&](const char* field) { return absl::StrCat(base, ".", field); };

    if (name == "FunctionCall") {
      auto* k = out->mutable_function_call();
      String(*p, "function_name", path("function_name"), k->mutable_function_name());
      String(*p, "module", path("module"), k->mutable_module());
      JsonField(*p, "args", true, [&] { return k->mutable_args(); });
      String(*p, "file", path("file"), k->mutable_file());
      if (auto line = UIntField(*p, "line", path("line"), 4294967295u)) {
        k->set_line(static_cast<uint32_t>(*line));
      }
    } else if (name == "AsyncSpawn") {
      auto* k = out->mutable_async_spawn();
      Id(*p, "task_id", path("task_id"), k->mutable_task_id());
      String(*p, "spawned_by", path("spawned_by"), k->mutable_spawned_by());
    } else if (name == "AsyncAwait") {
      auto* k = out->mutable_async_await();
      Id(*p, "future_id", path("future_id"), k->mutable_future_id());
      String(*p, "awaited_at", path("awaited_at"), k->mutable_awaited_at());
    } else if (name == "StateChange") {
      auto* k = out->mutable_state_change();
      String(*p, "variable", path("variable"), k->mutable_variable());
      JsonField(*p, "old_value", false, [&] { return k->mutable_old_value(); });
      JsonField(*p, "new_value", true, [&] { return k->mutable_new_value(); });
      String(*p, "location", path("location"), k->mutable_location());
      k->set_access_type(static_cast<raceway::v1::AccessType>(
          Enum(*p, "access_type", path("access_type"), kAccessTypes)));
    } else if (name == "LockAcquire") {
      auto* k = out->mutable_lock_acquire();
      String(*p, "lock_id", path("lock_id"), k->mutable_lock_id());
      String(*p, "lock_type", path("lock_type"), k->mutable_lock_type());
      String(*p, "location", path("location"), k->mutable_location());
    } else if (name == "LockRelease") {
      auto* k = out->mutable_lock_release();
      String(*p, "lock_id", path("lock_id"), k->mutable_lock_id());
      String(*p, "lock_type", path("lock_type"), k->mutable_lock_type());
      String(*p, "location", path("location"), k->mutable_location());
    } else if (name == "MemoryFence") {
      auto* k = out->mutable_memory_fence();
      k->set_ordering(static_cast<raceway::v1::MemoryOrdering>(
          Enum(*p, "ordering", path("ordering"), kOrderings)));
      String(*p, "location", path("location"), k->mutable_location());
    } else if (name == "HttpRequest") {
      auto* k = out->mutable_http_request();
      String(*p, "method", path("method"), k->mutable_method());
      String(*p, "url", path("url"), k->mutable_url());
      StringMap(*p, "headers", path("headers"), k->mutable_headers());
      JsonField(*p, "body", false, [&] { return k->mutable_body(); });
    } else if (name == "HttpResponse") {
      auto* k = out->mutable_http_response();
      if (auto status = UIntField(*p, "status", path("status"), 65535)) {
        k->set_status(static_cast<uint32_t>(*status));
      }
      StringMap(*p, "headers", path("headers"), k->mutable_headers());
      JsonField(*p, "body", false, [&] { return k->mutable_body(); });
      if (auto d = Duration(*p, "duration_ms", path("duration_ms"), 6)) SetDurationMs(*d, k, out);
    } else if (name == "DatabaseQuery") {
      auto* k = out->mutable_database_query();
      String(*p, "query", path("query"), k->mutable_query());
      String(*p, "database", path("database"), k->mutable_database());
      if (auto d = Duration(*p, "duration_ms", path("duration_ms"), 6)) SetDurationMs(*d, k, out);
    } else if (name == "DatabaseResult") {
      auto* k = out->mutable_database_result();
      if (auto rows = UIntField(*p, "rows_affected", path("rows_affected"), kMaxExactInteger)) {
        k->set_rows_affected(*rows);
      }
    } else if (name == "Error") {
      auto* k = out->mutable_error();
      String(*p, "error_type", path("error_type"), k->mutable_error_type());
      String(*p, "message", path("message"), k->mutable_message());
      if (const Value* st = Get(*p, "stack_trace")) {
        StringList(*st, path("stack_trace"), k->mutable_stack_trace());
      }
    } else if (name == "Custom") {
      auto* k = out->mutable_custom();
      String(*p, "name", path("name"), k->mutable_name());
      JsonField(*p, "data", true, [&] { return k->mutable_data(); });
    } else {  // "FunctionReturn": Go/Python SDK kind, kept as Custom.
      auto* k = out->mutable_custom();
      k->set_name("FunctionReturn");
      *k->mutable_data() = *payload;
    }
  }

  const EventTokens* const durations_;
  std::optional<FieldError> error_;
};

// Validator paths use proto names ("state_change.variable",
// "causality_vector[2].component"); report SDK JSON names instead.
std::string ToSdkPath(const std::string& field) {
  for (const auto& k : kKinds) {
    if (field.size() >= k.proto.size() && field.compare(0, k.proto.size(), k.proto) == 0 &&
        (field.size() == k.proto.size() || field[k.proto.size()] == '.')) {
      return absl::StrCat("kind.", std::string(k.sdk), field.substr(k.proto.size()));
    }
  }
  constexpr std::string_view kCv = "causality_vector[";
  constexpr std::string_view kComponent = "].component";
  if (field.compare(0, kCv.size(), kCv) == 0 && field.size() > kComponent.size() &&
      field.compare(field.size() - kComponent.size(), kComponent.size(), kComponent) == 0) {
    return absl::StrCat(field.substr(0, field.size() - kComponent.size()), "][0]");
  }
  return field;
}

// ----------------------------------------------------------------- to JSON

Value Str(const std::string& s) {
  Value v;
  v.set_string_value(s);
  return v;
}
Value Num(double d) {
  Value v;
  v.set_number_value(d);
  return v;
}
Value Null() {
  Value v;
  v.set_null_value(google::protobuf::NULL_VALUE);
  return v;
}
Value JsonOrNull(bool has, const Value& v) { return has ? v : Null(); }
Value StringMapValue(const google::protobuf::Map<std::string, std::string>& m) {
  Value v;
  auto* fields = v.mutable_struct_value()->mutable_fields();
  for (const auto& [k, s] : m) (*fields)[k] = Str(s);
  return v;
}

}  // namespace

std::vector<const raceway::v1::Event*> SdkBatch::EventPointers() const {
  std::vector<const raceway::v1::Event*> out(static_cast<size_t>(events.size()), nullptr);
  for (uint32_t i : valid_indices) out[i] = &events.Get(static_cast<int>(i));
  return out;
}

std::optional<model::FieldError> SdkValueToEvent(const google::protobuf::Value& value,
                                                 raceway::v1::Event* out) {
  Converter c(nullptr);
  c.ConvertEvent(value, out);
  return c.error();
}

absl::StatusOr<SdkBatch> ParseSdkBatch(std::string_view body,
                                       const model::ValidationLimits& limits) {
  const size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return absl::InvalidArgumentError("body is empty: expected {\"events\": [...]}");
  }
  ScannedBody scanned;
  if (absl::Status s = ScanSdkBody(body, kMaxJsonNesting, &scanned); !s.ok()) return s;
  auto root = ParseJson(scanned.rewritten.empty() ? body : std::string_view(scanned.rewritten));
  if (!root.ok()) return root.status();
  if (root->kind_case() != Value::kStructValue) {
    return absl::InvalidArgumentError(
        absl::StrCat("body must be a JSON object {\"events\": [...]}, got ", TypeName(*root)));
  }
  auto& fields = *root->mutable_struct_value()->mutable_fields();
  auto it = fields.find("events");
  if (it == fields.end()) {
    return absl::InvalidArgumentError("body has no \"events\" array: expected {\"events\": [...]}");
  }
  if (it->second.kind_case() != Value::kListValue) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"events\" must be an array, got ", TypeName(it->second)));
  }
  auto* items = it->second.mutable_list_value()->mutable_values();
  if (static_cast<size_t>(items->size()) > limits.max_batch_events) {
    return absl::OutOfRangeError(absl::StrCat("events: batch has ", items->size(),
                                              " events; the limit is ", limits.max_batch_events,
                                              " (max_batch_events)"));
  }

  SdkBatch batch;
  batch.events.Reserve(items->size());
  std::vector<bool> failed(static_cast<size_t>(items->size()), false);
  auto fault = scanned.faults.begin();
  for (int i = 0; i < items->size(); ++i) {
    Event* event = batch.events.Add();
    Value& item = (*items)[i];
    if (fault != scanned.faults.end() && fault->index == static_cast<size_t>(i)) {
      // The scan cut this event out of the text the parser saw.
      batch.rejections.push_back(
          model::Rejection{static_cast<uint32_t>(i), model::EchoSafe(scanned.events[i].id, 128),
                           FieldError{std::move(fault->field), std::move(fault->reason)}});
      failed[static_cast<size_t>(i)] = true;
      ++fault;
      continue;
    }
    Converter converter(static_cast<size_t>(i) < scanned.events.size() ? &scanned.events[i]
                                                                       : nullptr);
    converter.ConvertEvent(item, event);
    if (auto error = converter.error()) {
      batch.rejections.push_back(model::Rejection{
          static_cast<uint32_t>(i), model::EchoSafe(event->id(), 128), std::move(*error)});
      failed[static_cast<size_t>(i)] = true;
      // An empty slot: never valid, never counted as a duplicate id.
      event->Clear();
    }
    item.Clear();  // Release the parsed JSON early; batches can be large.
  }

  auto validation = model::ValidateBatch(batch.events, limits);
  if (!validation.ok()) {
    // Only the whole-batch limits fail here (the event count was checked).
    return absl::OutOfRangeError(std::string(validation.status().message()));
  }
  for (auto& r : validation->rejections) {
    if (failed[r.index]) continue;
    r.error.field = ToSdkPath(r.error.field);
    batch.rejections.push_back(std::move(r));
  }
  std::sort(batch.rejections.begin(), batch.rejections.end(),
            [](const model::Rejection& a, const model::Rejection& b) { return a.index < b.index; });
  batch.valid_indices = std::move(validation->valid_indices);
  return batch;
}

google::protobuf::Value EventToSdkValue(const raceway::v1::Event& e) {
  Value root;
  auto& f = *root.mutable_struct_value()->mutable_fields();
  f["id"] = Str(e.id());
  f["trace_id"] = Str(e.trace_id());
  f["parent_id"] = e.parent_id().empty() ? Null() : Str(e.parent_id());
  f["timestamp"] =
      e.has_timestamp() ? Str(google::protobuf::util::TimeUtil::ToString(e.timestamp())) : Null();

  Value kind;
  Value payload;
  auto& p = *payload.mutable_struct_value()->mutable_fields();
  std::string name;
  switch (e.kind_case()) {
    case Event::kFunctionCall: {
      const auto& k = e.function_call();
      name = "FunctionCall";
      p["function_name"] = Str(k.function_name());
      p["module"] = Str(k.module());
      p["args"] = JsonOrNull(k.has_args(), k.args());
      p["file"] = Str(k.file());
      p["line"] = Num(k.line());
      break;
    }
    case Event::kAsyncSpawn:
      name = "AsyncSpawn";
      p["task_id"] = Str(e.async_spawn().task_id());
      p["spawned_by"] = Str(e.async_spawn().spawned_by());
      break;
    case Event::kAsyncAwait:
      name = "AsyncAwait";
      p["future_id"] = Str(e.async_await().future_id());
      p["awaited_at"] = Str(e.async_await().awaited_at());
      break;
    case Event::kStateChange: {
      const auto& k = e.state_change();
      name = "StateChange";
      p["variable"] = Str(k.variable());
      p["old_value"] = JsonOrNull(k.has_old_value(), k.old_value());
      p["new_value"] = JsonOrNull(k.has_new_value(), k.new_value());
      p["location"] = Str(k.location());
      p["access_type"] = Str(std::string(EnumToSdk(kAccessTypes, k.access_type())));
      break;
    }
    case Event::kLockAcquire:
      name = "LockAcquire";
      p["lock_id"] = Str(e.lock_acquire().lock_id());
      p["lock_type"] = Str(e.lock_acquire().lock_type());
      p["location"] = Str(e.lock_acquire().location());
      break;
    case Event::kLockRelease:
      name = "LockRelease";
      p["lock_id"] = Str(e.lock_release().lock_id());
      p["lock_type"] = Str(e.lock_release().lock_type());
      p["location"] = Str(e.lock_release().location());
      break;
    case Event::kMemoryFence:
      name = "MemoryFence";
      p["ordering"] = Str(std::string(EnumToSdk(kOrderings, e.memory_fence().ordering())));
      p["location"] = Str(e.memory_fence().location());
      break;
    case Event::kHttpRequest: {
      const auto& k = e.http_request();
      name = "HttpRequest";
      p["method"] = Str(k.method());
      p["url"] = Str(k.url());
      p["headers"] = StringMapValue(k.headers());
      p["body"] = JsonOrNull(k.has_body(), k.body());
      break;
    }
    case Event::kHttpResponse: {
      const auto& k = e.http_response();
      name = "HttpResponse";
      p["status"] = Num(k.status());
      p["headers"] = StringMapValue(k.headers());
      p["body"] = JsonOrNull(k.has_body(), k.body());
      p["duration_ms"] = Num(static_cast<double>(k.duration_ms()));
      break;
    }
    case Event::kDatabaseQuery:
      name = "DatabaseQuery";
      p["query"] = Str(e.database_query().query());
      p["database"] = Str(e.database_query().database());
      p["duration_ms"] = Num(static_cast<double>(e.database_query().duration_ms()));
      break;
    case Event::kDatabaseResult:
      name = "DatabaseResult";
      p["rows_affected"] = Num(static_cast<double>(e.database_result().rows_affected()));
      break;
    case Event::kError: {
      name = "Error";
      p["error_type"] = Str(e.error().error_type());
      p["message"] = Str(e.error().message());
      Value st;
      auto* list = st.mutable_list_value();
      for (const auto& line : e.error().stack_trace()) *list->add_values() = Str(line);
      p["stack_trace"] = std::move(st);
      break;
    }
    case Event::kCustom:
      name = "Custom";
      p["name"] = Str(e.custom().name());
      p["data"] = JsonOrNull(e.custom().has_data(), e.custom().data());
      break;
    case Event::KIND_NOT_SET:
      break;
  }
  if (name.empty()) {
    f["kind"] = Null();
  } else {
    (*kind.mutable_struct_value()->mutable_fields())[name] = std::move(payload);
    f["kind"] = std::move(kind);
  }

  const auto& m = e.metadata();
  Value md;
  auto& mf = *md.mutable_struct_value()->mutable_fields();
  mf["thread_id"] = Str(m.thread_id());
  mf["process_id"] = Num(m.process_id());
  mf["service_name"] = Str(m.service_name());
  mf["environment"] = Str(m.environment());
  mf["tags"] = StringMapValue(m.tags());
  mf["duration_ns"] = m.has_duration_ns() ? Num(static_cast<double>(m.duration_ns())) : Null();
  // serde: skip_serializing_if = "Option::is_none".
  if (!m.instance_id().empty()) mf["instance_id"] = Str(m.instance_id());
  if (!m.distributed_span_id().empty()) mf["distributed_span_id"] = Str(m.distributed_span_id());
  if (!m.upstream_span_id().empty()) mf["upstream_span_id"] = Str(m.upstream_span_id());
  f["metadata"] = std::move(md);

  Value cv;
  auto* cv_list = cv.mutable_list_value();
  for (const auto& entry : e.causality_vector()) {
    auto* pair = cv_list->add_values()->mutable_list_value();
    *pair->add_values() = Str(entry.component());
    *pair->add_values() = Num(static_cast<double>(entry.clock()));
  }
  f["causality_vector"] = std::move(cv);

  Value locks;
  auto* lock_list = locks.mutable_list_value();
  for (const auto& l : e.lock_set()) *lock_list->add_values() = Str(l);
  f["lock_set"] = std::move(locks);
  return root;
}

std::string EventsToSdkJson(std::span<const raceway::v1::Event> events) {
  Value root;
  auto* list = (*root.mutable_struct_value()->mutable_fields())["events"].mutable_list_value();
  for (const auto& e : events) *list->add_values() = EventToSdkValue(e);
  return PrintJson(root);
}

std::string SdkResultJson(const raceway::v1::BatchResult& result) {
  Value root;
  auto& f = *root.mutable_struct_value()->mutable_fields();
  Value success;
  success.set_bool_value(HttpStatusForResult(result) != 422);
  f["success"] = success;
  f["accepted"] = Num(result.accepted());
  f["duplicate"] = Num(result.duplicate());
  f["rejected"] = Num(result.rejected());
  Value rejected;
  auto* list = rejected.mutable_list_value();
  for (const auto& r : result.rejected_events()) {
    Value item;
    auto& rf = *item.mutable_struct_value()->mutable_fields();
    rf["index"] = Num(r.index());
    rf["id"] = Str(r.id());
    rf["field"] = Str(r.field());
    rf["reason"] = Str(r.reason());
    rf["message"] = Str(absl::StrCat("events[", r.index(), "]", r.field().empty() ? "" : ".",
                                     r.field(), ": ", r.reason()));
    *list->add_values() = std::move(item);
  }
  f["rejected_events"] = std::move(rejected);
  return PrintJson(root);
}

std::string SdkErrorJson(const absl::Status& status) {
  Value root;
  auto& f = *root.mutable_struct_value()->mutable_fields();
  Value success;
  success.set_bool_value(status.ok());
  f["success"] = success;
  Value error;
  auto& ef = *error.mutable_struct_value()->mutable_fields();
  ef["code"] = Str(absl::StatusCodeToString(status.code()));
  ef["message"] = Str(model::EchoSafe(std::string(status.message()), 4096));
  f["error"] = std::move(error);
  return PrintJson(root);
}

int HttpStatusForResult(const raceway::v1::BatchResult& result) {
  if (result.rejected() == 0) return 200;
  if (result.accepted() + result.duplicate() > 0) return 207;
  return 422;
}

int HttpStatusForError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kOutOfRange:
      return 413;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

}  // namespace raceway::ingest
