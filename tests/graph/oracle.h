#ifndef RACEWAY_TESTS_GRAPH_ORACLE_H_
#define RACEWAY_TESTS_GRAPH_ORACLE_H_

// Brute-force reference implementation of ARCHITECTURE §4 as documented in
// libs/graph (program order that follows explicit same-thread edges, edge
// definitions, cycle rule, client clock rule, lock sets, race definition),
// written naively and independently of the library: naive reordering,
// naive edge construction, reachability by BFS from every event, the client
// clock rule checked component by component over all edges, all-pairs race
// check. O(n^2) and worse: for property tests and the benchmark's ratio only.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "libs/graph/client_clock.h"
#include "libs/model/operation_key.h"
#include "raceway/v1/event.pb.h"

namespace raceway::graph::oracle {

using raceway::v1::Event;

struct OracleRace {
  uint32_t first;
  uint32_t second;
  bool critical;
  friend bool operator<(const OracleRace& a, const OracleRace& b) {
    return std::tie(a.first, a.second, a.critical) < std::tie(b.first, b.second, b.critical);
  }
  friend bool operator==(const OracleRace& a, const OracleRace& b) {
    return std::tie(a.first, a.second, a.critical) == std::tie(b.first, b.second, b.critical);
  }
};

class Oracle {
 public:
  // `compute_reachability` = false skips the DAG: the caller then supplies
  // happens-before through RacesWith() (used by the benchmark on big traces).
  explicit Oracle(const std::vector<Event>& input, bool compute_reachability = true,
                  ClientClockMode client_clocks = ClientClockMode::kAuto)
      : mode_(client_clocks) {
    for (const Event& e : input) ev_.push_back(&e);
    std::sort(ev_.begin(), ev_.end(), [](const Event* a, const Event* b) {
      const int64_t ta = model::TimestampNanos(*a), tb = model::TimestampNanos(*b);
      return ta != tb ? ta < tb : a->id() < b->id();
    });
    n_ = static_cast<uint32_t>(ev_.size());
    FollowExplicitEdges();
    for (uint32_t i = 0; i < n_; ++i) index_[ev_[i]->id()] = i;
    ComputeLockSets();
    if (!compute_reachability) return;
    BuildEdges();
    BreakCycles();
    reach_ = Reach(edges_);
    TopoOrder();
    JudgeClientClocks();
  }

  uint32_t size() const { return n_; }
  const Event& event(uint32_t i) const { return *ev_[i]; }
  const std::vector<std::pair<uint32_t, uint32_t>>& edges() const { return edges_; }

  bool Dag(uint32_t a, uint32_t b) const { return a != b && reach_[a][b]; }

  // Order timestamp: the largest timestamp among the event and its
  // program-order predecessors.
  int64_t OrderTs(uint32_t i) const { return order_ts_[i]; }
  // Events placed after an event with a later (timestamp, id).
  const std::vector<uint32_t>& Reordered() const { return reordered_; }
  const std::vector<std::pair<uint32_t, uint32_t>>& dropped() const { return dropped_; }

  // Client components the rule ignored (kAuto), by name.
  const std::set<std::string>& IgnoredComponents() const { return ignored_; }
  bool ClientUsable(uint32_t i) const {
    switch (mode_) {
      case ClientClockMode::kTrust:
        return ev_[i]->causality_vector_size() > 0;
      case ClientClockMode::kIgnore:
        return false;
      case ClientClockMode::kAuto:
        return usable_[i];
    }
    return false;
  }

  // Client vector order (both usable, strictly ordered, missing = 0).
  bool ClientBefore(uint32_t a, uint32_t b) const {
    if (!ClientUsable(a) || !ClientUsable(b)) return false;
    return Less(Vec(a), Vec(b));
  }

  bool HappensBefore(uint32_t a, uint32_t b) const {
    if (a == b) return false;
    return Dag(a, b) || (ClientBefore(a, b) && !Dag(b, a));
  }

  bool Protected(uint32_t a, uint32_t b) const {
    for (const auto& [lock, read] : locks_[a]) {
      auto it = locks_[b].find(lock);
      if (it != locks_[b].end() && !(read && it->second)) return true;
    }
    return false;
  }

  const std::map<std::string, bool>& LockSet(uint32_t i) const { return locks_[i]; }

  // The race definition, with happens-before supplied by the caller.
  template <typename Hb>
  bool RacesWith(uint32_t a, uint32_t b, Hb hb) const {
    const Event& x = *ev_[a];
    const Event& y = *ev_[b];
    if (!x.has_state_change() || !y.has_state_change()) return false;
    if (x.state_change().variable() != y.state_change().variable()) return false;
    if (x.metadata().thread_id() == y.metadata().thread_id()) return false;
    const auto ta = x.state_change().access_type(), tb = y.state_change().access_type();
    if (!model::IsWrite(ta) && !model::IsWrite(tb)) return false;
    if (model::IsAtomic(ta) && model::IsAtomic(tb)) return false;
    if (hb(a, b) || hb(b, a)) return false;
    return !Protected(a, b);
  }
  bool Races(uint32_t a, uint32_t b) const {
    return RacesWith(a, b, [this](uint32_t x, uint32_t y) { return HappensBefore(x, y); });
  }

  template <typename Hb>
  std::vector<OracleRace> AllRacesWith(Hb hb) const {
    std::vector<uint32_t> acc;
    for (uint32_t i = 0; i < n_; ++i) {
      if (ev_[i]->has_state_change()) acc.push_back(i);
    }
    std::vector<OracleRace> out;
    for (size_t p = 0; p < acc.size(); ++p) {
      for (size_t q = p + 1; q < acc.size(); ++q) {
        if (RacesWith(acc[p], acc[q], hb)) {
          out.push_back({acc[p], acc[q],
                         model::IsWrite(ev_[acc[p]]->state_change().access_type()) &&
                             model::IsWrite(ev_[acc[q]]->state_change().access_type())});
        }
      }
    }
    return out;
  }
  std::vector<OracleRace> AllRaces() const {
    return AllRacesWith([this](uint32_t x, uint32_t y) { return HappensBefore(x, y); });
  }

  // Linear extension: Kahn's algorithm, smallest index first.
  const std::vector<uint32_t>& topo() const { return topo_; }

  // Audit is_race per event: races with an access earlier in topo order.
  std::vector<bool> AuditIsRace() const {
    std::vector<bool> out(n_, false);
    std::vector<uint32_t> seen;
    for (uint32_t b : topo_) {
      if (!ev_[b]->has_state_change()) continue;
      for (uint32_t a : seen) {
        if (Races(a, b)) out[b] = true;
      }
      seen.push_back(b);
    }
    return out;
  }

  // Max-weight path total (durations) over the DAG.
  uint64_t CriticalPathTotal() const {
    std::vector<uint64_t> best(n_, 0);
    std::vector<std::vector<uint32_t>> preds(n_);
    for (auto [a, b] : edges_) preds[b].push_back(a);
    uint64_t top = 0;
    for (uint32_t v : topo_) {
      uint64_t in = 0;
      for (uint32_t p : preds[v]) in = std::max(in, best[p]);
      best[v] = in + model::DurationNs(*ev_[v]).value_or(0);
      top = std::max(top, best[v]);
    }
    return top;
  }

 private:
  std::optional<uint32_t> Find(const std::string& id) const {
    auto it = index_.find(id);
    if (it == index_.end()) return std::nullopt;
    return it->second;
  }

  // Client vector as a map, repeated components at their largest clock,
  // zeros dropped.
  std::map<std::string, uint64_t> Vec(uint32_t i) const {
    std::map<std::string, uint64_t> v;
    for (const auto& c : ev_[i]->causality_vector()) {
      if (c.clock() > 0) v[c.component()] = std::max(v[c.component()], c.clock());
    }
    return v;
  }
  static uint64_t Value(const std::map<std::string, uint64_t>& v, const std::string& c) {
    auto it = v.find(c);
    return it == v.end() ? 0 : it->second;
  }
  // x <= y componentwise.
  static bool LessEq(const std::map<std::string, uint64_t>& x,
                     const std::map<std::string, uint64_t>& y) {
    for (auto& [k, vx] : x) {
      if (vx > Value(y, k)) return false;
    }
    return true;
  }
  static bool Less(const std::map<std::string, uint64_t>& x,
                   const std::map<std::string, uint64_t>& y) {
    return LessEq(x, y) && x != y;
  }

  // Program order: per thread, repeatedly take the smallest (timestamp, id)
  // event whose same-thread explicit predecessors (parent, awaited spawn)
  // are all taken, or, when none is, the smallest remaining one. Then
  // interleave the threads by (largest original index so far, position).
  void FollowExplicitEdges() {
    std::map<std::string, uint32_t> by_id;
    for (uint32_t i = 0; i < n_; ++i) by_id[ev_[i]->id()] = i;
    std::vector<std::vector<uint32_t>> preds(n_);
    auto thread = [&](uint32_t i) { return ev_[i]->metadata().thread_id(); };
    for (uint32_t i = 0; i < n_; ++i) {
      const std::string& p = ev_[i]->parent_id();
      auto it = by_id.find(p);
      if (p.empty() || p == ev_[i]->id() || it == by_id.end()) continue;
      if (thread(it->second) == thread(i)) preds[i].push_back(it->second);
    }
    for (uint32_t s = 0; s < n_; ++s) {
      if (!ev_[s]->has_async_spawn()) continue;
      for (uint32_t w = 0; w < n_; ++w) {
        if (w != s && ev_[w]->has_async_await() && !ev_[w]->async_await().future_id().empty() &&
            ev_[w]->async_await().future_id() == ev_[s]->async_spawn().task_id() &&
            thread(w) == thread(s)) {
          preds[w].push_back(s);
        }
      }
    }
    std::map<std::string, std::vector<uint32_t>> threads;
    for (uint32_t i = 0; i < n_; ++i) threads[thread(i)].push_back(i);
    std::vector<std::tuple<uint32_t, uint32_t, uint32_t>> keys;  // (max so far, position, event)
    std::vector<bool> taken(n_, false);
    for (auto& [name, list] : threads) {
      uint32_t max_so_far = 0;
      for (uint32_t j = 0; j < list.size(); ++j) {
        std::optional<uint32_t> pick;
        for (uint32_t i : list) {
          if (taken[i]) continue;
          bool ready = true;
          for (uint32_t p : preds[i]) ready = ready && taken[p];
          if (ready) {
            pick = i;
            break;
          }
        }
        if (!pick) {
          for (uint32_t i : list) {
            if (!taken[i]) {
              pick = i;
              break;
            }
          }
        }
        taken[*pick] = true;
        max_so_far = std::max(max_so_far, *pick);
        keys.emplace_back(max_so_far, j, *pick);
      }
    }
    std::sort(keys.begin(), keys.end());
    std::vector<const Event*> sorted;
    for (auto& [m, j, i] : keys) {
      if (m != i) reordered_.push_back(static_cast<uint32_t>(sorted.size()));
      order_ts_.push_back(model::TimestampNanos(*ev_[m]));
      sorted.push_back(ev_[i]);
    }
    ev_ = sorted;
  }

  void BuildEdges() {
    // Parents; parent cycles: drop backward parent edges on a cycle.
    parent_.assign(n_, UINT32_MAX);
    for (uint32_t i = 0; i < n_; ++i) {
      const std::string& p = ev_[i]->parent_id();
      if (p.empty() || p == ev_[i]->id()) continue;
      if (auto j = Find(p)) parent_[i] = *j;
    }
    std::vector<uint32_t> kept = parent_;
    for (uint32_t i = 0; i < n_; ++i) {
      // i lies on a parent cycle iff walking up from its parent returns to i.
      uint32_t j = parent_[i];
      bool on_cycle = false;
      for (uint32_t steps = 0; j != UINT32_MAX && steps <= n_; ++steps, j = parent_[j]) {
        if (j == i) {
          on_cycle = true;
          break;
        }
      }
      if (on_cycle && parent_[i] > i) kept[i] = UINT32_MAX;
    }
    parent_ = kept;
    for (uint32_t i = 0; i < n_; ++i) {
      if (parent_[i] != UINT32_MAX) edges_.emplace_back(parent_[i], i);
    }
    // Program order.
    std::map<std::string, uint32_t> last;
    for (uint32_t i = 0; i < n_; ++i) {
      auto it = last.find(ev_[i]->metadata().thread_id());
      if (it != last.end()) edges_.emplace_back(it->second, i);
      last[ev_[i]->metadata().thread_id()] = i;
    }
    // Joins.
    auto descends = [&](uint32_t d, uint32_t s) {
      for (uint32_t j = parent_[d], steps = 0; j != UINT32_MAX && steps <= n_;
           j = parent_[j], ++steps) {
        if (j == s) return true;
      }
      return false;
    };
    for (uint32_t w = 0; w < n_; ++w) {
      if (!ev_[w]->has_async_await() || ev_[w]->async_await().future_id().empty()) continue;
      for (uint32_t s = 0; s < n_; ++s) {
        if (s == w || !ev_[s]->has_async_spawn() ||
            ev_[s]->async_spawn().task_id() != ev_[w]->async_await().future_id()) {
          continue;
        }
        edges_.emplace_back(s, w);
        std::map<std::string, uint32_t> last_on;
        for (uint32_t d = 0; d < n_; ++d) {
          if (descends(d, s)) last_on[ev_[d]->metadata().thread_id()] = d;
        }
        for (auto& [th, d] : last_on) {
          if (d != w) edges_.emplace_back(d, w);
        }
      }
    }
    // Distributed span edges: per thread, the latest span-u event with order
    // timestamp <= own.
    for (uint32_t e = 0; e < n_; ++e) {
      const std::string& u = ev_[e]->metadata().upstream_span_id();
      if (u.empty()) continue;
      std::map<std::string, uint32_t> latest;
      for (uint32_t d = 0; d < n_; ++d) {
        if (ev_[d]->metadata().distributed_span_id() != u) continue;
        if (order_ts_[d] > order_ts_[e]) continue;
        latest[ev_[d]->metadata().thread_id()] = d;
      }
      for (auto& [th, d] : latest) {
        if (d != e) edges_.emplace_back(d, e);
      }
    }
    std::sort(edges_.begin(), edges_.end());
    edges_.erase(std::unique(edges_.begin(), edges_.end()), edges_.end());
  }

  std::vector<std::vector<bool>> Reach(
      const std::vector<std::pair<uint32_t, uint32_t>>& edges) const {
    std::vector<std::vector<uint32_t>> succ(n_);
    for (auto [a, b] : edges) succ[a].push_back(b);
    std::vector<std::vector<bool>> reach(n_, std::vector<bool>(n_, false));
    for (uint32_t s = 0; s < n_; ++s) {
      std::vector<uint32_t> stack = succ[s];
      while (!stack.empty()) {
        const uint32_t v = stack.back();
        stack.pop_back();
        if (reach[s][v]) continue;
        reach[s][v] = true;
        for (uint32_t w : succ[v]) stack.push_back(w);
      }
    }
    return reach;
  }

  void BreakCycles() {
    const auto r = Reach(edges_);
    std::vector<std::pair<uint32_t, uint32_t>> kept;
    for (auto [a, b] : edges_) {
      const bool same_scc = a == b || (r[a][b] && r[b][a]);
      if (same_scc && a > b) {
        dropped_.emplace_back(a, b);
        continue;
      }
      kept.emplace_back(a, b);
    }
    edges_ = kept;
  }

  void TopoOrder() {
    std::vector<uint32_t> indeg(n_, 0);
    std::vector<std::vector<uint32_t>> succ(n_);
    for (auto [a, b] : edges_) {
      succ[a].push_back(b);
      ++indeg[b];
    }
    std::priority_queue<uint32_t, std::vector<uint32_t>, std::greater<uint32_t>> ready;
    for (uint32_t i = 0; i < n_; ++i) {
      if (indeg[i] == 0) ready.push(i);
    }
    while (!ready.empty()) {
      const uint32_t v = ready.top();
      ready.pop();
      topo_.push_back(v);
      for (uint32_t w : succ[v]) {
        if (--indeg[w] == 0) ready.push(w);
      }
    }
  }

  // The client clock rule (libs/graph README), component by component.
  void JudgeClientClocks() {
    usable_.assign(n_, false);
    if (mode_ != ClientClockMode::kAuto) return;
    std::vector<std::map<std::string, uint64_t>> vec(n_);
    std::set<std::string> components;
    for (uint32_t i = 0; i < n_; ++i) {
      vec[i] = Vec(i);
      for (auto& [c, v] : vec[i]) components.insert(c);
    }
    auto sum = [&](uint32_t i) {
      unsigned __int128 s = 0;
      for (auto& [c, v] : vec[i]) s += v;
      return s;
    };
    for (const std::string& c : components) {
      bool ok = true;
      for (auto [a, b] : edges_) ok = ok && Value(vec[a], c) <= Value(vec[b], c);
      std::map<uint64_t, std::vector<uint32_t>> advance;  // value -> events
      for (uint32_t e = 0; e < n_; ++e) {
        const uint64_t v = Value(vec[e], c);
        bool is_advance = v > 0;
        for (auto [a, b] : edges_) {
          if (b == e && Value(vec[a], c) >= v) is_advance = false;
        }
        if (is_advance) advance[v].push_back(e);
      }
      std::optional<uint32_t> prev;
      for (auto& [x, list] : advance) {
        uint32_t origin = list[0];
        for (uint32_t a : list) {
          if (sum(a) < sum(origin) || (sum(a) == sum(origin) && a < origin)) origin = a;
        }
        for (uint32_t a : list) {
          if (a == origin) continue;
          const bool equal = vec[a] == vec[origin];
          ok = ok && (Less(vec[origin], vec[a]) || (equal && (Dag(origin, a) || Dag(a, origin))));
        }
        if (prev) ok = ok && Dag(*prev, origin);
        prev = origin;
      }
      if (!ok) ignored_.insert(c);
    }
    for (uint32_t i = 0; i < n_; ++i) {
      if (ev_[i]->causality_vector_size() == 0 || vec[i].empty()) continue;
      bool all = true;
      for (auto& [c, v] : vec[i]) all = all && !ignored_.count(c);
      usable_[i] = all;
    }
  }

  static bool ReadMode(const std::string& type) {
    return type.size() >= 6 && type.compare(type.size() - 6, 6, "::Read") == 0;
  }

  void ComputeLockSets() {
    locks_.assign(n_, {});
    std::map<std::string, std::vector<std::pair<std::string, bool>>> live;  // Per thread.
    for (uint32_t i = 0; i < n_; ++i) {
      const Event& e = *ev_[i];
      auto& acq = live[e.metadata().thread_id()];
      if (e.has_lock_acquire()) {
        acq.emplace_back(e.lock_acquire().lock_id(), ReadMode(e.lock_acquire().lock_type()));
      } else if (e.has_lock_release()) {
        const std::string& lock = e.lock_release().lock_id();
        const bool read = ReadMode(e.lock_release().lock_type());
        int match = -1;
        for (int k = static_cast<int>(acq.size()) - 1; k >= 0; --k) {
          if (acq[k].first == lock && acq[k].second == read) {
            match = k;
            break;
          }
        }
        if (match < 0) {
          for (int k = static_cast<int>(acq.size()) - 1; k >= 0; --k) {
            if (acq[k].first == lock) {
              match = k;
              break;
            }
          }
        }
        if (match >= 0) acq.erase(acq.begin() + match);
      }
      std::map<std::string, bool> set;  // lock -> read mode (all reads).
      for (auto& [lock, read] : acq) {
        auto it = set.find(lock);
        if (it == set.end()) {
          set[lock] = read;
        } else {
          it->second = it->second && read;
        }
      }
      for (const std::string& lock : e.lock_set()) {
        if (!set.count(lock)) set[lock] = false;
      }
      locks_[i] = std::move(set);
    }
  }

  ClientClockMode mode_;
  std::vector<const Event*> ev_;
  uint32_t n_ = 0;
  std::map<std::string, uint32_t> index_;
  std::vector<int64_t> order_ts_;
  std::vector<uint32_t> reordered_;
  std::set<std::string> ignored_;
  std::vector<bool> usable_;
  std::vector<uint32_t> parent_;
  std::vector<std::pair<uint32_t, uint32_t>> edges_;
  std::vector<std::pair<uint32_t, uint32_t>> dropped_;
  std::vector<std::vector<bool>> reach_;
  std::vector<uint32_t> topo_;
  std::vector<std::map<std::string, bool>> locks_;
};

}  // namespace raceway::graph::oracle

#endif  // RACEWAY_TESTS_GRAPH_ORACLE_H_
