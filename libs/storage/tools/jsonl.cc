#include "libs/storage/tools/jsonl.h"

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

absl::Status EventFromJsonLine(const std::string& line, raceway::v1::Event* event) {
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
