#include "libs/model/operation_key.h"

#include "gtest/gtest.h"
#include "tests/support/events.h"

namespace raceway::model {
namespace {

using raceway::testing::MakeEvent;
using raceway::v1::Event;

const std::string kTrace = "11111111-1111-4111-8111-111111111111";

TEST(OperationKeyTest, KeysPerKind) {
  Event e = MakeEvent(kTrace, "main", 0);
  e.mutable_function_call()->set_function_name("handle_request");
  EXPECT_EQ(OperationKey(e), "FunctionCall(handle_request)");
  EXPECT_EQ(KindName(e), "FunctionCall");

  e.mutable_state_change()->set_variable("balance");
  EXPECT_EQ(OperationKey(e), "StateChange(balance)");
  e.mutable_lock_acquire()->set_lock_type("Mutex");
  EXPECT_EQ(OperationKey(e), "LockAcquire(Mutex)");
  e.mutable_http_request()->set_method("GET");
  EXPECT_EQ(OperationKey(e), "HttpRequest(GET)");
  e.mutable_http_response()->set_status(503);
  EXPECT_EQ(OperationKey(e), "HttpResponse(503)");
  e.mutable_database_query()->set_query("SELECT 1");
  EXPECT_EQ(OperationKey(e), "DatabaseQuery");
  e.mutable_error()->set_error_type("Timeout");
  EXPECT_EQ(OperationKey(e), "Error(Timeout)");
  e.mutable_custom()->set_name("cache_miss");
  EXPECT_EQ(OperationKey(e), "Custom(cache_miss)");
  e.mutable_memory_fence()->set_ordering(raceway::v1::MEMORY_ORDERING_SEQ_CST);
  EXPECT_EQ(OperationKey(e), "MemoryFence(SEQ_CST)");
  e.mutable_async_spawn();
  EXPECT_EQ(OperationKey(e), "AsyncSpawn");
  e.clear_kind();
  EXPECT_EQ(KindName(e), "Unknown");
}

TEST(OperationKeyTest, Durations) {
  Event e = MakeEvent(kTrace, "main", 0);
  EXPECT_FALSE(DurationNs(e).has_value());
  e.mutable_metadata()->set_duration_ns(0);
  ASSERT_TRUE(DurationNs(e).has_value());
  EXPECT_EQ(*DurationNs(e), 0u);
  e.mutable_metadata()->clear_duration_ns();
  e.mutable_http_response()->set_duration_ms(12);
  EXPECT_EQ(*DurationNs(e), 12000000u);
  e.mutable_metadata()->set_duration_ns(5);  // explicit wins
  EXPECT_EQ(*DurationNs(e), 5u);
  e.mutable_metadata()->clear_duration_ns();
  e.mutable_database_query()->set_duration_ms(UINT64_MAX);  // saturates
  EXPECT_EQ(*DurationNs(e), UINT64_MAX);
}

TEST(OperationKeyTest, TimestampsAndLocations) {
  Event e = MakeEvent(kTrace, "main", 1500);
  EXPECT_EQ(TimestampNanos(e), 1767225601500000000LL);
  e.mutable_function_call()->set_file("a.rs");
  e.mutable_function_call()->set_line(7);
  EXPECT_EQ(Location(e), "a.rs:7");
  e.mutable_state_change()->set_location("balance.rs:12");
  EXPECT_EQ(Location(e), "balance.rs:12");
}

TEST(OperationKeyTest, AccessTypes) {
  using raceway::v1::AccessType;
  EXPECT_TRUE(IsWrite(raceway::v1::ACCESS_TYPE_WRITE));
  EXPECT_TRUE(IsWrite(raceway::v1::ACCESS_TYPE_ATOMIC_RMW));
  EXPECT_TRUE(IsWrite(raceway::v1::ACCESS_TYPE_ATOMIC_WRITE));
  EXPECT_FALSE(IsWrite(raceway::v1::ACCESS_TYPE_READ));
  EXPECT_FALSE(IsWrite(raceway::v1::ACCESS_TYPE_ATOMIC_READ));
  EXPECT_TRUE(IsAtomic(raceway::v1::ACCESS_TYPE_ATOMIC_READ));
  EXPECT_FALSE(IsAtomic(raceway::v1::ACCESS_TYPE_WRITE));
  EXPECT_EQ(AccessTypeName(raceway::v1::ACCESS_TYPE_ATOMIC_RMW), "ATOMIC_RMW");
}

}  // namespace
}  // namespace raceway::model
