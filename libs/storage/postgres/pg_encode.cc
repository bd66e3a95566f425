#include "libs/storage/postgres/pg_encode.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace raceway::storage::postgres {

void CopyText::Sep() {
  if (row_open_) {
    buf_.push_back('\t');
  } else {
    row_open_ = true;
  }
}

void CopyText::Text(std::string_view s) {
  Sep();
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const char* esc = nullptr;
    switch (c) {
      case '\\':
        esc = "\\\\";
        break;
      case '\n':
        esc = "\\n";
        break;
      case '\r':
        esc = "\\r";
        break;
      case '\t':
        esc = "\\t";
        break;
      case '\b':
        esc = "\\b";
        break;
      case '\f':
        esc = "\\f";
        break;
      case '\v':
        esc = "\\v";
        break;
      default:
        continue;
    }
    buf_.append(s.data() + start, i - start);
    buf_.append(esc);
    start = i + 1;
  }
  buf_.append(s.data() + start, s.size() - start);
}

void CopyText::Null() {
  Sep();
  buf_.append("\\N");
}

void CopyText::Int(int64_t v) {
  Sep();
  char tmp[24];
  auto r = std::to_chars(tmp, tmp + sizeof(tmp), v);
  buf_.append(tmp, r.ptr);
}

void CopyText::Bytea(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  Sep();
  buf_.append("\\\\x");
  const size_t at = buf_.size();
  buf_.resize(at + 2 * bytes.size());
  char* out = buf_.data() + at;
  for (unsigned char b : bytes) {
    *out++ = kHex[b >> 4];
    *out++ = kHex[b & 0xf];
  }
}

void CopyText::EndRow() {
  buf_.push_back('\n');
  row_open_ = false;
}

std::string CopyText::Take() {
  std::string out;
  out.swap(buf_);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  row_open_ = false;
  return out;
}

void ArrayLiteral::Sep() {
  if (count_++ > 0) buf_.push_back(',');
}

void ArrayLiteral::Text(std::string_view s) {
  Sep();
  buf_.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') buf_.push_back('\\');
    buf_.push_back(c);
  }
  buf_.push_back('"');
}

void ArrayLiteral::Raw(std::string_view s) {
  Sep();
  buf_.append(s.data(), s.size());
}

void ArrayLiteral::Int(int64_t v) {
  Sep();
  char tmp[24];
  auto r = std::to_chars(tmp, tmp + sizeof(tmp), v);
  buf_.append(tmp, r.ptr);
}

void ArrayLiteral::Double(double v) {
  Sep();
  if (std::isnan(v)) {
    buf_.append("NaN");
  } else if (std::isinf(v)) {
    buf_.append(v > 0 ? "Infinity" : "-Infinity");
  } else {
    char tmp[32];
    auto r = std::to_chars(tmp, tmp + sizeof(tmp), v);
    buf_.append(tmp, r.ptr);
  }
}

void ArrayLiteral::Null() {
  Sep();
  buf_.append("NULL");
}

std::string ArrayLiteral::Done() {
  buf_.push_back('}');
  return std::move(buf_);
}

}  // namespace raceway::storage::postgres
