// The analysis on data as the reference SDKs send it (issue 12): fixtures in
// tests/graph/fixtures/ are POST /events bodies in each SDK's wire shape,
// parsed by the ingest's real parser (services/ingest/sdk_json.h).
//  * Python, Go, Rust: one "<service>#<instance>" component shared by every
//    context, each counting on its own; the races must be exactly those of
//    the same events without vectors, with the component reported.
//  * TypeScript: per-request root-id components (usable clocks) and
//    Date.now()-style timestamps where a child is earlier than its
//    same-thread parent: every parent edge is kept and the reordering is
//    reported per thread.
// Plus hand-written genuine vector clocks (threads ordered only by messages
// the DAG never sees), the sound-usage rule, and the diagnostics.

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/graph/client_clock.h"
#include "libs/graph/trace_analysis.h"
#include "services/ingest/sdk_json.h"
#include "tests/graph/builders.h"

namespace raceway::graph {
namespace {

using raceway::v1::Event;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::IndexOf;
using testing::SetClientClock;
using testing::TraceBuilder;

std::vector<Event> LoadFixture(const std::string& name) {
  std::ifstream in(std::string(RACEWAY_GRAPH_FIXTURE_DIR) + "/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream body;
  body << in.rdbuf();
  absl::StatusOr<ingest::SdkBatch> batch = ingest::ParseSdkBatch(body.str(), {});
  EXPECT_TRUE(batch.ok()) << batch.status();
  if (!batch.ok()) return {};
  for (const model::Rejection& r : batch->rejections) {
    ADD_FAILURE() << name << ": event " << r.index << " " << r.error.field << ": "
                  << r.error.reason;
  }
  return {batch->events.begin(), batch->events.end()};
}

std::vector<Event> WithoutVectors(std::vector<Event> events) {
  for (Event& e : events) e.clear_causality_vector();
  return events;
}

TraceAnalysis Analyze(std::vector<Event> events, ClientClockMode mode = ClientClockMode::kAuto) {
  AnalysisOptions options;
  options.client_clocks = mode;
  options.races.max_pairs = SIZE_MAX;
  absl::StatusOr<TraceAnalysis> a = AnalyzeTrace(std::move(events), nullptr, options);
  EXPECT_TRUE(a.ok()) << a.status();
  return *std::move(a);
}

// Race pairs by event id.
std::set<std::pair<std::string, std::string>> Races(const TraceAnalysis& a) {
  std::set<std::pair<std::string, std::string>> out;
  for (const RacePair& p : a.races.pairs) {
    out.emplace(std::string(a.graph.trace().id(p.first)),
                std::string(a.graph.trace().id(p.second)));
  }
  return out;
}

std::vector<const Diagnostic*> OfKind(const TraceAnalysis& a, DiagnosticKind kind) {
  std::vector<const Diagnostic*> out;
  for (const Diagnostic& d : a.diagnostics) {
    if (d.kind == kind) out.push_back(&d);
  }
  return out;
}

struct SharedComponentCase {
  const char* fixture;
  const char* component;
  size_t races;          // With the vectors removed (and in auto mode).
  size_t trusted_races;  // When the vectors are trusted (the bug).
};

class SharedComponentFixtureTest : public ::testing::TestWithParam<SharedComponentCase> {};

TEST_P(SharedComponentFixtureTest, SameRacesAsWithoutVectorsAndComponentReported) {
  const SharedComponentCase& c = GetParam();
  const std::vector<Event> events = LoadFixture(c.fixture);
  ASSERT_FALSE(events.empty());
  const TraceAnalysis with = Analyze(events);
  const TraceAnalysis without = Analyze(WithoutVectors(events));
  EXPECT_EQ(Races(with), Races(without));
  EXPECT_EQ(with.races.total_pairs, c.races);
  EXPECT_EQ(Analyze(events, ClientClockMode::kTrust).races.total_pairs, c.trusted_races);

  const auto ignored = OfKind(with, DiagnosticKind::kIgnoredClientClock);
  ASSERT_EQ(ignored.size(), 1u);
  EXPECT_EQ(ignored[0]->subject, c.component);
  EXPECT_EQ(ignored[0]->count, events.size());  // Every event carries it.
  EXPECT_THAT(ignored[0]->message, HasSubstr(c.component));
  EXPECT_THAT(ignored[0]->message, HasSubstr("without either ordering the other"));
  ASSERT_GE(ignored[0]->events.size(), 2u);
  EXPECT_LE(ignored[0]->events.size(), kMaxDiagnosticExamples);
  // The two offending events come first and are on different threads; the
  // message names both threads.
  const CompactTrace& t = with.graph.trace();
  const uint32_t x = ignored[0]->events[0], y = ignored[0]->events[1];
  EXPECT_NE(t.thread(x), t.thread(y));
  EXPECT_THAT(ignored[0]->message, HasSubstr(std::string(t.thread_name(t.thread(x)))));
  EXPECT_THAT(ignored[0]->message, HasSubstr(std::string(t.thread_name(t.thread(y)))));
  EXPECT_TRUE(OfKind(with, DiagnosticKind::kReorderedEvents).empty());
  EXPECT_TRUE(OfKind(with, DiagnosticKind::kDroppedCyclicEdges).empty());
}

INSTANTIATE_TEST_SUITE_P(
    Sdks, SharedComponentFixtureTest,
    ::testing::Values(SharedComponentCase{"python_flask_lost_update.json", "py-shop#vm-5315", 3, 0},
                      SharedComponentCase{"python_banking.json", "bank-api#bank-7f3c-2211", 4, 2},
                      SharedComponentCase{"go_goroutines.json", "go-counter#build-host-4711", 3, 1},
                      SharedComponentCase{"rust_tasks.json", "inventory#inventory-5d8f-9001", 3,
                                          1}),
    [](const auto& info) {
      std::string name = info.param.fixture;
      return name.substr(0, name.find('.'));
    });

TEST(SdkDataTest, FlaskLostUpdateIsTheIssueExample) {
  const TraceAnalysis a = Analyze(LoadFixture("python_flask_lost_update.json"));
  const CompactTrace& t = a.graph.trace();
  // Read 3 / Write 4 on one context, Read 5 / Write 6 on the other.
  std::vector<std::pair<std::string, uint64_t>> accesses;
  for (uint32_t i : t.accesses()) {
    accesses.emplace_back(std::string(t.thread_name(t.thread(i))), t.client_clock(i)[0].clock);
  }
  EXPECT_THAT(accesses, ElementsAre(std::pair<std::string, uint64_t>{"python-5315-b4f01c38", 3},
                                    std::pair<std::string, uint64_t>{"python-5315-ed6298ae", 5},
                                    std::pair<std::string, uint64_t>{"python-5315-b4f01c38", 4},
                                    std::pair<std::string, uint64_t>{"python-5315-ed6298ae", 6}));
  ASSERT_EQ(a.races.groups.size(), 3u);  // R/W, W/R and W/W on balance.
  EXPECT_EQ(a.races.groups[0].variable_name, "balance");
}

TEST(SdkDataTest, TypeScriptSkewedTimestampsKeepEveryParentEdge) {
  const std::vector<Event> events = LoadFixture("typescript_skewed_checkout.json");
  ASSERT_EQ(events.size(), 10u);
  const TraceAnalysis a = Analyze(events);
  const CompactTrace& t = a.graph.trace();
  EXPECT_TRUE(a.graph.dropped_edges().empty());
  uint32_t same_thread_parents = 0;
  for (uint32_t i = 0; i < t.size(); ++i) {
    const uint32_t p = t.parent(i);
    if (p == kNone) continue;
    ASSERT_EQ(t.thread(p), t.thread(i));
    ++same_thread_parents;
    EXPECT_LT(t.position(p), t.position(i)) << t.id(i);  // Program order respects the parent.
    EXPECT_TRUE(a.graph.DagHappensBefore(p, i));
  }
  EXPECT_EQ(same_thread_parents, 8u);
  const auto reordered = OfKind(a, DiagnosticKind::kReorderedEvents);
  ASSERT_EQ(reordered.size(), 2u);
  EXPECT_EQ(reordered[0]->subject, "node-4242-3e7d5a10");  // Sorted by subject.
  EXPECT_EQ(reordered[1]->subject, "node-4242-9f1c2b3a");
  for (const Diagnostic* d : reordered) {
    EXPECT_EQ(d->count, 1u);
    ASSERT_EQ(d->events.size(), 1u);
    const uint32_t child = d->events[0];
    EXPECT_LT(t.timestamp_ns(child), t.timestamp_ns(t.parent(child)));  // Skewed.
    EXPECT_THAT(d->message, HasSubstr(d->subject));
  }
  // The per-request root-id components are clocks (monotone along the
  // reordered program order): none is ignored, and they hide nothing.
  EXPECT_TRUE(OfKind(a, DiagnosticKind::kIgnoredClientClock).empty());
  EXPECT_EQ(Races(a), Races(Analyze(WithoutVectors(events))));
  EXPECT_EQ(a.races.total_pairs, 3u);
  for (uint32_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(a.graph.client_order_usable(i), t.has_client_clock(i));
  }
}

// Three threads with a correct vector-clock implementation, talking only
// through messages the server never sees (no parent, span or join edges).
TEST(SdkDataTest, GenuineVectorClocksOrderWhatTheDagCannot) {
  TraceBuilder b;
  Event& w1 = b.Write("worker-1", 0, "x");   // Sends to worker-2.
  Event& w2 = b.Write("worker-2", 10, "x");  // Receives, sends to 3.
  Event& w3 = b.Write("worker-3", 20, "x");  // Receives.
  Event& r1 = b.Read("worker-1", 30, "y");   // Concurrent with w4.
  Event& w4 = b.Write("worker-2", 40, "y");
  SetClientClock(w1, {{"w1", 1}});
  SetClientClock(w2, {{"w1", 1}, {"w2", 1}});
  SetClientClock(w3, {{"w1", 1}, {"w2", 1}, {"w3", 1}});
  SetClientClock(r1, {{"w1", 2}});
  SetClientClock(w4, {{"w1", 1}, {"w2", 2}});
  const TraceAnalysis a = Analyze(b.Events());
  EXPECT_TRUE(a.graph.ignored_client_components().empty());
  EXPECT_TRUE(OfKind(a, DiagnosticKind::kIgnoredClientClock).empty());
  EXPECT_EQ(a.races.total_pairs, 1u);  // Only the genuinely concurrent y pair.
  ASSERT_EQ(a.races.groups.size(), 1u);
  EXPECT_EQ(a.races.groups[0].variable_name, "y");
  const CausalGraph& g = a.graph;
  EXPECT_FALSE(g.DagHappensBefore(IndexOf(g, w1), IndexOf(g, w3)));
  EXPECT_EQ(g.Relate(IndexOf(g, w1), IndexOf(g, w3)), Relation::kBefore);
  EXPECT_EQ(g.Relate(IndexOf(g, r1), IndexOf(g, w4)), Relation::kConcurrent);
  // Without the clocks the x writes race too.
  EXPECT_EQ(Analyze(b.Events(), ClientClockMode::kIgnore).races.total_pairs, 4u);
}

// g is a genuine clock owned by worker-1; py#shared is counted by two
// contexts on their own. Comparing only the trusted components would say
// c1 {g:1} < b1 {g:2, h:1} and hide their race; the rule does not use c1's
// vector at all.
TEST(SdkDataTest, AnEventWithAnIgnoredComponentGetsNoClientOrder) {
  TraceBuilder b;
  Event& t1a = b.Write("worker-1", 0, "z");  // Sends to ctx-a.
  Event& t1b = b.Call("worker-1", 10, "f");  // Sends to worker-2.
  Event& c1 = b.Write("ctx-a", 20, "z");     // Received t1a.
  Event& b1 = b.Write("worker-2", 30, "z");  // Received t1b.
  Event& d1 = b.Call("ctx-b", 40, "g");      // Reuses py#shared = 1.
  SetClientClock(t1a, {{"g", 1}});
  SetClientClock(t1b, {{"g", 2}});
  SetClientClock(c1, {{"g", 1}, {"py#shared", 1}});
  SetClientClock(b1, {{"g", 2}, {"h", 1}});
  SetClientClock(d1, {{"py#shared", 1}, {"k", 1}});
  const TraceAnalysis a = Analyze(b.Events());
  const CausalGraph& g = a.graph;
  ASSERT_EQ(g.ignored_client_components().size(), 1u);
  EXPECT_EQ(g.trace().client_component_name(g.ignored_client_components()[0].component),
            "py#shared");
  EXPECT_FALSE(g.client_order_usable(IndexOf(g, c1)));
  EXPECT_FALSE(g.client_order_usable(IndexOf(g, d1)));
  EXPECT_TRUE(g.client_order_usable(IndexOf(g, b1)));
  EXPECT_EQ(g.Relate(IndexOf(g, t1a), IndexOf(g, b1)), Relation::kBefore);  // g is used.
  const std::set<std::pair<std::string, std::string>> expected = {{t1a.id(), c1.id()},
                                                                  {c1.id(), b1.id()}};
  EXPECT_EQ(Races(a), expected);
  EXPECT_EQ(Analyze(b.Events(), ClientClockMode::kTrust).races.total_pairs, 1u);
  EXPECT_EQ(Analyze(b.Events(), ClientClockMode::kIgnore).races.total_pairs, 3u);
}

TEST(SdkDataTest, ParseClientClockMode) {
  EXPECT_EQ(ParseClientClockMode("auto").value(), ClientClockMode::kAuto);
  EXPECT_EQ(ParseClientClockMode("trust").value(), ClientClockMode::kTrust);
  EXPECT_EQ(ParseClientClockMode("ignore").value(), ClientClockMode::kIgnore);
  for (const char* bad : {"", "Auto", "on", "trust ", "ignore\n"}) {
    const absl::StatusOr<ClientClockMode> m = ParseClientClockMode(bad);
    ASSERT_FALSE(m.ok()) << bad;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(m.status().message(), HasSubstr("analysis.client_clocks"));
  }
  EXPECT_EQ(ClientClockModeName(ClientClockMode::kIgnore), "ignore");
}

TEST(SdkDataTest, DiagnosticsForCyclesOrphansAndMissingDurations) {
  TraceBuilder b;
  Event& a1 = b.Call("A", 1, "a1");
  Event& b1 = b.Call("B", 2, "b1");
  Event& a2 = b.Call("A", 3, "a2", nullptr, 3000);
  b1.set_parent_id(a2.id());  // Cross-thread cycle b1 -> a1 -> a2 -> b1.
  a1.set_parent_id(b1.id());
  Event& orphan = b.Call("C", 4, "orphan");
  orphan.set_parent_id("00000000-0000-4000-8000-00000000dead");
  const TraceAnalysis a = Analyze(b.Events());
  const CompactTrace& t = a.graph.trace();
  std::vector<std::pair<DiagnosticKind, std::string>> kinds;
  for (const Diagnostic& d : a.diagnostics) kinds.emplace_back(d.kind, d.subject);
  EXPECT_THAT(kinds,
              ElementsAre(std::pair{DiagnosticKind::kDroppedCyclicEdges, std::string("parent")},
                          std::pair{DiagnosticKind::kMissingParents, std::string()},
                          std::pair{DiagnosticKind::kMissingDurations, std::string()}));
  const Diagnostic& dropped = a.diagnostics[0];
  EXPECT_EQ(dropped.count, 2u);
  EXPECT_THAT(dropped.message, HasSubstr("2 parent edges dropped"));
  const Diagnostic& orphans = a.diagnostics[1];
  EXPECT_EQ(orphans.count, 1u);
  EXPECT_THAT(orphans.events, ElementsAre(IndexOf(a.graph, orphan)));
  const Diagnostic& durations = a.diagnostics[2];
  uint64_t missing = 0;
  for (const CriticalPathStep& s : a.critical_path.steps) missing += !t.has_duration(s.event);
  ASSERT_GT(missing, 0u);
  EXPECT_EQ(durations.count, missing);
  EXPECT_THAT(durations.message,
              HasSubstr(absl::StrCat(missing, " of ", a.critical_path.steps.size())));
  // An empty trace has nothing to say.
  EXPECT_TRUE(Analyze({}).diagnostics.empty());
}

}  // namespace
}  // namespace raceway::graph
