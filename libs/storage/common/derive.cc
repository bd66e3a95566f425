#include "libs/storage/common/derive.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "libs/model/operation_key.h"

namespace raceway::storage::common {

using raceway::v1::Event;

bool LinkBetter(const LinkClass& a, const LinkClass& b) {
  return a.priority != b.priority ? a.priority < b.priority : a.type < b.type;
}

LinkClass ClassifyLink(const Event& event) {
  static constexpr std::string_view kTypes[] = {"HttpCall", "GrpcCall", "MessageQueue",
                                                "DatabaseQuery", "Custom"};
  const auto& tags = event.metadata().tags();
  if (auto it = tags.find("link_type"); it != tags.end()) {
    for (std::string_view t : kTypes) {
      if (it->second == t) return {t, 0};
    }
  }
  switch (event.kind_case()) {
    case Event::kHttpRequest:
    case Event::kHttpResponse:
      return {"HttpCall", 1};
    case Event::kDatabaseQuery:
    case Event::kDatabaseResult:
      return {"DatabaseQuery", 1};
    default:
      return {"HttpCall", 2};
  }
}

PreparedEvent PrepareEvent(const Event& event) {
  PreparedEvent p;
  p.event = &event;
  p.timestamp_ns = raceway::model::TimestampNanos(event);
  p.duration_ns = raceway::model::DurationNs(event);
  p.kind = raceway::model::KindName(event);
  if (p.duration_ns) p.operation = raceway::model::OperationKey(event);
  return p;
}

namespace {

template <typename D>
void Span(D& d, int64_t ts) {
  ++d.event_count;
  d.first_ns = std::min(d.first_ns, ts);
  d.last_ns = std::max(d.last_ns, ts);
}

}  // namespace

BatchAggregates Aggregate(std::span<const PreparedEvent* const> new_events) {
  BatchAggregates a;
  for (const PreparedEvent* p : new_events) {
    const Event& e = *p->event;
    const std::string_view trace = e.trace_id();
    const std::string_view service = e.metadata().service_name();
    Span(a.traces[trace], p->timestamp_ns);
    ServiceDelta& s = a.trace_services[{trace, service}];
    Span(s, p->timestamp_ns);
    if (p->duration_ns) {
      const double d = static_cast<double>(*p->duration_ns);
      ++s.duration_count;
      s.duration_sum_ns += d;
      KindDelta& k = a.trace_kinds[{trace, p->kind}];
      ++k.duration_count;
      k.duration_sum_ns += d;
      a.baselines[p->operation].Add(d);
    }
    if (e.has_state_change()) ++a.trace_variables[{trace, e.state_change().variable(), service}];
    const std::string_view span = e.metadata().distributed_span_id();
    const std::string_view upstream = e.metadata().upstream_span_id();
    if (!span.empty()) Span(a.spans[{trace, span, service}], p->timestamp_ns);
    if (!span.empty() && !upstream.empty() && span != upstream) {
      const LinkClass link = ClassifyLink(e);
      auto [it, inserted] = a.span_edges.try_emplace({trace, upstream, span}, link);
      if (!inserted && LinkBetter(link, it->second)) it->second = link;
    }
  }
  return a;
}

ServiceCallDeltas ResolveParentCalls(std::span<const PreparedEvent* const> new_events,
                                     ParentResolver& resolver) {
  ServiceCallDeltas calls;
  auto add = [&](std::string_view trace, std::string_view from, std::string_view to) {
    if (from != to) ++calls[{std::string(trace), std::string(from), std::string(to)}];
  };
  // Children stored by earlier batches whose parent arrives now.
  if (resolver.AnyWaitingChildren()) {
    for (const PreparedEvent* p : new_events) {
      const Event& e = *p->event;
      for (const WaitingChild& c : resolver.TakeWaitingChildren(e.id())) {
        add(c.trace_id, e.metadata().service_name(), c.service_name);
      }
    }
  }
  // Parents of the new events: in this batch, stored before, or not yet.
  absl::flat_hash_map<std::string_view, std::string_view> batch_service;
  batch_service.reserve(new_events.size());
  for (const PreparedEvent* p : new_events) {
    batch_service.emplace(p->event->id(), p->event->metadata().service_name());
  }
  for (const PreparedEvent* p : new_events) {
    const Event& e = *p->event;
    if (e.parent_id().empty()) continue;
    if (auto it = batch_service.find(std::string_view(e.parent_id())); it != batch_service.end()) {
      add(e.trace_id(), it->second, e.metadata().service_name());
    } else if (auto svc = resolver.StoredService(e.parent_id())) {
      add(e.trace_id(), *svc, e.metadata().service_name());
    } else {
      resolver.AddWaitingChild({e.parent_id(), e.id(), e.trace_id(), e.metadata().service_name()});
    }
  }
  return calls;
}

}  // namespace raceway::storage::common
