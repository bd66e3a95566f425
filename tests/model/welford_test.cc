#include "libs/model/welford.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace raceway::model {
namespace {

WelfordStats Of(const std::vector<double>& xs) {
  WelfordStats s;
  for (double x : xs) s.Add(x);
  return s;
}

TEST(WelfordTest, MatchesTwoPassStatistics) {
  const std::vector<double> xs = {2, 4, 4, 4, 5, 5, 7, 9};
  WelfordStats s = Of(xs);
  EXPECT_EQ(s.count, 8u);
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  EXPECT_NEAR(s.Variance(), 32.0 / 7.0, 1e-12);
  EXPECT_EQ(s.min, 2);
  EXPECT_EQ(s.max, 9);
  EXPECT_EQ(Of({}).Variance(), 0.0);
  EXPECT_EQ(Of({3}).Variance(), 0.0);
}

TEST(WelfordTest, MergeEqualsSinglePassAndRemoveInverts) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> d(0, 1e6);
  std::vector<double> a, b;
  for (int i = 0; i < 1000; ++i) a.push_back(d(rng));
  for (int i = 0; i < 333; ++i) b.push_back(d(rng) * 3);
  std::vector<double> all = a;
  all.insert(all.end(), b.begin(), b.end());
  WelfordStats merged = Of(a);
  merged.Merge(Of(b));
  WelfordStats single = Of(all);
  EXPECT_EQ(merged.count, single.count);
  EXPECT_NEAR(merged.mean, single.mean, 1e-6);
  EXPECT_NEAR(merged.m2 / single.m2, 1.0, 1e-9);
  EXPECT_EQ(merged.min, single.min);
  EXPECT_EQ(merged.max, single.max);

  merged.Remove(Of(b));
  WelfordStats only_a = Of(a);
  EXPECT_EQ(merged.count, only_a.count);
  EXPECT_NEAR(merged.mean, only_a.mean, 1e-6);
  EXPECT_NEAR(merged.m2 / only_a.m2, 1.0, 1e-9);

  WelfordStats empty = Of(a);
  empty.Remove(Of(a));
  EXPECT_EQ(empty.count, 0u);
  WelfordStats into_empty;
  into_empty.Merge(Of(b));
  EXPECT_EQ(into_empty.count, b.size());
}

}  // namespace
}  // namespace raceway::model
