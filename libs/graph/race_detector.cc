#include "libs/graph/race_detector.h"

#include <algorithm>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libs/graph/client_clock.h"
#include "libs/model/operation_key.h"

namespace raceway::graph {
namespace {

using raceway::v1::AccessType;

// Access class: bit 0 = writes, bit 1 = atomic.
uint8_t ClassOf(AccessType t) {
  return static_cast<uint8_t>((model::IsWrite(t) ? 1 : 0) | (model::IsAtomic(t) ? 2 : 0));
}
bool ClassesConflict(uint8_t a, uint8_t b) { return ((a | b) & 1) && !((a & b) & 2); }

struct Slot {
  uint32_t lockset;
  uint8_t cls;
  uint32_t tail_pos;
  std::vector<std::pair<uint32_t, uint32_t>> items;  // (position, event).
};
// One thread's accesses to one variable: its latest position and its lists.
struct ThreadLists {
  uint32_t thread;
  uint32_t last_pos;
  // Indices into the slot pool, least recently appended first; so their
  // tail positions ascend and a backwards scan can stop at the first list
  // whose tail is already ordered before the current access.
  std::vector<uint32_t> slots;
};
struct GroupAgg {
  uint64_t count = 0;
  RaceSeverity severity = RaceSeverity::kWarning;
  absl::flat_hash_set<uint32_t> threads;
};

bool PairLess(const RacePair& a, const RacePair& b) {
  return a.first != b.first ? a.first < b.first : a.second < b.second;
}

}  // namespace

std::string_view RaceSeverityName(RaceSeverity s) {
  return s == RaceSeverity::kCritical ? "CRITICAL" : "WARNING";
}

bool Conflicts(AccessType a, AccessType b) { return ClassesConflict(ClassOf(a), ClassOf(b)); }

RaceSeverity SeverityOf(AccessType a, AccessType b) {
  return model::IsWrite(a) && model::IsWrite(b) ? RaceSeverity::kCritical : RaceSeverity::kWarning;
}

std::string DescribeRace(const CausalGraph& graph, const RacePair& pair) {
  const CompactTrace& t = graph.trace();
  auto side = [&](uint32_t i) {
    const std::string_view loc = t.location_name(t.location(i));
    return absl::StrCat(std::string(model::AccessTypeName(t.access_type(i))), " at ",
                        loc.empty() ? std::string("<unknown location>") : std::string(loc),
                        " (thread ", std::string(t.thread_name(t.thread(i))), ")");
  };
  return absl::StrCat(std::string(RaceSeverityName(pair.severity)), " race on ",
                      std::string(t.variable_name(pair.variable)), ": ", side(pair.first), " and ",
                      side(pair.second),
                      " are concurrent and share no lock held exclusively by either");
}

RaceReport DetectRaces(const CausalGraph& graph, const LockSets& locks,
                       const RaceOptions& options) {
  const CompactTrace& t = graph.trace();
  RaceReport report;
  report.races_with_earlier.assign(t.size(), 0);
  report.variable = options.variable;
  uint32_t only_variable = kNone;
  if (!options.variable.empty()) {
    auto v = t.FindVariable(options.variable);
    if (!v) return report;
    only_variable = *v;
  }

  uint8_t relevant[4] = {0, 0, 0, 0};  // Classes that conflict with class c.
  for (uint8_t c = 0; c < 4; ++c) {
    for (uint8_t d = 0; d < 4; ++d) {
      if (ClassesConflict(c, d)) relevant[c] |= static_cast<uint8_t>(1u << d);
    }
  }

  std::vector<std::vector<ThreadLists>> per_var(t.num_variables());
  std::vector<Slot> slots;
  absl::flat_hash_map<uint64_t, bool> compatible_memo;
  absl::flat_hash_map<std::tuple<uint32_t, uint32_t, uint32_t>, GroupAgg> aggs;
  const size_t cap = options.max_pairs;
  const size_t compact_at = cap >= SIZE_MAX / 4 ? SIZE_MAX : std::max<size_t>(2 * cap, cap + 4096);

  auto compatible = [&](uint32_t sa, uint32_t sb) {
    if (sa == 0 || sb == 0) return true;
    const uint64_t key = (uint64_t{std::min(sa, sb)} << 32) | std::max(sa, sb);
    auto [it, inserted] = compatible_memo.try_emplace(key, false);
    if (inserted) it->second = !locks.Protects(sa, sb);
    return it->second;
  };

  auto report_pair = [&](uint32_t a, uint32_t b, uint32_t v) {
    const RaceSeverity sev = SeverityOf(t.access_type(a), t.access_type(b));
    ++report.total_pairs;
    report.races_with_earlier[b] = 1;
    uint32_t la = t.location(a), lb = t.location(b);
    if (t.location_rank(la) > t.location_rank(lb)) std::swap(la, lb);
    GroupAgg& agg = aggs[{v, la, lb}];
    ++agg.count;
    agg.severity = std::max(agg.severity, sev);
    agg.threads.insert(t.thread(a));
    agg.threads.insert(t.thread(b));
    if (cap == 0) return;
    report.pairs.push_back({std::min(a, b), std::max(a, b), v, sev});
    if (report.pairs.size() >= compact_at) {
      std::nth_element(report.pairs.begin(), report.pairs.begin() + static_cast<ptrdiff_t>(cap),
                       report.pairs.end(), PairLess);
      report.pairs.resize(cap);
    }
  };

  for (uint32_t b : graph.topological_order()) {
    const uint32_t v = t.variable(b);
    if (v == kNone || (only_variable != kNone && v != only_variable)) continue;
    const uint32_t th = t.thread(b);
    const uint8_t cls = ClassOf(t.access_type(b));
    const uint8_t mask = relevant[cls];
    const uint32_t lb = locks.set_of(b);
    const bool b_client = graph.client_order_usable(b);
    ThreadLists* own = nullptr;
    for (ThreadLists& tl : per_var[v]) {
      if (tl.thread == th) {
        own = &tl;
        continue;
      }
      const uint32_t known = graph.clock(b, tl.thread);
      if (tl.last_pos <= known) continue;  // All of that thread's accesses happen before b.
      for (auto sit = tl.slots.rbegin(); sit != tl.slots.rend(); ++sit) {
        Slot& s = slots[*sit];
        if (s.tail_pos <= known) break;  // This and all older lists happen before b.
        if (!((mask >> s.cls) & 1) || !compatible(s.lockset, lb)) continue;
        auto it = std::upper_bound(
            s.items.begin(), s.items.end(), known,
            [](uint32_t k, const std::pair<uint32_t, uint32_t>& item) { return k < item.first; });
        for (; it != s.items.end(); ++it) {
          const uint32_t a = it->second;
          if (b_client) {
            const ClockOrder o = graph.ClientOrder(a, b);
            if (o == ClockOrder::kBefore || o == ClockOrder::kAfter) continue;
          }
          report_pair(a, b, v);
        }
      }
    }
    // Append b to its list (the thread's lists are few; the most recent
    // one, checked first, is the usual match).
    if (own == nullptr) {
      per_var[v].push_back({th, 0, {}});
      own = &per_var[v].back();
    }
    uint32_t sid = kNone;
    for (size_t k = own->slots.size(); k-- > 0;) {
      const Slot& s = slots[own->slots[k]];
      if (s.lockset == lb && s.cls == cls) {
        sid = own->slots[k];
        std::rotate(own->slots.begin() + static_cast<ptrdiff_t>(k),
                    own->slots.begin() + static_cast<ptrdiff_t>(k) + 1, own->slots.end());
        break;
      }
    }
    if (sid == kNone) {
      sid = static_cast<uint32_t>(slots.size());
      slots.push_back({lb, cls, 0, {}});
      own->slots.push_back(sid);
    }
    Slot& slot = slots[sid];
    slot.tail_pos = t.position(b);
    slot.items.emplace_back(t.position(b), b);
    own->last_pos = t.position(b);
  }

  if (report.pairs.size() > cap) {
    std::nth_element(report.pairs.begin(), report.pairs.begin() + static_cast<ptrdiff_t>(cap),
                     report.pairs.end(), PairLess);
    report.pairs.resize(cap);
  }
  std::sort(report.pairs.begin(), report.pairs.end(), PairLess);

  report.groups.reserve(aggs.size());
  for (auto& [key, agg] : aggs) {
    RaceGroup g;
    g.variable = std::get<0>(key);
    g.variable_name = t.variable_name(g.variable);
    g.location_a = t.location_name(std::get<1>(key));
    g.location_b = t.location_name(std::get<2>(key));
    g.severity = agg.severity;
    g.count = agg.count;
    for (uint32_t th : agg.threads) g.thread_ids.push_back(t.thread_name(th));
    std::sort(g.thread_ids.begin(), g.thread_ids.end());
    report.groups.push_back(std::move(g));
  }
  std::sort(report.groups.begin(), report.groups.end(), [](const RaceGroup& a, const RaceGroup& b) {
    return std::tie(a.variable_name, a.location_a, a.location_b) <
           std::tie(b.variable_name, b.location_a, b.location_b);
  });
  return report;
}

}  // namespace raceway::graph
