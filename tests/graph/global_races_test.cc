// Cross-trace races: the sweep against a brute-force pair check.

#include "libs/graph/global_races.h"

#include <algorithm>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/model/operation_key.h"

namespace raceway::graph {
namespace {

using raceway::v1::AccessType;

constexpr int64_t kSec = 1000000000;

AccessRecord Rec(const std::string& trace, int64_t ts, AccessType type,
                 const std::string& variable = "balance") {
  static int counter = 0;
  AccessRecord r;
  r.variable = variable;
  r.timestamp_ns = ts;
  r.event_id = absl::StrCat("e", ++counter);
  r.trace_id = trace;
  r.thread_id = "main";
  r.service_name = "svc";
  r.access_type = type;
  r.location = "a.rs:1";
  return r;
}

std::vector<GlobalRace> Find(const std::vector<AccessRecord>& records, int64_t window = kSec) {
  GlobalRaceOptions o;
  o.window_ns = window;
  auto r = FindGlobalRaces(records, o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::vector<GlobalRace>{};
}

constexpr AccessType W = raceway::v1::ACCESS_TYPE_WRITE;
constexpr AccessType R = raceway::v1::ACCESS_TYPE_READ;

TEST(GlobalRacesTest, ConflictingAccessesOfTwoTracesWithinWindow) {
  const auto races = Find({Rec("t1", 0, W), Rec("t2", 400000000, R)});
  ASSERT_EQ(races.size(), 1u);
  EXPECT_EQ(races[0].severity, RaceSeverity::kWarning);
  EXPECT_EQ(races[0].first.trace_id, "t1");
  EXPECT_EQ(races[0].second.trace_id, "t2");
  EXPECT_EQ(races[0].gap_ns, 400000000u);
  EXPECT_EQ(Find({Rec("t1", 0, W), Rec("t2", 5, W)})[0].severity, RaceSeverity::kCritical);
}

TEST(GlobalRacesTest, SameTraceOutsideWindowAndNonConflictingAreNotRaces) {
  EXPECT_TRUE(Find({Rec("t1", 0, W), Rec("t1", 5, W)}).empty());
  EXPECT_TRUE(Find({Rec("t1", 0, W), Rec("t2", kSec + 1, W)}).empty());
  EXPECT_EQ(Find({Rec("t1", 0, W), Rec("t2", kSec, W)}).size(), 1u);  // Inclusive.
  EXPECT_EQ(Find({Rec("t1", 0, W), Rec("t2", 3 * kSec, W)}, 5 * kSec).size(), 1u);
  EXPECT_TRUE(Find({Rec("t1", 0, R), Rec("t2", 5, R)}).empty());
  EXPECT_TRUE(Find({Rec("t1", 0, raceway::v1::ACCESS_TYPE_ATOMIC_RMW),
                    Rec("t2", 5, raceway::v1::ACCESS_TYPE_ATOMIC_WRITE)})
                  .empty());
  EXPECT_EQ(Find({Rec("t1", 0, raceway::v1::ACCESS_TYPE_ATOMIC_RMW), Rec("t2", 5, R)}).size(), 1u);
  EXPECT_TRUE(Find({Rec("t1", 0, W, "a"), Rec("t2", 5, W, "b")}).empty());
}

TEST(GlobalRacesTest, DistributedEdgeOrdersThePair) {
  AccessRecord a = Rec("t1", 0, W), b = Rec("t2", 10, W);
  a.distributed_span_id = "span-1";
  b.upstream_span_id = "span-1";
  EXPECT_TRUE(Find({a, b}).empty());
  EXPECT_EQ(RelateAcrossTraces(a, b), Relation::kBefore);
  EXPECT_EQ(RelateAcrossTraces(b, a), Relation::kAfter);
  // The edge needs the upstream event not to be later.
  AccessRecord c = Rec("t1", 20, W);
  c.distributed_span_id = "span-2";
  AccessRecord d = Rec("t2", 20, W);
  d.upstream_span_id = "span-2";
  EXPECT_TRUE(Find({c, d}).empty());
  AccessRecord late = Rec("t1", 30, W);
  late.distributed_span_id = "span-3";
  AccessRecord early = Rec("t2", 25, W);
  early.upstream_span_id = "span-3";
  EXPECT_EQ(Find({early, late}).size(), 1u);
  EXPECT_EQ(RelateAcrossTraces(early, late), Relation::kNotComparable);
}

TEST(GlobalRacesTest, ClientVectorClockOrdersThePair) {
  AccessRecord a = Rec("t1", 0, W), b = Rec("t2", 10, W);
  a.has_causality_vector = b.has_causality_vector = true;
  a.causality_vector = {{"x", 1}};
  b.causality_vector = {{"y", 1}, {"x", 1}};
  EXPECT_TRUE(Find({a, b}).empty());
  EXPECT_EQ(RelateAcrossTraces(a, b), Relation::kBefore);
  b.causality_vector = {{"y", 1}};  // Concurrent.
  EXPECT_EQ(Find({a, b}).size(), 1u);
  EXPECT_EQ(RelateAcrossTraces(a, a), Relation::kSame);
}

TEST(GlobalRacesTest, LocksProtectUnlessBothHoldThemForReading) {
  AccessRecord a = Rec("t1", 0, W), b = Rec("t2", 10, W);
  a.lock_set = {{"m", false}};
  b.lock_set = {{"m", false}, {"other", false}};
  EXPECT_TRUE(Find({a, b}).empty());
  a.lock_set = {{"rw", true}};
  b.lock_set = {{"rw", true}};
  EXPECT_EQ(Find({a, b}).size(), 1u);
  b.lock_set = {{"rw", false}};
  EXPECT_TRUE(Find({a, b}).empty());
}

TEST(GlobalRacesTest, RejectsUnsortedInputWithoutStateChange) {
  GlobalRaceSweeper sweeper;
  std::vector<GlobalRace> out;
  ASSERT_TRUE(sweeper.Add(Rec("t1", 10, W, "b"), &out).ok());
  EXPECT_EQ(sweeper.Add(Rec("t2", 5, W, "b"), &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sweeper.Add(Rec("t2", 50, W, "a"), &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(sweeper.Add(Rec("t2", 20, W, "b"), &out).ok());
  EXPECT_EQ(out.size(), 1u);
  GlobalRaceOptions bad;
  bad.window_ns = -1;
  EXPECT_FALSE(FindGlobalRaces(std::vector<AccessRecord>{Rec("t1", 0, W)}, bad).ok());
}

using Key = std::tuple<std::string, std::string>;

std::vector<Key> Keys(const std::vector<GlobalRace>& races) {
  std::vector<Key> out;
  for (const auto& r : races) out.emplace_back(r.first.event_id, r.second.event_id);
  std::sort(out.begin(), out.end());
  return out;
}

bool Protected(const AccessRecord& a, const AccessRecord& b) {
  for (const auto& x : a.lock_set) {
    for (const auto& y : b.lock_set) {
      if (x.lock_id == y.lock_id && !(x.read_mode && y.read_mode)) return true;
    }
  }
  return false;
}

bool ClientOrdered(const AccessRecord& a, const AccessRecord& b) {
  if (!a.has_causality_vector || !b.has_causality_vector) return false;
  const ClockOrder o = CompareNamedClocks(NormalizeClientClock(a.causality_vector),
                                          NormalizeClientClock(b.causality_vector));
  return o == ClockOrder::kBefore || o == ClockOrder::kAfter;
}

// All pairs, straight from the definition.
std::vector<Key> BruteForce(const std::vector<AccessRecord>& recs, int64_t window) {
  std::vector<Key> out;
  for (size_t i = 0; i < recs.size(); ++i) {
    for (size_t j = i + 1; j < recs.size(); ++j) {
      const AccessRecord& a = recs[i];
      const AccessRecord& b = recs[j];
      if (a.variable != b.variable || a.trace_id == b.trace_id) continue;
      if (!model::IsWrite(a.access_type) && !model::IsWrite(b.access_type)) continue;
      if (model::IsAtomic(a.access_type) && model::IsAtomic(b.access_type)) continue;
      if (std::abs(a.timestamp_ns - b.timestamp_ns) > window) continue;
      const bool ab = !a.distributed_span_id.empty() &&
                      a.distributed_span_id == b.upstream_span_id &&
                      a.timestamp_ns <= b.timestamp_ns;
      const bool ba = !b.distributed_span_id.empty() &&
                      b.distributed_span_id == a.upstream_span_id &&
                      b.timestamp_ns <= a.timestamp_ns;
      if (ab || ba || ClientOrdered(a, b) || Protected(a, b)) continue;
      const bool a_first = a.timestamp_ns != b.timestamp_ns ? a.timestamp_ns < b.timestamp_ns
                                                            : a.event_id <= b.event_id;
      out.emplace_back(a_first ? a.event_id : b.event_id, a_first ? b.event_id : a.event_id);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(GlobalRacesTest, SweepEqualsBruteForceAndPagesResume) {
  std::mt19937_64 rng(42);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  static const AccessType kTypes[] = {R, W, raceway::v1::ACCESS_TYPE_ATOMIC_READ,
                                      raceway::v1::ACCESS_TYPE_ATOMIC_WRITE,
                                      raceway::v1::ACCESS_TYPE_ATOMIC_RMW};
  uint64_t total = 0;
  for (int round = 0; round < 200; ++round) {
    std::vector<AccessRecord> recs;
    const int n = uni(1, 80);
    for (int i = 0; i < n; ++i) {
      AccessRecord r = Rec(absl::StrCat("t", uni(0, 4)), int64_t{uni(0, 40)} * 100000000,
                           kTypes[uni(0, 4)], absl::StrCat("v", uni(0, 2)));
      if (uni(0, 3) == 0) r.lock_set.push_back({uni(0, 1) ? "m" : "rw", uni(0, 1) == 0});
      if (uni(0, 5) == 0) r.distributed_span_id = absl::StrCat("s", uni(0, 3));
      if (uni(0, 5) == 0) r.upstream_span_id = absl::StrCat("s", uni(0, 3));
      if (uni(0, 4) == 0) {
        r.has_causality_vector = true;
        r.causality_vector = {{"c1", static_cast<uint64_t>(uni(0, 2))},
                              {"c2", static_cast<uint64_t>(uni(0, 2))}};
      }
      recs.push_back(std::move(r));
    }
    std::stable_sort(recs.begin(), recs.end(), [](const AccessRecord& a, const AccessRecord& b) {
      return std::tie(a.variable, a.timestamp_ns) < std::tie(b.variable, b.timestamp_ns);
    });
    const int64_t window = int64_t{uni(0, 3)} * 500000000;
    const std::vector<Key> expected = BruteForce(recs, window);
    ASSERT_EQ(Keys(Find(recs, window)), expected) << "round " << round;
    total += expected.size();

    // Paged: a fresh sweeper per page, primed with the window before it.
    GlobalRaceOptions o;
    o.window_ns = window;
    std::vector<GlobalRace> paged;
    const size_t page = 7;
    for (size_t start = 0; start < recs.size(); start += page) {
      GlobalRaceSweeper sweeper(o);
      size_t from = start;
      while (from > 0 && recs[from - 1].variable == recs[start].variable &&
             recs[start].timestamp_ns - recs[from - 1].timestamp_ns <= window) {
        --from;
      }
      for (size_t k = from; k < start; ++k) ASSERT_TRUE(sweeper.Prime(recs[k]).ok());
      for (size_t k = start; k < std::min(recs.size(), start + page); ++k) {
        ASSERT_TRUE(sweeper.Add(recs[k], &paged).ok());
      }
    }
    ASSERT_EQ(Keys(paged), expected) << "round " << round;
  }
  EXPECT_GT(total, 500u);
}

}  // namespace
}  // namespace raceway::graph
