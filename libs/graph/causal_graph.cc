#include "libs/graph/causal_graph.h"

#include <algorithm>
#include <functional>
#include <numeric>
#include <queue>

#include "absl/container/flat_hash_map.h"
#include "libs/graph/client_clock.h"

namespace raceway::graph {

using raceway::v1::Event;

std::string_view EdgeKindName(EdgeKind kind) {
  switch (kind) {
    case EdgeKind::kParent:
      return "parent";
    case EdgeKind::kJoin:
      return "join";
    case EdgeKind::kSpan:
      return "span";
    case EdgeKind::kProgramOrder:
      return "program_order";
  }
  return "unknown";
}

std::string_view RelationName(Relation r) {
  switch (r) {
    case Relation::kSame:
      return "SAME";
    case Relation::kBefore:
      return "BEFORE";
    case Relation::kAfter:
      return "AFTER";
    case Relation::kConcurrent:
      return "CONCURRENT";
    case Relation::kNotComparable:
      return "NOT_COMPARABLE";
  }
  return "UNKNOWN";
}

absl::StatusOr<CausalGraph> CausalGraph::Build(std::span<const Event> events) {
  absl::StatusOr<CompactTrace> trace = CompactTrace::Build(events);
  if (!trace.ok()) return trace.status();
  return Build(*std::move(trace));
}

absl::StatusOr<CausalGraph> CausalGraph::Build(std::span<const Event* const> events) {
  absl::StatusOr<CompactTrace> trace = CompactTrace::Build(events);
  if (!trace.ok()) return trace.status();
  return Build(*std::move(trace));
}

absl::StatusOr<CausalGraph> CausalGraph::Build(std::vector<Event>&& events) {
  absl::StatusOr<CompactTrace> trace = CompactTrace::Build(std::move(events));
  if (!trace.ok()) return trace.status();
  return Build(*std::move(trace));
}

CausalGraph CausalGraph::Build(CompactTrace trace) {
  CausalGraph g(std::move(trace));
  g.nt_ = g.trace_.num_threads();
  g.BuildEdges();
  g.BreakCycles();
  g.ComputeTopologicalOrder();
  g.ComputeClocks();
  return g;
}

uint32_t CausalGraph::program_order_predecessor(uint32_t i) const {
  const uint32_t pos = trace_.position(i);
  return pos <= 1 ? kNone : trace_.thread_events(trace_.thread(i))[pos - 2];
}

void CausalGraph::BuildEdges() {
  const CompactTrace& t = trace_;
  const uint32_t n = t.size();
  std::vector<Edge> cross;
  auto add = [&](uint32_t from, uint32_t to, EdgeKind kind) {
    if (from == to) return;
    // Forward edges within one thread are implied by program order.
    if (t.thread(from) == t.thread(to) && from < to) return;
    cross.push_back({from, to, kind});
  };

  // Step 1: parent pointers; break parent cycles (backward edges dropped).
  std::vector<uint32_t> parent(n);
  for (uint32_t i = 0; i < n; ++i) parent[i] = t.parent(i);
  {
    std::vector<uint8_t> state(n, 0);  // 0 new, 1 on current walk, 2 done.
    std::vector<uint32_t> path;
    for (uint32_t i = 0; i < n; ++i) {
      if (state[i] != 0) continue;
      path.clear();
      uint32_t j = i;
      while (j != kNone && state[j] == 0) {
        state[j] = 1;
        path.push_back(j);
        j = parent[j];
      }
      if (j != kNone && state[j] == 1) {  // Cycle: path from j to the end.
        size_t k = path.size() - 1;
        while (path[k] != j) --k;
        for (; k < path.size(); ++k) {
          const uint32_t c = path[k];
          if (parent[c] > c) {
            dropped_.push_back({parent[c], c, EdgeKind::kParent});
            parent[c] = kNone;
          }
        }
      }
      for (uint32_t p : path) state[p] = 2;
    }
  }
  for (uint32_t i = 0; i < n; ++i) {
    if (parent[i] != kNone) add(parent[i], i, EdgeKind::kParent);
  }

  // Joins.
  absl::flat_hash_map<std::string_view, std::vector<uint32_t>> spawns_by_task;
  for (uint32_t i = 0; i < n; ++i) {
    if (t.kind(i) == Event::kAsyncAwait && !t.event(i).async_await().future_id().empty()) {
      spawns_by_task.try_emplace(t.event(i).async_await().future_id());
    }
  }
  std::vector<uint32_t> awaited;
  if (!spawns_by_task.empty()) {
    for (uint32_t i = 0; i < n; ++i) {
      if (t.kind(i) != Event::kAsyncSpawn) continue;
      auto it = spawns_by_task.find(std::string_view(t.event(i).async_spawn().task_id()));
      if (it == spawns_by_task.end()) continue;
      it->second.push_back(i);
      awaited.push_back(i);
    }
  }
  if (!awaited.empty()) {
    // Children of the parent forest (CSR) and depths.
    std::vector<uint32_t> child_begin(n + 1, 0), children(n);
    for (uint32_t i = 0; i < n; ++i) {
      if (parent[i] != kNone) ++child_begin[parent[i] + 1];
    }
    std::partial_sum(child_begin.begin(), child_begin.end(), child_begin.begin());
    {
      std::vector<uint32_t> fill(child_begin.begin(), child_begin.end() - 1);
      for (uint32_t i = 0; i < n; ++i) {
        if (parent[i] != kNone) children[fill[parent[i]]++] = i;
      }
    }
    std::vector<uint32_t> depth(n, 0);
    {
      std::vector<uint32_t> queue;
      queue.reserve(n);
      for (uint32_t i = 0; i < n; ++i) {
        if (parent[i] == kNone) queue.push_back(i);
      }
      for (size_t q = 0; q < queue.size(); ++q) {
        const uint32_t v = queue[q];
        for (uint32_t k = child_begin[v]; k < child_begin[v + 1]; ++k) {
          depth[children[k]] = depth[v] + 1;
          queue.push_back(children[k]);
        }
      }
    }
    // Deepest spawns first, so nested awaited spawns are reused.
    std::vector<uint32_t> order = awaited;
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return depth[a] != depth[b] ? depth[a] > depth[b] : a < b;
    });
    absl::flat_hash_map<uint32_t, uint32_t> slot;
    for (uint32_t k = 0; k < order.size(); ++k) slot[order[k]] = k;
    std::vector<std::vector<uint32_t>> frontier(order.size());
    std::vector<uint8_t> done(order.size(), 0);
    std::vector<uint32_t> best(nt_, kNone), touched, stack;
    auto note = [&](uint32_t c) {
      const uint32_t th = t.thread(c);
      if (best[th] == kNone) {
        touched.push_back(th);
        best[th] = c;
      } else if (c > best[th]) {
        best[th] = c;
      }
    };
    for (uint32_t k = 0; k < order.size(); ++k) {
      const uint32_t s = order[k];
      stack.assign(children.begin() + child_begin[s], children.begin() + child_begin[s + 1]);
      while (!stack.empty()) {
        const uint32_t c = stack.back();
        stack.pop_back();
        note(c);
        auto it = slot.find(c);
        if (it != slot.end() && done[it->second]) {
          for (uint32_t d : frontier[it->second]) note(d);
          continue;
        }
        stack.insert(stack.end(), children.begin() + child_begin[c],
                     children.begin() + child_begin[c + 1]);
      }
      std::sort(touched.begin(), touched.end());
      for (uint32_t th : touched) {
        frontier[k].push_back(best[th]);
        best[th] = kNone;
      }
      touched.clear();
      done[k] = 1;
    }
    for (uint32_t w = 0; w < n; ++w) {
      if (t.kind(w) != Event::kAsyncAwait) continue;
      auto it = spawns_by_task.find(std::string_view(t.event(w).async_await().future_id()));
      if (it == spawns_by_task.end()) continue;
      for (uint32_t s : it->second) {
        if (s == w) continue;
        add(s, w, EdgeKind::kJoin);
        for (uint32_t d : frontier[slot[s]]) {
          if (d != w) add(d, w, EdgeKind::kJoin);
        }
      }
    }
  }

  // Distributed span edges.
  {
    std::vector<uint8_t> is_upstream(t.num_spans(), 0);
    bool any = false;
    for (uint32_t i = 0; i < n; ++i) {
      if (t.upstream_span(i) != kNone) {
        is_upstream[t.upstream_span(i)] = 1;
        any = true;
      }
    }
    if (any) {
      absl::flat_hash_map<uint64_t, uint32_t> bucket_of;
      std::vector<std::vector<uint32_t>> buckets;  // (span, thread) -> events.
      std::vector<std::vector<uint32_t>> span_buckets(t.num_spans());
      for (uint32_t i = 0; i < n; ++i) {
        const uint32_t s = t.span(i);
        if (s == kNone || !is_upstream[s]) continue;
        auto [it, inserted] = bucket_of.try_emplace((uint64_t{s} << 32) | t.thread(i),
                                                    static_cast<uint32_t>(buckets.size()));
        if (inserted) {
          buckets.emplace_back();
          span_buckets[s].push_back(it->second);
        }
        buckets[it->second].push_back(i);
      }
      // Per (thread of e, upstream span): the previous such event on that
      // thread and, per bucket, the source linked (or implied) for it. A
      // source d already linked to an earlier event e' of the same thread
      // with d < e' (a forward edge, never dropped) is implied for e by
      // d -> e' -> (program order) -> e, so it is not linked again.
      struct Cache {
        uint32_t last = kNone;
        std::vector<uint32_t> srcs;
      };
      absl::flat_hash_map<uint64_t, Cache> caches;
      for (uint32_t e = 0; e < n; ++e) {
        const uint32_t u = t.upstream_span(e);
        if (u == kNone || span_buckets[u].empty()) continue;
        Cache& c = caches[(uint64_t{t.thread(e)} << 32) | u];
        if (c.srcs.empty()) c.srcs.assign(span_buckets[u].size(), kNone);
        const int64_t ts = t.timestamp_ns(e);
        for (size_t j = 0; j < span_buckets[u].size(); ++j) {
          const std::vector<uint32_t>& list = buckets[span_buckets[u][j]];
          auto it = std::upper_bound(list.begin(), list.end(), ts, [&](int64_t v, uint32_t idx) {
            return v < t.timestamp_ns(idx);
          });
          if (it == list.begin() || *(it - 1) == e) {
            c.srcs[j] = kNone;
            continue;
          }
          const uint32_t d = *(it - 1);
          if (c.last != kNone && c.srcs[j] == d && d < c.last) continue;
          add(d, e, EdgeKind::kSpan);
          c.srcs[j] = d;
        }
        c.last = e;
      }
    }
  }

  // CSR of predecessors, sorted by source; one edge per (from, to) keeping
  // the lowest kind (parent, then join, then span).
  std::sort(cross.begin(), cross.end(), [](const Edge& a, const Edge& b) {
    if (a.to != b.to) return a.to < b.to;
    if (a.from != b.from) return a.from < b.from;
    return a.kind < b.kind;
  });
  cross.erase(
      std::unique(cross.begin(), cross.end(),
                  [](const Edge& a, const Edge& b) { return a.to == b.to && a.from == b.from; }),
      cross.end());
  pred_begin_.assign(n + 1, 0);
  preds_.resize(cross.size());
  pred_kinds_.resize(cross.size());
  for (size_t k = 0; k < cross.size(); ++k) {
    ++pred_begin_[cross[k].to + 1];
    preds_[k] = cross[k].from;
    pred_kinds_[k] = cross[k].kind;
  }
  std::partial_sum(pred_begin_.begin(), pred_begin_.end(), pred_begin_.begin());
}

void CausalGraph::BreakCycles() {
  const uint32_t n = size();
  bool any_backward = false;
  for (uint32_t i = 0; i < n && !any_backward; ++i) {
    for (uint32_t p : cross_predecessors(i)) any_backward |= p > i;
  }
  if (!any_backward) {
    std::sort(dropped_.begin(), dropped_.end(), [](const Edge& a, const Edge& b) {
      return a.to != b.to ? a.to < b.to : a.from < b.from;
    });
    return;
  }
  // Tarjan's SCC (iterative) over arcs v -> predecessors(v); the reverse
  // graph has the same components.
  std::vector<uint32_t> idx(n, kNone), low(n, 0), comp(n, kNone), stack;
  std::vector<uint8_t> on_stack(n, 0);
  struct Frame {
    uint32_t v;
    uint32_t next;
  };
  std::vector<Frame> call;
  uint32_t counter = 0, ncomp = 0;
  auto visit = [&](uint32_t v) {
    idx[v] = low[v] = counter++;
    stack.push_back(v);
    on_stack[v] = 1;
    call.push_back({v, 0});
  };
  for (uint32_t r = 0; r < n; ++r) {
    if (idx[r] != kNone) continue;
    visit(r);
    while (!call.empty()) {
      const uint32_t v = call.back().v;
      const uint32_t k = call.back().next;
      const uint32_t ncross = pred_begin_[v + 1] - pred_begin_[v];
      if (k < 1 + ncross) {
        ++call.back().next;
        const uint32_t w = k == 0 ? program_order_predecessor(v) : preds_[pred_begin_[v] + k - 1];
        if (w == kNone) continue;
        if (idx[w] == kNone) {
          visit(w);
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], idx[w]);
        }
        continue;
      }
      if (low[v] == idx[v]) {
        uint32_t w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = 0;
          comp[w] = ncomp;
        } while (w != v);
        ++ncomp;
      }
      call.pop_back();
      if (!call.empty()) {
        const uint32_t u = call.back().v;
        low[u] = std::min(low[u], low[v]);
      }
    }
  }
  // Drop intra-component backward edges.
  std::vector<uint32_t> new_begin(n + 1, 0);
  size_t out = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t b = pred_begin_[i], e = pred_begin_[i + 1];
    new_begin[i] = static_cast<uint32_t>(out);
    for (uint32_t k = b; k < e; ++k) {
      const uint32_t p = preds_[k];
      if (p > i && comp[p] == comp[i]) {
        dropped_.push_back({p, i, pred_kinds_[k]});
        continue;
      }
      preds_[out] = p;
      pred_kinds_[out] = pred_kinds_[k];
      ++out;
    }
  }
  new_begin[n] = static_cast<uint32_t>(out);
  preds_.resize(out);
  pred_kinds_.resize(out);
  preds_.shrink_to_fit();
  pred_kinds_.shrink_to_fit();
  pred_begin_ = std::move(new_begin);
  std::sort(dropped_.begin(), dropped_.end(), [](const Edge& a, const Edge& b) {
    return a.to != b.to ? a.to < b.to : a.from < b.from;
  });
}

void CausalGraph::ComputeTopologicalOrder() {
  const uint32_t n = size();
  topo_.resize(n);
  bool any_backward = false;
  for (uint32_t i = 0; i < n && !any_backward; ++i) {
    for (uint32_t p : cross_predecessors(i)) any_backward |= p > i;
  }
  if (!any_backward) {
    std::iota(topo_.begin(), topo_.end(), 0u);
    return;
  }
  // Kahn's algorithm, smallest (timestamp, id) first.
  std::vector<uint32_t> indeg(n, 0), succ_begin(n + 1, 0), succ(preds_.size());
  for (uint32_t i = 0; i < n; ++i) {
    indeg[i] = pred_begin_[i + 1] - pred_begin_[i] + (trace_.position(i) > 1 ? 1 : 0);
    for (uint32_t p : cross_predecessors(i)) ++succ_begin[p + 1];
  }
  std::partial_sum(succ_begin.begin(), succ_begin.end(), succ_begin.begin());
  {
    std::vector<uint32_t> fill(succ_begin.begin(), succ_begin.end() - 1);
    for (uint32_t i = 0; i < n; ++i) {
      for (uint32_t p : cross_predecessors(i)) succ[fill[p]++] = i;
    }
  }
  std::priority_queue<uint32_t, std::vector<uint32_t>, std::greater<uint32_t>> ready;
  for (uint32_t i = 0; i < n; ++i) {
    if (indeg[i] == 0) ready.push(i);
  }
  uint32_t emitted = 0;
  auto release = [&](uint32_t s) {
    if (--indeg[s] == 0) ready.push(s);
  };
  while (!ready.empty()) {
    const uint32_t v = ready.top();
    ready.pop();
    topo_[emitted++] = v;
    const uint32_t th = trace_.thread(v);
    const uint32_t pos = trace_.position(v);
    const auto thread_events = trace_.thread_events(th);
    if (pos < thread_events.size()) release(thread_events[pos]);
    for (uint32_t k = succ_begin[v]; k < succ_begin[v + 1]; ++k) release(succ[k]);
  }
  // The graph is acyclic after BreakCycles, so every event was emitted.
}

void CausalGraph::ComputeClocks() {
  const uint32_t n = size();
  clock_id_.assign(n, 0);
  snapshots_.assign(nt_, 0);  // Snapshot 0: all zeros.
  std::vector<uint32_t> cur(size_t{nt_} * nt_, 0);
  std::vector<uint32_t> thread_snap(nt_, 0);
  for (uint32_t b : topo_) {
    const uint32_t th = trace_.thread(b);
    uint32_t* row = cur.data() + size_t{th} * nt_;
    bool changed = false;
    for (uint32_t a : cross_predecessors(b)) {
      const uint32_t ta = trace_.thread(a);
      if (ta == th) continue;
      const uint32_t pa = trace_.position(a);
      if (pa <= row[ta]) continue;  // Already known: a's clock <= ours.
      const uint32_t* ca = snapshots_.data() + size_t{clock_id_[a]} * nt_;
      for (uint32_t x = 0; x < nt_; ++x) row[x] = std::max(row[x], ca[x]);
      row[ta] = pa;
      changed = true;
    }
    row[th] = trace_.position(b);
    if (changed) {
      thread_snap[th] = static_cast<uint32_t>(snapshots_.size() / nt_);
      snapshots_.insert(snapshots_.end(), row, row + nt_);
    }
    clock_id_[b] = thread_snap[th];
  }
}

std::vector<Edge> CausalGraph::Edges() const {
  std::vector<Edge> out;
  out.reserve(size() + preds_.size());
  for (uint32_t i = 0; i < size(); ++i) {
    const size_t first = out.size();
    const uint32_t po = program_order_predecessor(i);
    if (po != kNone) out.push_back({po, i, EdgeKind::kProgramOrder});
    auto preds = cross_predecessors(i);
    auto kinds = cross_predecessor_kinds(i);
    for (size_t k = 0; k < preds.size(); ++k) out.push_back({preds[k], i, kinds[k]});
    std::sort(out.begin() + static_cast<ptrdiff_t>(first), out.end(),
              [](const Edge& a, const Edge& b) { return a.from < b.from; });
  }
  return out;
}

std::vector<std::pair<std::string_view, uint64_t>> CausalGraph::VectorClock(uint32_t event) const {
  std::vector<std::pair<std::string_view, uint64_t>> out;
  for (uint32_t x = 0; x < nt_; ++x) {
    const uint32_t c = clock(event, x);
    if (c > 0) out.emplace_back(trace_.thread_name(x), c);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool CausalGraph::HappensBefore(uint32_t a, uint32_t b) const {
  if (a == b) return false;
  if (DagHappensBefore(a, b)) return true;
  if (DagHappensBefore(b, a)) return false;
  if (!trace_.has_client_clock(a) || !trace_.has_client_clock(b)) return false;
  return CompareClientClocks(trace_.client_clock(a), trace_.client_clock(b)) == ClockOrder::kBefore;
}

Relation CausalGraph::Relate(uint32_t a, uint32_t b) const {
  if (a == b) return Relation::kSame;
  if (HappensBefore(a, b)) return Relation::kBefore;
  if (HappensBefore(b, a)) return Relation::kAfter;
  return Relation::kConcurrent;
}

size_t CausalGraph::MemoryBytes() const {
  auto bytes = [](const auto& v) { return v.capacity() * sizeof(v[0]); };
  return trace_.MemoryBytes() + bytes(pred_begin_) + bytes(preds_) + bytes(pred_kinds_) +
         bytes(dropped_) + bytes(topo_) + bytes(clock_id_) + bytes(snapshots_);
}

}  // namespace raceway::graph
