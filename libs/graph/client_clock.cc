#include "libs/graph/client_clock.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace raceway::graph {

absl::StatusOr<ClientClockMode> ParseClientClockMode(std::string_view text) {
  if (text == "auto") return ClientClockMode::kAuto;
  if (text == "trust") return ClientClockMode::kTrust;
  if (text == "ignore") return ClientClockMode::kIgnore;
  return absl::InvalidArgumentError(
      absl::StrCat("analysis.client_clocks: must be \"auto\", \"trust\" or \"ignore\", got \"",
                   absl::CEscape(absl::string_view(text.data(), text.size())), "\""));
}

std::string_view ClientClockModeName(ClientClockMode mode) {
  switch (mode) {
    case ClientClockMode::kAuto:
      return "auto";
    case ClientClockMode::kTrust:
      return "trust";
    case ClientClockMode::kIgnore:
      return "ignore";
  }
  return "unknown";
}

ClockOrder CompareClientClocks(std::span<const ClientClockEntry> a,
                               std::span<const ClientClockEntry> b) {
  bool a_less = false, b_less = false;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].component < b[j].component) {
      b_less = true;
      ++i;
    } else if (b[j].component < a[i].component) {
      a_less = true;
      ++j;
    } else {
      if (a[i].clock < b[j].clock) a_less = true;
      if (b[j].clock < a[i].clock) b_less = true;
      ++i;
      ++j;
    }
    if (a_less && b_less) return ClockOrder::kConcurrent;
  }
  if (i < a.size()) b_less = true;
  if (j < b.size()) a_less = true;
  if (a_less && b_less) return ClockOrder::kConcurrent;
  if (a_less) return ClockOrder::kBefore;
  if (b_less) return ClockOrder::kAfter;
  return ClockOrder::kEqual;
}

NamedClock NormalizeClientClock(NamedClock entries) {
  entries.erase(
      std::remove_if(entries.begin(), entries.end(), [](const auto& e) { return e.second == 0; }),
      entries.end());
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second > b.second;
  });
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first; }),
                entries.end());
  return entries;
}

NamedClock NormalizeClientClock(
    const google::protobuf::RepeatedPtrField<raceway::v1::CausalityEntry>& entries) {
  NamedClock out;
  out.reserve(entries.size());
  for (const auto& e : entries) out.emplace_back(e.component(), e.clock());
  return NormalizeClientClock(std::move(out));
}

ClockOrder CompareNamedClocks(const NamedClock& a, const NamedClock& b) {
  bool a_less = false, b_less = false;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].first < b[j].first) {
      b_less = true;
      ++i;
    } else if (b[j].first < a[i].first) {
      a_less = true;
      ++j;
    } else {
      if (a[i].second < b[j].second) a_less = true;
      if (b[j].second < a[i].second) b_less = true;
      ++i;
      ++j;
    }
    if (a_less && b_less) return ClockOrder::kConcurrent;
  }
  if (i < a.size()) b_less = true;
  if (j < b.size()) a_less = true;
  if (a_less && b_less) return ClockOrder::kConcurrent;
  if (a_less) return ClockOrder::kBefore;
  if (b_less) return ClockOrder::kAfter;
  return ClockOrder::kEqual;
}

}  // namespace raceway::graph
