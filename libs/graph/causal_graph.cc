#include "libs/graph/causal_graph.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <numeric>
#include <queue>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "libs/graph/client_clock.h"

namespace raceway::graph {
namespace {

using raceway::v1::Event;

// "<id> (thread <thread_id>, <value>)" for client clock reasons.
std::string Describe(const CompactTrace& t, uint32_t i, uint64_t value) {
  return absl::StrCat(std::string(t.id(i)), " (thread ", std::string(t.thread_name(t.thread(i))),
                      ", ", value, ")");
}

uint64_t ValueOf(std::span<const ClientClockEntry> v, uint32_t component) {
  auto it = std::lower_bound(v.begin(), v.end(), component,
                             [](const ClientClockEntry& e, uint32_t c) { return e.component < c; });
  return it != v.end() && it->component == component ? it->clock : 0;
}

}  // namespace

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

absl::StatusOr<CausalGraph> CausalGraph::Build(std::span<const Event> events,
                                               ClientClockMode client_clocks) {
  absl::StatusOr<CompactTrace> trace = CompactTrace::Build(events);
  if (!trace.ok()) return trace.status();
  return Build(*std::move(trace), client_clocks);
}

absl::StatusOr<CausalGraph> CausalGraph::Build(std::span<const Event* const> events,
                                               ClientClockMode client_clocks) {
  absl::StatusOr<CompactTrace> trace = CompactTrace::Build(events);
  if (!trace.ok()) return trace.status();
  return Build(*std::move(trace), client_clocks);
}

absl::StatusOr<CausalGraph> CausalGraph::Build(std::vector<Event>&& events,
                                               ClientClockMode client_clocks) {
  absl::StatusOr<CompactTrace> trace = CompactTrace::Build(std::move(events));
  if (!trace.ok()) return trace.status();
  return Build(*std::move(trace), client_clocks);
}

CausalGraph CausalGraph::Build(CompactTrace trace, ClientClockMode client_clocks) {
  CausalGraph g(std::move(trace));
  g.client_clocks_ = client_clocks;
  g.nt_ = g.trace_.num_threads();
  g.BuildEdges();
  g.BreakCycles();
  g.ComputeTopologicalOrder();
  g.ComputeClocks();
  g.JudgeClientClocks();
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

  // Joins: the spawns of awaited tasks, in index order.
  std::vector<uint8_t> is_awaited(t.num_tasks(), 0);
  for (const CompactTrace::TaskEvent& w : t.awaits()) is_awaited[w.task] = 1;
  std::vector<uint32_t> awaited;
  for (uint32_t k = 0; k < t.num_tasks(); ++k) {
    if (is_awaited[k]) awaited.insert(awaited.end(), t.spawns_of(k).begin(), t.spawns_of(k).end());
  }
  std::sort(awaited.begin(), awaited.end());
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
    for (const CompactTrace::TaskEvent& await : t.awaits()) {
      const uint32_t w = await.event;
      for (uint32_t s : t.spawns_of(await.task)) {
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
        const int64_t ts = t.order_timestamp_ns(e);
        for (size_t j = 0; j < span_buckets[u].size(); ++j) {
          const std::vector<uint32_t>& list = buckets[span_buckets[u][j]];
          auto it = std::upper_bound(list.begin(), list.end(), ts, [&](int64_t v, uint32_t idx) {
            return v < t.order_timestamp_ns(idx);
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
  // Kahn's algorithm, smallest index first.
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

void CausalGraph::JudgeClientClocks() {
  const CompactTrace& t = trace_;
  const uint32_t n = size();
  if (!t.any_client_clock() || client_clocks_ == ClientClockMode::kIgnore) return;
  client_usable_.assign(n, 0);
  if (client_clocks_ == ClientClockMode::kTrust) {
    for (uint32_t i = 0; i < n; ++i) client_usable_[i] = t.has_client_clock(i) ? 1 : 0;
    return;
  }

  // kAuto. The first reason found per component wins (deterministic:
  // monotonicity in index order, then values in increasing order).
  const uint32_t nc = t.num_client_components();
  struct Verdict {
    bool ignored = false;
    std::string reason;
    uint32_t offenders[2] = {kNone, kNone};
  };
  std::vector<Verdict> verdict(nc);
  auto ignore = [&](uint32_t c, std::string reason, uint32_t x, uint32_t y) {
    Verdict& v = verdict[c];
    v.ignored = true;
    v.reason = absl::StrCat("client clock component \"", std::string(t.client_component_name(c)),
                            "\" ignored: ", reason);
    v.offenders[0] = x;
    v.offenders[1] = y;
  };

  // (i) monotone along every kept edge, and the advance points.
  // Sum of a vector's entries, saturating: ties (only possible when sums
  // exceed 2^64) go to the smaller index, which can only make the rule
  // stricter, never trust a component it would not trust otherwise.
  struct Advance {
    uint64_t value;
    uint64_t sum;
    uint32_t component;
    uint32_t event;
  };
  std::vector<Advance> advances;
  std::vector<uint64_t> max_pred;
  for (uint32_t e = 0; e < n; ++e) {
    const std::span<const ClientClockEntry> ve = t.client_clock(e);
    max_pred.assign(ve.size(), 0);
    auto check = [&](uint32_t p, EdgeKind kind) {
      size_t j = 0;
      for (const ClientClockEntry& ep : t.client_clock(p)) {
        while (j < ve.size() && ve[j].component < ep.component) ++j;
        if (j < ve.size() && ve[j].component == ep.component && ep.clock <= ve[j].clock) {
          max_pred[j] = std::max(max_pred[j], ep.clock);
          continue;
        }
        if (verdict[ep.component].ignored) continue;
        ignore(ep.component,
               absl::StrCat("it goes backwards along a ", std::string(EdgeKindName(kind)),
                            " edge: ", Describe(t, p, ep.clock), " -> ",
                            Describe(t, e, ValueOf(ve, ep.component))),
               p, e);
      }
    };
    const uint32_t po = program_order_predecessor(e);
    if (po != kNone) check(po, EdgeKind::kProgramOrder);
    const auto preds = cross_predecessors(e);
    const auto kinds = cross_predecessor_kinds(e);
    for (size_t k = 0; k < preds.size(); ++k) check(preds[k], kinds[k]);
    if (ve.empty()) continue;
    uint64_t sum = 0;
    for (const ClientClockEntry& entry : ve) {
      sum = entry.clock > UINT64_MAX - sum ? UINT64_MAX : sum + entry.clock;
    }
    for (size_t j = 0; j < ve.size(); ++j) {
      if (ve[j].clock > max_pred[j]) advances.push_back({ve[j].clock, sum, ve[j].component, e});
    }
  }

  // (ii) one origin per value and (iii) the owner chain, per component.
  std::erase_if(advances, [&](const Advance& a) { return verdict[a.component].ignored; });
  std::sort(advances.begin(), advances.end(), [](const Advance& a, const Advance& b) {
    if (a.component != b.component) return a.component < b.component;
    if (a.value != b.value) return a.value < b.value;
    if (a.sum != b.sum) return a.sum < b.sum;
    return a.event < b.event;
  });
  for (size_t g = 0; g < advances.size();) {
    const uint32_t c = advances[g].component;
    uint32_t prev_origin = kNone;
    uint64_t prev_value = 0;
    for (; g < advances.size() && advances[g].component == c;) {
      if (verdict[c].ignored) {  // Nothing more to learn about c.
        ++g;
        continue;
      }
      const uint64_t x = advances[g].value;
      const uint32_t origin = advances[g].event;
      const std::span<const ClientClockEntry> vo = t.client_clock(origin);
      size_t k = g + 1;
      for (; k < advances.size() && advances[k].component == c && advances[k].value == x &&
             !verdict[c].ignored;
           ++k) {
        const uint32_t a = advances[k].event;
        const std::span<const ClientClockEntry> va = t.client_clock(a);
        // A vector with fewer non-zero entries is neither greater nor equal.
        const ClockOrder o =
            va.size() < vo.size() ? ClockOrder::kConcurrent : CompareClientClocks(vo, va);
        const bool ok = o == ClockOrder::kBefore ||
                        (o == ClockOrder::kEqual &&
                         (DagHappensBefore(origin, a) || DagHappensBefore(a, origin)));
        if (!ok) {
          ignore(c,
                 absl::StrCat("events ", Describe(t, origin, x), " and ", Describe(t, a, x),
                              " both advance it to ", x, " without either ordering the other"),
                 origin, a);
        }
      }
      if (!verdict[c].ignored && prev_origin != kNone && !DagHappensBefore(prev_origin, origin)) {
        ignore(c,
               absl::StrCat("advanced by unordered events ", Describe(t, prev_origin, prev_value),
                            " and ", Describe(t, origin, x)),
               prev_origin, origin);
      }
      prev_origin = origin;
      prev_value = x;
      g = k;
    }
  }

  // Usable events; per ignored component: carriers and examples.
  for (uint32_t c = 0; c < nc; ++c) {
    if (!verdict[c].ignored) continue;
    IgnoredClientComponent out;
    out.component = c;
    out.reason = std::move(verdict[c].reason);
    for (uint32_t x : verdict[c].offenders) {
      if (x != kNone &&
          std::find(out.examples.begin(), out.examples.end(), x) == out.examples.end())
        out.examples.push_back(x);
    }
    ignored_components_.push_back(std::move(out));
  }
  std::vector<uint32_t> slot(nc, kNone);
  for (uint32_t k = 0; k < ignored_components_.size(); ++k) {
    slot[ignored_components_[k].component] = k;
  }
  for (uint32_t e = 0; e < n; ++e) {
    const std::span<const ClientClockEntry> ve = t.client_clock(e);
    bool usable = t.has_client_clock(e) && !ve.empty();
    for (const ClientClockEntry& entry : ve) {
      const uint32_t k = slot[entry.component];
      if (k == kNone) continue;
      usable = false;
      IgnoredClientComponent& ic = ignored_components_[k];
      ++ic.events;
      if (ic.examples.size() < kMaxDiagnosticExamples &&
          std::find(ic.examples.begin(), ic.examples.end(), e) == ic.examples.end()) {
        ic.examples.push_back(e);
      }
    }
    client_usable_[e] = usable ? 1 : 0;
  }
  std::sort(ignored_components_.begin(), ignored_components_.end(),
            [&](const IgnoredClientComponent& a, const IgnoredClientComponent& b) {
              return t.client_component_name(a.component) < t.client_component_name(b.component);
            });
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
  return ClientOrder(a, b) == ClockOrder::kBefore;
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
         bytes(dropped_) + bytes(topo_) + bytes(clock_id_) + bytes(snapshots_) +
         bytes(client_usable_);
}

}  // namespace raceway::graph
