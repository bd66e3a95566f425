#include "libs/storage/common/event_json.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"
#include "libs/model/json_escape.h"

namespace raceway::storage::common {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Length of the valid UTF-8 sequence starting at s[i], or 0 when invalid.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  const size_t left = s.size() - i;
  auto cont = [&](size_t k) { return (b(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3 || !cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(i + 1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4 || !cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;
    if (c == 0xF4 && b(i + 1) >= 0x90) return 0;
    return 4;
  }
  return 0;
}

// Bytes that can be copied verbatim: printable ASCII except '"' and '\\'.
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

void AppendString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // Start of the pending run of bytes copied verbatim.
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    if (kPlain[c]) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(s, i);
      if (n > 0) {
        i += n;
        continue;
      }
    }
    out->append(s.data() + run, i - run);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->append("\xEF\xBF\xBD");  // Invalid UTF-8 byte -> U+FFFD.
        }
    }
    ++i;
    run = i;
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

template <typename T>
void AppendInteger(T v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

// Proto3 JSON: non-finite doubles are the strings "NaN", "Infinity", ...
void AppendDouble(double v, bool non_finite_as_null, std::string* out) {
  if (!std::isfinite(v)) {
    if (non_finite_as_null) {
      out->append("null");
    } else if (std::isnan(v)) {
      out->append("\"NaN\"");
    } else {
      out->append(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    }
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

void AppendValue(const google::protobuf::Value& v, std::string* out);

void AppendStruct(const google::protobuf::Struct& s, std::string* out) {
  std::vector<std::pair<std::string_view, const google::protobuf::Value*>> fields;
  fields.reserve(s.fields_size());
  for (const auto& [k, v] : s.fields()) fields.emplace_back(k, &v);
  std::sort(fields.begin(), fields.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  out->push_back('{');
  bool first = true;
  for (const auto& [k, v] : fields) {
    if (!first) out->push_back(',');
    first = false;
    AppendString(k, out);
    out->push_back(':');
    AppendValue(*v, out);
  }
  out->push_back('}');
}

void AppendList(const google::protobuf::ListValue& l, std::string* out) {
  out->push_back('[');
  for (int i = 0; i < l.values_size(); ++i) {
    if (i) out->push_back(',');
    AppendValue(l.values(i), out);
  }
  out->push_back(']');
}

void AppendValue(const google::protobuf::Value& v, std::string* out) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      AppendDouble(v.number_value(), /*non_finite_as_null=*/true, out);
      return;
    case google::protobuf::Value::kStringValue:
      AppendString(v.string_value(), out);
      return;
    case google::protobuf::Value::kBoolValue:
      out->append(v.bool_value() ? "true" : "false");
      return;
    case google::protobuf::Value::kStructValue:
      AppendStruct(v.struct_value(), out);
      return;
    case google::protobuf::Value::kListValue:
      AppendList(v.list_value(), out);
      return;
    case google::protobuf::Value::kNullValue:
    case google::protobuf::Value::KIND_NOT_SET:
      out->append("null");
      return;
  }
  out->append("null");
}

void AppendScalar(const Message& m, const Reflection* r, const FieldDescriptor* f, int index,
                  std::string* out);

void AppendMapKey(const Message& entry, std::string* out) {
  const Reflection* r = entry.GetReflection();
  const FieldDescriptor* kf = entry.GetDescriptor()->map_key();
  if (kf->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
    std::string scratch;
    AppendString(r->GetStringReference(entry, kf, &scratch), out);
    return;
  }
  std::string key;
  AppendScalar(entry, r, kf, -1, &key);
  if (!key.empty() && key.front() == '"') {
    out->append(key);
  } else {
    AppendString(key, out);
  }
}

void AppendScalar(const Message& m, const Reflection* r, const FieldDescriptor* f, int index,
                  std::string* out) {
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      AppendInteger(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f), out);
      return;
    case FieldDescriptor::CPPTYPE_UINT32:
      AppendInteger(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f), out);
      return;
    case FieldDescriptor::CPPTYPE_INT64:
      out->push_back('"');
      AppendInteger(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f), out);
      out->push_back('"');
      return;
    case FieldDescriptor::CPPTYPE_UINT64:
      out->push_back('"');
      AppendInteger(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f), out);
      out->push_back('"');
      return;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      AppendDouble(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f), false, out);
      return;
    case FieldDescriptor::CPPTYPE_FLOAT:
      AppendDouble(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f), false, out);
      return;
    case FieldDescriptor::CPPTYPE_BOOL:
      out->append((rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false");
      return;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int v = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      if (f->enum_type() == google::protobuf::NullValue_descriptor()) {
        out->append("null");
        return;
      }
      const auto* ev = f->enum_type()->FindValueByNumber(v);
      if (ev != nullptr) {
        AppendString(ev->name(), out);
      } else {
        AppendInteger(v, out);
      }
      return;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r->GetRepeatedStringReference(m, f, index, &scratch)
                                 : r->GetStringReference(m, f, &scratch);
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        std::string b64;
        absl::Base64Escape(absl::string_view(s.data(), s.size()), &b64);
        AppendString(b64, out);
      } else {
        AppendString(s, out);
      }
      return;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      AppendMessageJson(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f), out);
      return;
  }
}

}  // namespace

namespace {

// The well-known types with a special JSON form (generated classes only).
bool AppendWellKnown(const Message& message, std::string* out) {
  const google::protobuf::Descriptor* d = message.GetDescriptor();
  if (d == google::protobuf::Value::descriptor()) {
    if (const auto* v =
            google::protobuf::DynamicCastToGenerated<google::protobuf::Value>(&message)) {
      AppendValue(*v, out);
      return true;
    }
  } else if (d == google::protobuf::Struct::descriptor()) {
    if (const auto* v =
            google::protobuf::DynamicCastToGenerated<google::protobuf::Struct>(&message)) {
      AppendStruct(*v, out);
      return true;
    }
  } else if (d == google::protobuf::ListValue::descriptor()) {
    if (const auto* v =
            google::protobuf::DynamicCastToGenerated<google::protobuf::ListValue>(&message)) {
      AppendList(*v, out);
      return true;
    }
  } else if (d == google::protobuf::Timestamp::descriptor()) {
    if (const auto* v =
            google::protobuf::DynamicCastToGenerated<google::protobuf::Timestamp>(&message)) {
      AppendString(google::protobuf::util::TimeUtil::ToString(*v), out);
      return true;
    }
  }
  return false;
}

}  // namespace

void AppendMessageJson(const Message& message, std::string* out) {
  if (AppendWellKnown(message, out)) return;
  // The set fields of nested messages share one per-thread stack (no
  // allocation per message once warm).
  thread_local std::vector<const FieldDescriptor*> scratch, stack;
  const Reflection* r = message.GetReflection();
  r->ListFields(message, &scratch);
  const size_t begin = stack.size();
  stack.insert(stack.end(), scratch.begin(), scratch.end());
  const size_t end = stack.size();
  out->push_back('{');
  bool first = true;
  for (size_t fi = begin; fi < end; ++fi) {
    const FieldDescriptor* f = stack[fi];
    if (!first) out->push_back(',');
    first = false;
    AppendString(f->name(), out);
    out->push_back(':');
    if (f->is_map()) {
      const int n = r->FieldSize(message, f);
      std::vector<std::pair<std::string, const Message*>> entries;
      entries.reserve(n);
      for (int i = 0; i < n; ++i) {
        const Message& entry = r->GetRepeatedMessage(message, f, i);
        std::string key;
        AppendMapKey(entry, &key);
        entries.emplace_back(std::move(key), &entry);
      }
      std::sort(entries.begin(), entries.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      out->push_back('{');
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i) out->push_back(',');
        out->append(entries[i].first);
        out->push_back(':');
        const Message& entry = *entries[i].second;
        AppendScalar(entry, entry.GetReflection(), f->message_type()->map_value(), -1, out);
      }
      out->push_back('}');
    } else if (f->is_repeated()) {
      const int n = r->FieldSize(message, f);
      out->push_back('[');
      for (int i = 0; i < n; ++i) {
        if (i) out->push_back(',');
        AppendScalar(message, r, f, i, out);
      }
      out->push_back(']');
    } else {
      AppendScalar(message, r, f, -1, out);
    }
  }
  stack.resize(begin);
  out->push_back('}');
}

std::string MessageJson(const Message& message) {
  std::string out;
  AppendMessageJson(message, &out);
  return out;
}

std::string KindJson(const raceway::v1::Event& event) {
  const auto* oneof = raceway::v1::Event::descriptor()->FindOneofByName("kind");
  const FieldDescriptor* f = event.GetReflection()->GetOneofFieldDescriptor(event, oneof);
  if (f == nullptr) return "{}";
  return MessageJson(event.GetReflection()->GetMessage(event, f));
}

std::string CausalityJson(const raceway::v1::Event& event) {
  if (event.causality_vector_size() == 0) return "";
  std::string out = "[";
  for (int i = 0; i < event.causality_vector_size(); ++i) {
    if (i) out.push_back(',');
    AppendMessageJson(event.causality_vector(i), &out);
  }
  out.push_back(']');
  return out;
}

std::string StringArrayJson(const google::protobuf::RepeatedPtrField<std::string>& values) {
  if (values.empty()) return "";
  std::string out = "[";
  for (int i = 0; i < values.size(); ++i) {
    if (i) out.push_back(',');
    AppendString(values.Get(i), &out);
  }
  out.push_back(']');
  return out;
}

absl::StatusOr<std::vector<std::string>> ParseStringArrayJson(std::string_view s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  const auto bad = [] { return absl::InternalError("malformed JSON string array in database"); };
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) ++i;
  };
  skip_ws();
  if (i >= s.size() || s[i] != '[') return bad();
  ++i;
  skip_ws();
  if (i < s.size() && s[i] == ']') return out;
  while (true) {
    skip_ws();
    if (i >= s.size() || s[i] != '"') return bad();
    ++i;
    std::string v;
    while (true) {
      if (i >= s.size()) return bad();
      const char c = s[i];
      if (c == '"') {
        ++i;
        break;
      }
      if (c != '\\') {
        v.push_back(c);
        ++i;
        continue;
      }
      if (++i >= s.size()) return bad();
      const char e = s[i++];
      switch (e) {
        case '"':
          v.push_back('"');
          break;
        case '\\':
          v.push_back('\\');
          break;
        case '/':
          v.push_back('/');
          break;
        case 'b':
          v.push_back('\b');
          break;
        case 'f':
          v.push_back('\f');
          break;
        case 'n':
          v.push_back('\n');
          break;
        case 'r':
          v.push_back('\r');
          break;
        case 't':
          v.push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!model::ParseHex4(s, i, &cp)) return bad();
          i += 4;
          if (cp >= 0xD800 && cp < 0xDC00) {
            uint32_t lo;
            if (s.size() - i < 6 || s[i] != '\\' || s[i + 1] != 'u' ||
                !model::ParseHex4(s, i + 2, &lo) || lo < 0xDC00 || lo >= 0xE000) {
              return bad();
            }
            i += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          model::AppendUtf8(cp, &v);
          break;
        }
        default:
          return bad();
      }
    }
    out.push_back(std::move(v));
    skip_ws();
    if (i >= s.size()) return bad();
    if (s[i] == ',') {
      ++i;
      continue;
    }
    if (s[i] == ']') {
      ++i;
      break;
    }
    return bad();
  }
  skip_ws();
  if (i != s.size()) return bad();
  return out;
}

}  // namespace raceway::storage::common
