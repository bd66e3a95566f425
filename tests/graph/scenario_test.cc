// Scenario tests written from ARCHITECTURE §4 and issue 4.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/graph/trace_analysis.h"
#include "tests/graph/builders.h"

namespace raceway::graph {
namespace {

using raceway::v1::Event;
using ::testing::ElementsAre;
using testing::IndexOf;
using testing::TraceBuilder;

constexpr uint64_t kMs = 1000000;

// Keeps the events alive as long as the analysis that points into them.
struct Analyzed {
  std::unique_ptr<std::vector<Event>> events;
  std::optional<TraceAnalysis> result;
  const TraceAnalysis* operator->() const { return &*result; }
};

Analyzed Analyze(std::vector<Event> events) {
  Analyzed out{std::make_unique<std::vector<Event>>(std::move(events)), std::nullopt};
  AnalysisOptions options;
  options.races.max_pairs = SIZE_MAX;
  auto a = AnalyzeTrace(*out.events, nullptr, options);
  EXPECT_TRUE(a.ok()) << a.status();
  if (a.ok()) out.result.emplace(*std::move(a));
  return out;
}

// The issue's scenario.
TEST(ScenarioTest, IssueScenarioOneCriticalRaceCriticalPathAndAuditTrail) {
  TraceBuilder b;
  Event& root = b.Call("main", 0, "handle_request", nullptr, 17 * kMs);
  Event& w1 = b.Write("worker-1", 1000, "balance", &root, "balance.rs:12");
  w1.mutable_metadata()->set_duration_ns(8 * kMs);
  w1.mutable_state_change()->mutable_old_value()->set_number_value(10);
  w1.mutable_state_change()->mutable_new_value()->set_number_value(15);
  Event& w2 = b.Write("worker-2", 2000, "balance", &root, "balance.rs:45");
  w2.mutable_metadata()->set_duration_ns(9 * kMs);
  w2.mutable_state_change()->mutable_old_value()->set_number_value(15);
  w2.mutable_state_change()->mutable_new_value()->set_number_value(20);
  b.Call("main", 5000, "respond", &root, 3 * kMs);
  const std::vector<Event> events = b.Events();
  const Analyzed a = Analyze(events);
  const CompactTrace& t = a->graph.trace();

  // Exactly one race, CRITICAL, between the two writes.
  ASSERT_EQ(a->races.total_pairs, 1u);
  ASSERT_EQ(a->races.pairs.size(), 1u);
  const RacePair& race = a->races.pairs[0];
  EXPECT_EQ(t.id(race.first), w1.id());
  EXPECT_EQ(t.id(race.second), w2.id());
  EXPECT_EQ(race.severity, RaceSeverity::kCritical);
  EXPECT_EQ(t.variable_name(race.variable), "balance");
  EXPECT_EQ(DescribeRace(a->graph, race),
            "CRITICAL race on balance: WRITE at balance.rs:12 (thread worker-1) and WRITE at "
            "balance.rs:45 (thread worker-2) are concurrent and share no lock held exclusively "
            "by either");
  ASSERT_EQ(a->races.groups.size(), 1u);
  EXPECT_EQ(a->races.groups[0].variable_name, "balance");
  EXPECT_EQ(a->races.groups[0].location_a, "balance.rs:12");
  EXPECT_EQ(a->races.groups[0].location_b, "balance.rs:45");
  EXPECT_EQ(a->races.groups[0].count, 1u);
  EXPECT_EQ(a->races.groups[0].severity, RaceSeverity::kCritical);
  EXPECT_THAT(a->races.groups[0].thread_ids, ElementsAre("worker-1", "worker-2"));

  // Critical path root -> second write: 26 ms of 37 ms.
  ASSERT_EQ(a->critical_path.steps.size(), 2u);
  EXPECT_EQ(a->critical_path.steps[0].event_id, root.id());
  EXPECT_EQ(a->critical_path.steps[0].kind, "FunctionCall(handle_request)");
  EXPECT_EQ(a->critical_path.steps[0].thread_id, "main");
  EXPECT_EQ(a->critical_path.steps[1].event_id, w2.id());
  EXPECT_EQ(a->critical_path.steps[1].kind, "StateChange(balance)");
  EXPECT_EQ(a->critical_path.steps[1].location, "balance.rs:45");
  EXPECT_EQ(a->critical_path.steps[1].duration_ns, 9 * kMs);
  EXPECT_EQ(a->critical_path.total_duration_ns, 26 * kMs);
  EXPECT_EQ(a->critical_path.trace_total_duration_ns, 37 * kMs);
  EXPECT_NEAR(a->critical_path.percentage, 70.27, 0.005);

  // Audit trail of balance: 2 accesses, the second is a race.
  ASSERT_EQ(a->audit_trails.size(), 1u);
  const AuditTrail& trail = a->audit_trails[0];
  EXPECT_EQ(trail.variable_name, "balance");
  ASSERT_EQ(trail.accesses.size(), 2u);
  EXPECT_EQ(t.id(trail.accesses[0].event), w1.id());
  EXPECT_FALSE(trail.accesses[0].is_race);
  EXPECT_FALSE(trail.accesses[0].has_causal_link_to_previous);
  EXPECT_EQ(t.id(trail.accesses[1].event), w2.id());
  EXPECT_TRUE(trail.accesses[1].is_race);
  EXPECT_FALSE(trail.accesses[1].has_causal_link_to_previous);
  EXPECT_EQ(t.event(trail.accesses[1].event).state_change().old_value().number_value(), 15);

  // Happens-before and exposed clocks.
  const uint32_t r = IndexOf(a->graph, root), i1 = IndexOf(a->graph, w1),
                 i2 = IndexOf(a->graph, w2);
  EXPECT_EQ(a->graph.Relate(r, i1), Relation::kBefore);
  EXPECT_EQ(a->graph.Relate(i2, r), Relation::kAfter);
  EXPECT_EQ(a->graph.Relate(i1, i2), Relation::kConcurrent);
  EXPECT_EQ(a->graph.Relate(i1, i1), Relation::kSame);
  using Entry = std::pair<std::string_view, uint64_t>;
  EXPECT_THAT(a->graph.VectorClock(i2), ElementsAre(Entry{"main", 1}, Entry{"worker-2", 1}));

  // Dependencies: one service, no cross-service calls.
  ASSERT_EQ(a->dependencies.services.size(), 1u);
  EXPECT_EQ(a->dependencies.services[0].name, "svc");
  EXPECT_EQ(a->dependencies.services[0].event_count, 4u);
  EXPECT_TRUE(a->dependencies.edges.empty());
}

// Two writes to balance from worker-1 / worker-2 under the given locks.
std::vector<Event> TwoWrites(const std::string& lock1, const std::string& type1,
                             const std::string& lock2, const std::string& type2,
                             raceway::v1::AccessType t1 = raceway::v1::ACCESS_TYPE_WRITE,
                             raceway::v1::AccessType t2 = raceway::v1::ACCESS_TYPE_WRITE) {
  TraceBuilder b;
  Event& root = b.Call("main", 0, "handle_request");
  if (!lock1.empty()) b.Acquire("worker-1", 500, lock1, type1, &root);
  b.Access("worker-1", 1000, "balance", t1, &root, "balance.rs:12");
  if (!lock1.empty()) b.Release("worker-1", 1500, lock1, type1);
  if (!lock2.empty()) b.Acquire("worker-2", 1600, lock2, type2, &root);
  b.Access("worker-2", 2000, "balance", t2, &root, "balance.rs:45");
  if (!lock2.empty()) b.Release("worker-2", 2500, lock2, type2);
  return b.Events();
}

TEST(ScenarioTest, CommonMutexPreventsRace) {
  EXPECT_EQ(Analyze(TwoWrites("m", "Mutex", "m", "Mutex"))->races.total_pairs, 0u);
}

TEST(ScenarioTest, DifferentMutexesDoNotProtect) {
  EXPECT_EQ(Analyze(TwoWrites("m1", "Mutex", "m2", "Mutex"))->races.total_pairs, 1u);
}

TEST(ScenarioTest, ReleasedLockNoLongerProtects) {
  TraceBuilder b;
  Event& root = b.Call("main", 0, "handle_request");
  b.Acquire("worker-1", 500, "m", "Mutex", &root);
  b.Release("worker-1", 700, "m", "Mutex");
  b.Write("worker-1", 1000, "balance", &root);
  b.Acquire("worker-2", 1600, "m", "Mutex", &root);
  b.Write("worker-2", 2000, "balance", &root);
  EXPECT_EQ(Analyze(b.Events())->races.total_pairs, 1u);
}

TEST(ScenarioTest, CommonReadLockHeldByBothDoesNotProtect) {
  const Analyzed a = Analyze(TwoWrites("rw", "RwLock::Read", "rw", "RwLock::Read"));
  ASSERT_EQ(a->races.total_pairs, 1u);
  EXPECT_EQ(a->races.pairs[0].severity, RaceSeverity::kCritical);
}

TEST(ScenarioTest, WriteModeOnEitherSideProtects) {
  EXPECT_EQ(Analyze(TwoWrites("rw", "RwLock::Write", "rw", "RwLock::Write"))->races.total_pairs,
            0u);
  EXPECT_EQ(Analyze(TwoWrites("rw", "RwLock::Read", "rw", "RwLock::Write"))->races.total_pairs, 0u);
}

TEST(ScenarioTest, AtomicRmwVsAtomicRmwNeverRaces) {
  EXPECT_EQ(Analyze(TwoWrites("", "", "", "", raceway::v1::ACCESS_TYPE_ATOMIC_RMW,
                              raceway::v1::ACCESS_TYPE_ATOMIC_RMW))
                ->races.total_pairs,
            0u);
  EXPECT_EQ(Analyze(TwoWrites("", "", "", "", raceway::v1::ACCESS_TYPE_ATOMIC_WRITE,
                              raceway::v1::ACCESS_TYPE_ATOMIC_READ))
                ->races.total_pairs,
            0u);
}

TEST(ScenarioTest, AtomicWriteVsPlainReadRaces) {
  const Analyzed a = Analyze(TwoWrites("", "", "", "", raceway::v1::ACCESS_TYPE_ATOMIC_WRITE,
                                       raceway::v1::ACCESS_TYPE_READ));
  ASSERT_EQ(a->races.total_pairs, 1u);
  EXPECT_EQ(a->races.pairs[0].severity, RaceSeverity::kWarning);
}

TEST(ScenarioTest, AtomicRmwVsPlainWriteIsCritical) {
  const Analyzed a = Analyze(TwoWrites("", "", "", "", raceway::v1::ACCESS_TYPE_ATOMIC_RMW,
                                       raceway::v1::ACCESS_TYPE_WRITE));
  ASSERT_EQ(a->races.total_pairs, 1u);
  EXPECT_EQ(a->races.pairs[0].severity, RaceSeverity::kCritical);
}

TEST(ScenarioTest, ReadsNeverRaceWithReads) {
  EXPECT_EQ(Analyze(TwoWrites("", "", "", "", raceway::v1::ACCESS_TYPE_READ,
                              raceway::v1::ACCESS_TYPE_READ))
                ->races.total_pairs,
            0u);
}

TEST(ScenarioTest, ClientLockSetProtects) {
  std::vector<Event> events = TwoWrites("", "", "", "");
  for (Event& e : events) {
    if (e.has_state_change()) e.add_lock_set("account-lock");
  }
  EXPECT_EQ(Analyze(events)->races.total_pairs, 0u);
}

TEST(ScenarioTest, SameThreadNeverRaces) {
  TraceBuilder b;
  b.Write("main", 0, "x");
  b.Write("main", 10, "x");
  EXPECT_EQ(Analyze(b.Events())->races.total_pairs, 0u);
}

std::vector<Event> SpawnWriteAwaitWrite(bool with_await) {
  TraceBuilder b;
  Event& root = b.Call("main", 0, "handle_request");
  Event& spawn = b.Spawn("main", 100, "task-1", &root);
  Event& c1 = b.Call("worker", 200, "job", &spawn);
  b.Write("worker", 300, "balance", &c1, "job.rs:1");
  b.Call("worker", 400, "job_done", &c1);
  if (with_await) b.Await("main", 500, "task-1", &root);
  b.Write("main", 600, "balance", &root, "main.rs:9");
  return b.Events();
}

TEST(ScenarioTest, SpawnAwaitOrderingRemovesRace) {
  EXPECT_EQ(Analyze(SpawnWriteAwaitWrite(false))->races.total_pairs, 1u);
  const Analyzed a = Analyze(SpawnWriteAwaitWrite(true));
  EXPECT_EQ(a->races.total_pairs, 0u);
  ASSERT_EQ(a->audit_trails.size(), 1u);
  ASSERT_EQ(a->audit_trails[0].accesses.size(), 2u);
  EXPECT_TRUE(a->audit_trails[0].accesses[1].has_causal_link_to_previous);
  EXPECT_FALSE(a->audit_trails[0].accesses[1].is_race);
}

TEST(ScenarioTest, OrphanEventsAreAnalysed) {
  TraceBuilder b;
  Event& root = b.Call("main", 0, "handle_request", nullptr, 5 * kMs);
  // Parents that were never ingested.
  Event& o1 = b.Write("worker-1", 1000, "balance", nullptr, "a.rs:1");
  o1.set_parent_id("99999999-9999-4999-8999-999999999999");
  o1.mutable_metadata()->set_duration_ns(30 * kMs);
  Event& o2 = b.Write("worker-2", 2000, "balance", nullptr, "b.rs:2");
  o2.set_parent_id("88888888-8888-4888-8888-888888888888");
  b.Call("main", 3000, "respond", &root, 1 * kMs);
  const Analyzed a = Analyze(b.Events());
  const CompactTrace& t = a->graph.trace();
  EXPECT_EQ(t.size(), 4u);
  EXPECT_TRUE(t.parent_missing(IndexOf(a->graph, o1)));
  EXPECT_EQ(t.parent(IndexOf(a->graph, o1)), kNone);
  ASSERT_EQ(a->races.total_pairs, 1u);
  ASSERT_EQ(a->critical_path.steps.size(), 1u);
  EXPECT_EQ(a->critical_path.steps[0].event_id, o1.id());  // An orphan is a root.
  EXPECT_EQ(a->critical_path.trace_total_duration_ns, 36 * kMs);
  ASSERT_EQ(a->audit_trails.size(), 1u);
  EXPECT_EQ(a->audit_trails[0].accesses.size(), 2u);
}

TEST(ScenarioTest, ManyConcurrentWritesAreGrouped) {
  TraceBuilder b;
  Event& root = b.Call("main", 0, "handle_request");
  for (int w = 0; w < 10; ++w) {
    b.Write(absl::StrCat("worker-", w), 100 + w, "counter", &root, "inc.rs:7");
  }
  const Analyzed a = Analyze(b.Events());
  EXPECT_EQ(a->races.total_pairs, 45u);
  ASSERT_EQ(a->races.groups.size(), 1u);
  EXPECT_EQ(a->races.groups[0].location_a, "inc.rs:7");
  EXPECT_EQ(a->races.groups[0].location_b, "inc.rs:7");
  EXPECT_EQ(a->races.groups[0].count, 45u);
  EXPECT_EQ(a->races.groups[0].thread_ids.size(), 10u);
  // The audit trail flags every write but the first.
  ASSERT_EQ(a->audit_trails.size(), 1u);
  int flagged = 0;
  for (const auto& acc : a->audit_trails[0].accesses) flagged += acc.is_race;
  EXPECT_EQ(flagged, 9);
}

TEST(ScenarioTest, AuditTrailFlagsRaceWithNonAdjacentEarlierAccess) {
  // w1 (worker-1) races with r3 (worker-2), but the previous access of r3
  // is w2 on worker-2, which is ordered after... nothing: w2 is worker-2's
  // own earlier read, so only "any earlier access" finds the race.
  TraceBuilder b;
  Event& root = b.Call("main", 0, "root");
  b.Write("worker-1", 10, "x", &root);
  b.Read("worker-2", 20, "x");  // Orphan-free root on worker-2, concurrent with w1.
  b.Read("worker-2", 30, "x");
  const Analyzed a = Analyze(b.Events());
  ASSERT_EQ(a->audit_trails.size(), 1u);
  const auto& acc = a->audit_trails[0].accesses;
  ASSERT_EQ(acc.size(), 3u);
  EXPECT_FALSE(acc[0].is_race);
  EXPECT_TRUE(acc[1].is_race);
  EXPECT_TRUE(acc[2].is_race);
  EXPECT_TRUE(acc[2].has_causal_link_to_previous);
  EXPECT_EQ(a->races.total_pairs, 2u);
}

TEST(ScenarioTest, VariableFilterAndPairCap) {
  TraceBuilder b;
  Event& root = b.Call("main", 0, "root");
  for (int w = 0; w < 5; ++w) {
    b.Write(absl::StrCat("w", w), 10 + w, "x", &root);
    b.Write(absl::StrCat("w", w), 20 + w, "y", &root);
  }
  auto g = CausalGraph::Build(b.Events());
  ASSERT_TRUE(g.ok());
  const LockSets locks = LockSets::Compute(g->trace());
  RaceOptions options;
  options.variable = "y";
  options.max_pairs = 4;
  const RaceReport r = DetectRaces(*g, locks, options);
  EXPECT_EQ(r.total_pairs, 10u);
  EXPECT_EQ(r.pairs.size(), 4u);
  EXPECT_TRUE(r.truncated());
  for (const RacePair& p : r.pairs) EXPECT_EQ(g->trace().variable_name(p.variable), "y");
  const AuditTrail trail = BuildAuditTrail(*g, locks, "y");
  EXPECT_EQ(trail.accesses.size(), 5u);
  EXPECT_EQ(BuildAuditTrail(*g, locks, "nope").accesses.size(), 0u);
  options.variable = "nope";
  EXPECT_EQ(DetectRaces(*g, locks, options).total_pairs, 0u);
}

TEST(ScenarioTest, RvalueEventsAreOwnedByTheAnalysis) {
  TraceBuilder b;
  Event& root = b.Call("main", 0, "root");
  b.Write("w1", 10, "x", &root, "x.rs:1");
  b.Write("w2", 20, "x", &root, "x.rs:2");
  auto a = AnalyzeTrace(b.Events());  // A temporary: the analysis owns it.
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->races.pairs.size(), 1u);
  EXPECT_EQ(a->graph.trace().event(a->races.pairs[0].second).state_change().location(), "x.rs:2");
  EXPECT_EQ(a->races.groups[0].location_b, "x.rs:2");
  TraceAnalysis moved = *std::move(a);
  EXPECT_EQ(moved.graph.trace().id(0), root.id());
}

TEST(ScenarioTest, EmptyTrace) {
  const Analyzed a = Analyze({});
  EXPECT_EQ(a->graph.size(), 0u);
  EXPECT_TRUE(a->critical_path.steps.empty());
  EXPECT_EQ(a->critical_path.percentage, 0.0);
  EXPECT_TRUE(a->dependencies.services.empty());
}

TEST(ScenarioTest, InvalidInputIsAnError) {
  TraceBuilder b;
  Event& e = b.Call("main", 0, "x");
  std::vector<Event> dup = {e, e};
  EXPECT_EQ(AnalyzeTrace(dup).status().code(), absl::StatusCode::kInvalidArgument);
  TraceBuilder other;
  std::vector<Event> mixed = {e, other.Call("main", 0, "y")};
  EXPECT_EQ(AnalyzeTrace(mixed).status().code(), absl::StatusCode::kInvalidArgument);
  BaselineMap baselines;
  AnalysisOptions bad;
  bad.anomalies.sigma_threshold = 0;
  std::vector<Event> one = {e};
  EXPECT_EQ(AnalyzeTrace(one, &baselines, bad).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace raceway::graph
