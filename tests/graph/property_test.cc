// Randomised agreement with the brute-force oracle (tests/graph/oracle.h):
// program order (reordering for explicit edges), happens-before from the
// vector clocks == DAG reachability, the client clock verdict, topological
// order, race pairs == all-pairs check, audit is_race, critical path total.
// Plus properties of the client clock rule on generated clocks (genuine
// vector clocks are never ignored; SDK-style shared components are) and of
// skewed timestamps (same-thread parent edges are never dropped).

#include <random>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "libs/graph/audit_trail.h"
#include "libs/graph/causal_graph.h"
#include "libs/graph/critical_path.h"
#include "libs/graph/lock_sets.h"
#include "libs/graph/race_detector.h"
#include "tests/graph/clock_traces.h"
#include "tests/graph/oracle.h"
#include "tests/graph/random_trace.h"

namespace raceway::graph {
namespace {

using testing::RandomTrace;
using testing::RandomTraceOptions;

struct Totals {
  uint64_t races = 0, dropped = 0, orphans = 0, client_order = 0, backward_topo = 0;
  uint64_t reordered = 0, ignored_components = 0, usable = 0;
};

void CheckTrace(const std::vector<raceway::v1::Event>& events, uint64_t seed, Totals* totals,
                ClientClockMode mode = ClientClockMode::kAuto) {
  SCOPED_TRACE(::testing::Message() << "seed " << seed << " mode " << ClientClockModeName(mode));
  auto graph_or = CausalGraph::Build(events, mode);
  ASSERT_TRUE(graph_or.ok()) << graph_or.status();
  const CausalGraph& g = *graph_or;
  const oracle::Oracle o(events, /*compute_reachability=*/true, mode);
  ASSERT_EQ(g.size(), o.size());
  const uint32_t n = g.size();
  for (uint32_t i = 0; i < n; ++i) {
    ASSERT_EQ(g.trace().id(i), o.event(i).id()) << i;
    ASSERT_EQ(g.trace().order_timestamp_ns(i), o.OrderTs(i)) << i;
    if (i > 0) {
      ASSERT_LE(g.trace().order_timestamp_ns(i - 1), g.trace().order_timestamp_ns(i));
    }
    totals->orphans += g.trace().parent_missing(i);
  }
  const auto reordered = g.trace().reordered_events();
  ASSERT_EQ(std::vector<uint32_t>(reordered.begin(), reordered.end()), o.Reordered());
  totals->reordered += reordered.size();
  totals->dropped += g.dropped_edges().size();

  // Client clock verdict.
  std::set<std::string> ignored;
  for (const IgnoredClientComponent& c : g.ignored_client_components()) {
    ignored.insert(std::string(g.trace().client_component_name(c.component)));
    ASSERT_FALSE(c.reason.empty());
    ASSERT_GT(c.events, 0u);
    ASSERT_FALSE(c.examples.empty());
  }
  ASSERT_EQ(ignored, o.IgnoredComponents());
  totals->ignored_components += ignored.size();
  for (uint32_t i = 0; i < n; ++i) {
    ASSERT_EQ(g.client_order_usable(i), o.ClientUsable(i)) << i;
    totals->usable += g.client_order_usable(i);
  }

  // Happens-before: clocks vs BFS reachability, and the full relation.
  for (uint32_t a = 0; a < n; ++a) {
    for (uint32_t b = 0; b < n; ++b) {
      ASSERT_EQ(g.DagHappensBefore(a, b), o.Dag(a, b)) << a << " -> " << b;
      ASSERT_EQ(g.HappensBefore(a, b), o.HappensBefore(a, b)) << a << " -> " << b;
      if (!o.Dag(a, b) && o.HappensBefore(a, b)) ++totals->client_order;
    }
  }
  // Topological order.
  const auto topo = g.topological_order();
  ASSERT_EQ(std::vector<uint32_t>(topo.begin(), topo.end()), o.topo());
  for (uint32_t k = 0; k < n; ++k) totals->backward_topo += topo[k] != k;

  // Races.
  const LockSets locks = LockSets::Compute(g.trace());
  RaceOptions options;
  options.max_pairs = SIZE_MAX;
  const RaceReport report = DetectRaces(g, locks, options);
  std::vector<oracle::OracleRace> fast;
  for (const RacePair& p : report.pairs) {
    ASSERT_LT(p.first, p.second);
    fast.push_back({p.first, p.second, p.severity == RaceSeverity::kCritical});
  }
  const std::vector<oracle::OracleRace> slow = o.AllRaces();
  ASSERT_EQ(fast, slow);
  ASSERT_EQ(report.total_pairs, slow.size());
  uint64_t grouped = 0;
  for (const RaceGroup& group : report.groups) grouped += group.count;
  ASSERT_EQ(grouped, slow.size());
  totals->races += slow.size();

  // Audit trails.
  const std::vector<bool> is_race = o.AuditIsRace();
  for (const AuditTrail& trail : BuildAuditTrails(g, report)) {
    uint32_t prev = kNone;
    for (const AuditAccess& a : trail.accesses) {
      ASSERT_EQ(a.is_race, is_race[a.event]) << "event " << a.event;
      ASSERT_EQ(a.has_causal_link_to_previous, prev != kNone && o.HappensBefore(prev, a.event));
      prev = a.event;
    }
  }

  // Critical path: same total; the path is a real path of the oracle DAG.
  const CriticalPath path = ComputeCriticalPath(g);
  ASSERT_EQ(path.total_duration_ns, o.CriticalPathTotal());
  uint64_t sum = 0;
  for (size_t k = 0; k < path.steps.size(); ++k) {
    sum += path.steps[k].duration_ns;
    if (k > 0) {
      ASSERT_TRUE(o.Dag(path.steps[k - 1].event, path.steps[k].event));
    }
  }
  ASSERT_EQ(sum, path.total_duration_ns);
}

TEST(GraphPropertyTest, SmallRandomTracesMatchOracle) {
  for (ClientClockMode mode : {ClientClockMode::kAuto, ClientClockMode::kTrust}) {
    Totals totals;
    for (uint64_t seed = 1; seed <= 3000; ++seed) {
      std::mt19937_64 rng(seed);
      CheckTrace(RandomTrace(rng), seed, &totals, mode);
      if (::testing::Test::HasFatalFailure()) return;
    }
    // The generator really exercises the interesting cases.
    EXPECT_GT(totals.races, 1000u);
    EXPECT_GT(totals.dropped, 50u);
    EXPECT_GT(totals.orphans, 1000u);
    EXPECT_GT(totals.backward_topo, 100u);
    EXPECT_GT(totals.reordered, 1000u);
    if (mode == ClientClockMode::kTrust) {
      EXPECT_GT(totals.client_order, 100u);
      EXPECT_EQ(totals.ignored_components, 0u);
    } else {
      // Random clocks are rarely clocks: most components are ignored, but
      // some single-carrier ones survive.
      EXPECT_GT(totals.ignored_components, 1000u);
      EXPECT_GT(totals.usable, 100u);
    }
  }
}

TEST(GraphPropertyTest, ManyThreadsFewVariables) {
  Totals totals;
  RandomTraceOptions opts;
  opts.max_threads = 12;
  opts.max_events = 120;
  opts.variables = 2;
  opts.client_clock_rate = 0.05;
  opts.cyclic_parent_rate = 0.01;
  for (uint64_t seed = 10001; seed <= 10300; ++seed) {
    std::mt19937_64 rng(seed);
    CheckTrace(RandomTrace(rng, opts), seed, &totals);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(totals.races, 1000u);
}

TEST(GraphPropertyTest, PairCapKeepsSmallestPairsAndCountsAll) {
  RandomTraceOptions opts;
  opts.max_threads = 6;
  opts.max_events = 120;
  opts.variables = 1;
  for (uint64_t seed = 500; seed < 540; ++seed) {
    std::mt19937_64 rng(seed);
    const auto events = RandomTrace(rng, opts);
    auto g = CausalGraph::Build(events);
    ASSERT_TRUE(g.ok());
    const LockSets locks = LockSets::Compute(g->trace());
    RaceOptions all;
    all.max_pairs = SIZE_MAX;
    const RaceReport full = DetectRaces(*g, locks, all);
    RaceOptions capped;
    capped.max_pairs = 3;
    const RaceReport part = DetectRaces(*g, locks, capped);
    EXPECT_EQ(part.total_pairs, full.total_pairs);
    const size_t keep = std::min<size_t>(3, full.pairs.size());
    ASSERT_EQ(part.pairs.size(), keep);
    EXPECT_TRUE(std::equal(part.pairs.begin(), part.pairs.end(), full.pairs.begin()));
    EXPECT_EQ(part.races_with_earlier, full.races_with_earlier);
    EXPECT_EQ(part.truncated(), full.pairs.size() > 3);
  }
}

// Race pairs by event id (indices may differ between two builds).
std::set<std::pair<std::string, std::string>> RaceIds(const CausalGraph& g) {
  RaceOptions options;
  options.max_pairs = SIZE_MAX;
  const RaceReport report = DetectRaces(g, LockSets::Compute(g.trace()), options);
  std::set<std::pair<std::string, std::string>> out;
  for (const RacePair& p : report.pairs) {
    out.emplace(std::string(g.trace().id(p.first)), std::string(g.trace().id(p.second)));
  }
  return out;
}

TEST(ClientClockPropertyTest, GenuineVectorClocksAreNeverIgnored) {
  Totals totals;
  uint64_t hidden_by_clocks = 0;
  for (uint64_t seed = 1; seed <= 1500; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937_64 rng(seed);
    const auto events = testing::GenuineClockTrace(rng);
    auto g = CausalGraph::Build(events);
    ASSERT_TRUE(g.ok());
    for (const IgnoredClientComponent& c : g->ignored_client_components()) {
      FAIL() << c.reason;
    }
    for (uint32_t i = 0; i < g->size(); ++i) ASSERT_TRUE(g->client_order_usable(i)) << i;
    // The clocks are used: every race auto reports is also a race without
    // them, and the clocks order some pairs the DAG alone does not.
    const auto with_clocks = RaceIds(*g);
    const auto without = RaceIds(*CausalGraph::Build(events, ClientClockMode::kIgnore));
    for (const auto& pair : with_clocks) ASSERT_TRUE(without.count(pair));
    hidden_by_clocks += without.size() - with_clocks.size();
    CheckTrace(events, seed, &totals);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(hidden_by_clocks, 500u);
  EXPECT_GT(totals.client_order, 1000u);
  EXPECT_EQ(totals.ignored_components, 0u);
}

TEST(ClientClockPropertyTest, SharedSdkComponentIsIgnoredWhenContextsReuseValues) {
  Totals totals;
  uint64_t reused = 0, trusted = 0;
  for (uint64_t seed = 1; seed <= 1500; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937_64 rng(seed);
    const auto events = testing::SharedComponentTrace(rng);
    auto g = CausalGraph::Build(events);
    ASSERT_TRUE(g.ok());
    const CompactTrace& t = g->trace();
    // Two contexts reuse a value: same value on different threads, and the
    // DAG orders neither before the other.
    bool reuse = false;
    for (uint32_t a = 0; a < t.size() && !reuse; ++a) {
      for (uint32_t b = a + 1; b < t.size() && !reuse; ++b) {
        reuse = t.thread(a) != t.thread(b) && !g->DagHappensBefore(a, b) &&
                !g->DagHappensBefore(b, a) &&
                CompareClientClocks(t.client_clock(a), t.client_clock(b)) == ClockOrder::kEqual;
      }
    }
    bool shared_ignored = false;
    for (const IgnoredClientComponent& c : g->ignored_client_components()) {
      shared_ignored |= t.client_component_name(c.component) == testing::kSharedComponent;
    }
    if (reuse) {
      ++reused;
      ASSERT_TRUE(shared_ignored);
      ASSERT_EQ(RaceIds(*g), RaceIds(*CausalGraph::Build(testing::WithoutVectors(events))));
    } else {
      trusted += !shared_ignored;
    }
    CheckTrace(events, seed, &totals);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(reused, 1000u);
  EXPECT_GT(trusted, 10u);  // One context, or a hand-over the DAG orders.
}

TEST(SkewPropertyTest, PermutedTimestampsNeverDropSameThreadParents) {
  Totals totals;
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937_64 rng(seed);
    const auto events = testing::SkewedTrace(rng);
    auto g = CausalGraph::Build(events);
    ASSERT_TRUE(g.ok());
    const CompactTrace& t = g->trace();
    for (uint32_t i = 0; i < t.size(); ++i) {
      const uint32_t p = t.parent(i);
      if (p != kNone && t.thread(p) == t.thread(i)) {
        ASSERT_LT(t.position(p), t.position(i)) << "parent after child on one thread";
        ASSERT_TRUE(g->DagHappensBefore(p, i));
      }
    }
    for (const Edge& e : g->dropped_edges()) {
      ASSERT_NE(t.thread(e.from), t.thread(e.to)) << "same-thread edge dropped";
    }
    CheckTrace(events, seed, &totals);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(totals.reordered, 2000u);
}

}  // namespace
}  // namespace raceway::graph
