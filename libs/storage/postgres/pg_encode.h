#ifndef RACEWAY_LIBS_STORAGE_POSTGRES_PG_ENCODE_H_
#define RACEWAY_LIBS_STORAGE_POSTGRES_PG_ENCODE_H_

// Text encodings the PostgreSQL backend sends: COPY text-format rows and
// array literals (for INSERT ... SELECT FROM unnest($1::type[], ...)).
// Value types; not synchronized.

#include <cstdint>
#include <string>
#include <string_view>

namespace raceway::storage::postgres {

// Builds COPY ... FROM STDIN (text format) data: fields separated by tabs,
// rows by newlines, backslash escapes, \N for NULL. Input must be valid
// UTF-8 without NUL (event validation guarantees it); the connection's
// client_encoding must be UTF8 (set by the backend).
class CopyText {
 public:
  void Text(std::string_view s);
  void Null();
  void Int(int64_t v);
  // bytea in hex form: \\x0a1b...
  void Bytea(std::string_view bytes);
  void EndRow();

  size_t size() const { return buf_.size(); }
  bool empty() const { return buf_.empty(); }
  // The rows so far, without the final newline; clears the buffer.
  std::string Take();

 private:
  void Sep();
  std::string buf_;
  bool row_open_ = false;
};

// Array literal for a text-typed parameter: {"a","b\"c",NULL}.
class ArrayLiteral {
 public:
  ArrayLiteral() { buf_.push_back('{'); }
  void Text(std::string_view s);  // Quoted and escaped.
  void Raw(std::string_view s);   // Unquoted (numbers, uuids).
  void Int(int64_t v);
  void Double(double v);  // Shortest round-trip form.
  void Null();
  std::string Done();
  size_t count() const { return count_; }

 private:
  void Sep();
  std::string buf_;
  size_t count_ = 0;
};

}  // namespace raceway::storage::postgres

#endif  // RACEWAY_LIBS_STORAGE_POSTGRES_PG_ENCODE_H_
