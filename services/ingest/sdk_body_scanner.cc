#include "services/ingest/sdk_body_scanner.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/model/json_escape.h"
#include "libs/model/validation.h"

namespace raceway::ingest {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Integers a double holds exactly: |n| <= 2^53.
constexpr uint64_t kMaxExactInteger = uint64_t{1} << 53;

// An RFC 8259 number (IsJsonNumber) a double cannot represent: beyond its
// range, or so small it would read as zero.
bool BeyondDouble(std::string_view t) {
  double d;
  return std::from_chars(t.data(), t.data() + t.size(), d).ec == std::errc::result_out_of_range;
}

// An RFC 8259 number written as an integer that a double would round.
bool InexactInteger(std::string_view t) {
  if (t.find_first_of(".eE") != std::string_view::npos) return false;
  if (t.front() == '-') t.remove_prefix(1);
  uint64_t v = 0;
  const auto r = std::from_chars(t.data(), t.data() + t.size(), v);
  return r.ec == std::errc::result_out_of_range || v > kMaxExactInteger;
}

class Scanner {
 public:
  Scanner(std::string_view text, int max_depth) : text_(text), max_depth_(max_depth) {}

  absl::Status Run(ScannedBody* out) {
    while (true) {
      while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
      if (pos_ >= text_.size()) break;
      absl::Status s = Step();
      if (!s.ok()) return s;
    }
    if (depth_ > 0 || !root_done_) return Error("the body ends inside a value");
    out->events = std::move(events_);
    out->faults = std::move(faults_);
    if (!replaced_.empty()) {
      size_t from = 0;
      for (const auto& [at, size] : replaced_) {
        out->rewritten.append(text_.substr(from, at - from));
        out->rewritten.append("null");
        from = at + size;
      }
      out->rewritten.append(text_.substr(from));
    }
    return absl::OkStatus();
  }

 private:
  // What a value is, by its path: the root object, its "events" array, an
  // event, its "id", its "metadata" / "kind" object, the HttpResponse or
  // DatabaseQuery payload, and the two duration slots.
  enum class Role : uint8_t {
    kOther,
    kRoot,
    kEvents,
    kEvent,
    kEventId,
    kMetadata,
    kKind,
    kKindPayload,
    kDurationNs,
    kDurationMs
  };
  // Objects: kFirst '{' seen, kNext ',' seen, kColon key seen, kValue ':'
  // seen, kAfterValue. Arrays: kFirst, kNext, kAfterValue.
  enum class State : uint8_t { kFirst, kNext, kColon, kValue, kAfterValue };
  struct Frame {
    Role role = Role::kOther;
    bool object = false;
    State state = State::kFirst;
    Role value_role = Role::kOther;  // Objects: role of the current key's value.
    std::string key;                 // Objects: the current key, decoded.
    size_t index = 0;                // Arrays: the current element.
    std::vector<std::string> keys;   // Objects: every key, for the repeat check.
  };

  // One token or structural character at pos_ (not whitespace).
  absl::Status Step() {
    if (depth_ == 0) {
      if (root_done_) return Error("text after the JSON value");
      return Value();
    }
    Frame& f = frames_[depth_ - 1];
    const char c = text_[pos_];
    if (f.object) {
      switch (f.state) {
        case State::kFirst:
        case State::kNext: {
          if (c == '}') {
            if (f.state == State::kNext) return Error("a trailing comma before '}'");
            return Close();
          }
          if (c != '"') {
            return Error(c == '\'' ? "a single-quoted key (JSON strings use double quotes)"
                                   : "an object key that is not a double-quoted string");
          }
          std::string key;
          if (absl::Status s = ReadString(/*decode=*/true, &key); !s.ok()) return s;
          Key(f, std::move(key));
          f.state = State::kColon;
          return absl::OkStatus();
        }
        case State::kColon:
          if (c != ':') return Error("no ':' after an object key");
          ++pos_;
          f.state = State::kValue;
          return absl::OkStatus();
        case State::kValue:
          return Value();
        case State::kAfterValue:
          if (c == '}') return Close();
          if (c != ',') return Error("no ',' or '}' after an object member");
          ++pos_;
          f.state = State::kNext;
          return absl::OkStatus();
      }
    }
    switch (f.state) {
      case State::kAfterValue:
        if (c == ']') return Close();
        if (c != ',') return Error("no ',' or ']' after an array element");
        ++pos_;
        ++f.index;
        f.state = State::kNext;
        return absl::OkStatus();
      case State::kNext:
        if (c == ']') return Error("a trailing comma before ']'");
        return Value();
      default:
        if (c == ']') return Close();
        return Value();
    }
  }

  // A value starts at pos_.
  absl::Status Value() {
    const Role role = ValueStart();
    const char c = text_[pos_];
    if (c == '{' || c == '[') {
      if (depth_ >= max_depth_) {
        return absl::InvalidArgumentError(
            absl::StrCat("body is not valid JSON: nested deeper than ", max_depth_, " levels"));
      }
      if (depth_ == frames_.size()) frames_.emplace_back();
      Frame& f = frames_[depth_++];
      f.role = role;
      f.object = c == '{';
      f.state = State::kFirst;
      f.value_role = Role::kOther;
      f.key.clear();
      f.index = 0;
      f.keys.clear();
      ++pos_;
      return absl::OkStatus();
    }
    if (c == '"') {
      std::string text;
      const bool id = role == Role::kEventId;
      if (absl::Status s = ReadString(/*decode=*/id, &text); !s.ok()) return s;
      if (id) events_[event_].id = std::move(text);
      ValueDone();
      return absl::OkStatus();
    }
    if (c == '\'') return Error("a single-quoted string (JSON strings use double quotes)");
    const std::string_view token = ReadBareToken();
    if (token.empty()) {
      return Error(absl::StrCat("'", model::EchoSafe(std::string_view(&c, 1), 4),
                                "' where a value belongs"));
    }
    if (absl::Status s = Scalar(role, token); !s.ok()) return s;
    ValueDone();
    return absl::OkStatus();
  }

  // The role of the value starting now, from the enclosing frame.
  Role ValueStart() {
    if (depth_ == 0) return Role::kRoot;
    const Frame& f = frames_[depth_ - 1];
    if (f.object) return f.value_role;
    if (f.role != Role::kEvents) return Role::kOther;
    ++event_;
    if (event_ >= events_.size()) events_.resize(event_ + 1);
    event_start_ = pos_;
    event_level_ = depth_;
    event_faulted_ = false;
    return Role::kEvent;
  }

  // A value ended at pos_.
  void ValueDone() {
    if (depth_ == 0) {
      root_done_ = true;
      return;
    }
    Frame& f = frames_[depth_ - 1];
    f.state = State::kAfterValue;
    if (!f.object && f.role == Role::kEvents) {
      // An event ended: a faulty one reaches the parser as null.
      if (event_faulted_) {
        while (!replaced_.empty() && replaced_.back().first >= event_start_) replaced_.pop_back();
        replaced_.emplace_back(event_start_, pos_ - event_start_);
      }
      event_level_ = 0;
    }
  }

  // At the '}' or ']' of the innermost frame.
  absl::Status Close() {
    Frame& f = frames_[depth_ - 1];
    if (f.object && f.keys.size() > 1) {
      std::sort(f.keys.begin(), f.keys.end());
      const auto repeat = std::adjacent_find(f.keys.begin(), f.keys.end());
      if (repeat != f.keys.end()) {
        const std::string key = model::EchoSafe(*repeat, 64);
        if (!InEvent()) return Error(absl::StrCat("the key \"", key, "\" is repeated"));
        std::string path = PathTo(depth_ - 1);
        absl::StrAppend(&path, path.empty() ? "" : ".", key);
        Fault(std::move(path), "the key is repeated in its object");
      }
    }
    ++pos_;
    --depth_;
    ValueDone();
    return absl::OkStatus();
  }

  void Key(Frame& f, std::string key) {
    switch (f.role) {
      case Role::kRoot:
        f.value_role = key == "events" ? Role::kEvents : Role::kOther;
        break;
      case Role::kEvent:
        f.value_role = key == "metadata" ? Role::kMetadata
                       : key == "kind"   ? Role::kKind
                       : key == "id"     ? Role::kEventId
                                         : Role::kOther;
        break;
      case Role::kMetadata:
        f.value_role = key == "duration_ns" ? Role::kDurationNs : Role::kOther;
        break;
      case Role::kKind:
        f.value_role =
            key == "HttpResponse" || key == "DatabaseQuery" ? Role::kKindPayload : Role::kOther;
        break;
      case Role::kKindPayload:
        f.value_role = key == "duration_ms" ? Role::kDurationMs : Role::kOther;
        break;
      default:
        f.value_role = Role::kOther;
    }
    f.keys.push_back(key);
    f.key = std::move(key);
  }

  absl::Status Scalar(Role role, std::string_view t) {
    if (t == "true" || t == "false" || t == "null") return absl::OkStatus();
    const bool literal = t == "NaN" || t == "Infinity" || t == "-Infinity";
    if (!literal && !IsJsonNumber(t)) {
      return Error(absl::StrCat("'", model::EchoSafe(t, 32), "' is not a JSON value"));
    }
    if (role == Role::kDurationNs || role == Role::kDurationMs) {
      // Read exactly from the text later; the parser gets null when it
      // could not read the token itself.
      EventTokens& e = events_[event_];
      (role == Role::kDurationNs ? e.duration_ns : e.duration_ms) = t;
      if (literal || BeyondDouble(t)) Replace(t);
      return absl::OkStatus();
    }
    if (literal) {
      const std::string what = absl::StrCat(std::string(t), " is not a JSON number");
      if (!InEvent()) return Error(what);
      Fault(PathTo(depth_), what);
      return absl::OkStatus();
    }
    if (BeyondDouble(t)) {
      if (InEvent()) {
        Fault(PathTo(depth_), absl::StrCat("the number ", model::EchoSafe(t, 32),
                                           " cannot be represented as a double"));
      } else {
        Replace(t);  // Outside the events: never read.
      }
      return absl::OkStatus();
    }
    if (InEvent() && InexactInteger(t)) {
      Fault(PathTo(depth_),
            absl::StrCat("the integer ", model::EchoSafe(t, 32),
                         " cannot be stored exactly (JSON numbers are kept as doubles, exact up "
                         "to 2^53 = 9007199254740992); send it as a string"));
    }
    return absl::OkStatus();
  }

  void Replace(std::string_view t) {
    replaced_.emplace_back(static_cast<size_t>(t.data() - text_.data()), t.size());
  }

  bool InEvent() const { return event_level_ > 0; }

  void Fault(std::string field, std::string reason) {
    if (event_faulted_) return;
    event_faulted_ = true;
    faults_.push_back(EventFault{event_, std::move(field), std::move(reason)});
  }

  // The SDK path, relative to the current event, of the value located by
  // frames [event_level_, end).
  std::string PathTo(size_t end) const {
    std::string path;
    for (size_t i = event_level_; i < end; ++i) {
      const Frame& f = frames_[i];
      if (f.object) {
        absl::StrAppend(&path, path.empty() ? "" : ".", model::EchoSafe(f.key, 64));
      } else {
        absl::StrAppend(&path, "[", f.index, "]");
      }
    }
    return path;
  }

  // The string at pos_ (its opening quote). With `decode`, its text with
  // escapes resolved into *out (lone surrogates kept as 3-byte sequences,
  // so distinct keys stay distinct; the parser refuses them later).
  absl::Status ReadString(bool decode, std::string* out) {
    const size_t start = pos_++;
    while (true) {
      if (pos_ >= text_.size()) return ErrorAt(start, "a string that never ends");
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return absl::OkStatus();
      }
      if (c < 0x20) return Error("a raw control character in a string (escape it)");
      ++pos_;
      if (c != '\\') {
        if (decode) out->push_back(static_cast<char>(c));
        continue;
      }
      if (pos_ >= text_.size()) return ErrorAt(start, "a string that never ends");
      const char e = text_[pos_++];
      char plain;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          plain = e;
          break;
        case 'b':
          plain = '\b';
          break;
        case 'f':
          plain = '\f';
          break;
        case 'n':
          plain = '\n';
          break;
        case 'r':
          plain = '\r';
          break;
        case 't':
          plain = '\t';
          break;
        case 'u': {
          uint32_t code = 0;
          if (!Hex4(&code)) return ErrorAt(pos_ - 2, "\\u not followed by 4 hex digits");
          if (code >= 0xD800 && code < 0xDC00 && pos_ + 1 < text_.size() && text_[pos_] == '\\' &&
              text_[pos_ + 1] == 'u') {
            const size_t save = pos_;
            pos_ += 2;
            uint32_t low = 0;
            if (Hex4(&low) && low >= 0xDC00 && low < 0xE000) {
              code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            } else {
              pos_ = save;  // Not a pair: the next escape is read on its own.
            }
          }
          if (decode) model::AppendUtf8(code, out);
          continue;
        }
        default:
          return ErrorAt(
              pos_ - 2, absl::StrCat("an invalid escape '\\",
                                     model::EchoSafe(std::string_view(&e, 1), 4), "' in a string"));
      }
      if (decode) out->push_back(plain);
    }
  }

  bool Hex4(uint32_t* code) {
    if (!model::ParseHex4(text_, pos_, code)) return false;
    pos_ += 4;
    return true;
  }

  std::string_view ReadBareToken() {
    const size_t start = pos_;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (IsSpace(c) || c == ',' || c == ':' || c == '[' || c == ']' || c == '{' || c == '}' ||
          c == '"' || c == '\'') {
        break;
      }
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }

  absl::Status Error(std::string_view what) const { return ErrorAt(pos_, what); }
  absl::Status ErrorAt(size_t at, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("body is not valid JSON: ", std::string(what), " at byte ", at));
  }

  const std::string_view text_;
  const size_t max_depth_;
  size_t pos_ = 0;
  std::vector<Frame> frames_;  // [0, depth_) are open; the rest are kept for reuse.
  size_t depth_ = 0;
  bool root_done_ = false;
  size_t event_ = static_cast<size_t>(-1);  // Index of the current element of "events".
  size_t event_start_ = 0;                  // Its first byte.
  size_t event_level_ = 0;                  // Its frame index; 0 = not inside an event.
  bool event_faulted_ = false;
  std::vector<EventTokens> events_;
  std::vector<EventFault> faults_;
  std::vector<std::pair<size_t, size_t>> replaced_;  // (offset, size), ascending.
};

}  // namespace

bool IsJsonNumber(std::string_view t) {
  size_t i = 0;
  if (i < t.size() && t[i] == '-') ++i;
  if (i >= t.size() || !IsDigit(t[i])) return false;
  if (t[i++] != '0') {
    while (i < t.size() && IsDigit(t[i])) ++i;
  }
  if (i < t.size() && t[i] == '.') {
    if (++i >= t.size() || !IsDigit(t[i])) return false;
    while (i < t.size() && IsDigit(t[i])) ++i;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    if (++i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (i >= t.size() || !IsDigit(t[i])) return false;
    while (i < t.size() && IsDigit(t[i])) ++i;
  }
  return i == t.size();
}

absl::Status ScanSdkBody(std::string_view body, int max_depth, ScannedBody* out) {
  return Scanner(body, max_depth).Run(out);
}

}  // namespace raceway::ingest
