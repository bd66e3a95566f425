#include "libs/model/timestamp.h"

#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace raceway::model {
namespace {

google::protobuf::Timestamp Ts(int64_t seconds, int32_t nanos) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(nanos);
  return ts;
}

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

TEST(TimestampTest, BoundsConvertExactly) {
  EXPECT_EQ(ToUnixNanos(Ts(-9223372037, 145224192)), kMin);
  EXPECT_EQ(ToUnixNanos(Ts(9223372036, 854775807)), kMax);
  EXPECT_EQ(ToUnixNanos(Ts(-1, 999999999)), -1);
  EXPECT_EQ(ToUnixNanos(Ts(0, 0)), 0);
}

TEST(TimestampTest, OutsideRangeIsRefused) {
  EXPECT_FALSE(ToUnixNanos(Ts(-9223372037, 145224191)));
  EXPECT_FALSE(ToUnixNanos(Ts(9223372036, 854775808)));
  EXPECT_FALSE(ToUnixNanos(Ts(-62135596800, 0)));  // Year 1.
  EXPECT_FALSE(ToUnixNanos(Ts(253402300799, 0)));  // Year 9999.
  EXPECT_FALSE(ToUnixNanos(Ts(kMax, 0)));
  EXPECT_FALSE(ToUnixNanos(Ts(kMin, 0)));
  EXPECT_FALSE(ToUnixNanos(Ts(0, -1)));
  EXPECT_FALSE(ToUnixNanos(Ts(0, 1000000000)));
}

TEST(TimestampTest, ClampedSaturates) {
  EXPECT_EQ(ToUnixNanosClamped(Ts(-62135596800, 0)), kMin);
  EXPECT_EQ(ToUnixNanosClamped(Ts(253402300799, 0)), kMax);
  EXPECT_EQ(ToUnixNanosClamped(Ts(5, 7)), 5000000007);
}

TEST(TimestampTest, RoundTripsEveryInt64) {
  for (int64_t ns : {kMin, kMin + 1, int64_t{-1}, int64_t{0}, int64_t{1}, kMax - 1, kMax}) {
    const auto ts = FromUnixNanos(ns);
    EXPECT_GE(ts.nanos(), 0);
    EXPECT_LE(ts.nanos(), 999999999);
    EXPECT_EQ(ToUnixNanos(ts), ns);
  }
}

TEST(TimestampTest, ArithmeticDoesNotOverflow) {
  EXPECT_EQ(NanosBetween(kMin, kMax), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(NanosBetween(5, 3), 0u);
  EXPECT_EQ(AddNanosSaturating(kMin, -1), kMin);
  EXPECT_EQ(AddNanosSaturating(kMax, 1), kMax);
  EXPECT_EQ(AddNanosSaturating(10, -3), 7);
}

}  // namespace
}  // namespace raceway::model
