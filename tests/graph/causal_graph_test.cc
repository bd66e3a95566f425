// Causal DAG construction, program order that follows explicit edges over
// skewed timestamps, cycle breaking, joins, span edges, client vectors and
// exposed vector clocks.

#include "libs/graph/causal_graph.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/graph/client_clock.h"
#include "tests/graph/builders.h"
#include "tests/graph/random_trace.h"

namespace raceway::graph {
namespace {

using raceway::v1::Event;
using ::testing::ElementsAre;
using testing::IndexOf;
using testing::SetClientClock;
using testing::TraceBuilder;

CausalGraph Build(std::vector<Event> events, ClientClockMode mode = ClientClockMode::kAuto) {
  auto g = CausalGraph::Build(std::move(events), mode);
  EXPECT_TRUE(g.ok()) << g.status();
  return *std::move(g);
}

uint32_t Idx(const CausalGraph& g, const Event& e) { return IndexOf(g, e); }

TEST(CausalGraphTest, SortsByTimestampThenId) {
  TraceBuilder b;
  Event& late = b.Call("main", 30, "c");
  Event& tie1 = b.Call("other", 10, "a");
  Event& tie2 = b.Call("third", 10, "b");
  std::vector<Event> events = b.Events();
  const CausalGraph g = Build(events);
  EXPECT_EQ(g.trace().id(2), late.id());
  const bool tie1_first = tie1.id() < tie2.id();
  EXPECT_EQ(g.trace().id(0), tie1_first ? tie1.id() : tie2.id());
  EXPECT_EQ(g.trace().trace_id(), b.trace_id());
}

TEST(CausalGraphTest, ProgramOrderAndVectorClocks) {
  TraceBuilder b;
  Event& a1 = b.Call("A", 0, "a1");
  Event& a2 = b.Call("A", 10, "a2");
  Event& b1 = b.Call("B", 20, "b1", &a2);
  Event& b2 = b.Call("B", 30, "b2");
  Event& a3 = b.Call("A", 40, "a3", &b2);
  const CausalGraph g = Build(b.Events());
  using Entry = std::pair<std::string_view, uint64_t>;
  EXPECT_THAT(g.VectorClock(Idx(g, a1)), ElementsAre(Entry{"A", 1}));
  EXPECT_THAT(g.VectorClock(Idx(g, b1)), ElementsAre(Entry{"A", 2}, Entry{"B", 1}));
  EXPECT_THAT(g.VectorClock(Idx(g, a3)), ElementsAre(Entry{"A", 3}, Entry{"B", 2}));
  EXPECT_TRUE(g.DagHappensBefore(Idx(g, a1), Idx(g, b2)));
  EXPECT_FALSE(g.DagHappensBefore(Idx(g, b2), Idx(g, a1)));
  EXPECT_EQ(g.Relate(Idx(g, a3), Idx(g, a1)), Relation::kAfter);
  EXPECT_TRUE(g.dropped_edges().empty());
  // Edges: 3 program order + 2 parent.
  const std::vector<Edge> edges = g.Edges();
  EXPECT_EQ(edges.size(), 5u);
  EXPECT_THAT(edges, ::testing::Contains(Edge{Idx(g, a2), Idx(g, b1), EdgeKind::kParent}));
  EXPECT_THAT(edges, ::testing::Contains(Edge{Idx(g, a1), Idx(g, a2), EdgeKind::kProgramOrder}));
}

TEST(CausalGraphTest, ParentWithLaterTimestampOnAnotherThreadIsKeptWithoutCycle) {
  TraceBuilder b;
  Event& child = b.Call("B", 5, "child");
  Event& parent = b.Call("A", 10, "parent");
  child.set_parent_id(parent.id());
  const CausalGraph g = Build(b.Events());
  EXPECT_TRUE(g.dropped_edges().empty());
  EXPECT_TRUE(g.DagHappensBefore(Idx(g, parent), Idx(g, child)));
  // The topological order puts the parent first despite its timestamp.
  EXPECT_THAT(std::vector<uint32_t>(g.topological_order().begin(), g.topological_order().end()),
              ElementsAre(Idx(g, parent), Idx(g, child)));
}

TEST(CausalGraphTest, CycleWithProgramOrderDropsTheBackwardEdge) {
  // a2 (A, t=3) is the parent of b1 (B, t=2) and b1 is the parent of a3
  // (A, t=4): b1 -> a3 is forward; a2 -> b1 points back in time. Add
  // a1 (A, t=1) with parent b1: b1 -> a1 -> a2 -> b1 is a cycle.
  TraceBuilder b;
  Event& a1 = b.Call("A", 1, "a1");
  Event& b1 = b.Call("B", 2, "b1");
  Event& a2 = b.Call("A", 3, "a2");
  b1.set_parent_id(a2.id());
  a1.set_parent_id(b1.id());
  const CausalGraph g = Build(b.Events());
  // Both edges of the cycle that point backwards are dropped: a2 -> b1 and
  // b1 -> a1 (b1 has the later timestamp).
  EXPECT_THAT(std::vector<Edge>(g.dropped_edges().begin(), g.dropped_edges().end()),
              ElementsAre(Edge{Idx(g, b1), Idx(g, a1), EdgeKind::kParent},
                          Edge{Idx(g, a2), Idx(g, b1), EdgeKind::kParent}));
  EXPECT_TRUE(g.DagHappensBefore(Idx(g, a1), Idx(g, a2)));  // Program order survives.
  EXPECT_FALSE(g.DagHappensBefore(Idx(g, a2), Idx(g, b1)));
  EXPECT_EQ(g.Relate(Idx(g, b1), Idx(g, a1)), Relation::kConcurrent);
}

TEST(CausalGraphTest, ParentCycleIsBrokenBeforeJoins) {
  TraceBuilder b;
  Event& p = b.Call("A", 1, "p");
  Event& q = b.Call("B", 2, "q");
  p.set_parent_id(q.id());
  q.set_parent_id(p.id());
  const CausalGraph g = Build(b.Events());
  // Parent cycle p <-> q: q -> p points backwards and is dropped.
  EXPECT_THAT(std::vector<Edge>(g.dropped_edges().begin(), g.dropped_edges().end()),
              ElementsAre(Edge{Idx(g, q), Idx(g, p), EdgeKind::kParent}));
  EXPECT_TRUE(g.DagHappensBefore(Idx(g, p), Idx(g, q)));
}

TEST(CausalGraphTest, SelfParentIsARoot) {
  TraceBuilder b;
  Event& e = b.Call("A", 1, "self");
  e.set_parent_id(e.id());
  const CausalGraph g = Build(b.Events());
  EXPECT_EQ(g.trace().parent(0), kNone);
  EXPECT_FALSE(g.trace().parent_missing(0));
}

TEST(CausalGraphTest, JoinOrdersEveryThreadOfTheTaskBeforeTheAwait) {
  TraceBuilder b;
  Event& root = b.Call("main", 0, "root");
  Event& spawn = b.Spawn("main", 10, "task", &root);
  Event& t1 = b.Call("w1", 20, "t1", &spawn);
  Event& sub = b.Call("w2", 30, "sub", &t1);  // The task continues on w2 ...
  Event& t2 = b.Call("w1", 40, "t2", &t1);    // ... and ends on w1.
  Event& unrelated = b.Call("w3", 15, "unrelated", &root);
  Event& await = b.Await("main", 50, "task", &root);
  const CausalGraph g = Build(b.Events());
  EXPECT_TRUE(g.DagHappensBefore(Idx(g, sub), Idx(g, await)));
  EXPECT_TRUE(g.DagHappensBefore(Idx(g, t2), Idx(g, await)));
  EXPECT_FALSE(g.DagHappensBefore(Idx(g, unrelated), Idx(g, await)));
  const std::vector<Edge> edges = g.Edges();
  EXPECT_THAT(edges, ::testing::Contains(Edge{Idx(g, sub), Idx(g, await), EdgeKind::kJoin}));
  EXPECT_THAT(edges, ::testing::Contains(Edge{Idx(g, t2), Idx(g, await), EdgeKind::kJoin}));
}

TEST(CausalGraphTest, NestedAwaitedSpawnsAndTaskWithoutEvents) {
  TraceBuilder b;
  Event& root = b.Call("main", 0, "root");
  Event& outer = b.Spawn("main", 10, "outer", &root);
  Event& o1 = b.Call("w1", 20, "o1", &outer);
  Event& inner = b.Spawn("w1", 30, "inner", &o1);
  Event& i1 = b.Call("w2", 40, "i1", &inner);
  Event& inner_wait = b.Await("w1", 50, "inner", &o1);
  Event& outer_wait = b.Await("main", 60, "outer", &root);
  Event& empty_spawn = b.Spawn("main", 70, "empty", &root);
  Event& empty_wait = b.Await("w3", 80, "empty");
  const CausalGraph g = Build(b.Events());
  EXPECT_TRUE(g.DagHappensBefore(Idx(g, i1), Idx(g, inner_wait)));
  EXPECT_TRUE(g.DagHappensBefore(Idx(g, i1), Idx(g, outer_wait)));
  EXPECT_TRUE(g.DagHappensBefore(Idx(g, inner_wait), Idx(g, outer_wait)));
  EXPECT_TRUE(g.DagHappensBefore(Idx(g, empty_spawn), Idx(g, empty_wait)));
}

TEST(CausalGraphTest, SpanEdgesLinkOnlyEarlierEventsOfTheUpstreamSpan) {
  TraceBuilder b;
  Event& s1 = b.Call("api-main", 0, "handler");
  s1.mutable_metadata()->set_distributed_span_id("span-a");
  Event& s2 = b.Call("api-worker", 5, "helper");
  s2.mutable_metadata()->set_distributed_span_id("span-a");
  Event& s3 = b.Call("api-main", 50, "after");
  s3.mutable_metadata()->set_distributed_span_id("span-a");
  Event& down1 = b.Call("db-main", 10, "query");
  down1.mutable_metadata()->set_upstream_span_id("span-a");
  down1.mutable_metadata()->set_service_name("db");
  Event& down2 = b.Call("db-main", 20, "query2");
  down2.mutable_metadata()->set_upstream_span_id("span-a");
  const CausalGraph g = Build(b.Events());
  EXPECT_TRUE(g.DagHappensBefore(Idx(g, s1), Idx(g, down1)));
  EXPECT_TRUE(g.DagHappensBefore(Idx(g, s2), Idx(g, down1)));
  EXPECT_FALSE(g.DagHappensBefore(Idx(g, s3), Idx(g, down1)));
  EXPECT_FALSE(g.DagHappensBefore(Idx(g, s3), Idx(g, down2)));
  // down2's links are implied by down1's (same thread), so not stored again.
  EXPECT_TRUE(g.cross_predecessors(Idx(g, down2)).empty());
  EXPECT_EQ(g.cross_predecessors(Idx(g, down1)).size(), 2u);
}

// kTrust: every vector is the client's word (the pre-rule behaviour).
TEST(CausalGraphTest, TrustedClientVectorsAddOrderButNeverRemoveIt) {
  TraceBuilder b;
  Event& x = b.Call("A", 0, "x");
  Event& y = b.Call("B", 10, "y");
  Event& z = b.Call("C", 20, "z");
  Event& w = b.Call("D", 30, "w");
  SetClientClock(x, {{"A", 1}});
  SetClientClock(y, {{"A", 1}, {"B", 1}});  // x < y.
  SetClientClock(z, {{"B", 1}, {"A", 1}});  // Equal to y: concurrent.
  SetClientClock(w, {{"A", 0}});            // All zero: before everything non-zero.
  const CausalGraph g = Build(b.Events(), ClientClockMode::kTrust);
  const uint32_t ix = Idx(g, x), iy = Idx(g, y), iz = Idx(g, z), iw = Idx(g, w);
  EXPECT_FALSE(g.DagHappensBefore(ix, iy));
  EXPECT_TRUE(g.HappensBefore(ix, iy));
  EXPECT_EQ(g.Relate(iy, ix), Relation::kAfter);
  EXPECT_EQ(g.Relate(iy, iz), Relation::kConcurrent);
  EXPECT_EQ(g.Relate(iw, ix), Relation::kBefore);
  EXPECT_EQ(g.clock(iy, g.trace().thread(ix)), 0u);  // Computed clocks stay DAG-only.
}

TEST(CausalGraphTest, DagOrderWinsOverContradictingClientVectors) {
  TraceBuilder b;
  Event& x = b.Call("A", 0, "x");
  Event& y = b.Call("B", 10, "y", &x);
  SetClientClock(x, {{"A", 5}});
  SetClientClock(y, {{"A", 1}});  // Client claims y < x.
  const CausalGraph g = Build(b.Events());
  EXPECT_EQ(g.Relate(Idx(g, x), Idx(g, y)), Relation::kBefore);
  EXPECT_FALSE(g.HappensBefore(Idx(g, y), Idx(g, x)));
}

TEST(CausalGraphTest, AutoModeDropsComponentsThatAreNotClocksAndZeroVectors) {
  // Same events as above: B is advanced to 1 by y and z, equal and
  // unordered, so it is no clock; y and z carry it and lose client order.
  // w's vector has no positive entry: not a clock value.
  TraceBuilder b;
  Event& x = b.Call("A", 0, "x");
  Event& y = b.Call("B", 10, "y");
  Event& z = b.Call("C", 20, "z");
  Event& w = b.Call("D", 30, "w");
  Event& v = b.Call("E", 40, "v");
  SetClientClock(x, {{"A", 1}});
  SetClientClock(y, {{"A", 1}, {"B", 1}});
  SetClientClock(z, {{"B", 1}, {"A", 1}});
  SetClientClock(w, {{"A", 0}});
  SetClientClock(v, {{"A", 1}, {"E", 1}});  // Received A's clock: x < v.
  const CausalGraph g = Build(b.Events());
  const uint32_t ix = Idx(g, x), iy = Idx(g, y), iz = Idx(g, z), iw = Idx(g, w), iv = Idx(g, v);
  ASSERT_EQ(g.ignored_client_components().size(), 1u);
  const IgnoredClientComponent& ignored = g.ignored_client_components()[0];
  EXPECT_EQ(g.trace().client_component_name(ignored.component), "B");
  EXPECT_EQ(ignored.events, 2u);
  EXPECT_THAT(ignored.examples, ElementsAre(iy, iz));
  EXPECT_THAT(ignored.reason, ::testing::HasSubstr("both advance it to 1 without either"));
  EXPECT_THAT(ignored.reason, ::testing::HasSubstr("(thread B, 1)"));
  EXPECT_THAT(ignored.reason, ::testing::HasSubstr("(thread C, 1)"));
  EXPECT_FALSE(g.client_order_usable(iy));
  EXPECT_FALSE(g.client_order_usable(iw));
  EXPECT_TRUE(g.client_order_usable(ix));
  EXPECT_EQ(g.Relate(ix, iy), Relation::kConcurrent);
  EXPECT_EQ(g.Relate(iw, ix), Relation::kConcurrent);
  EXPECT_EQ(g.Relate(ix, iv), Relation::kBefore);
  // Ignore mode: no client order at all.
  const CausalGraph none = Build(b.Events(), ClientClockMode::kIgnore);
  EXPECT_EQ(none.Relate(Idx(none, x), Idx(none, v)), Relation::kConcurrent);
  EXPECT_TRUE(none.ignored_client_components().empty());
}

TEST(CausalGraphTest, ClientComponentGoingBackwardsAlongAnEdgeIsIgnored) {
  TraceBuilder b;
  Event& x = b.Call("A", 0, "x");
  Event& y = b.Call("B", 10, "y", &x);
  Event& z = b.Call("C", 20, "z");
  SetClientClock(x, {{"A", 5}});
  SetClientClock(y, {{"A", 1}, {"B", 1}});
  SetClientClock(z, {{"A", 3}, {"C", 1}});
  const CausalGraph g = Build(b.Events());
  ASSERT_EQ(g.ignored_client_components().size(), 1u);
  EXPECT_THAT(g.ignored_client_components()[0].reason,
              ::testing::HasSubstr("goes backwards along a parent edge: " + x.id() +
                                   " (thread A, 5) -> " + y.id() + " (thread B, 1)"));
  EXPECT_EQ(g.Relate(Idx(g, y), Idx(g, z)), Relation::kConcurrent);  // Trust: y < z.
}

TEST(CausalGraphTest, ClientComponentAdvancedOnUnorderedThreadsIsIgnored) {
  // One context counts 1, 2; another continues 3, 4 without any edge from
  // the first (a shared counter): the owner chain is broken.
  TraceBuilder b;
  Event& a1 = b.Call("A", 0, "a1");
  Event& a2 = b.Call("A", 10, "a2");
  Event& b1 = b.Call("B", 20, "b1");
  Event& b2 = b.Call("B", 30, "b2");
  SetClientClock(a1, {{"svc#1", 1}});
  SetClientClock(a2, {{"svc#1", 2}});
  SetClientClock(b1, {{"svc#1", 3}});
  SetClientClock(b2, {{"svc#1", 4}});
  const CausalGraph g = Build(b.Events());
  ASSERT_EQ(g.ignored_client_components().size(), 1u);
  EXPECT_THAT(g.ignored_client_components()[0].reason,
              ::testing::HasSubstr("advanced by unordered events " + a2.id() +
                                   " (thread A, 2) and " + b1.id() + " (thread B, 3)"));
  EXPECT_EQ(g.Relate(Idx(g, a2), Idx(g, b1)), Relation::kConcurrent);
  // The same hand-over with a parent edge is a clock.
  b1.set_parent_id(a2.id());
  const CausalGraph linked = Build(b.Events());
  EXPECT_TRUE(linked.ignored_client_components().empty());
  EXPECT_TRUE(linked.client_order_usable(Idx(linked, b2)));
}

TEST(CausalGraphTest, ChildBeforeItsSameThreadParentIsReorderedNotDropped) {
  // Skewed client clock: the child's timestamp is earlier than its parent's.
  TraceBuilder b;
  Event& parent = b.Call("A", 10, "parent");
  Event& child = b.Call("A", 5, "child", &parent);
  Event& grandchild = b.Call("A", 12, "grandchild", &child);
  Event& other = b.Call("B", 8, "other");
  const CausalGraph g = Build(b.Events());
  EXPECT_TRUE(g.dropped_edges().empty());
  const CompactTrace& t = g.trace();
  const uint32_t ip = Idx(g, parent), ic = Idx(g, child), ig = Idx(g, grandchild);
  EXPECT_LT(t.position(ip), t.position(ic));
  EXPECT_LT(t.position(ic), t.position(ig));
  EXPECT_TRUE(g.DagHappensBefore(ip, ic));
  EXPECT_THAT(std::vector<uint32_t>(t.reordered_events().begin(), t.reordered_events().end()),
              ElementsAre(ic));
  EXPECT_EQ(t.timestamp_ns(ic) + 5000, t.timestamp_ns(ip));  // Own timestamp kept.
  EXPECT_EQ(t.order_timestamp_ns(ic), t.timestamp_ns(ip));
  // Other threads keep their (timestamp, id) place: "other" (t=8) is first.
  EXPECT_EQ(Idx(g, other), 0u);
  for (uint32_t i = 1; i < t.size(); ++i) {
    EXPECT_LE(t.order_timestamp_ns(i - 1), t.order_timestamp_ns(i));
  }
}

TEST(CausalGraphTest, AwaitBeforeItsSameThreadSpawnIsReordered) {
  TraceBuilder b;
  Event& root = b.Call("main", 0, "root");
  Event& spawn = b.Spawn("main", 20, "task-1", &root);
  Event& work = b.Call("worker", 25, "work", &spawn);
  Event& await = b.Await("main", 15, "task-1", &root);
  const CausalGraph g = Build(b.Events());
  EXPECT_TRUE(g.dropped_edges().empty());
  EXPECT_TRUE(g.DagHappensBefore(Idx(g, spawn), Idx(g, await)));
  EXPECT_TRUE(g.DagHappensBefore(Idx(g, work), Idx(g, await)));
  EXPECT_EQ(g.trace().reordered_events().size(), 1u);
}

TEST(CausalGraphTest, SameThreadParentCycleIsStillDroppedAndReported) {
  TraceBuilder b;
  Event& p = b.Call("A", 1, "p");
  Event& q = b.Call("A", 2, "q");
  p.set_parent_id(q.id());
  q.set_parent_id(p.id());
  const CausalGraph g = Build(b.Events());
  EXPECT_THAT(std::vector<Edge>(g.dropped_edges().begin(), g.dropped_edges().end()),
              ElementsAre(Edge{Idx(g, q), Idx(g, p), EdgeKind::kParent}));
  EXPECT_TRUE(g.trace().reordered_events().empty());
}

TEST(CausalGraphTest, ClientClockComparison) {
  using N = NamedClock;
  EXPECT_EQ(
      CompareNamedClocks(NormalizeClientClock(N{{"a", 1}}), NormalizeClientClock(N{{"a", 2}})),
      ClockOrder::kBefore);
  EXPECT_EQ(CompareNamedClocks(NormalizeClientClock(N{{"a", 1}, {"b", 0}}),
                               NormalizeClientClock(N{{"a", 1}})),
            ClockOrder::kEqual);
  EXPECT_EQ(
      CompareNamedClocks(NormalizeClientClock(N{{"a", 2}}), NormalizeClientClock(N{{"b", 1}})),
      ClockOrder::kConcurrent);
  EXPECT_EQ(CompareNamedClocks(NormalizeClientClock(N{{"b", 3}, {"a", 1}}),
                               NormalizeClientClock(N{{"a", 1}})),
            ClockOrder::kAfter);
}

TEST(CausalGraphTest, BadInput) {
  TraceBuilder b;
  Event& e = b.Call("A", 0, "x");
  EXPECT_EQ(CausalGraph::Build(std::vector<Event>{e, e}).status().code(),
            absl::StatusCode::kInvalidArgument);
  TraceBuilder other;
  EXPECT_EQ(CausalGraph::Build(std::vector<Event>{e, other.Call("A", 0, "y")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<const Event*> ptrs = {&e, nullptr};
  EXPECT_EQ(CausalGraph::Build(std::span<const Event* const>(ptrs)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CausalGraph::Build(std::vector<Event>{}).value().size(), 0u);
}

TEST(CausalGraphTest, LargeAdversarialTraceTerminatesAndIsConsistent) {
  // 20k events, parents pointing anywhere (many cycles), equal timestamps.
  std::mt19937_64 rng(7);
  TraceBuilder b;
  std::vector<Event> events;
  for (int i = 0; i < 20000; ++i) {
    events.push_back(b.Call(absl::StrCat("t", rng() % 16), static_cast<int64_t>(rng() % 500), "f"));
  }
  for (auto& e : events) e.set_parent_id(events[rng() % events.size()].id());
  for (int i = 0; i < 2000; ++i) {
    events[rng() % events.size()].mutable_metadata()->set_distributed_span_id(
        absl::StrCat("s", rng() % 5));
    events[rng() % events.size()].mutable_metadata()->set_upstream_span_id(
        absl::StrCat("s", rng() % 5));
  }
  const CausalGraph g = Build(std::move(events));
  EXPECT_FALSE(g.dropped_edges().empty());
  EXPECT_EQ(g.topological_order().size(), 20000u);
  for (const Edge& edge : g.Edges()) {
    ASSERT_TRUE(g.DagHappensBefore(edge.from, edge.to));
    ASSERT_FALSE(g.DagHappensBefore(edge.to, edge.from));
  }
  std::vector<uint32_t> rank(g.size());
  for (uint32_t k = 0; k < g.size(); ++k) rank[g.topological_order()[k]] = k;
  for (const Edge& edge : g.Edges()) ASSERT_LT(rank[edge.from], rank[edge.to]);
}

}  // namespace
}  // namespace raceway::graph
