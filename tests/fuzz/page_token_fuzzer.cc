// Page tokens (storage::common::Decode*Cursor) as a client may forge them.
// The whole input is tried as a token of each kind: at most one kind accepts
// it, and what decodes encodes to a token that decodes to the same cursor.
// The same bytes also build cursors of each kind (canonical ids from 16
// bytes each): every encoded cursor decodes to itself, as its own kind only.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "libs/model/uuid.h"
#include "libs/storage/common/page_token.h"
#include "tests/fuzz/fuzz_check.h"

namespace raceway::fuzz {
namespace {

namespace sc = storage::common;

bool Same(const sc::TraceCursor& a, const sc::TraceCursor& b) {
  return a.last_ns == b.last_ns && a.trace_id == b.trace_id;
}
bool Same(const sc::EventCursor& a, const sc::EventCursor& b) {
  return a.timestamp_ns == b.timestamp_ns && a.event_id == b.event_id;
}
bool Same(const sc::AccessCursor& a, const sc::AccessCursor& b) {
  return a.variable == b.variable && a.timestamp_ns == b.timestamp_ns && a.event_id == b.event_id;
}

// How many kinds accept `token`; each accepted cursor must survive
// encode -> decode unchanged.
int DecodeAll(std::string_view token) {
  int accepted = 0;
  if (auto c = sc::DecodeTraceCursor(token); c.ok()) {
    ++accepted;
    auto again = sc::DecodeTraceCursor(sc::EncodeTraceCursor(*c));
    FUZZ_CHECK(again.ok() && Same(*c, *again), "trace cursor round trip");
  }
  if (auto c = sc::DecodeEventCursor(token); c.ok()) {
    ++accepted;
    auto again = sc::DecodeEventCursor(sc::EncodeEventCursor(*c));
    FUZZ_CHECK(again.ok() && Same(*c, *again), "event cursor round trip");
  }
  if (auto c = sc::DecodeAccessCursor(token); c.ok()) {
    ++accepted;
    auto again = sc::DecodeAccessCursor(sc::EncodeAccessCursor(*c));
    FUZZ_CHECK(again.ok() && Same(*c, *again), "access cursor round trip");
  }
  return accepted;
}

std::string Uuid(FuzzedDataProvider& in) {
  model::UuidBytes bytes{};
  for (auto& b : bytes) b = in.ConsumeIntegral<uint8_t>();
  return model::FormatUuid(bytes);
}

void EncodeSide(FuzzedDataProvider& in) {
  const sc::TraceCursor trace{in.ConsumeIntegral<int64_t>(), Uuid(in)};
  const sc::EventCursor event{in.ConsumeIntegral<int64_t>(), Uuid(in)};
  sc::AccessCursor access;
  access.timestamp_ns = in.ConsumeIntegral<int64_t>();
  access.event_id = Uuid(in);
  access.variable = in.ConsumeRemainingBytesAsString();

  const std::string t = sc::EncodeTraceCursor(trace);
  const std::string e = sc::EncodeEventCursor(event);
  const std::string a = sc::EncodeAccessCursor(access);
  auto td = sc::DecodeTraceCursor(t);
  auto ed = sc::DecodeEventCursor(e);
  auto ad = sc::DecodeAccessCursor(a);
  FUZZ_CHECK(td.ok() && Same(trace, *td), absl::StrCat("trace cursor ", t));
  FUZZ_CHECK(ed.ok() && Same(event, *ed), absl::StrCat("event cursor ", e));
  FUZZ_CHECK(ad.ok() && Same(access, *ad), absl::StrCat("access cursor ", a));
  FUZZ_CHECK(DecodeAll(t) == 1 && DecodeAll(e) == 1 && DecodeAll(a) == 1,
             "a token decodes as another kind");
}

}  // namespace
}  // namespace raceway::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int kinds =
      raceway::fuzz::DecodeAll(std::string_view(reinterpret_cast<const char*>(data), size));
  FUZZ_CHECK(kinds <= 1, "one token accepted as several kinds");
  FuzzedDataProvider in(data, size);
  raceway::fuzz::EncodeSide(in);
  return 0;
}
