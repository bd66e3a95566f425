#include "libs/graph/compact_trace.h"

#include <algorithm>
#include <functional>
#include <numeric>
#include <queue>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libs/model/operation_key.h"

namespace raceway::graph {
namespace {

using raceway::v1::Event;

// Interns string views (which point into the caller's events) to dense ids.
class Interner {
 public:
  uint32_t Intern(std::string_view s, std::vector<std::string_view>* names) {
    auto [it, inserted] = ids_.try_emplace(s, static_cast<uint32_t>(names->size()));
    if (inserted) names->push_back(s);
    return it->second;
  }
  uint32_t InternOrNone(std::string_view s, std::vector<std::string_view>* names) {
    return s.empty() ? kNone : Intern(s, names);
  }
  absl::flat_hash_map<std::string_view, uint32_t> Release() { return std::move(ids_); }

 private:
  absl::flat_hash_map<std::string_view, uint32_t> ids_;
};

using Uuid = std::pair<uint64_t, uint64_t>;

// Parses a canonical (lower-case, 8-4-4-4-12) UUID. Its numeric order equals
// the text order, so (timestamp, id) sorting can compare the numbers.
bool ParseCanonicalUuid(std::string_view s, Uuid* out) {
  if (s.size() != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') return false;
  uint64_t v[2] = {0, 0};
  int digits = 0;
  for (size_t i = 0; i < 36; ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) continue;
    const char c = s[i];
    uint64_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint64_t>(c - 'a' + 10);
    } else {
      return false;
    }
    uint64_t& w = v[digits / 16];
    w = (w << 4) | d;
    ++digits;
  }
  *out = {v[0], v[1]};
  return true;
}

// Software prefetch of the pieces of an event read by Build: events are
// separate protobuf trees scattered over the heap, so the build is bound by
// cache misses; prefetching a few events ahead overlaps them.
inline void Prefetch(const void* p) { __builtin_prefetch(p, 0, 1); }
void PrefetchObjects(const Event& e) {  // The event is cached.
  Prefetch(&e.id());
  Prefetch(&e.trace_id());
  Prefetch(&e.parent_id());
  Prefetch(&e.metadata());
  Prefetch(&e.timestamp());
  if (e.has_state_change()) Prefetch(&e.state_change());
}
void PrefetchData(const Event& e) {  // Its sub-objects are cached.
  Prefetch(e.id().data());
  Prefetch(e.trace_id().data());
  Prefetch(e.parent_id().data());
  const auto& md = e.metadata();
  Prefetch(&md.thread_id());
  Prefetch(&md.service_name());
  Prefetch(&md.distributed_span_id());
  Prefetch(&md.upstream_span_id());
  if (e.has_state_change()) {
    Prefetch(&e.state_change().variable());
    Prefetch(&e.state_change().location());
  }
}
void PrefetchStrings(const Event& e) {
  const auto& md = e.metadata();
  Prefetch(md.thread_id().data());
  Prefetch(md.service_name().data());
  if (e.has_state_change()) {
    Prefetch(e.state_change().variable().data());
    Prefetch(e.state_change().location().data());
  }
}

template <typename T>
void Permute(std::vector<T>* v, const std::vector<uint32_t>& perm) {
  std::vector<T> out(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out[i] = (*v)[perm[i]];
  v->swap(out);
}

}  // namespace

absl::StatusOr<CompactTrace> CompactTrace::Build(std::span<const Event> events) {
  std::vector<const Event*> ptrs;
  ptrs.reserve(events.size());
  for (const Event& e : events) ptrs.push_back(&e);
  return BuildSorted(std::move(ptrs));
}

absl::StatusOr<CompactTrace> CompactTrace::Build(std::span<const Event* const> events) {
  std::vector<const Event*> ptrs(events.begin(), events.end());
  for (const Event* e : ptrs) {
    if (e == nullptr) return absl::InvalidArgumentError("null event pointer");
  }
  return BuildSorted(std::move(ptrs));
}

absl::StatusOr<CompactTrace> CompactTrace::Build(std::vector<Event>&& events) {
  auto owned = std::make_shared<const std::vector<Event>>(std::move(events));
  std::vector<const Event*> ptrs;
  ptrs.reserve(owned->size());
  for (const Event& e : *owned) ptrs.push_back(&e);
  absl::StatusOr<CompactTrace> t = BuildSorted(std::move(ptrs));
  if (t.ok()) t->owned_ = std::move(owned);
  return t;
}

absl::StatusOr<CompactTrace> CompactTrace::BuildSorted(std::vector<const Event*> events) {
  if (events.size() >= static_cast<size_t>(kNone)) {
    return absl::InvalidArgumentError("trace too large: at most 2^32 - 2 events");
  }
  const uint32_t n = static_cast<uint32_t>(events.size());
  CompactTrace t;
  t.events_ = std::move(events);
  if (n > 0) t.trace_id_ = t.events_[0]->trace_id();

  // One pass in input order reads everything; arrays are permuted into
  // (timestamp, id) order afterwards.
  t.ts_.resize(n);
  t.kind_.resize(n);
  t.thread_.resize(n);
  t.service_.resize(n);
  t.span_.resize(n);
  t.upstream_.resize(n);
  t.duration_.resize(n);
  t.flags_.resize(n);
  t.variable_.assign(n, kNone);
  t.access_.assign(n, 0);
  t.location_.assign(n, kNone);
  std::vector<Uuid> ids(n), parents(n);
  std::vector<uint8_t> id_canonical(n), parent_kind(n);  // parent: 0 none, 1 uuid, 2 other.
  std::vector<uint32_t> client_begin(n, kNone), client_end(n, kNone);
  t.lock_.assign(n, kNone);
  std::vector<TaskEvent> spawns, awaits;
  Interner threads, services, spans, variables, locations, components, locks, tasks;
  constexpr uint32_t kD1 = 12, kD2 = 8, kD3 = 4;
  for (uint32_t i = 0; i < n; ++i) {
    if (i + kD1 < n) {
      Prefetch(t.events_[i + kD1]);
      Prefetch(reinterpret_cast<const char*>(t.events_[i + kD1]) + 64);
    }
    if (i + kD2 < n) PrefetchObjects(*t.events_[i + kD2]);
    if (i + kD3 < n) PrefetchData(*t.events_[i + kD3]);
    if (i + 2 < n) PrefetchStrings(*t.events_[i + 2]);
    const Event& e = *t.events_[i];
    if (e.trace_id() != t.trace_id_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "events of more than one trace: ", std::string(t.trace_id_), " and ", e.trace_id()));
    }
    t.ts_[i] = model::TimestampNanos(e);
    id_canonical[i] = ParseCanonicalUuid(e.id(), &ids[i]) ? 1 : 0;
    if (e.parent_id().empty() || e.parent_id() == e.id()) {
      parent_kind[i] = 0;  // A self-parent is treated as no parent.
    } else {
      parent_kind[i] = ParseCanonicalUuid(e.parent_id(), &parents[i]) ? 1 : 2;
    }
    const auto& md = e.metadata();
    t.kind_[i] = static_cast<uint8_t>(e.kind_case());
    t.thread_[i] = threads.Intern(md.thread_id(), &t.thread_names_);
    t.service_[i] = services.Intern(md.service_name(), &t.service_names_);
    t.span_[i] = spans.InternOrNone(md.distributed_span_id(), &t.span_names_);
    t.upstream_[i] = spans.InternOrNone(md.upstream_span_id(), &t.span_names_);
    const std::optional<uint64_t> d = model::DurationNs(e);
    t.duration_[i] = d.value_or(0);
    t.flags_[i] = static_cast<uint8_t>((d.has_value() ? kHasDuration : 0) |
                                       (e.lock_set_size() > 0 ? kHasLockSet : 0));
    if (e.has_state_change()) {
      const auto& sc = e.state_change();
      t.variable_[i] = variables.Intern(sc.variable(), &t.variable_names_);
      t.access_[i] = static_cast<uint8_t>(sc.access_type());
      t.location_[i] = locations.Intern(sc.location(), &t.location_names_);
    }
    if (e.has_async_spawn()) {
      const uint32_t k = tasks.InternOrNone(e.async_spawn().task_id(), &t.task_names_);
      if (k != kNone) spawns.push_back({i, k});
    } else if (e.has_async_await()) {
      const uint32_t k = tasks.InternOrNone(e.async_await().future_id(), &t.task_names_);
      if (k != kNone) awaits.push_back({i, k});
    }
    if (e.has_lock_acquire()) {
      t.lock_[i] = locks.Intern(e.lock_acquire().lock_id(), &t.lock_names_);
      if (IsReadLockType(e.lock_acquire().lock_type())) t.flags_[i] |= kLockRead;
    } else if (e.has_lock_release()) {
      t.lock_[i] = locks.Intern(e.lock_release().lock_id(), &t.lock_names_);
      if (IsReadLockType(e.lock_release().lock_type())) t.flags_[i] |= kLockRead;
    }
    if (e.causality_vector_size() > 0) {
      const uint32_t begin = static_cast<uint32_t>(t.client_entries_.size());
      for (const auto& c : e.causality_vector()) {
        if (c.clock() == 0) continue;
        t.client_entries_.push_back(
            {components.Intern(c.component(), &t.component_names_), c.clock()});
      }
      auto first = t.client_entries_.begin() + begin;
      std::sort(first, t.client_entries_.end(),
                [](const ClientClockEntry& a, const ClientClockEntry& b) {
                  return a.component != b.component ? a.component < b.component : a.clock > b.clock;
                });
      // A repeated component keeps its largest clock.
      auto last = std::unique(first, t.client_entries_.end(),
                              [](const ClientClockEntry& a, const ClientClockEntry& b) {
                                return a.component == b.component;
                              });
      t.client_entries_.erase(last, t.client_entries_.end());
      client_begin[i] = begin;
      client_end[i] = static_cast<uint32_t>(t.client_entries_.size());
      t.any_client_clock_ = true;
    }
  }
  t.variable_ids_ = variables.Release();
  t.lock_ids_ = locks.Release();

  // Sort by (timestamp, id); inputs usually arrive sorted already.
  auto less = [&](uint32_t a, uint32_t b) {
    if (t.ts_[a] != t.ts_[b]) return t.ts_[a] < t.ts_[b];
    if (id_canonical[a] && id_canonical[b]) return ids[a] < ids[b];
    return t.events_[a]->id() < t.events_[b]->id();
  };
  bool sorted = true;
  for (uint32_t i = 1; i < n && sorted; ++i) sorted = !less(i, i - 1);
  std::vector<uint32_t> new_index;  // Input position -> index; empty = same.
  if (!sorted) {
    std::vector<uint32_t> perm(n);
    std::iota(perm.begin(), perm.end(), 0u);
    std::sort(perm.begin(), perm.end(), less);
    Permute(&t.events_, perm);
    Permute(&t.ts_, perm);
    Permute(&t.kind_, perm);
    Permute(&t.thread_, perm);
    Permute(&t.service_, perm);
    Permute(&t.span_, perm);
    Permute(&t.upstream_, perm);
    Permute(&t.duration_, perm);
    Permute(&t.flags_, perm);
    Permute(&t.variable_, perm);
    Permute(&t.access_, perm);
    Permute(&t.location_, perm);
    Permute(&t.lock_, perm);
    Permute(&ids, perm);
    Permute(&parents, perm);
    Permute(&id_canonical, perm);
    Permute(&parent_kind, perm);
    Permute(&client_begin, perm);
    Permute(&client_end, perm);
    new_index.resize(n);
    for (uint32_t k = 0; k < n; ++k) new_index[perm[k]] = k;
  }
  t.IndexTasks(std::move(spawns), std::move(awaits), new_index);
  t.client_begin_ = std::move(client_begin);
  t.client_end_ = std::move(client_end);

  // Id index (duplicates rejected), then parents.
  t.uuid_index_.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    const bool fresh =
        id_canonical[i]
            ? t.uuid_index_.try_emplace(ids[i], i).second
            : t.other_index_.try_emplace(std::string_view(t.events_[i]->id()), i).second;
    if (!fresh)
      return absl::InvalidArgumentError(absl::StrCat("duplicate event id ", t.events_[i]->id()));
  }
  t.parent_.assign(n, kNone);
  {
    // Most parents are the thread's previous event or the thread's previous
    // parent: check those before the (cache-missing) hash lookup.
    const size_t nt = t.thread_names_.size();
    std::vector<uint32_t> last_event(nt, kNone), last_parent(nt, kNone);
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t th = t.thread_[i];
      uint32_t p = kNone;
      if (parent_kind[i] == 1) {
        const uint32_t prev = last_event[th], lp = last_parent[th];
        if (prev != kNone && id_canonical[prev] && ids[prev] == parents[i]) {
          p = prev;
        } else if (lp != kNone && id_canonical[lp] && ids[lp] == parents[i]) {
          p = lp;
        } else {
          auto it = t.uuid_index_.find(parents[i]);
          if (it != t.uuid_index_.end()) p = it->second;
        }
      } else if (parent_kind[i] == 2) {
        auto it = t.other_index_.find(std::string_view(t.events_[i]->parent_id()));
        if (it != t.other_index_.end()) p = it->second;
      }
      last_event[th] = i;
      if (parent_kind[i] != 0) {
        if (p == kNone) {
          t.missing_parents_.push_back(i);
        } else {
          t.parent_[i] = p;
          last_parent[th] = p;
        }
      }
    }
  }

  t.FollowExplicitEdges();

  // Program order: positions and per-thread lists (CSR).
  const uint32_t nt = static_cast<uint32_t>(t.thread_names_.size());
  t.thread_begin_.assign(nt + 1, 0);
  for (uint32_t i = 0; i < n; ++i) ++t.thread_begin_[t.thread_[i] + 1];
  std::partial_sum(t.thread_begin_.begin(), t.thread_begin_.end(), t.thread_begin_.begin());
  t.thread_events_.resize(n);
  t.pos_.resize(n);
  {
    std::vector<uint32_t> fill(t.thread_begin_.begin(), t.thread_begin_.end() - 1);
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t th = t.thread_[i];
      t.pos_[i] = fill[th] - t.thread_begin_[th] + 1;
      t.thread_events_[fill[th]++] = i;
    }
  }
  for (uint32_t i = 0; i < n; ++i) {
    if (t.variable_[i] != kNone) t.accesses_.push_back(i);
  }

  // Location ranks.
  {
    const uint32_t nl = static_cast<uint32_t>(t.location_names_.size());
    std::vector<uint32_t> order(nl);
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return t.location_names_[a] < t.location_names_[b]; });
    t.location_rank_.resize(nl);
    for (uint32_t r = 0; r < nl; ++r) t.location_rank_[order[r]] = r;
  }
  return t;
}

void CompactTrace::FollowExplicitEdges() {
  const uint32_t n = size();
  // Same-thread explicit edges a -> b: parents, and spawn -> await of its
  // task (both usually point forwards; only backward ones force a change).
  std::vector<std::pair<uint32_t, uint32_t>> joins;
  for (const TaskEvent& w : awaits_) {
    for (uint32_t s : spawns_of(w.task)) {
      if (thread_[s] == thread_[w.event]) joins.emplace_back(s, w.event);
    }
  }
  const uint32_t nt = static_cast<uint32_t>(thread_names_.size());
  std::vector<uint8_t> dirty;  // Threads with a backward same-thread edge.
  auto mark = [&](uint32_t a, uint32_t b) {
    if (a <= b) return;
    if (dirty.empty()) dirty.assign(nt, 0);
    dirty[thread_[b]] = 1;
  };
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t p = parent_[i];
    if (p != kNone && thread_[p] == thread_[i]) mark(p, i);
  }
  for (auto [a, b] : joins) mark(a, b);
  if (dirty.empty()) return;  // Index order already follows every edge.

  // Per dirty thread: its events (ascending), local positions, edges.
  std::vector<std::vector<uint32_t>> events_of(nt);
  std::vector<uint32_t> local(n, kNone);
  for (uint32_t i = 0; i < n; ++i) {
    if (!dirty[thread_[i]]) continue;
    auto& list = events_of[thread_[i]];
    local[i] = static_cast<uint32_t>(list.size());
    list.push_back(i);
  }
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> edges_of(nt);
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t p = parent_[i];
    if (p != kNone && p != i && thread_[p] == thread_[i] && dirty[thread_[i]]) {
      edges_of[thread_[i]].emplace_back(local[p], local[i]);
    }
  }
  for (auto [a, b] : joins) {
    if (dirty[thread_[b]]) edges_of[thread_[b]].emplace_back(local[a], local[b]);
  }

  // Kahn's algorithm with a min-heap: the lexicographically smallest linear
  // extension. Stuck on a cycle, it takes the smallest remaining event; the
  // cycle's backward edge is then dropped (and reported) by the cycle rule.
  // max_before[i] = the largest original index among i and the events before
  // it in its thread's new order (i itself for untouched threads).
  std::vector<uint32_t> max_before(n);
  std::iota(max_before.begin(), max_before.end(), 0u);
  std::vector<std::vector<uint32_t>> new_order(nt);
  bool changed = false;
  for (uint32_t th = 0; th < nt; ++th) {
    if (!dirty[th]) continue;
    const std::vector<uint32_t>& list = events_of[th];
    const uint32_t k = static_cast<uint32_t>(list.size());
    std::vector<uint32_t> indeg(k, 0), succ_begin(k + 1, 0), succ(edges_of[th].size());
    for (auto [a, b] : edges_of[th]) {
      ++indeg[b];
      ++succ_begin[a + 1];
    }
    std::partial_sum(succ_begin.begin(), succ_begin.end(), succ_begin.begin());
    {
      std::vector<uint32_t> fill(succ_begin.begin(), succ_begin.end() - 1);
      for (auto [a, b] : edges_of[th]) succ[fill[a]++] = b;
    }
    std::priority_queue<uint32_t, std::vector<uint32_t>, std::greater<uint32_t>> ready;
    for (uint32_t v = 0; v < k; ++v) {
      if (indeg[v] == 0) ready.push(v);
    }
    std::vector<uint8_t> emitted(k, 0);
    uint32_t scan = 0;  // All local ids below it are emitted.
    std::vector<uint32_t>& out = new_order[th];
    out.reserve(k);
    uint32_t running = 0;
    while (out.size() < k) {
      uint32_t v;
      if (!ready.empty()) {
        v = ready.top();
        ready.pop();
      } else {
        while (emitted[scan]) ++scan;
        v = scan;
      }
      emitted[v] = 1;
      const uint32_t orig = list[v];
      changed |= orig != list[out.size()];
      running = std::max(running, orig);
      max_before[orig] = running;
      out.push_back(orig);
      for (uint32_t q = succ_begin[v]; q < succ_begin[v + 1]; ++q) {
        const uint32_t w = succ[q];
        if (--indeg[w] == 0 && !emitted[w]) ready.push(w);
      }
    }
  }
  if (!changed) return;

  // Global order: by (max_before, position in thread). Events sharing a
  // max_before value belong to one thread (it is one of its indices) and
  // are consecutive there, so a bucket fill in thread order sorts them.
  std::vector<uint32_t> bucket(n + 1, 0);
  for (uint32_t i = 0; i < n; ++i) ++bucket[max_before[i] + 1];
  std::partial_sum(bucket.begin(), bucket.end(), bucket.begin());
  std::vector<uint32_t> perm(n);
  for (uint32_t i = 0; i < n; ++i) {
    if (!dirty[thread_[i]]) perm[bucket[i]++] = i;
  }
  for (uint32_t th = 0; th < nt; ++th) {
    for (uint32_t orig : new_order[th]) perm[bucket[max_before[orig]]++] = orig;
  }
  std::vector<uint32_t> inv(n);
  for (uint32_t k = 0; k < n; ++k) inv[perm[k]] = k;

  order_ts_.resize(n);
  for (uint32_t k = 0; k < n; ++k) {
    const uint32_t orig = perm[k];
    order_ts_[k] = ts_[max_before[orig]];
    if (max_before[orig] != orig) reordered_.push_back(k);
  }
  Permute(&events_, perm);
  Permute(&ts_, perm);
  Permute(&kind_, perm);
  Permute(&thread_, perm);
  Permute(&service_, perm);
  Permute(&span_, perm);
  Permute(&upstream_, perm);
  Permute(&duration_, perm);
  Permute(&flags_, perm);
  Permute(&variable_, perm);
  Permute(&access_, perm);
  Permute(&location_, perm);
  Permute(&lock_, perm);
  Permute(&client_begin_, perm);
  Permute(&client_end_, perm);
  Permute(&parent_, perm);
  for (uint32_t& p : parent_) {
    if (p != kNone) p = inv[p];
  }
  for (uint32_t& m : missing_parents_) m = inv[m];
  std::sort(missing_parents_.begin(), missing_parents_.end());
  std::vector<TaskEvent> spawns;
  for (uint32_t k = 0; k < num_tasks(); ++k) {
    for (uint32_t s : spawns_of(k)) spawns.push_back({s, k});
  }
  IndexTasks(std::move(spawns), std::move(awaits_), inv);
  for (auto& [key, index] : uuid_index_) index = inv[index];
  for (auto& [key, index] : other_index_) index = inv[index];
}

void CompactTrace::IndexTasks(std::vector<TaskEvent> spawns, std::vector<TaskEvent> awaits,
                              const std::vector<uint32_t>& index) {
  auto by_event = [](const TaskEvent& a, const TaskEvent& b) { return a.event < b.event; };
  if (!index.empty()) {
    for (TaskEvent& s : spawns) s.event = index[s.event];
    for (TaskEvent& w : awaits) w.event = index[w.event];
    std::sort(spawns.begin(), spawns.end(), by_event);
    std::sort(awaits.begin(), awaits.end(), by_event);
  }
  awaits_ = std::move(awaits);
  task_spawn_begin_.assign(task_names_.size() + 1, 0);
  for (const TaskEvent& s : spawns) ++task_spawn_begin_[s.task + 1];
  std::partial_sum(task_spawn_begin_.begin(), task_spawn_begin_.end(), task_spawn_begin_.begin());
  task_spawns_.resize(spawns.size());
  std::vector<uint32_t> fill(task_spawn_begin_.begin(), task_spawn_begin_.end() - 1);
  for (const TaskEvent& s : spawns) task_spawns_[fill[s.task]++] = s.event;
}

std::optional<uint32_t> CompactTrace::Find(std::string_view id) const {
  Uuid key;
  if (ParseCanonicalUuid(id, &key)) {
    auto it = uuid_index_.find(key);
    if (it == uuid_index_.end()) return std::nullopt;
    return it->second;
  }
  auto it = other_index_.find(id);
  if (it == other_index_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint32_t> CompactTrace::FindVariable(std::string_view name) const {
  auto it = variable_ids_.find(name);
  if (it == variable_ids_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint32_t> CompactTrace::FindLock(std::string_view name) const {
  auto it = lock_ids_.find(name);
  if (it == lock_ids_.end()) return std::nullopt;
  return it->second;
}

bool CompactTrace::IsReadLockType(std::string_view lock_type) {
  constexpr std::string_view kSuffix = "::Read";
  return lock_type.size() >= kSuffix.size() &&
         lock_type.substr(lock_type.size() - kSuffix.size()) == kSuffix;
}

bool CompactTrace::parent_missing(uint32_t i) const {
  return std::binary_search(missing_parents_.begin(), missing_parents_.end(), i);
}

std::span<const ClientClockEntry> CompactTrace::client_clock(uint32_t i) const {
  if (client_begin_[i] == kNone) return {};
  return {client_entries_.data() + client_begin_[i], client_end_[i] - client_begin_[i]};
}

size_t CompactTrace::MemoryBytes() const {
  auto bytes = [](const auto& v) { return v.capacity() * sizeof(v[0]); };
  return bytes(events_) + bytes(ts_) + bytes(order_ts_) + bytes(reordered_) + bytes(kind_) +
         bytes(parent_) + bytes(missing_parents_) + bytes(thread_) + bytes(pos_) +
         bytes(thread_begin_) + bytes(thread_events_) + bytes(thread_names_) + bytes(service_) +
         bytes(service_names_) + bytes(span_) + bytes(upstream_) + bytes(span_names_) +
         bytes(duration_) + bytes(flags_) + bytes(variable_) + bytes(access_) + bytes(location_) +
         bytes(lock_) + bytes(lock_names_) + bytes(variable_names_) + bytes(location_names_) +
         bytes(location_rank_) + bytes(accesses_) + bytes(client_begin_) + bytes(client_end_) +
         bytes(client_entries_) + bytes(component_names_) + bytes(task_names_) + bytes(awaits_) +
         bytes(task_spawn_begin_) + bytes(task_spawns_) +
         uuid_index_.capacity() * (sizeof(std::pair<Uuid, uint32_t>) + 1) +
         other_index_.capacity() * (sizeof(std::pair<std::string_view, uint32_t>) + 1) +
         variable_ids_.capacity() * (sizeof(std::pair<std::string_view, uint32_t>) + 1);
}

}  // namespace raceway::graph
