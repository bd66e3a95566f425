// storage::tools JSON Lines import (raceway import): the whole input as one
// line (EventFromJsonLine), then as a file (JsonlReader). Invariants: a line
// that imports exports again (EventToJsonLine), and the exported line
// imports to the same event; the reader's errors name their line and it
// never returns more events than the input has lines.

#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/storage/tools/jsonl.h"
#include "tests/fuzz/fuzz_check.h"

namespace raceway::fuzz {
namespace {

void CheckLine(const std::string& line) {
  v1::Event event;
  if (!storage::tools::EventFromJsonLine(line, &event).ok()) return;
  const auto printed = storage::tools::EventToJsonLine(event);
  FUZZ_CHECK(printed.ok(),
             absl::StrCat("imported event cannot be exported: ", printed.status().ToString()));
  v1::Event again;
  const absl::Status back = storage::tools::EventFromJsonLine(*printed, &again);
  FUZZ_CHECK(back.ok(),
             absl::StrCat("exported line does not import: ", back.ToString(), "\n", *printed));
  std::string diff;
  google::protobuf::util::MessageDifferencer differ;
  differ.ReportDifferencesToString(&diff);
  FUZZ_CHECK(differ.Compare(event, again), absl::StrCat("changed through export: ", diff));
}

void CheckFile(const std::string& text) {
  std::istringstream in(text);
  storage::tools::JsonlReader reader(in);
  const uint64_t lines = static_cast<uint64_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  uint64_t events = 0;
  v1::Event event;
  while (true) {
    const auto next = reader.Next(&event);
    if (!next.ok()) {
      FUZZ_CHECK(absl::StartsWith(next.status().message(), absl::StrCat("line ", reader.line())),
                 next.status().ToString());
      break;
    }
    if (!*next) break;
    ++events;
    FUZZ_CHECK(events <= lines && reader.line() <= lines, "more events than lines");
  }
}

}  // namespace
}  // namespace raceway::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  raceway::fuzz::CheckLine(text);
  raceway::fuzz::CheckFile(text);
  return 0;
}
