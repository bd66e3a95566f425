// Anomaly scoring against Welford baselines.

#include "libs/graph/anomalies.h"

#include <vector>

#include "gtest/gtest.h"
#include "libs/graph/compact_trace.h"
#include "tests/graph/builders.h"

namespace raceway::graph {
namespace {

using raceway::v1::Event;
using testing::TraceBuilder;

constexpr double kMs = 1e6;

model::WelfordStats Stats(const std::vector<double>& samples) {
  model::WelfordStats s;
  for (double x : samples) s.Add(x);
  return s;
}

std::vector<Anomaly> Detect(const std::vector<Event>& events, const BaselineMap& baselines,
                            AnomalyOptions options = {}) {
  auto t = CompactTrace::Build(events);
  EXPECT_TRUE(t.ok());
  auto a = DetectAnomalies(*t, baselines, options);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.ok() ? *a : std::vector<Anomaly>{};
}

// Baseline of "FunctionCall(handle)": mean 10 ms, sample stddev 1 ms.
model::WelfordStats TenMs() {
  std::vector<double> xs;
  for (int i = 0; i < 50; ++i) xs.push_back((i % 2 ? 11 : 9) * kMs);
  return Stats(xs);
}

TEST(AnomaliesTest, SeverityBySigmaSlowerAndFaster) {
  TraceBuilder b;
  b.Call("main", 0, "handle", nullptr, static_cast<uint64_t>(10.5 * kMs));  // 0.5 sigma: normal.
  b.Call("main", 1, "handle", nullptr, static_cast<uint64_t>(12.6 * kMs));  // ~2.6: MINOR.
  b.Call("main", 2, "handle", nullptr, static_cast<uint64_t>(14 * kMs));    // ~4: WARNING.
  b.Call("main", 3, "handle", nullptr, static_cast<uint64_t>(30 * kMs));    // ~20: CRITICAL.
  b.Call("main", 4, "handle", nullptr, static_cast<uint64_t>(6 * kMs));     // ~4 faster.
  b.Call("main", 5, "other", nullptr, static_cast<uint64_t>(99 * kMs));     // No baseline.
  const std::vector<Event> events = b.Events();
  BaselineMap baselines;
  AnomalyOptions options;
  options.baselines_include_trace = false;
  baselines["FunctionCall(handle)"] = TenMs();
  const auto anomalies = Detect(events, baselines, options);
  ASSERT_EQ(anomalies.size(), 4u);
  EXPECT_EQ(anomalies[0].severity, AnomalySeverity::kMinor);
  EXPECT_TRUE(anomalies[0].slower);
  EXPECT_EQ(anomalies[1].severity, AnomalySeverity::kWarning);
  EXPECT_EQ(anomalies[2].severity, AnomalySeverity::kCritical);
  EXPECT_EQ(anomalies[2].operation, "FunctionCall(handle)");
  EXPECT_EQ(anomalies[2].duration_ns, static_cast<uint64_t>(30 * kMs));
  EXPECT_EQ(anomalies[2].baseline_samples, 50u);
  EXPECT_NEAR(anomalies[2].expected_mean_ns, 10 * kMs, 1);
  EXPECT_NEAR(anomalies[2].expected_stddev_ns, 1.0102 * kMs, 0.001 * kMs);
  EXPECT_NEAR(anomalies[2].sigma, 20 / 1.0102, 0.01);
  EXPECT_FALSE(anomalies[3].slower);
  EXPECT_EQ(anomalies[3].severity, AnomalySeverity::kWarning);
  EXPECT_FALSE(anomalies[3].description.empty());

  // A higher threshold k reports fewer.
  options.sigma_threshold = 4.5;
  EXPECT_EQ(Detect(events, baselines, options).size(), 1u);
}

TEST(AnomaliesTest, OwnTraceIsRemovedFromTheBaseline) {
  // Stored baseline = 10 other samples of exactly 10 ms + this trace's 3
  // samples of 100 ms. Without its own trace the baseline is 10 ms with
  // sigma 0, so the 20 % rule applies and all three are (MINOR) anomalies.
  TraceBuilder b;
  for (int i = 0; i < 3; ++i)
    b.Call("main", i, "handle", nullptr, static_cast<uint64_t>(100 * kMs));
  const std::vector<Event> events = b.Events();
  std::vector<double> xs(10, 10 * kMs);
  model::WelfordStats stored = Stats(xs);
  stored.Merge(Stats({100 * kMs, 100 * kMs, 100 * kMs}));
  BaselineMap baselines{{"FunctionCall(handle)", stored}};
  const auto anomalies = Detect(events, baselines);
  ASSERT_EQ(anomalies.size(), 3u);
  for (const Anomaly& a : anomalies) {
    EXPECT_EQ(a.baseline_samples, 10u);
    EXPECT_NEAR(a.expected_mean_ns, 10 * kMs, 1e-3);
    EXPECT_NEAR(a.expected_stddev_ns, 0, 1e-3);
    EXPECT_EQ(a.sigma, 0);
    EXPECT_EQ(a.severity, AnomalySeverity::kMinor);
    EXPECT_TRUE(a.slower);
  }
  // Scored against the stored baseline as is, 100 ms is within 2 sigma.
  AnomalyOptions keep;
  keep.baselines_include_trace = false;
  EXPECT_TRUE(Detect(events, baselines, keep).empty());
}

TEST(AnomaliesTest, ZeroSigmaUsesTwentyPercentRule) {
  TraceBuilder b;
  b.Call("main", 0, "handle", nullptr, static_cast<uint64_t>(11.9 * kMs));  // +19 %: normal.
  b.Call("main", 1, "handle", nullptr, static_cast<uint64_t>(12.1 * kMs));  // +21 %.
  b.Call("main", 2, "handle", nullptr, static_cast<uint64_t>(7.9 * kMs));   // -21 %.
  const std::vector<Event> events = b.Events();
  BaselineMap baselines{{"FunctionCall(handle)", Stats(std::vector<double>(8, 10 * kMs))}};
  AnomalyOptions options;
  options.baselines_include_trace = false;
  const auto anomalies = Detect(events, baselines, options);
  ASSERT_EQ(anomalies.size(), 2u);
  EXPECT_TRUE(anomalies[0].slower);
  EXPECT_FALSE(anomalies[1].slower);
  EXPECT_EQ(anomalies[1].severity, AnomalySeverity::kMinor);
}

TEST(AnomaliesTest, NeedsFiveSamplesWithoutOwnTrace) {
  TraceBuilder b;
  b.Call("main", 0, "handle", nullptr, static_cast<uint64_t>(100 * kMs));
  const std::vector<Event> events = b.Events();
  // 5 stored samples, one of them from this trace: 4 remain.
  model::WelfordStats stored = Stats({10 * kMs, 10 * kMs, 11 * kMs, 9 * kMs});
  stored.Add(100 * kMs);
  BaselineMap baselines{{"FunctionCall(handle)", stored}};
  EXPECT_TRUE(Detect(events, baselines).empty());
  stored.Add(10 * kMs);
  baselines["FunctionCall(handle)"] = stored;
  EXPECT_EQ(Detect(events, baselines).size(), 1u);
}

TEST(AnomaliesTest, HttpAndDatabaseDurationsAndBadOptions) {
  TraceBuilder b;
  Event& q = b.At("main", 0);
  q.mutable_database_query()->set_query("SELECT 1");
  q.mutable_database_query()->set_duration_ms(50);
  b.Call("main", 1, "no_duration");
  const std::vector<Event> events = b.Events();
  BaselineMap baselines{{"DatabaseQuery", TenMs()}, {"FunctionCall(no_duration)", TenMs()}};
  AnomalyOptions options;
  options.baselines_include_trace = false;
  const auto anomalies = Detect(events, baselines, options);
  ASSERT_EQ(anomalies.size(), 1u);
  EXPECT_EQ(anomalies[0].operation, "DatabaseQuery");
  EXPECT_EQ(anomalies[0].duration_ns, 50000000u);

  auto t = CompactTrace::Build(events);
  ASSERT_TRUE(t.ok());
  options.sigma_threshold = -1;
  EXPECT_EQ(DetectAnomalies(*t, baselines, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace raceway::graph
