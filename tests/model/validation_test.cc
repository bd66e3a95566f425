#include "libs/model/validation.h"

#include <functional>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/events.h"

namespace raceway::model {
namespace {

using raceway::testing::MakeEvent;
using raceway::v1::Event;
using ::testing::HasSubstr;

const std::string kTrace = "11111111-1111-4111-8111-111111111111";

Event Valid() { return MakeEvent(kTrace, "main", 0); }

// Applies `mutate` to a valid event and expects exactly `field` to be blamed.
void ExpectRejected(const std::function<void(Event&)>& mutate, const std::string& field,
                    const std::string& reason_part = "",
                    const ValidationLimits& limits = ValidationLimits{}) {
  Event e = Valid();
  mutate(e);
  auto error = ValidateEvent(e, limits);
  ASSERT_TRUE(error.has_value()) << "expected rejection on " << field;
  EXPECT_EQ(error->field, field) << error->reason;
  if (!reason_part.empty()) {
    EXPECT_THAT(error->reason, HasSubstr(reason_part));
  }
}

TEST(ValidationTest, ValidEventsOfEveryKindPass) {
  std::vector<std::function<void(Event&)>> kinds = {
      [](Event& e) { e.mutable_function_call()->set_function_name("f"); },
      [](Event& e) { e.mutable_async_spawn()->set_task_id(NewUuidV4()); },
      [](Event& e) { e.mutable_async_await()->set_future_id(NewUuidV4()); },
      [](Event& e) {
        e.mutable_state_change()->set_variable("x");
        e.mutable_state_change()->set_access_type(raceway::v1::ACCESS_TYPE_ATOMIC_RMW);
      },
      [](Event& e) { e.mutable_lock_acquire()->set_lock_id("m"); },
      [](Event& e) { e.mutable_lock_release()->set_lock_id("m"); },
      [](Event& e) {
        e.mutable_memory_fence()->set_ordering(raceway::v1::MEMORY_ORDERING_ACQ_REL);
      },
      [](Event& e) { (*e.mutable_http_request()->mutable_headers())["a"] = "b"; },
      [](Event& e) { e.mutable_http_response()->set_status(200); },
      [](Event& e) { e.mutable_database_query()->set_query("SELECT 1"); },
      [](Event& e) { e.mutable_database_result()->set_rows_affected(3); },
      [](Event& e) { e.mutable_error()->add_stack_trace("frame"); },
      [](Event& e) { e.mutable_custom()->mutable_data()->set_bool_value(true); },
  };
  for (size_t i = 0; i < kinds.size(); ++i) {
    Event e = Valid();
    e.set_parent_id(NewUuidV4());
    e.add_causality_vector()->set_component("main");
    e.add_lock_set("m");
    kinds[i](e);
    auto error = ValidateEvent(e, ValidationLimits{});
    EXPECT_FALSE(error.has_value()) << i << ": " << error->field << " " << error->reason;
  }
}

TEST(ValidationTest, Ids) {
  ExpectRejected([](Event& e) { e.clear_id(); }, "id", "required");
  ExpectRejected([](Event& e) { e.set_id("not-a-uuid"); }, "id", "canonical");
  ExpectRejected([](Event& e) { e.set_id("11111111-1111-4111-8111-11111111111G"); }, "id");
  ExpectRejected([](Event& e) { e.set_id("11111111-1111-4111-8111-11111111111A"); }, "id");
  ExpectRejected([](Event& e) { e.clear_trace_id(); }, "trace_id", "required");
  ExpectRejected([](Event& e) { e.set_trace_id("x"); }, "trace_id");
  ExpectRejected([](Event& e) { e.set_parent_id("1234"); }, "parent_id");
  ExpectRejected([](Event& e) { e.set_parent_id(e.id()); }, "parent_id", "differ");
  ExpectRejected([](Event& e) { e.mutable_async_spawn()->set_task_id("t1"); },
                 "async_spawn.task_id");
  ExpectRejected([](Event& e) { e.mutable_async_spawn(); }, "async_spawn.task_id", "required");
  ExpectRejected([](Event& e) { e.mutable_async_await()->set_future_id("f"); },
                 "async_await.future_id");
}

TEST(ValidationTest, TimestampMetadataKind) {
  ExpectRejected([](Event& e) { e.clear_timestamp(); }, "timestamp", "required");
  ExpectRejected([](Event& e) { e.mutable_timestamp()->set_nanos(-1); }, "timestamp", "range");
  ExpectRejected(
      [](Event& e) { e.mutable_timestamp()->set_seconds(std::numeric_limits<int64_t>::max()); },
      "timestamp");
  ExpectRejected([](Event& e) { e.clear_metadata(); }, "metadata", "required");
  ExpectRejected([](Event& e) { e.mutable_metadata()->clear_thread_id(); }, "metadata.thread_id",
                 "required");
  ExpectRejected([](Event& e) { e.mutable_metadata()->clear_service_name(); },
                 "metadata.service_name");
  ExpectRejected([](Event& e) { e.clear_kind(); }, "kind", "exactly one");
}

TEST(ValidationTest, KindFields) {
  ExpectRejected(
      [](Event& e) { e.mutable_state_change()->set_access_type(raceway::v1::ACCESS_TYPE_READ); },
      "state_change.variable", "empty");
  ExpectRejected([](Event& e) { e.mutable_state_change()->set_variable("x"); },
                 "state_change.access_type");
  ExpectRejected(
      [](Event& e) {
        e.mutable_state_change()->set_variable("x");
        e.mutable_state_change()->set_access_type(static_cast<raceway::v1::AccessType>(99));
      },
      "state_change.access_type");
  ExpectRejected([](Event& e) { e.mutable_lock_acquire(); }, "lock_acquire.lock_id");
  ExpectRejected([](Event& e) { e.mutable_lock_release(); }, "lock_release.lock_id");
  ExpectRejected([](Event& e) { e.mutable_memory_fence(); }, "memory_fence.ordering");
  ExpectRejected([](Event& e) { e.mutable_http_response()->set_status(1000); },
                 "http_response.status");
}

TEST(ValidationTest, CausalityVectorAndLockSet) {
  ExpectRejected(
      [](Event& e) {
        e.add_causality_vector()->set_component("a");
        e.add_causality_vector()->set_clock(3);
      },
      "causality_vector[1].component", "empty");
  ExpectRejected([](Event& e) { e.add_lock_set(""); }, "lock_set[0]");
  ValidationLimits small;
  small.max_list_entries = 2;
  ExpectRejected(
      [](Event& e) {
        for (int i = 0; i < 3; ++i) e.add_lock_set("m");
      },
      "lock_set", "limit is 2", small);
}

TEST(ValidationTest, HostileStrings) {
  // 1 MiB identifier: over the identifier bound.
  ExpectRejected([](Event& e) { e.mutable_metadata()->set_thread_id(std::string(1 << 20, 'a')); },
                 "metadata.thread_id", "limit is 1024");
  // NUL bytes.
  ExpectRejected([](Event& e) { e.mutable_metadata()->set_service_name(std::string("a\0b", 3)); },
                 "metadata.service_name", "NUL");
  // Invalid UTF-8: lone continuation, overlong, surrogate, truncated.
  for (const std::string bad :
       {"\x80", "\xC0\xAF", "\xED\xA0\x80", "\xE2\x82", "\xF5\x80\x80\x80"}) {
    ExpectRejected([&](Event& e) { e.mutable_function_call()->set_module("m" + bad); },
                   "function_call.module", "UTF-8");
  }
  // SQL-looking and unicode text is fine: it is data, stored verbatim.
  Event e = Valid();
  e.mutable_function_call()->set_function_name("'); DROP TABLE events; --");
  e.mutable_metadata()->set_thread_id("スレッド-🧵");
  (*e.mutable_metadata()->mutable_tags())["k\"ey"] = "O'Reilly";
  EXPECT_FALSE(ValidateEvent(e, ValidationLimits{}).has_value());
  // A bad tag key is reported with a printable path.
  ExpectRejected([](Event& e) { (*e.mutable_metadata()->mutable_tags())["\xff"] = "v"; },
                 "metadata.tags[\"?\"]", "UTF-8");
}

TEST(ValidationTest, JsonValues) {
  ExpectRejected(
      [](Event& e) {
        e.mutable_function_call()->mutable_args()->set_number_value(
            std::numeric_limits<double>::quiet_NaN());
      },
      "function_call.args", "finite");
  ExpectRejected(
      [](Event& e) {
        auto* v = e.mutable_custom()->mutable_data();
        for (int i = 0; i < 100; ++i) v = v->mutable_list_value()->add_values();
        v->set_null_value({});
      },
      "custom.data", "nesting");
  ExpectRejected(
      [](Event& e) {
        auto* s = e.mutable_custom()->mutable_data()->mutable_struct_value();
        (*s->mutable_fields())["k"].set_string_value(std::string("\0", 1));
      },
      "custom.data", "NUL");
  ValidationLimits small;
  small.max_json_bytes = 100;
  ExpectRejected(
      [](Event& e) { e.mutable_custom()->mutable_data()->set_string_value(std::string(200, 'x')); },
      "custom.data", "limit is 100", small);
  // 1 MiB of JSON is accepted under the default limits.
  Event big = Valid();
  big.mutable_custom()->mutable_data()->set_string_value(std::string(1 << 20, 'j'));
  EXPECT_FALSE(ValidateEvent(big, ValidationLimits{}).has_value());
}

TEST(ValidationTest, EventSizeLimit) {
  ValidationLimits small;
  small.max_event_bytes = 300;
  small.max_text_bytes = 1000;
  ExpectRejected([](Event& e) { e.mutable_function_call()->set_file(std::string(500, 'f')); }, "",
                 "limit is 300", small);
}

TEST(ValidationTest, BatchPartialSuccessAndDuplicates) {
  google::protobuf::RepeatedPtrField<Event> batch;
  *batch.Add() = Valid();
  *batch.Add() = Valid();
  batch.Mutable(1)->set_id("bad");
  *batch.Add() = batch.Get(0);  // duplicate of index 0
  *batch.Add() = Valid();
  auto result = ValidateBatch(batch, ValidationLimits{});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->valid_indices, (std::vector<uint32_t>{0, 3}));
  ASSERT_EQ(result->rejections.size(), 2u);
  EXPECT_EQ(result->rejections[0].index, 1u);
  EXPECT_EQ(result->rejections[0].id, "bad");
  EXPECT_EQ(result->rejections[0].error.field, "id");
  EXPECT_EQ(result->rejections[1].index, 2u);
  EXPECT_THAT(result->rejections[1].error.reason, HasSubstr("first at index 0"));
}

TEST(ValidationTest, BatchLimits) {
  google::protobuf::RepeatedPtrField<Event> batch;
  for (int i = 0; i < 3; ++i) *batch.Add() = Valid();
  ValidationLimits limits;
  limits.max_batch_events = 2;
  auto r = ValidateBatch(batch, limits);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("limit is 2"));
  limits.max_batch_events = 10;
  limits.max_batch_bytes = 50;
  r = ValidateBatch(batch, limits);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("max_batch_bytes"));
  google::protobuf::RepeatedPtrField<Event> empty;
  auto ok = ValidateBatch(empty, ValidationLimits{});
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->valid_indices.empty());
}

TEST(ValidationTest, EchoSafe) {
  EXPECT_EQ(EchoSafe("abc", 10), "abc");
  EXPECT_EQ(EchoSafe("abcdef", 3), "abc...");
  EXPECT_EQ(EchoSafe(std::string("a\0\xff", 3), 10), "a??");
}

// Storage holds int64 nanoseconds: ingest refuses what it cannot hold
// (issue 13 bug 6) and accepts both bounds.
TEST(ValidationTest, TimestampOutsideNanosecondRange) {
  ExpectRejected([](Event& e) { e.mutable_timestamp()->set_seconds(-62135596800); }, "timestamp",
                 "2262-04-11T23:47:16.854775807Z");  // Year 1.
  ExpectRejected([](Event& e) { e.mutable_timestamp()->set_seconds(253402300799); }, "timestamp",
                 "out of range");  // Year 9999.
  ExpectRejected([](Event& e) { e.mutable_timestamp()->set_seconds(9223372800); }, "timestamp",
                 "out of range");  // 2262-04-12T00:00:00Z.
  for (auto [s, n] :
       {std::pair<int64_t, int32_t>{-9223372037, 145224192}, {9223372036, 854775807}}) {
    Event e = Valid();
    e.mutable_timestamp()->set_seconds(s);
    e.mutable_timestamp()->set_nanos(n);
    EXPECT_EQ(ValidateEvent(e, ValidationLimits{}), std::nullopt) << s;
  }
}

}  // namespace
}  // namespace raceway::model
