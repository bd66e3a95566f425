#include "libs/storage/common/page_token.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "libs/model/uuid.h"

namespace raceway::storage::common {
namespace {

constexpr char kVersion = 1;
constexpr char kTraceTag = 'T', kEventTag = 'E', kAccessTag = 'A';

void PutInt64(std::string& out, int64_t v) {
  const uint64_t u = static_cast<uint64_t>(v);
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

void PutString(std::string& out, std::string_view s) {
  const uint32_t n = static_cast<uint32_t>(s.size());
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out.append(s.data(), s.size());
}

std::string Finish(const std::string& raw) {
  std::string out;
  absl::WebSafeBase64Escape(absl::string_view(raw.data(), raw.size()), &out);
  return out;
}

// Reads the fields back; any inconsistency makes ok() false.
class Reader {
 public:
  explicit Reader(std::string data) : data_(std::move(data)) {}
  bool Int64(int64_t* v) {
    if (data_.size() - pos_ < 8) return false;
    uint64_t u = 0;
    for (int i = 0; i < 8; ++i) u = u << 8 | static_cast<uint8_t>(data_[pos_ + i]);
    pos_ += 8;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool String(std::string* s) {
    if (data_.size() - pos_ < 4) return false;
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n = n << 8 | static_cast<uint8_t>(data_[pos_ + i]);
    pos_ += 4;
    if (data_.size() - pos_ < n) return false;
    s->assign(data_, pos_, n);
    pos_ += n;
    return true;
  }
  bool Done() const { return pos_ == data_.size(); }

 private:
  std::string data_;
  size_t pos_ = 0;
};

absl::Status Malformed() { return absl::InvalidArgumentError("malformed page_token"); }

absl::StatusOr<Reader> Open(std::string_view token, char tag) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(absl::string_view(token.data(), token.size()), &raw) ||
      raw.size() < 2 || raw[0] != tag || raw[1] != kVersion) {
    return Malformed();
  }
  return Reader(raw.substr(2));
}

}  // namespace

std::string EncodeTraceCursor(const TraceCursor& c) {
  std::string raw{kTraceTag, kVersion};
  PutInt64(raw, c.last_ns);
  PutString(raw, c.trace_id);
  return Finish(raw);
}

std::string EncodeEventCursor(const EventCursor& c) {
  std::string raw{kEventTag, kVersion};
  PutInt64(raw, c.timestamp_ns);
  PutString(raw, c.event_id);
  return Finish(raw);
}

std::string EncodeAccessCursor(const AccessCursor& c) {
  std::string raw{kAccessTag, kVersion};
  PutString(raw, c.variable);
  PutInt64(raw, c.timestamp_ns);
  PutString(raw, c.event_id);
  return Finish(raw);
}

absl::StatusOr<TraceCursor> DecodeTraceCursor(std::string_view token) {
  auto r = Open(token, kTraceTag);
  if (!r.ok()) return r.status();
  TraceCursor c;
  if (!r->Int64(&c.last_ns) || !r->String(&c.trace_id) || !r->Done() ||
      !raceway::model::IsCanonicalUuid(c.trace_id)) {
    return Malformed();
  }
  return c;
}

absl::StatusOr<EventCursor> DecodeEventCursor(std::string_view token) {
  auto r = Open(token, kEventTag);
  if (!r.ok()) return r.status();
  EventCursor c;
  if (!r->Int64(&c.timestamp_ns) || !r->String(&c.event_id) || !r->Done() ||
      !raceway::model::IsCanonicalUuid(c.event_id)) {
    return Malformed();
  }
  return c;
}

absl::StatusOr<AccessCursor> DecodeAccessCursor(std::string_view token) {
  auto r = Open(token, kAccessTag);
  if (!r.ok()) return r.status();
  AccessCursor c;
  if (!r->String(&c.variable) || !r->Int64(&c.timestamp_ns) || !r->String(&c.event_id) ||
      !r->Done() || !raceway::model::IsCanonicalUuid(c.event_id)) {
    return Malformed();
  }
  return c;
}

}  // namespace raceway::storage::common
