#ifndef RACEWAY_LIBS_STORAGE_TOOLS_JSONL_H_
#define RACEWAY_LIBS_STORAGE_TOOLS_JSONL_H_

// JSON Lines archives of events: one raceway.v1.Event per line, in the
// proto3 JSON mapping produced by protobuf's JsonFormat (field names as in
// the .proto, e.g. "trace_id"; int64 as strings; enums by name). Readers
// accept lowerCamelCase names too, and skip blank lines. Lines are parsed
// strictly: an unknown field or malformed JSON is INVALID_ARGUMENT naming
// the line number; so is a line nested deeper than 200 levels (refused
// before parsing: protobuf's parser is quadratic in depth). JSON cannot
// carry everything a google.protobuf.Value holds: the printer writes -0.0
// as 0 and refuses NaN/Infinity (export then fails naming the event);
// everything else round-trips exactly.
//
// Value types; not synchronized.

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raceway/v1/event.pb.h"

namespace raceway::storage::tools {

// One line (without the newline).
absl::StatusOr<std::string> EventToJsonLine(const raceway::v1::Event& event);
absl::Status EventFromJsonLine(const std::string& line, raceway::v1::Event* event);

class JsonlWriter {
 public:
  explicit JsonlWriter(std::ostream& out) : out_(out) {}
  absl::Status Write(const raceway::v1::Event& event);
  uint64_t written() const { return written_; }

 private:
  std::ostream& out_;
  uint64_t written_ = 0;
};

class JsonlReader {
 public:
  explicit JsonlReader(std::istream& in) : in_(in) {}
  // Reads the next event: true when one was read, false at the end of the
  // input; an error names the line.
  absl::StatusOr<bool> Next(raceway::v1::Event* event);
  uint64_t line() const { return line_; }

 private:
  std::istream& in_;
  uint64_t line_ = 0;
  std::string buf_;
};

}  // namespace raceway::storage::tools

#endif  // RACEWAY_LIBS_STORAGE_TOOLS_JSONL_H_
