#include "libs/model/timestamp.h"

#include <algorithm>
#include <limits>

namespace raceway::model {
namespace {

constexpr int64_t kNanosPerSecond = 1000000000;

}  // namespace

std::optional<int64_t> ToUnixNanos(const google::protobuf::Timestamp& ts) {
  if (ts.nanos() < 0 || ts.nanos() >= kNanosPerSecond) return std::nullopt;
  int64_t seconds = ts.seconds();
  int64_t nanos = ts.nanos();
  // For negative seconds, borrow one second so that the lowest instant
  // (seconds * 1e9 alone would be below INT64_MIN) is computed without
  // overflow.
  if (seconds < 0) {
    ++seconds;
    nanos -= kNanosPerSecond;
  }
  int64_t ns;
  if (__builtin_mul_overflow(seconds, kNanosPerSecond, &ns) ||
      __builtin_add_overflow(ns, nanos, &ns)) {
    return std::nullopt;
  }
  return ns;
}

int64_t ToUnixNanosClamped(const google::protobuf::Timestamp& ts) {
  google::protobuf::Timestamp t = ts;
  t.set_nanos(std::clamp<int32_t>(t.nanos(), 0, kNanosPerSecond - 1));
  if (auto ns = ToUnixNanos(t)) return *ns;
  return t.seconds() < 0 ? std::numeric_limits<int64_t>::min()
                         : std::numeric_limits<int64_t>::max();
}

void FromUnixNanos(int64_t ns, google::protobuf::Timestamp* ts) {
  int64_t seconds = ns / kNanosPerSecond;
  int64_t nanos = ns % kNanosPerSecond;
  if (nanos < 0) {
    nanos += kNanosPerSecond;
    --seconds;
  }
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>(nanos));
}

google::protobuf::Timestamp FromUnixNanos(int64_t ns) {
  google::protobuf::Timestamp ts;
  FromUnixNanos(ns, &ts);
  return ts;
}

uint64_t NanosBetween(int64_t earlier, int64_t later) {
  // Unsigned wrap-around is defined and exact here: later >= earlier.
  return later < earlier ? 0 : static_cast<uint64_t>(later) - static_cast<uint64_t>(earlier);
}

int64_t AddNanosSaturating(int64_t ns, int64_t delta) {
  int64_t out;
  if (!__builtin_add_overflow(ns, delta, &out)) return out;
  return delta < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
}

}  // namespace raceway::model
