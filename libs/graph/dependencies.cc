#include "libs/graph/dependencies.h"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

namespace raceway::graph {
namespace {

using raceway::v1::Event;

std::optional<LinkType> ExplicitLink(const Event& e) {
  const auto& tags = e.metadata().tags();
  auto it = tags.find("link_type");
  if (it == tags.end()) return std::nullopt;
  for (LinkType t : {LinkType::kHttpCall, LinkType::kGrpcCall, LinkType::kMessageQueue,
                     LinkType::kDatabaseQuery, LinkType::kCustom}) {
    if (it->second == LinkTypeName(t)) return t;
  }
  return std::nullopt;
}

bool IsGrpc(const Event& e) {
  const auto& tags = e.metadata().tags();
  auto it = tags.find("rpc.system");
  return it != tags.end() && it->second == "grpc";
}

bool IsMessaging(const Event& e) { return e.metadata().tags().contains("messaging.system"); }

bool IsHttp(const Event& e) { return e.has_http_request() || e.has_http_response(); }

bool IsDatabase(const Event& e) {
  return e.has_database_query() || e.has_database_result() ||
         e.metadata().tags().contains("db.system");
}

}  // namespace

std::string_view LinkTypeName(LinkType t) {
  switch (t) {
    case LinkType::kHttpCall:
      return "HttpCall";
    case LinkType::kGrpcCall:
      return "GrpcCall";
    case LinkType::kMessageQueue:
      return "MessageQueue";
    case LinkType::kDatabaseQuery:
      return "DatabaseQuery";
    case LinkType::kCustom:
      return "Custom";
  }
  return "Custom";
}

LinkType ClassifyLink(const Event& caller, const Event& callee) {
  if (auto t = ExplicitLink(callee)) return *t;
  if (auto t = ExplicitLink(caller)) return *t;
  if (IsGrpc(callee) || IsGrpc(caller)) return LinkType::kGrpcCall;
  if (IsMessaging(callee) || IsMessaging(caller)) return LinkType::kMessageQueue;
  if (IsHttp(callee) || IsHttp(caller)) return LinkType::kHttpCall;
  if (IsDatabase(callee) || IsDatabase(caller)) return LinkType::kDatabaseQuery;
  return LinkType::kCustom;
}

TraceDependencies ComputeDependencies(const CompactTrace& t) {
  const uint32_t n = t.size();
  TraceDependencies out;
  std::vector<uint64_t> counts(t.num_services(), 0);
  for (uint32_t i = 0; i < n; ++i) ++counts[t.service(i)];
  for (uint32_t s = 0; s < t.num_services(); ++s) {
    out.services.push_back({std::string(t.service_name(s)), counts[s]});
  }
  std::sort(out.services.begin(), out.services.end(),
            [](const ServiceNode& a, const ServiceNode& b) { return a.name < b.name; });

  absl::flat_hash_map<std::tuple<uint32_t, uint32_t, LinkType>, uint64_t> calls;
  std::vector<uint8_t> parent_call(n, 0);
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t p = t.parent(i);
    if (p == kNone || t.service(p) == t.service(i)) continue;
    parent_call[i] = 1;
    ++calls[{t.service(p), t.service(i), ClassifyLink(t.event(p), t.event(i))}];
  }

  // Span links.
  std::vector<std::vector<uint32_t>> span_events(t.num_spans());
  bool any = false;
  for (uint32_t i = 0; i < n; ++i) any |= t.upstream_span(i) != kNone;
  if (any) {
    for (uint32_t i = 0; i < n; ++i) {
      if (t.span(i) != kNone) span_events[t.span(i)].push_back(i);
    }
    absl::flat_hash_set<std::pair<uint32_t, uint64_t>> seen;  // (u, downstream key).
    for (uint32_t e = 0; e < n; ++e) {
      const uint32_t u = t.upstream_span(e);
      if (u == kNone) continue;
      const uint64_t down = t.span(e) != kNone ? t.span(e) : (uint64_t{1} << 32) + e;
      if (!seen.insert({u, down}).second) continue;
      if (parent_call[e]) continue;
      const auto& list = span_events[u];
      if (list.empty()) continue;
      // Latest event of span u with order timestamp <= e's (list is in index
      // order, hence order-timestamp order).
      auto it =
          std::upper_bound(list.begin(), list.end(), t.order_timestamp_ns(e),
                           [&](int64_t v, uint32_t idx) { return v < t.order_timestamp_ns(idx); });
      const uint32_t src = it == list.begin() ? list.front() : *(it - 1);
      if (src == e || t.service(src) == t.service(e)) continue;
      ++calls[{t.service(src), t.service(e), ClassifyLink(t.event(src), t.event(e))}];
    }
  }
  for (const auto& [key, count] : calls) {
    out.edges.push_back({std::string(t.service_name(std::get<0>(key))),
                         std::string(t.service_name(std::get<1>(key))), count, std::get<2>(key)});
  }
  std::sort(out.edges.begin(), out.edges.end(), [](const ServiceEdge& a, const ServiceEdge& b) {
    return std::tie(a.from, a.to, a.link_type) < std::tie(b.from, b.to, b.link_type);
  });
  return out;
}

}  // namespace raceway::graph
