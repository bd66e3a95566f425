#include "libs/storage/memory/memory_storage.h"

#include <algorithm>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libs/storage/common/ids.h"
#include "libs/storage/common/page_token.h"

namespace raceway::storage {

using raceway::v1::Event;

namespace {

template <typename D>
void MergeSpan(D& into, const D& d) {
  into.event_count += d.event_count;
  into.first_ns = std::min(into.first_ns, d.first_ns);
  into.last_ns = std::max(into.last_ns, d.last_ns);
}

absl::Status TraceNotFound(const std::string& trace_id) {
  return absl::NotFoundError(absl::StrCat("trace ", trace_id, " not found"));
}

VariableAccess MakeAccess(const Event& e, int64_t ts) {
  VariableAccess a;
  a.variable = e.state_change().variable();
  a.timestamp_ns = ts;
  a.event_id = e.id();
  a.trace_id = e.trace_id();
  a.thread_id = e.metadata().thread_id();
  a.service_name = e.metadata().service_name();
  a.access_type = e.state_change().access_type();
  a.location = e.state_change().location();
  a.lock_set.assign(e.lock_set().begin(), e.lock_set().end());
  a.distributed_span_id = e.metadata().distributed_span_id();
  a.upstream_span_id = e.metadata().upstream_span_id();
  return a;
}

}  // namespace

class MemoryStorage::Resolver final : public common::ParentResolver {
 public:
  explicit Resolver(MemoryStorage& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu_) : s_(s) {}

  std::optional<std::string> StoredService(std::string_view event_id) override
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    auto it = s_.by_id_.find(std::string(event_id));
    if (it == s_.by_id_.end()) return std::nullopt;
    return it->second->metadata().service_name();
  }
  bool AnyWaitingChildren() override ABSL_NO_THREAD_SAFETY_ANALYSIS { return !s_.waiting_.empty(); }
  std::vector<common::WaitingChild> TakeWaitingChildren(std::string_view parent_id) override
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    std::vector<common::WaitingChild> out;
    const std::string parent(parent_id);
    auto it = s_.waiting_.lower_bound({parent, std::string()});
    while (it != s_.waiting_.end() && it->first.first == parent) {
      auto t = s_.traces_.find(it->second.trace_id);
      if (t != s_.traces_.end()) t->second.waiting.erase(it->first);
      out.push_back(std::move(it->second));
      it = s_.waiting_.erase(it);
    }
    return out;
  }
  void AddWaitingChild(const common::WaitingChild& c) override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    StrPair key{c.parent_id, c.child_id};
    s_.traces_[c.trace_id].waiting.insert(key);
    s_.waiting_.emplace(std::move(key), c);
  }

 private:
  MemoryStorage& s_;
};

absl::StatusOr<WriteResult> MemoryStorage::WriteBatch(std::span<const Event* const> events) {
  if (absl::Status st = common::CheckBatchIds(events); !st.ok()) return st;
  std::vector<common::PreparedEvent> prepared;
  prepared.reserve(events.size());
  for (const Event* e : events) prepared.push_back(common::PrepareEvent(*e));

  WriteResult result;
  common::MutexLock lock(&mu_);
  std::vector<const common::PreparedEvent*> fresh;
  fresh.reserve(prepared.size());
  for (size_t index = 0; index < prepared.size(); ++index) {
    const common::PreparedEvent& p = prepared[index];
    const Event& e = *p.event;
    if (by_id_.contains(e.id())) {
      ++result.duplicate;
      result.duplicate_indices.push_back(static_cast<uint32_t>(index));
      continue;
    }
    TraceState& t = traces_[e.trace_id()];
    auto [it, inserted] = t.events.emplace(EventKey{p.timestamp_ns, e.id()}, e);
    by_id_.emplace(e.id(), &it->second);
    fresh.push_back(&p);
    ++result.accepted;
    if (e.parent_id().empty()) {
      t.roots.insert(e.id());
    } else {
      t.causal_edges.emplace(e.id(), e.parent_id());
    }
    if (e.has_state_change()) {
      accesses_[e.state_change().variable()].emplace(EventKey{p.timestamp_ns, e.id()},
                                                     MakeAccess(e, p.timestamp_ns));
    }
  }

  const common::BatchAggregates agg = common::Aggregate(fresh);
  for (const auto& [trace, d] : agg.traces) {
    TraceState& t = traces_[std::string(trace)];
    if (t.summary.event_count > 0) by_last_.erase({t.summary.last_ns, std::string(trace)});
    MergeSpan(t.summary, d);
    by_last_.emplace(t.summary.last_ns, std::string(trace));
  }
  for (const auto& [k, d] : agg.trace_services) {
    common::ServiceDelta& s =
        traces_[std::string(std::get<0>(k))].services[std::string(std::get<1>(k))];
    MergeSpan(s, d);
    s.duration_count += d.duration_count;
    s.duration_sum_ns += d.duration_sum_ns;
  }
  for (const auto& [k, d] : agg.trace_kinds) {
    common::KindDelta& s = traces_[std::string(std::get<0>(k))].kinds[std::string(std::get<1>(k))];
    s.duration_count += d.duration_count;
    s.duration_sum_ns += d.duration_sum_ns;
  }
  for (const auto& [k, n] : agg.trace_variables) {
    traces_[std::string(std::get<0>(k))]
        .variables[{std::string(std::get<1>(k)), std::string(std::get<2>(k))}] += n;
  }
  for (const auto& [k, d] : agg.spans) {
    MergeSpan(traces_[std::string(std::get<0>(k))]
                  .spans[{std::string(std::get<1>(k)), std::string(std::get<2>(k))}],
              d);
  }
  for (const auto& [k, link] : agg.span_edges) {
    auto& edges = traces_[std::string(std::get<0>(k))].span_edges;
    auto [it, inserted] =
        edges.try_emplace({std::string(std::get<1>(k)), std::string(std::get<2>(k))}, link);
    if (!inserted && common::LinkBetter(link, it->second)) it->second = link;
  }
  for (const auto& [op, w] : agg.baselines) {
    auto it = baselines_.find(op);
    if (it == baselines_.end())
      it = baselines_.emplace(std::string(op), model::WelfordStats{}).first;
    it->second.Merge(w);
  }
  Resolver resolver(*this);
  for (const auto& [k, n] : common::ResolveParentCalls(fresh, resolver)) {
    traces_[std::get<0>(k)].service_calls[{std::get<1>(k), std::get<2>(k)}] += n;
  }
  return result;
}

void MemoryStorage::EraseTrace(const std::string& trace_id) {
  auto it = traces_.find(trace_id);
  if (it == traces_.end()) return;
  TraceState& t = it->second;
  for (const auto& [key, e] : t.events) {
    by_id_.erase(e.id());
    if (e.has_state_change()) {
      auto v = accesses_.find(e.state_change().variable());
      if (v != accesses_.end()) {
        v->second.erase(key);
        if (v->second.empty()) accesses_.erase(v);
      }
    }
  }
  for (const StrPair& w : t.waiting) waiting_.erase(w);
  if (t.summary.event_count > 0) by_last_.erase({t.summary.last_ns, trace_id});
  traces_.erase(it);
}

absl::StatusOr<uint64_t> MemoryStorage::DeleteTracesBefore(int64_t cutoff_ns) {
  common::MutexLock lock(&mu_);
  std::vector<std::string> doomed;
  for (auto it = by_last_.begin(); it != by_last_.end() && it->first < cutoff_ns; ++it) {
    doomed.push_back(it->second);
  }
  for (const std::string& t : doomed) EraseTrace(t);
  return doomed.size();
}

absl::Status MemoryStorage::Clear() {
  common::MutexLock lock(&mu_);
  traces_.clear();
  by_id_.clear();
  by_last_.clear();
  accesses_.clear();
  waiting_.clear();
  baselines_.clear();
  return absl::OkStatus();
}

absl::StatusOr<Event> MemoryStorage::GetEvent(const std::string& id) {
  auto canonical = common::CanonicalId("id", id);
  if (!canonical.ok()) return canonical.status();
  common::ReaderMutexLock lock(&mu_);
  auto it = by_id_.find(*canonical);
  if (it == by_id_.end())
    return absl::NotFoundError(absl::StrCat("event ", *canonical, " not found"));
  return *it->second;
}

TraceSummary MemoryStorage::Summary(const std::string& trace_id, const TraceState& t) const {
  TraceSummary s;
  s.trace_id = trace_id;
  s.event_count = t.summary.event_count;
  s.first_ns = t.summary.first_ns;
  s.last_ns = t.summary.last_ns;
  for (const auto& [name, d] : t.services) s.services.push_back(name);
  return s;
}

absl::StatusOr<TraceSummary> MemoryStorage::GetTraceSummary(const std::string& trace_id) {
  auto canonical = common::CanonicalId("trace_id", trace_id);
  if (!canonical.ok()) return canonical.status();
  common::ReaderMutexLock lock(&mu_);
  auto it = traces_.find(*canonical);
  if (it == traces_.end() || it->second.summary.event_count == 0) return TraceNotFound(*canonical);
  return Summary(*canonical, it->second);
}

absl::StatusOr<std::vector<Event>> MemoryStorage::GetTraceEvents(const std::string& trace_id) {
  auto canonical = common::CanonicalId("trace_id", trace_id);
  if (!canonical.ok()) return canonical.status();
  common::ReaderMutexLock lock(&mu_);
  auto it = traces_.find(*canonical);
  if (it == traces_.end() || it->second.events.empty()) return TraceNotFound(*canonical);
  std::vector<Event> out;
  out.reserve(it->second.events.size());
  for (const auto& [k, e] : it->second.events) out.push_back(e);
  return out;
}

absl::StatusOr<Page<Event>> MemoryStorage::GetTraceEventsPage(const std::string& trace_id,
                                                              const PageRequest& page) {
  auto canonical = common::CanonicalId("trace_id", trace_id);
  if (!canonical.ok()) return canonical.status();
  std::optional<common::EventCursor> cursor;
  if (!page.page_token.empty()) {
    auto c = common::DecodeEventCursor(page.page_token);
    if (!c.ok()) return c.status();
    cursor = std::move(*c);
  }
  const uint32_t size = common::ClampPageSize(page.page_size, common::kTraceEventsPageDefault,
                                              common::kTraceEventsPageCap);
  common::ReaderMutexLock lock(&mu_);
  auto it = traces_.find(*canonical);
  if (it == traces_.end() || it->second.events.empty()) return TraceNotFound(*canonical);
  const auto& events = it->second.events;
  auto e = cursor ? events.upper_bound({cursor->timestamp_ns, cursor->event_id}) : events.begin();
  Page<Event> out;
  for (; e != events.end() && out.items.size() < size; ++e) out.items.push_back(e->second);
  if (e != events.end() && !out.items.empty()) {
    const Event& last = out.items.back();
    out.next_page_token = common::EncodeEventCursor({std::prev(e)->first.first, last.id()});
  }
  return out;
}

absl::StatusOr<Page<TraceSummary>> MemoryStorage::ListTraces(const TraceFilter& filter,
                                                             const PageRequest& page,
                                                             uint64_t* total) {
  std::optional<common::TraceCursor> cursor;
  if (!page.page_token.empty()) {
    auto c = common::DecodeTraceCursor(page.page_token);
    if (!c.ok()) return c.status();
    cursor = std::move(*c);
  }
  const uint32_t size =
      common::ClampPageSize(page.page_size, common::kTracesPageDefault, common::kTracesPageCap);
  common::ReaderMutexLock lock(&mu_);
  auto matches = [&](const std::pair<int64_t, std::string>& key) {
    if (!filter.last_activity.Contains(key.first)) return false;
    const TraceState& t = traces_.find(key.second)->second;
    if (t.summary.event_count < filter.min_events) return false;
    if (!filter.service.empty() && !t.services.contains(filter.service)) return false;
    return true;
  };
  if (total != nullptr) {
    *total = 0;
    for (const auto& key : by_last_) *total += matches(key) ? 1 : 0;
  }
  Page<TraceSummary> out;
  auto it = cursor ? by_last_.lower_bound({cursor->last_ns, cursor->trace_id}) : by_last_.end();
  bool more = false;
  while (it != by_last_.begin()) {
    --it;
    if (!matches(*it)) continue;
    if (out.items.size() == size) {
      more = true;
      break;
    }
    out.items.push_back(Summary(it->second, traces_.find(it->second)->second));
  }
  if (more) {
    out.next_page_token =
        common::EncodeTraceCursor({out.items.back().last_ns, out.items.back().trace_id});
  }
  return out;
}

absl::StatusOr<Page<VariableAccess>> MemoryStorage::GetVariableAccesses(const std::string& variable,
                                                                        const TimeRange& range,
                                                                        const PageRequest& page) {
  std::optional<common::AccessCursor> cursor;
  if (!page.page_token.empty()) {
    auto c = common::DecodeAccessCursor(page.page_token);
    if (!c.ok()) return c.status();
    cursor = std::move(*c);
  }
  const uint32_t size =
      common::ClampPageSize(page.page_size, common::kAccessesPageDefault, common::kAccessesPageCap);
  common::ReaderMutexLock lock(&mu_);
  Page<VariableAccess> out;
  bool more = false;
  // Rows strictly after the cursor, in (variable, timestamp, id) order.
  auto v = variable.empty() ? accesses_.begin() : accesses_.find(variable);
  if (cursor && variable.empty()) v = accesses_.lower_bound(cursor->variable);
  for (; v != accesses_.end() && !more; ++v) {
    if (!variable.empty() && v->first != variable) break;
    if (cursor && v->first < cursor->variable) continue;
    const auto& rows = v->second;
    auto r = range.start_ns ? rows.lower_bound({*range.start_ns, std::string()}) : rows.begin();
    if (cursor && v->first == cursor->variable) {
      // Start at the later of the range start and the row after the cursor.
      auto after = rows.upper_bound({cursor->timestamp_ns, cursor->event_id});
      if (after == rows.end() || (r != rows.end() && rows.key_comp()(r->first, after->first))) {
        r = after;
      }
    }
    for (; r != rows.end(); ++r) {
      if (range.end_ns && r->first.first >= *range.end_ns) break;
      if (out.items.size() == size) {
        more = true;
        break;
      }
      out.items.push_back(r->second);
    }
  }
  if (more) {
    const VariableAccess& last = out.items.back();
    out.next_page_token =
        common::EncodeAccessCursor({last.variable, last.timestamp_ns, last.event_id});
  }
  return out;
}

absl::StatusOr<std::vector<Baseline>> MemoryStorage::GetBaselines(
    const std::vector<std::string>& operations) {
  common::ReaderMutexLock lock(&mu_);
  std::vector<Baseline> out;
  absl::flat_hash_set<std::string> seen;
  for (const std::string& op : operations) {
    if (!seen.insert(op).second) continue;
    auto it = baselines_.find(op);
    if (it == baselines_.end()) continue;
    const model::WelfordStats& w = it->second;
    out.push_back({op, w.count, w.mean, w.m2, w.min, w.max});
  }
  return out;
}

bool MemoryStorage::InRange(const TraceState& t, const TimeRange& range) const {
  return (!range.start_ns || t.summary.last_ns >= *range.start_ns) &&
         (!range.end_ns || t.summary.first_ns < *range.end_ns);
}

absl::StatusOr<std::vector<ServiceStats>> MemoryStorage::ListServices() {
  common::ReaderMutexLock lock(&mu_);
  std::map<std::string, ServiceStats> by_name;
  for (const auto& [id, t] : traces_) {
    for (const auto& [name, d] : t.services) {
      auto [it, inserted] = by_name.try_emplace(name);
      ServiceStats& s = it->second;
      if (inserted) {
        s.service = name;
        s.first_ns = d.first_ns;
        s.last_ns = d.last_ns;
      }
      s.event_count += d.event_count;
      s.trace_count += 1;
      s.first_ns = std::min(s.first_ns, d.first_ns);
      s.last_ns = std::max(s.last_ns, d.last_ns);
    }
  }
  std::vector<ServiceStats> out;
  for (auto& [name, s] : by_name) out.push_back(std::move(s));
  return out;
}

absl::StatusOr<std::vector<ServiceCallRow>> MemoryStorage::ListServiceCalls(
    const TimeRange& range) {
  common::ReaderMutexLock lock(&mu_);
  std::map<std::tuple<std::string, std::string, std::string>, ServiceCallRow> rows;
  for (const auto& [id, t] : traces_) {
    if (!InRange(t, range)) continue;
    std::set<std::tuple<std::string, std::string, std::string>> in_trace;
    auto add = [&](const std::string& from, const std::string& to, std::string_view link,
                   uint64_t calls) {
      std::tuple<std::string, std::string, std::string> key{from, to, std::string(link)};
      ServiceCallRow& r = rows[key];
      r.from_service = from;
      r.to_service = to;
      r.link_type = std::string(link);
      r.call_count += calls;
      if (in_trace.insert(key).second) ++r.trace_count;
    };
    for (const auto& [k, n] : t.service_calls) add(k.first, k.second, "Parent", n);
    for (const auto& [edge, link] : t.span_edges) {
      for (auto u = t.spans.lower_bound({edge.first, std::string()});
           u != t.spans.end() && u->first.first == edge.first; ++u) {
        for (auto d = t.spans.lower_bound({edge.second, std::string()});
             d != t.spans.end() && d->first.first == edge.second; ++d) {
          if (u->first.second != d->first.second)
            add(u->first.second, d->first.second, link.type, 1);
        }
      }
    }
  }
  std::vector<ServiceCallRow> out;
  for (auto& [k, r] : rows) out.push_back(std::move(r));
  return out;
}

absl::StatusOr<std::vector<VariableStats>> MemoryStorage::TopVariables(const TimeRange& range,
                                                                       uint32_t limit) {
  common::ReaderMutexLock lock(&mu_);
  struct Acc {
    uint64_t accesses = 0, traces = 0;
    std::set<std::string> services;
  };
  std::map<std::string, Acc> by_var;
  for (const auto& [id, t] : traces_) {
    if (!InRange(t, range)) continue;
    const std::string* last_var = nullptr;
    for (const auto& [k, n] : t.variables) {  // Sorted by (variable, service).
      Acc& a = by_var[k.first];
      a.accesses += n;
      a.services.insert(k.second);
      if (last_var == nullptr || *last_var != k.first) ++a.traces;
      last_var = &k.first;
    }
  }
  std::vector<VariableStats> out;
  for (auto& [name, a] : by_var) {
    out.push_back({name, a.accesses, a.traces, {a.services.begin(), a.services.end()}});
  }
  std::stable_sort(out.begin(), out.end(), [](const VariableStats& a, const VariableStats& b) {
    return a.access_count > b.access_count;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

absl::StatusOr<std::vector<DurationStats>> MemoryStorage::DurationsByKind(const TimeRange& range) {
  common::ReaderMutexLock lock(&mu_);
  std::map<std::string, common::KindDelta> acc;
  for (const auto& [id, t] : traces_) {
    if (!InRange(t, range)) continue;
    for (const auto& [kind, d] : t.kinds) {
      acc[kind].duration_count += d.duration_count;
      acc[kind].duration_sum_ns += d.duration_sum_ns;
    }
  }
  std::vector<DurationStats> out;
  for (const auto& [name, d] : acc) {
    if (d.duration_count == 0) continue;
    out.push_back(
        {name, d.duration_count, d.duration_sum_ns / static_cast<double>(d.duration_count)});
  }
  return out;
}

absl::StatusOr<std::vector<DurationStats>> MemoryStorage::DurationsByService(
    const TimeRange& range) {
  common::ReaderMutexLock lock(&mu_);
  std::map<std::string, common::KindDelta> acc;
  for (const auto& [id, t] : traces_) {
    if (!InRange(t, range)) continue;
    for (const auto& [service, d] : t.services) {
      acc[service].duration_count += d.duration_count;
      acc[service].duration_sum_ns += d.duration_sum_ns;
    }
  }
  std::vector<DurationStats> out;
  for (const auto& [name, d] : acc) {
    if (d.duration_count == 0) continue;
    out.push_back(
        {name, d.duration_count, d.duration_sum_ns / static_cast<double>(d.duration_count)});
  }
  return out;
}

absl::StatusOr<uint64_t> MemoryStorage::CountEvents() {
  common::ReaderMutexLock lock(&mu_);
  return by_id_.size();
}

absl::StatusOr<uint64_t> MemoryStorage::CountTraces() {
  common::ReaderMutexLock lock(&mu_);
  return by_last_.size();
}

}  // namespace raceway::storage
