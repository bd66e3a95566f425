// Randomised agreement with the brute-force oracle (tests/graph/oracle.h):
// happens-before from the vector clocks == DAG reachability, topological
// order, race pairs == all-pairs check, audit is_race, critical path total.

#include <random>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "libs/graph/audit_trail.h"
#include "libs/graph/causal_graph.h"
#include "libs/graph/critical_path.h"
#include "libs/graph/lock_sets.h"
#include "libs/graph/race_detector.h"
#include "tests/graph/oracle.h"
#include "tests/graph/random_trace.h"

namespace raceway::graph {
namespace {

using testing::RandomTrace;
using testing::RandomTraceOptions;

struct Totals {
  uint64_t races = 0, dropped = 0, orphans = 0, client_order = 0, backward_topo = 0;
};

void CheckTrace(const std::vector<raceway::v1::Event>& events, uint64_t seed, Totals* totals) {
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  auto graph_or = CausalGraph::Build(events);
  ASSERT_TRUE(graph_or.ok()) << graph_or.status();
  const CausalGraph& g = *graph_or;
  const oracle::Oracle o(events);
  ASSERT_EQ(g.size(), o.size());
  const uint32_t n = g.size();
  for (uint32_t i = 0; i < n; ++i) {
    ASSERT_EQ(g.trace().id(i), o.event(i).id());
    totals->orphans += g.trace().parent_missing(i);
  }
  totals->dropped += g.dropped_edges().size();

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
  Totals totals;
  for (uint64_t seed = 1; seed <= 3000; ++seed) {
    std::mt19937_64 rng(seed);
    CheckTrace(RandomTrace(rng), seed, &totals);
    if (::testing::Test::HasFatalFailure()) return;
  }
  // The generator really exercises the interesting cases.
  EXPECT_GT(totals.races, 1000u);
  EXPECT_GT(totals.dropped, 50u);
  EXPECT_GT(totals.orphans, 1000u);
  EXPECT_GT(totals.client_order, 100u);
  EXPECT_GT(totals.backward_topo, 100u);
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

}  // namespace
}  // namespace raceway::graph
