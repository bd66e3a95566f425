#include "libs/storage/tools/jsonl.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace raceway::storage::tools {

absl::StatusOr<std::string> EventToJsonLine(const raceway::v1::Event& event) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = false;
  std::string out;
  const auto st = google::protobuf::util::MessageToJsonString(event, &out, options);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("event ", event.id(), " cannot be written as JSON: ", st.ToString()));
  }
  return out;
}

namespace {

// Deeper lines are refused before parsing: protobuf's transcoder spends
// time quadratic in the nesting depth (8,000 levels in a 16 KB line cost
// 7-11 s), and a stored event nests far less (its JSON values at most 64).
constexpr int kMaxLineNesting = 200;

// The nesting depth of `line` as protobuf's parser reads it: brackets
// outside strings, where a string runs from a " or ' to the same unescaped
// quote (the parser takes both quotes), so no quoting hides a bracket.
int NestingDepth(std::string_view line) {
  int depth = 0;
  int deepest = 0;
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote != 0) {
      if (c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

absl::Status EventFromJsonLine(const std::string& line, raceway::v1::Event* event) {
  if (NestingDepth(line) > kMaxLineNesting) {
    event->Clear();
    return absl::InvalidArgumentError(
        absl::StrCat("JSON nested deeper than ", kMaxLineNesting, " levels"));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  event->Clear();
  const auto st = google::protobuf::util::JsonStringToMessage(line, event, options);
  if (!st.ok()) return absl::InvalidArgumentError(st.ToString());
  return absl::OkStatus();
}

absl::Status JsonlWriter::Write(const raceway::v1::Event& event) {
  auto line = EventToJsonLine(event);
  if (!line.ok()) return line.status();
  out_ << *line << '\n';
  if (!out_) return absl::InternalError("write failed (disk full?)");
  ++written_;
  return absl::OkStatus();
}

absl::StatusOr<bool> JsonlReader::Next(raceway::v1::Event* event) {
  while (std::getline(in_, buf_)) {
    ++line_;
    if (!buf_.empty() && buf_.back() == '\r') buf_.pop_back();
    if (buf_.find_first_not_of(" \t") == std::string::npos) continue;
    if (absl::Status st = EventFromJsonLine(buf_, event); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_, ": ", st.message()));
    }
    return true;
  }
  if (in_.bad()) return absl::InternalError(absl::StrCat("read error after line ", line_));
  return false;
}

}  // namespace raceway::storage::tools
