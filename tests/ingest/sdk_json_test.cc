// SDK JSON codec (POST /events): the reference SDK body <-> raceway.v1.Event.

#include "services/ingest/sdk_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "libs/model/operation_key.h"

namespace raceway::ingest {
namespace {

using google::protobuf::Value;
using raceway::v1::Event;
using ::testing::HasSubstr;

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(RACEWAY_SDK_FIXTURE_DIR) + "/" + name);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Value ParseValue(const std::string& json) {
  Value v;
  auto status = google::protobuf::util::JsonStringToMessage(json, &v);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return v;
}

std::string ToJson(const Value& v) {
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(v, &out).ok());
  return out;
}

const Value& FixtureRoot() {
  static const Value root = ParseValue(ReadFixture("sdk_batch.json"));
  return root;
}

// A copy of event `i` of the fixture, as JSON.
Value FixtureEvent(int i) {
  return FixtureRoot().struct_value().fields().at("events").list_value().values(i);
}

Value& Field(Value& v, const std::string& key) {
  return (*v.mutable_struct_value()->mutable_fields())[key];
}
void Erase(Value& v, const std::string& key) {
  v.mutable_struct_value()->mutable_fields()->erase(key);
}
Value Num(double d) {
  Value v;
  v.set_number_value(d);
  return v;
}
Value Str(const std::string& s) {
  Value v;
  v.set_string_value(s);
  return v;
}
Value Null() {
  Value v;
  v.set_null_value(google::protobuf::NULL_VALUE);
  return v;
}
Value Json(const std::string& text) { return ParseValue(text); }

std::string BodyOf(const std::vector<Value>& events) {
  Value root;
  auto* list = Field(root, "events").mutable_list_value();
  for (const auto& e : events) *list->add_values() = e;
  return ToJson(root);
}

// `events` as a body, with each "@NAME@" placeholder string replaced by
// its raw JSON text.
std::string RawBody(const std::vector<Value>& events,
                    const std::vector<std::pair<std::string, std::string>>& raw) {
  std::string body = BodyOf(events);
  for (const auto& [name, text] : raw) {
    const std::string quoted = "\"" + name + "\"";
    const size_t at = body.find(quoted);
    EXPECT_NE(at, std::string::npos) << name << " in " << body;
    if (at != std::string::npos) body.replace(at, quoted.size(), text);
  }
  return body;
}

// The fixture's StateChange (index 4) with `mutate` applied.
Value StateChange(const std::function<void(Value&)>& mutate = {}) {
  Value e = FixtureEvent(4);
  if (mutate) mutate(e);
  return e;
}
Value& Payload(Value& e, const std::string& kind) { return Field(Field(e, "kind"), kind); }

SdkBatch MustParse(const std::string& body) {
  auto batch = ParseSdkBatch(body, model::ValidationLimits{});
  EXPECT_TRUE(batch.ok()) << batch.status();
  return batch.ok() ? std::move(*batch) : SdkBatch{};
}

// One event that must be rejected with exactly `field` and a reason
// containing `reason`.
void ExpectRejected(const Value& event, const std::string& field, const std::string& reason) {
  SCOPED_TRACE(ToJson(event));
  SdkBatch batch = MustParse(BodyOf({event}));
  ASSERT_EQ(batch.rejections.size(), 1u);
  EXPECT_TRUE(batch.valid_indices.empty());
  EXPECT_EQ(batch.rejections[0].index, 0u);
  EXPECT_EQ(batch.rejections[0].error.field, field);
  EXPECT_THAT(batch.rejections[0].error.reason, HasSubstr(reason));
}

Event MustConvertOne(const Value& event) {
  SCOPED_TRACE(ToJson(event));
  SdkBatch batch = MustParse(BodyOf({event}));
  EXPECT_TRUE(batch.rejections.empty())
      << batch.rejections[0].error.field << ": " << batch.rejections[0].error.reason;
  EXPECT_EQ(batch.valid_indices.size(), 1u);
  return batch.events.empty() ? Event{} : batch.events.Get(0);
}

// ------------------------------------------------------------------ fixture

TEST(SdkJsonFixture, EveryEventConverts) {
  SdkBatch batch = MustParse(ReadFixture("sdk_batch.json"));
  ASSERT_EQ(batch.events.size(), 20);
  for (const auto& r : batch.rejections) {
    ADD_FAILURE() << "events[" << r.index << "]." << r.error.field << ": " << r.error.reason;
  }
  EXPECT_EQ(batch.valid_indices.size(), 20u);
  std::set<int> kinds;
  for (const auto& e : batch.events) kinds.insert(e.kind_case());
  EXPECT_EQ(kinds.size(), 13u) << "the fixture must contain every kind";
  auto pointers = batch.EventPointers();
  ASSERT_EQ(pointers.size(), 20u);
  for (const auto* p : pointers) EXPECT_NE(p, nullptr);
}

TEST(SdkJsonFixture, FieldMapping) {
  SdkBatch batch = MustParse(ReadFixture("sdk_batch.json"));
  ASSERT_EQ(batch.events.size(), 20);
  const Event& call = batch.events.Get(0);
  EXPECT_EQ(call.id(), "0b6a3f1e-0001-4d2c-9e8f-7a6b5c4d3e2f");
  EXPECT_EQ(call.trace_id(), "5f0c7a4e-2b1d-4c8e-9a3f-0d6e1b2c3a4f");
  EXPECT_EQ(call.parent_id(), "");
  EXPECT_EQ(call.timestamp().seconds(), 1760618096);
  EXPECT_EQ(call.timestamp().nanos(), 123456789);
  EXPECT_EQ(call.function_call().function_name(), "transfer");
  EXPECT_EQ(call.function_call().module(), "bank::api");
  EXPECT_EQ(call.function_call().file(), "src/api.rs");
  EXPECT_EQ(call.function_call().line(), 120u);
  const auto& args = call.function_call().args().struct_value().fields();
  EXPECT_EQ(args.at("to").string_value(), "Zo\u00eb \U0001F680");  // Escaped in the fixture.
  EXPECT_EQ(args.at("amount").number_value(), 42);
  EXPECT_EQ(args.at("flags").list_value().values(2).kind_case(), Value::kNullValue);
  EXPECT_EQ(call.metadata().thread_id(), "main");
  EXPECT_EQ(call.metadata().process_id(), 4242);
  EXPECT_EQ(call.metadata().service_name(), "payments-api");
  EXPECT_EQ(call.metadata().environment(), "production");
  EXPECT_EQ(call.metadata().tags().at("r\u00e9gion"), "eu-west-1");
  ASSERT_TRUE(call.metadata().has_duration_ns());
  EXPECT_EQ(call.metadata().duration_ns(), 1500000u);
  ASSERT_EQ(call.causality_vector_size(), 1);
  EXPECT_EQ(call.causality_vector(0).component(), "5f0c7a4e-2b1d-4c8e-9a3f-0d6e1b2c3a4f");
  EXPECT_EQ(call.causality_vector(0).clock(), 1u);

  EXPECT_EQ(batch.events.Get(1).async_spawn().task_id(), "c0ffee00-1234-4abc-8def-0123456789ab");
  EXPECT_EQ(batch.events.Get(1).timestamp().nanos(), 123457000);
  EXPECT_FALSE(batch.events.Get(1).metadata().has_duration_ns());

  const Event& read = batch.events.Get(3);
  EXPECT_EQ(read.state_change().access_type(), raceway::v1::ACCESS_TYPE_READ);
  EXPECT_FALSE(read.state_change().has_old_value()) << "null old_value = absent";
  EXPECT_EQ(read.state_change().new_value().number_value(), 100);
  ASSERT_EQ(read.lock_set_size(), 1);
  EXPECT_EQ(read.lock_set(0), "account_lock");

  const Event& write = batch.events.Get(4);
  EXPECT_EQ(write.state_change().access_type(), raceway::v1::ACCESS_TYPE_WRITE);
  EXPECT_EQ(write.state_change().old_value().number_value(), 100);
  EXPECT_EQ(write.state_change().new_value().number_value(), 57.5);

  const Event& rmw = batch.events.Get(6);
  EXPECT_EQ(rmw.state_change().access_type(), raceway::v1::ACCESS_TYPE_ATOMIC_RMW);
  EXPECT_EQ(rmw.state_change().new_value().string_value(), "日本語 \"quoted\"\n\ttab");
  EXPECT_EQ(rmw.state_change().old_value().struct_value().fields().at("label").string_value(),
            "текст");
  ASSERT_EQ(rmw.causality_vector_size(), 2);
  EXPECT_EQ(rmw.causality_vector(1).component(), "worker-2");

  const Event& atomic_read = batch.events.Get(7);
  EXPECT_EQ(atomic_read.state_change().access_type(), raceway::v1::ACCESS_TYPE_ATOMIC_READ);
  ASSERT_TRUE(atomic_read.state_change().has_new_value()) << "null new_value is a JSON null";
  EXPECT_EQ(atomic_read.state_change().new_value().kind_case(), Value::kNullValue);
  EXPECT_EQ(batch.events.Get(8).state_change().access_type(),
            raceway::v1::ACCESS_TYPE_ATOMIC_WRITE);

  EXPECT_EQ(batch.events.Get(2).lock_acquire().lock_type(), "Mutex");
  EXPECT_EQ(batch.events.Get(5).lock_release().lock_id(), "account_lock");
  EXPECT_EQ(batch.events.Get(9).memory_fence().ordering(), raceway::v1::MEMORY_ORDERING_SEQ_CST);
  EXPECT_EQ(batch.events.Get(10).memory_fence().ordering(), raceway::v1::MEMORY_ORDERING_ACQ_REL);
  EXPECT_EQ(batch.events.Get(11).async_await().future_id(), "c0ffee00-1234-4abc-8def-0123456789ab");
  EXPECT_EQ(batch.events.Get(11).timestamp().nanos(), 0);

  const Event& request = batch.events.Get(12);
  EXPECT_EQ(request.http_request().method(), "POST");
  EXPECT_EQ(request.http_request().headers().at("content-type"), "application/json");
  EXPECT_EQ(request.http_request().body().struct_value().fields().at("memo").string_value(),
            "café ☕");
  EXPECT_EQ(request.metadata().instance_id(), "payments-api-7d9f");
  EXPECT_EQ(request.metadata().distributed_span_id(), "00f067aa0ba902b7");
  EXPECT_EQ(request.metadata().upstream_span_id(), "");

  const Event& query = batch.events.Get(13);
  EXPECT_EQ(query.database_query().query(), "SELECT * FROM \"entries\" WHERE memo = 'José'");
  EXPECT_EQ(query.database_query().duration_ms(), 3u);
  EXPECT_EQ(query.metadata().upstream_span_id(), "00f067aa0ba902b7");
  EXPECT_EQ(query.metadata().process_id(), 77);
  EXPECT_EQ(batch.events.Get(14).database_result().rows_affected(), 1u);

  const Event& response = batch.events.Get(15);
  EXPECT_EQ(response.http_response().status(), 201u);
  EXPECT_FALSE(response.http_response().has_body());
  EXPECT_TRUE(response.http_response().headers().empty());
  EXPECT_EQ(response.http_response().duration_ms(), 19u);

  const Event& error = batch.events.Get(16);
  EXPECT_EQ(error.error().error_type(), "InsufficientFunds");
  EXPECT_EQ(error.error().message(), "balance ⚠ below zero");
  ASSERT_EQ(error.error().stack_trace_size(), 2);
  EXPECT_EQ(error.metadata().environment(), "");

  EXPECT_EQ(batch.events.Get(17).custom().name(), "cache_miss");
  EXPECT_EQ(batch.events.Get(18).custom().data().kind_case(), Value::kNullValue);

  const Event& epoch = batch.events.Get(19);
  EXPECT_EQ(epoch.timestamp().seconds(), 0);
  EXPECT_EQ(epoch.function_call().args().kind_case(), Value::kNullValue);
  EXPECT_EQ(epoch.metadata().process_id(), 0);
}

TEST(SdkJsonFixture, RoundTripIsExact) {
  SdkBatch first = MustParse(ReadFixture("sdk_batch.json"));
  ASSERT_EQ(first.events.size(), 20);
  std::vector<Event> events(first.events.begin(), first.events.end());
  const std::string out = EventsToSdkJson(events);
  // Same JSON document as the reference SDK wrote (key order aside).
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(ParseValue(out), FixtureRoot()))
      << out;
  // And the same events again.
  SdkBatch second = MustParse(out);
  ASSERT_EQ(second.events.size(), first.events.size());
  EXPECT_TRUE(second.rejections.empty());
  for (int i = 0; i < first.events.size(); ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first.events.Get(i),
                                                                   second.events.Get(i)))
        << i;
  }
  EXPECT_EQ(EventsToSdkJson(events), out) << "output must be deterministic";
  EXPECT_LT(out.find("\"causality_vector\""), out.find("\"id\"")) << "keys are sorted";
}

TEST(SdkJsonFixture, EventFromTheValidatorTestBuilderRoundTrips) {
  Event e;
  e.set_id("11111111-2222-4333-8444-555555555555");
  e.set_trace_id("11111111-2222-4333-8444-666666666666");
  e.mutable_timestamp()->set_seconds(1767225600);
  e.mutable_timestamp()->set_nanos(5);
  e.mutable_metadata()->set_thread_id("t");
  e.mutable_metadata()->set_service_name("s");
  e.mutable_metadata()->set_duration_ns((uint64_t{1} << 53) - 1);
  e.mutable_memory_fence()->set_ordering(raceway::v1::MEMORY_ORDERING_RELAXED);
  std::vector<Event> events{e};
  SdkBatch batch = MustParse(EventsToSdkJson(events));
  ASSERT_EQ(batch.valid_indices.size(), 1u);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(batch.events.Get(0), e))
      << batch.events.Get(0).DebugString();
}

// ------------------------------------------------------------- whole body

TEST(SdkJsonBody, MalformedBodiesAreInvalidArgument) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty"},
      {"  \n ", "empty"},
      {"not json", "not valid JSON"},
      {"{", "not valid JSON"},
      {"{\"events\": [", "not valid JSON"},
      {"{\"events\": []} trailing", "not valid JSON"},
      {"{\"events\": [], \"events\": []}", "the key \"events\" is repeated"},
      {"{\"events\": []", "ends inside a value"},
      {"{'events': []}", "single-quoted key"},
      {"{\"events\": ['x']}", "single-quoted string"},
      {"{events: []}", "key that is not a double-quoted string"},
      {"{\"events\": [1,]}", "trailing comma before ']'"},
      {"{\"events\": [], }", "trailing comma before '}'"},
      {"{\"events\": [1.]}", "'1.' is not a JSON value"},
      {"{\"events\": [.5]}", "'.5' is not a JSON value"},
      {"{\"events\": [01]}", "'01' is not a JSON value"},
      {"{\"events\": [+1]}", "'+1' is not a JSON value"},
      {"{\"events\": [0x10]}", "'0x10' is not a JSON value"},
      {"{\"events\": [nan]}", "'nan' is not a JSON value"},
      {"{\"events\": /* c */ []}", "'/*' is not a JSON value"},
      {"{\"events\": [\"a\\x\"]}", "invalid escape"},
      {"{\"events\": [\"\\u12\"]}", "not followed by 4 hex digits"},
      {"{\"events\": [\"a\tb\"]}", "raw control character"},
      {"{\"events\" []}", "no ':' after an object key"},
      {"{\"events\": [1 2]}", "no ',' or ']'"},
      {"{\"events\": [] \"x\": 1}", "no ',' or '}'"},
      {"{\"events\": [\"abc]}", "never ends"},
      {"{\"x\": NaN, \"events\": []}", "NaN is not a JSON number"},
      {"{\"events\": [], \"x\": {\"a\": 1, \"a\": 2}}", "the key \"a\" is repeated"},
      {"{\"events\": [\"\xff\xfe\"]}", "not valid JSON"},
      {"{\"events\": [\"\\ud800\"]}", "not valid JSON"},
      {"[1, 2]", "must be a JSON object"},
      {"\"events\"", "must be a JSON object"},
      {"null", "must be a JSON object"},
      {"{}", "no \"events\" array"},
      {"{\"event\": []}", "no \"events\" array"},
      {"{\"events\": {}}", "\"events\" must be an array, got an object"},
      {"{\"events\": null}", "\"events\" must be an array, got null"},
      {"{\"events\": \"[]\"}", "\"events\" must be an array, got a string"},
  };
  for (const auto& [body, message] : cases) {
    auto batch = ParseSdkBatch(body, model::ValidationLimits{});
    ASSERT_FALSE(batch.ok()) << body;
    EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_THAT(std::string(batch.status().message()), HasSubstr(message)) << body;
    EXPECT_EQ(HttpStatusForError(batch.status()), 400);
    // The error text is safe to echo back: valid UTF-8, one line.
    EXPECT_EQ(std::string(batch.status().message()).find('\n'), std::string::npos) << body;
  }
}

// The hostile probe's body: a single-quoted string holding a double quote
// once hid the nesting that follows it from the depth guard (14 s of CPU).
TEST(SdkJsonBody, SingleQuotedStringDoesNotHideNesting) {
  std::string body = R"({"events":[{"x":'"'}, )";
  for (int i = 0; i < 20000; ++i) body += "[";
  for (int i = 0; i < 20000; ++i) body += "]";
  body += "]}";
  auto batch = ParseSdkBatch(body, model::ValidationLimits{});
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(batch.status().message()), HasSubstr("single-quoted string"));
  // Double-quoted, the same nesting meets the depth guard.
  body.replace(body.find("'\"'"), 3, "\"'\"");
  batch = ParseSdkBatch(body, model::ValidationLimits{});
  ASSERT_FALSE(batch.ok());
  EXPECT_THAT(std::string(batch.status().message()), HasSubstr("nested deeper than 100 levels"));
}

// What protobuf's lenient parser would take but RFC 8259 does not is
// refused before any parser runs, inside strings and keys too.
TEST(SdkJsonBody, TheParserOnlyEverSeesStandardJson) {
  const std::string good = BodyOf({StateChange()});
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"\"variable\":", "'variable':"},
           {"\"variable\":", "variable:"},
           {"\"duration_ns\":2000", "\"duration_ns\":2000,"},
           {"\"duration_ns\":2000", "\"duration_ns\":2e"},
           {"\"account_lock\"]", "\"account_lock\",]"},
       }) {
    std::string body = good;
    ASSERT_NE(body.find(from), std::string::npos) << from << " in " << body;
    body.replace(body.find(from), from.size(), to);
    auto batch = ParseSdkBatch(body, model::ValidationLimits{});
    ASSERT_FALSE(batch.ok()) << body;
    EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_THAT(std::string(batch.status().message()), HasSubstr("at byte")) << body;
  }
}

// A problem confined to one event of well-formed JSON rejects that event
// only, naming the field: before, NaN, 1e400, a repeated key or an id-like
// integer a double rounds refused (or silently changed) the whole batch.
TEST(SdkJsonBody, ProblemsInsideOneEventRejectOnlyThatEvent) {
  Value tagged = StateChange();
  Field(Payload(tagged, "StateChange"), "new_value") = Json(R"({"user_id": "@ID@"})");
  Value call = FixtureEvent(0);
  Field(Payload(call, "FunctionCall"), "args") = Str("@ARGS@");
  const std::string good_id = FixtureEvent(1).struct_value().fields().at("id").string_value();
  struct Case {
    Value event;
    std::string placeholder, text, field, reason;
  };
  const std::vector<Case> cases = {
      {call, "@ARGS@", "NaN", "kind.FunctionCall.args", "NaN is not a JSON number"},
      {call, "@ARGS@", "[1, -Infinity]", "kind.FunctionCall.args[1]", "-Infinity is not"},
      {call, "@ARGS@", "{\"x\": 1e400}", "kind.FunctionCall.args.x", "cannot be represented"},
      {call, "@ARGS@", "{\"a\": 1, \"b\": {\"c\": 2, \"c\": 3}}", "kind.FunctionCall.args.b.c",
       "repeated"},
      {tagged, "@ID@", "9007199254740993", "kind.StateChange.new_value.user_id", "send it as a string"},
      {tagged, "@ID@", "-18446744073709551616", "kind.StateChange.new_value.user_id", "exactly"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const std::string body = RawBody({c.event, FixtureEvent(1)}, {{c.placeholder, c.text}});
    SdkBatch batch = MustParse(body);
    EXPECT_EQ(batch.valid_indices, (std::vector<uint32_t>{1})) << "the good event is kept";
    ASSERT_EQ(batch.rejections.size(), 1u);
    EXPECT_EQ(batch.rejections[0].index, 0u);
    EXPECT_EQ(batch.rejections[0].id, c.event.struct_value().fields().at("id").string_value());
    EXPECT_EQ(batch.rejections[0].error.field, c.field);
    EXPECT_THAT(batch.rejections[0].error.reason, HasSubstr(c.reason));
    EXPECT_EQ(batch.events.Get(1).id(), good_id);
  }
  // An event that is itself NaN, and a repeated key of the event object.
  SdkBatch batch = MustParse(RawBody({Str("@X@"), FixtureEvent(1)}, {{"@X@", "NaN"}}));
  EXPECT_EQ(batch.valid_indices, (std::vector<uint32_t>{1}));
  ASSERT_EQ(batch.rejections.size(), 1u);
  EXPECT_EQ(batch.rejections[0].error.field, "");
  EXPECT_THAT(batch.rejections[0].error.reason, HasSubstr("NaN is not a JSON number"));
  std::string body = BodyOf({FixtureEvent(1), StateChange()});
  const std::string trace = "\"trace_id\":";
  body.insert(body.rfind(trace), "\"trace_id\":\"x\",");
  batch = MustParse(body);
  EXPECT_EQ(batch.valid_indices, (std::vector<uint32_t>{0}));
  ASSERT_EQ(batch.rejections.size(), 1u);
  EXPECT_EQ(batch.rejections[0].index, 1u);
  EXPECT_EQ(batch.rejections[0].error.field, "trace_id");
  // Integers up to 2^53 and floats of any size stay exact as sent.
  batch = MustParse(RawBody({tagged}, {{"@ID@", "9007199254740992"}}));
  EXPECT_EQ(batch.valid_indices.size(), 1u);
  batch = MustParse(RawBody({tagged}, {{"@ID@", "1.5e300"}}));
  EXPECT_EQ(batch.valid_indices.size(), 1u);
}

TEST(SdkJsonBody, NestingBeyondTheParserLimitIsRejectedNotCrashing) {
  std::string deep = "{\"events\": [";
  for (int i = 0; i < 5000; ++i) deep += "[";
  for (int i = 0; i < 5000; ++i) deep += "]";
  deep += "]}";
  const auto start = std::chrono::steady_clock::now();
  auto batch = ParseSdkBatch(deep, model::ValidationLimits{});
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(batch.status().message()), HasSubstr("nested deeper than 100 levels"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1))
      << "rejected before protobuf's (quadratic) transcoder runs";

  std::string objects = "{\"events\": [";
  for (int i = 0; i < 200; ++i) objects += "{\"a\":";
  objects += "1";
  for (int i = 0; i < 200; ++i) objects += "}";
  objects += "]}";
  batch = ParseSdkBatch(objects, model::ValidationLimits{});
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SdkJsonBody, DeepButParsableValuesAreRejectedPerEvent) {
  // 90 nested arrays: within the body limit, over the validator's 64.
  std::string deep;
  for (int i = 0; i < 90; ++i) deep += "[";
  for (int i = 0; i < 90; ++i) deep += "]";
  std::string body = BodyOf({StateChange(), FixtureEvent(0)});
  const std::string needle = "\"new_value\":57.5";
  ASSERT_NE(body.find(needle), std::string::npos);
  body.replace(body.find(needle), needle.size(), "\"new_value\":" + deep);
  SdkBatch batch = MustParse(body);
  EXPECT_EQ(batch.valid_indices, (std::vector<uint32_t>{1}));
  ASSERT_EQ(batch.rejections.size(), 1u);
  EXPECT_EQ(batch.rejections[0].error.field, "kind.StateChange.new_value");
}

TEST(SdkJsonBody, EmptyBatchIsOk) {
  SdkBatch batch = MustParse("{\"events\": []}");
  EXPECT_EQ(batch.events.size(), 0);
  EXPECT_TRUE(batch.rejections.empty());
  raceway::v1::BatchResult result;
  EXPECT_EQ(HttpStatusForResult(result), 200);
}

TEST(SdkJsonBody, BatchLimitsAreOutOfRange) {
  model::ValidationLimits limits;
  limits.max_batch_events = 2;
  const std::string body = BodyOf({FixtureEvent(0), FixtureEvent(1), FixtureEvent(2)});
  auto batch = ParseSdkBatch(body, limits);
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(batch.status().message()), HasSubstr("max_batch_events"));
  EXPECT_EQ(HttpStatusForError(batch.status()), 413);

  limits = model::ValidationLimits{};
  limits.max_batch_bytes = 300;
  batch = ParseSdkBatch(body, limits);
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(batch.status().message()), HasSubstr("max_batch_bytes"));
}

TEST(SdkJsonBody, MixedBatchKeepsValidEventsAndListsRejections) {
  Value bad_kind = FixtureEvent(2);
  Field(bad_kind, "kind") = Json(R"({"Foo": {"x": 1}})");
  Value bad_thread = FixtureEvent(3);
  Field(Field(bad_thread, "metadata"), "thread_id") = Num(7);
  const std::string body =
      BodyOf({FixtureEvent(0), bad_kind, FixtureEvent(1), bad_thread, FixtureEvent(0)});
  SdkBatch batch = MustParse(body);
  ASSERT_EQ(batch.events.size(), 5);
  EXPECT_EQ(batch.valid_indices, (std::vector<uint32_t>{0, 2}));
  ASSERT_EQ(batch.rejections.size(), 3u);
  EXPECT_EQ(batch.rejections[0].index, 1u);
  EXPECT_EQ(batch.rejections[0].id, "0b6a3f1e-0003-4d2c-9e8f-7a6b5c4d3e2f");
  EXPECT_EQ(batch.rejections[0].error.field, "kind");
  EXPECT_THAT(batch.rejections[0].error.reason, HasSubstr("unknown kind \"Foo\""));
  EXPECT_EQ(batch.rejections[1].index, 3u);
  EXPECT_EQ(batch.rejections[1].error.field, "metadata.thread_id");
  EXPECT_THAT(batch.rejections[1].error.reason, HasSubstr("must be a string, got a number"));
  EXPECT_EQ(batch.rejections[2].index, 4u);
  EXPECT_EQ(batch.rejections[2].error.field, "id");
  EXPECT_THAT(batch.rejections[2].error.reason, HasSubstr("duplicate id within the batch"));
  auto pointers = batch.EventPointers();
  ASSERT_EQ(pointers.size(), 5u);
  EXPECT_NE(pointers[0], nullptr);
  EXPECT_EQ(pointers[1], nullptr);
  EXPECT_NE(pointers[2], nullptr);
  EXPECT_EQ(pointers[3], nullptr);
  EXPECT_EQ(pointers[4], nullptr);
  EXPECT_EQ(pointers[2]->id(), "0b6a3f1e-0002-4d2c-9e8f-7a6b5c4d3e2f");
}

TEST(SdkJsonBody, RejectedFirstOccurrenceDoesNotMakeTheSecondADuplicate) {
  Value bad = FixtureEvent(0);
  Field(bad, "kind") = Json(R"({"Nope": {}})");
  SdkBatch batch = MustParse(BodyOf({bad, FixtureEvent(0)}));
  EXPECT_EQ(batch.valid_indices, (std::vector<uint32_t>{1}));
  ASSERT_EQ(batch.rejections.size(), 1u);
  EXPECT_EQ(batch.rejections[0].index, 0u);
}

// ------------------------------------------------------------- per event

TEST(SdkJsonEvent, EventMustBeAnObject) {
  ExpectRejected(Num(3), "", "must be a JSON object, got a number");
  ExpectRejected(Json("[]"), "", "must be a JSON object, got an array");
  ExpectRejected(Null(), "", "must be a JSON object, got null");
}

TEST(SdkJsonEvent, Kinds) {
  ExpectRejected(StateChange([](Value& e) { Field(e, "kind") = Json(R"({"Foo": {}})"); }), "kind",
                 "unknown kind \"Foo\" (expected one of FunctionCall, AsyncSpawn");
  ExpectRejected(StateChange([](Value& e) { Field(e, "kind") = Str("Foo"); }), "kind",
                 "unknown kind \"Foo\"");
  ExpectRejected(StateChange([](Value& e) { Field(e, "kind") = Str("StateChange"); }), "kind",
                 "needs its fields");
  ExpectRejected(StateChange([](Value& e) { Field(e, "kind") = Json("{}"); }), "kind",
                 "exactly one key naming the kind");
  ExpectRejected(
      StateChange([](Value& e) { Field(e, "kind") = Json(R"({"Custom": {}, "Error": {}})"); }),
      "kind", "got 2 keys");
  ExpectRejected(StateChange([](Value& e) { Erase(e, "kind"); }), "kind", "is required");
  ExpectRejected(StateChange([](Value& e) { Field(e, "kind") = Null(); }), "kind", "is required");
  ExpectRejected(StateChange([](Value& e) { Field(e, "kind") = Num(1); }), "kind",
                 "must be an object with one key naming the kind, got a number");
  ExpectRejected(StateChange([](Value& e) { Field(e, "kind") = Json(R"({"StateChange": 5})"); }),
                 "kind.StateChange", "must be an object, got a number");
  ExpectRejected(StateChange([](Value& e) { Field(e, "kind") = Json(R"({"statechange": {}})"); }),
                 "kind", "unknown kind \"statechange\"");
}

TEST(SdkJsonEvent, Enums) {
  ExpectRejected(StateChange([](Value& e) {
                   Field(Payload(e, "StateChange"), "access_type") = Str("Modify");
                 }),
                 "kind.StateChange.access_type",
                 "must be one of \"Read\", \"Write\", \"AtomicRead\", \"AtomicWrite\", "
                 "\"AtomicRMW\", got \"Modify\"");
  ExpectRejected(
      StateChange([](Value& e) { Field(Payload(e, "StateChange"), "access_type") = Str("WRITE"); }),
      "kind.StateChange.access_type", "got \"WRITE\"");
  ExpectRejected(StateChange([](Value& e) { Erase(Payload(e, "StateChange"), "access_type"); }),
                 "kind.StateChange.access_type", "is required");
  ExpectRejected(
      StateChange([](Value& e) { Field(Payload(e, "StateChange"), "access_type") = Num(1); }),
      "kind.StateChange.access_type", "got a number");
  Value fence = FixtureEvent(9);
  Field(Payload(fence, "MemoryFence"), "ordering") = Str("Strong");
  ExpectRejected(fence, "kind.MemoryFence.ordering", "\"SeqCst\", got \"Strong\"");
  for (const char* ordering : {"Relaxed", "Acquire", "Release", "AcqRel", "SeqCst"}) {
    Field(Payload(fence, "MemoryFence"), "ordering") = Str(ordering);
    Event e = MustConvertOne(fence);
    EXPECT_NE(e.memory_fence().ordering(), raceway::v1::MEMORY_ORDERING_UNSPECIFIED);
  }
}

TEST(SdkJsonEvent, WrongTypes) {
  ExpectRejected(StateChange([](Value& e) { Field(e, "id") = Num(123); }), "id",
                 "must be a string, got a number");
  ExpectRejected(StateChange([](Value& e) { Field(e, "trace_id") = Json("{}"); }), "trace_id",
                 "must be a string, got an object");
  ExpectRejected(StateChange([](Value& e) { Field(e, "metadata") = Str("x"); }), "metadata",
                 "must be an object, got a string");
  ExpectRejected(StateChange([](Value& e) { Field(Field(e, "metadata"), "thread_id") = Num(5); }),
                 "metadata.thread_id", "must be a string, got a number");
  ExpectRejected(
      StateChange([](Value& e) { Field(Field(e, "metadata"), "service_name") = Json("true"); }),
      "metadata.service_name", "got a boolean");
  ExpectRejected(
      StateChange([](Value& e) { Field(Field(e, "metadata"), "tags") = Json(R"({"a": 1})"); }),
      "metadata.tags[\"a\"]", "must be a string, got a number");
  ExpectRejected(StateChange([](Value& e) { Field(Field(e, "metadata"), "tags") = Json("[]"); }),
                 "metadata.tags", "must be an object, got an array");
  ExpectRejected(
      StateChange([](Value& e) { Field(Payload(e, "StateChange"), "variable") = Json("[\"x\"]"); }),
      "kind.StateChange.variable", "must be a string, got an array");
  ExpectRejected(StateChange([](Value& e) { Field(e, "lock_set") = Str("account_lock"); }),
                 "lock_set", "must be an array of strings, got a string");
  ExpectRejected(StateChange([](Value& e) { Field(e, "lock_set") = Json("[\"a\", 1]"); }),
                 "lock_set[1]", "must be a string, got a number");
  ExpectRejected(StateChange([](Value& e) { Field(e, "causality_vector") = Json("{}"); }),
                 "causality_vector", "must be an array of [component, clock] pairs");
  ExpectRejected(StateChange([](Value& e) { Field(e, "causality_vector") = Json(R"([["a"]])"); }),
                 "causality_vector[0]", "must be a [component, clock] pair, got an array of 1");
  ExpectRejected(
      StateChange([](Value& e) { Field(e, "causality_vector") = Json(R"([{"a": 1}])"); }),
      "causality_vector[0]", "got an object");
  ExpectRejected(StateChange([](Value& e) { Field(e, "causality_vector") = Json(R"([[1, 1]])"); }),
                 "causality_vector[0][0]", "must be a string");
  ExpectRejected(
      StateChange([](Value& e) { Field(e, "causality_vector") = Json(R"([["a", "1"]])"); }),
      "causality_vector[0][1]", "got a string");
  Value error = FixtureEvent(16);
  Field(Payload(error, "Error"), "stack_trace") = Json(R"(["ok", {"frame": 1}])");
  ExpectRejected(error, "kind.Error.stack_trace[1]", "must be a string, got an object");
  Value request = FixtureEvent(12);
  Field(Payload(request, "HttpRequest"), "headers") = Json(R"({"x-n": 5})");
  ExpectRejected(request, "kind.HttpRequest.headers[\"x-n\"]", "must be a string");
}

TEST(SdkJsonEvent, Timestamps) {
  for (const char* bad : {"2025-10-16", "yesterday", "2025-13-01T00:00:00Z", "2025-10-16T25:00:00Z",
                          "0000-01-01T00:00:00Z", "2025-10-16T12:34:56", "",
                          " 2025-10-16T12:34:56Z", "2025-10-16T12:34:56Z junk"}) {
    ExpectRejected(StateChange([&](Value& e) { Field(e, "timestamp") = Str(bad); }), "timestamp",
                   "must be an RFC 3339 timestamp");
  }
  ExpectRejected(StateChange([](Value& e) { Field(e, "timestamp") = Num(1697459696); }),
                 "timestamp", "must be an RFC 3339 string such as");
  ExpectRejected(StateChange([](Value& e) { Erase(e, "timestamp"); }), "timestamp", "is required");

  const std::vector<std::pair<std::string, std::pair<int64_t, int32_t>>> good = {
      {"2025-10-16T12:34:56.5+02:00", {1760610896, 500000000}},
      {"2025-10-16T12:34:56.123456+00:00", {1760618096, 123456000}},  // Python isoformat.
      {"2025-10-16t12:34:56z", {1760618096, 0}},
      {"2025-10-16 12:34:56Z", {1760618096, 0}},
      {"2025-10-16T12:34:56.1Z", {1760618096, 100000000}},
      // The supported range is int64 nanoseconds since the epoch.
      {"2262-04-11T23:47:16.854775807Z", {9223372036, 854775807}},
      {"1677-09-21T00:12:43.145224192Z", {-9223372037, 145224192}},
  };
  for (const auto& [text, expected] : good) {
    Event e = MustConvertOne(StateChange([&](Value& v) { Field(v, "timestamp") = Str(text); }));
    EXPECT_EQ(e.timestamp().seconds(), expected.first) << text;
    EXPECT_EQ(e.timestamp().nanos(), expected.second) << text;
  }
  // Sub-nanosecond digits cannot be stored: refused, not cut off silently.
  for (const char* text : {"2025-10-16T12:34:56.1234567891Z", "2025-10-16T12:34:56.0000000000Z",
                           "2025-10-16T12:34:56.123456789012+02:00"}) {
    ExpectRejected(StateChange([&](Value& v) { Field(v, "timestamp") = Str(text); }), "timestamp",
                   "at most 9 (nanoseconds) are stored");
  }
  EXPECT_EQ(MustConvertOne(StateChange([](Value& v) {
              Field(v, "timestamp") = Str("2025-10-16T12:34:56.123456789Z");
            })).timestamp().nanos(),
            123456789);
  for (const char* text : {"9999-12-31T23:59:59.999999999Z", "0001-01-01T00:00:00Z",
                           "2262-04-11T23:47:16.854775808Z"}) {
    ExpectRejected(StateChange([&](Value& v) { Field(v, "timestamp") = Str(text); }), "timestamp",
                   "out of range");
  }
}

TEST(SdkJsonEvent, NumbersOutOfRange) {
  auto line = [](Value v) {
    Value e = FixtureEvent(0);
    Field(Payload(e, "FunctionCall"), "line") = v;
    return e;
  };
  ExpectRejected(line(Num(-1)), "kind.FunctionCall.line", "between 0 and 4294967295, got -1");
  ExpectRejected(line(Num(1.5)), "kind.FunctionCall.line", "got 1.5");
  ExpectRejected(line(Num(4294967296.0)), "kind.FunctionCall.line", "got 4294967296");
  ExpectRejected(line(Str("12")), "kind.FunctionCall.line", "got a string");
  EXPECT_EQ(MustConvertOne(line(Num(4294967295.0))).function_call().line(), 4294967295u);
  EXPECT_EQ(MustConvertOne(line(Json("1e2"))).function_call().line(), 100u);

  ExpectRejected(
      StateChange([](Value& e) { Field(Field(e, "metadata"), "process_id") = Num(2147483648.0); }),
      "metadata.process_id", "between 0 and 2147483647");
  ExpectRejected(StateChange([](Value& e) { Field(Field(e, "metadata"), "process_id") = Num(-5); }),
                 "metadata.process_id", "got -5");
  ExpectRejected(
      StateChange([](Value& e) { Field(Field(e, "metadata"), "duration_ns") = Num(1e300); }),
      "metadata.duration_ns", "between 0 and 9223372036854775807, got 1e+300");
  // The raw text of a u64 beyond the int64 ns range is rejected, not clamped.
  {
    std::string body = BodyOf({StateChange()});
    const std::string needle = "\"duration_ns\":2000";
    ASSERT_NE(body.find(needle), std::string::npos) << body;
    body.replace(body.find(needle), needle.size(), "\"duration_ns\":18446744073709551615");
    SdkBatch batch = MustParse(body);
    ASSERT_EQ(batch.rejections.size(), 1u);
    EXPECT_EQ(batch.rejections[0].error.field, "metadata.duration_ns");
  }
  EXPECT_EQ(MustConvertOne(StateChange([](Value& e) {
              Field(Field(e, "metadata"), "duration_ns") = Num(9007199254740992.0);
            }))
                .metadata()
                .duration_ns(),
            9007199254740992u);
  // Clocks keep the exact-double bound.
  ExpectRejected(StateChange([](Value& e) {
                   Field(e, "causality_vector") = Json(R"([["a", 9007199254740992]])");
                 }),
                 "causality_vector[0][1]", "2^53 - 1");

  Value response = FixtureEvent(15);
  Field(Payload(response, "HttpResponse"), "status") = Num(70000);
  ExpectRejected(response, "kind.HttpResponse.status", "between 0 and 65535");
  Field(Payload(response, "HttpResponse"), "status") = Num(1000);
  ExpectRejected(response, "kind.HttpResponse.status", "must be an HTTP status");  // Validator.
  Field(Payload(response, "HttpResponse"), "status") = Num(404);
  Field(Payload(response, "HttpResponse"), "duration_ms") = Num(-1);
  ExpectRejected(response, "kind.HttpResponse.duration_ms", "got -1");

  Value result = FixtureEvent(14);
  Field(Payload(result, "DatabaseResult"), "rows_affected") = Num(0.5);
  ExpectRejected(result, "kind.DatabaseResult.rows_affected", "got 0.5");

  ExpectRejected(
      StateChange([](Value& e) { Field(e, "causality_vector") = Json(R"([["a", -3]])"); }),
      "causality_vector[0][1]", "got -3");
}

TEST(SdkJsonEvent, ValidatorErrorsUseSdkPaths) {
  ExpectRejected(StateChange([](Value& e) { Field(e, "id") = Str("not-a-uuid"); }), "id",
                 "canonical lower-case UUID");
  ExpectRejected(StateChange([](Value& e) { Erase(e, "trace_id"); }), "trace_id", "is required");
  ExpectRejected(StateChange([](Value& e) { Field(e, "parent_id") = Field(e, "id"); }), "parent_id",
                 "must differ from id");
  ExpectRejected(StateChange([](Value& e) { Erase(e, "metadata"); }), "metadata", "is required");
  ExpectRejected(StateChange([](Value& e) { Field(Field(e, "metadata"), "thread_id") = Str(""); }),
                 "metadata.thread_id", "is required and must not be empty");
  ExpectRejected(StateChange([](Value& e) { Erase(Field(e, "metadata"), "service_name"); }),
                 "metadata.service_name", "is required");
  ExpectRejected(
      StateChange([](Value& e) { Field(Payload(e, "StateChange"), "variable") = Str(""); }),
      "kind.StateChange.variable", "must not be empty");
  ExpectRejected(StateChange([](Value& e) {
                   Field(Payload(e, "StateChange"), "variable") = Str(std::string("a\0b", 3));
                 }),
                 "kind.StateChange.variable", "NUL");
  ExpectRejected(StateChange([](Value& e) { Field(e, "causality_vector") = Json(R"([["", 1]])"); }),
                 "causality_vector[0][0]", "is required");
  ExpectRejected(StateChange([](Value& e) { Field(e, "lock_set") = Json(R"([""])"); }),
                 "lock_set[0]", "is required");
  Value lock = FixtureEvent(2);
  Field(Payload(lock, "LockAcquire"), "lock_id") = Str("");
  ExpectRejected(lock, "kind.LockAcquire.lock_id", "must not be empty");
  Value spawn = FixtureEvent(1);
  Field(Payload(spawn, "AsyncSpawn"), "task_id") = Str("task-1");
  ExpectRejected(spawn, "kind.AsyncSpawn.task_id", "UUID");
  // JSON deeper than the validator's 64 levels (but within the parser's).
  std::string deep;
  for (int i = 0; i < 70; ++i) deep += "{\"a\":";
  deep += "1";
  for (int i = 0; i < 70; ++i) deep += "}";
  std::string body = BodyOf({StateChange()});
  const std::string needle = "\"new_value\":57.5";
  ASSERT_NE(body.find(needle), std::string::npos) << body;
  body.replace(body.find(needle), needle.size(), "\"new_value\":" + deep);
  SdkBatch batch = MustParse(body);
  ASSERT_EQ(batch.rejections.size(), 1u);
  EXPECT_EQ(batch.rejections[0].error.field, "kind.StateChange.new_value");
  EXPECT_THAT(batch.rejections[0].error.reason, HasSubstr("nesting deeper than 64"));
}

TEST(SdkJsonEvent, LenientNullsAndMissingOptionalFields) {
  // Go SDK: nil maps/slices are null; Python: None optionals are null.
  Value e = StateChange([](Value& v) {
    Field(v, "causality_vector") = Null();
    Field(v, "lock_set") = Null();
    Field(v, "parent_id") = Null();
    Field(Field(v, "metadata"), "tags") = Null();
    Field(Field(v, "metadata"), "environment") = Null();
    Field(Field(v, "metadata"), "instance_id") = Null();
    Field(Field(v, "metadata"), "distributed_span_id") = Null();
    Field(Field(v, "metadata"), "upstream_span_id") = Null();
    Field(Field(v, "metadata"), "duration_ns") = Null();
    Field(Field(v, "metadata"), "tags") = Json(R"({"a": "b", "omitted": null})");
    Field(Payload(v, "StateChange"), "location") = Null();
    Field(v, "unknown_top_level") = Num(1);  // Unknown keys are ignored.
    Field(Payload(v, "StateChange"), "extra") = Json("[1]");
  });
  Event out = MustConvertOne(e);
  EXPECT_EQ(out.causality_vector_size(), 0);
  EXPECT_EQ(out.lock_set_size(), 0);
  EXPECT_EQ(out.parent_id(), "");
  EXPECT_FALSE(out.metadata().has_duration_ns());
  EXPECT_EQ(out.metadata().tags().size(), 1u);
  EXPECT_EQ(out.state_change().location(), "");

  Value request = FixtureEvent(12);
  Field(Payload(request, "HttpRequest"), "headers") = Null();
  Field(Payload(request, "HttpRequest"), "body") = Null();
  Event req = MustConvertOne(request);
  EXPECT_TRUE(req.http_request().headers().empty());
  EXPECT_FALSE(req.http_request().has_body());

  // Missing process_id / module / line etc. default to zero values.
  Value call = FixtureEvent(0);
  Erase(Field(call, "metadata"), "process_id");
  Erase(Payload(call, "FunctionCall"), "module");
  Erase(Payload(call, "FunctionCall"), "line");
  Erase(Payload(call, "FunctionCall"), "args");
  Event c = MustConvertOne(call);
  EXPECT_EQ(c.metadata().process_id(), 0);
  EXPECT_FALSE(c.function_call().has_args());
}

TEST(SdkJsonEvent, UpperCaseUuidsAreNormalised) {
  Event e = MustConvertOne(StateChange([](Value& v) {
    Field(v, "id") = Str("0B6A3F1E-0005-4D2C-9E8F-7A6B5C4D3E2F");
    Field(v, "parent_id") = Str("0B6A3F1E-0004-4D2C-9E8F-7A6B5C4D3E2F");
  }));
  EXPECT_EQ(e.id(), "0b6a3f1e-0005-4d2c-9e8f-7a6b5c4d3e2f");
  EXPECT_EQ(e.parent_id(), "0b6a3f1e-0004-4d2c-9e8f-7a6b5c4d3e2f");
}

TEST(SdkJsonEvent, FunctionReturnFromGoAndPythonSdksIsKeptAsCustom) {
  Value e = FixtureEvent(0);
  Field(e, "kind") = Json(
      R"({"FunctionReturn": {"function_name": "f", "return_value": {"ok": true}, "file": "a.py", "line": 3}})");
  Event out = MustConvertOne(e);
  ASSERT_TRUE(out.has_custom());
  EXPECT_EQ(out.custom().name(), "FunctionReturn");
  EXPECT_EQ(out.custom().data().struct_value().fields().at("function_name").string_value(), "f");
}

TEST(SdkJsonEvent, RejectionEchoesTheIdSafely) {
  const std::string long_id(300, 'x');
  SdkBatch batch =
      MustParse(BodyOf({StateChange([&](Value& e) { Field(e, "id") = Str(long_id); })}));
  ASSERT_EQ(batch.rejections.size(), 1u);
  EXPECT_LE(batch.rejections[0].id.size(), 131u);
  EXPECT_THAT(batch.rejections[0].id, HasSubstr("..."));
}

// ------------------------------------------------------------- durations
//
// Numbers are written into the body as the SDKs' JSON encoders write them
// (a Value would print them as doubles): a placeholder string in the event
// is replaced by the raw text.

// The fixture's HttpResponse (15) / DatabaseQuery (13) with duration_ms
// "@MS@" and metadata.duration_ns "@NS@".
Value WithDurationPlaceholders(int fixture_index, const std::string& kind) {
  Value e = FixtureEvent(fixture_index);
  Field(Payload(e, kind), "duration_ms") = Str("@MS@");
  Field(Field(e, "metadata"), "duration_ns") = Str("@NS@");
  return e;
}

Event ConvertRaw(const Value& event, const std::string& ms, const std::string& ns) {
  SCOPED_TRACE("duration_ms " + ms + ", duration_ns " + ns);
  SdkBatch batch = MustParse(RawBody({event}, {{"@MS@", ms}, {"@NS@", ns}}));
  EXPECT_TRUE(batch.rejections.empty())
      << batch.rejections[0].error.field << ": " << batch.rejections[0].error.reason;
  return batch.events.empty() ? Event{} : batch.events.Get(0);
}

TEST(SdkJsonDuration, FractionalMillisecondsAreStoredInNanosecondsRoundedHalfAway) {
  struct Case {
    std::string ms;
    uint64_t ns;
    uint64_t whole_ms;  // What the integer duration_ms field keeps.
  };
  const std::vector<Case> cases = {
      {"1.5", 1500000, 2},
      {"0.0000004", 0, 0},
      {"1.0000005", 1000001, 1},
      {"0.0000005", 1, 0},         // Exactly half a ns: away from zero.
      {"0.00000049999999", 0, 0},  // Just below half.
      {"2.4999995", 2500000, 2},   // ms rounded from the text, not from the ns.
      {"5e-7", 1, 0},              // JavaScript's JSON.stringify(5e-7).
      {"1.5e3", 1500000000, 1500},
      {"1E-6", 1, 0},
      {"0.30000000000000004", 300000, 0},  // JavaScript's 0.1 + 0.2.
      {"0", 0, 0},
      {"-0", 0, 0},
      {"-0.0", 0, 0},
      {"1e-400", 0, 0},
      {"0e400", 0, 0},
      {"9223372036854.775807", 9223372036854775807u, 9223372036855},
  };
  for (const auto& c : cases) {
    for (const auto& [index, kind] : {std::pair<int, std::string>{15, "HttpResponse"},
                                      std::pair<int, std::string>{13, "DatabaseQuery"}}) {
      SCOPED_TRACE(kind + " duration_ms " + c.ms);
      Event e = ConvertRaw(WithDurationPlaceholders(index, kind), c.ms, "null");
      ASSERT_EQ(model::DurationNs(e), std::optional<uint64_t>(c.ns));
      const uint64_t ms = kind == "HttpResponse" ? e.http_response().duration_ms()
                                                 : e.database_query().duration_ms();
      EXPECT_EQ(ms, c.whole_ms);
      // Whole milliseconds need no metadata; the others keep the exact ns there.
      EXPECT_EQ(e.metadata().has_duration_ns(), c.ns % 1000000 != 0);
    }
  }
}

TEST(SdkJsonDuration, TypeScriptSdkShape) {
  // trackHttpResponse(status, performance.now() - start): a float duration_ms
  // and metadata.duration_ns = Math.floor(durationMs * 1e6), both sent.
  Event e =
      ConvertRaw(WithDurationPlaceholders(15, "HttpResponse"), "12.300000000000182", "12300000");
  EXPECT_EQ(e.http_response().duration_ms(), 12u);
  EXPECT_EQ(e.metadata().duration_ns(), 12300000u);
  // The event's own metadata.duration_ns wins over its duration_ms.
  e = ConvertRaw(WithDurationPlaceholders(15, "HttpResponse"), "1.0000005", "1000000");
  EXPECT_EQ(e.metadata().duration_ns(), 1000000u);
  EXPECT_EQ(e.http_response().duration_ms(), 1u);
  // Other kinds: duration_ns from process.hrtime.bigint() differences, or null.
  Value call = FixtureEvent(0);
  Field(Field(call, "metadata"), "duration_ns") = Str("@NS@");
  SdkBatch batch = MustParse(RawBody({call}, {{"@NS@", "48213"}}));
  ASSERT_EQ(batch.valid_indices.size(), 1u);
  EXPECT_EQ(batch.events.Get(0).metadata().duration_ns(), 48213u);
  batch = MustParse(RawBody({call}, {{"@NS@", "null"}}));
  ASSERT_EQ(batch.valid_indices.size(), 1u);
  EXPECT_FALSE(batch.events.Get(0).metadata().has_duration_ns());
}

TEST(SdkJsonDuration, PythonSdkShape) {
  // track_http_response(duration_ms=(time.perf_counter() - t0) * 1000):
  // duration_ns = duration_ms * 1_000_000 is a float too; json.dumps writes
  // floats with repr (1500000.0, 1e+16) and NaN / Infinity as bare tokens.
  Event e =
      ConvertRaw(WithDurationPlaceholders(15, "HttpResponse"), "12.3456789", "12345678.899999999");
  EXPECT_EQ(e.metadata().duration_ns(), 12345679u);
  EXPECT_EQ(e.http_response().duration_ms(), 12u);
  e = ConvertRaw(WithDurationPlaceholders(15, "HttpResponse"), "1.5", "1500000.0");
  EXPECT_EQ(e.metadata().duration_ns(), 1500000u);
  e = ConvertRaw(WithDurationPlaceholders(13, "DatabaseQuery"), "3", "1e+16");
  EXPECT_EQ(model::DurationNs(e), std::optional<uint64_t>(10000000000000000u));
  e = ConvertRaw(WithDurationPlaceholders(13, "DatabaseQuery"), "1.5e-07", "null");
  EXPECT_EQ(model::DurationNs(e), std::optional<uint64_t>(0));
  // The decorators put a float duration_ms into FunctionCall.args: plain
  // JSON data, kept as sent.
  Value call = FixtureEvent(0);
  Field(Payload(call, "FunctionCall"), "args") = Json(R"({"status": "success"})");
  Field(Field(Payload(call, "FunctionCall"), "args"), "duration_ms") = Str("@MS@");
  SdkBatch batch = MustParse(RawBody({call}, {{"@MS@", "0.30000000000000004"}}));
  ASSERT_EQ(batch.valid_indices.size(), 1u);
  EXPECT_EQ(batch.events.Get(0)
                .function_call()
                .args()
                .struct_value()
                .fields()
                .at("duration_ms")
                .number_value(),
            0.30000000000000004);
}

TEST(SdkJsonDuration, GoAndRustSdkIntegersAreExactBeyondTwoToThe53) {
  // Go: DurationMs int64, DurationNs *int64; Rust: u64 and Option<u64>.
  Event e = ConvertRaw(WithDurationPlaceholders(15, "HttpResponse"), "19", "19000000");
  EXPECT_EQ(e.http_response().duration_ms(), 19u);
  EXPECT_EQ(e.metadata().duration_ns(), 19000000u);
  e = ConvertRaw(WithDurationPlaceholders(15, "HttpResponse"), "19", "null");
  EXPECT_EQ(e.http_response().duration_ms(), 19u);
  EXPECT_FALSE(e.metadata().has_duration_ns());  // Unchanged shape for whole ms.
  for (const auto& [text, ns] : std::vector<std::pair<std::string, uint64_t>>{
           {"9007199254740993", 9007199254740993u},  // 2^53 + 1: a double would say ...992.
           {"9007199254740995", 9007199254740995u},
           {"9223372036854775807", 9223372036854775807u},
           {"2000.5", 2001u},
           {"0.4", 0u},
           {"12e2", 1200u},
       }) {
    Event got = ConvertRaw(WithDurationPlaceholders(15, "HttpResponse"), "19", text);
    EXPECT_EQ(got.metadata().duration_ns(), ns) << text;
  }
  // A Rust duration_ms near u64::MAX / 1e6 is still in range when it fits int64 ns.
  e = ConvertRaw(WithDurationPlaceholders(13, "DatabaseQuery"), "9223372036854", "null");
  EXPECT_EQ(model::DurationNs(e), std::optional<uint64_t>(9223372036854000000u));
}

TEST(SdkJsonDuration, BadValuesRejectTheEventNamingTheFieldAndKeepTheOthers) {
  const std::vector<std::string> bad_ms = {"-1",
                                           "-0.000001",
                                           "NaN",
                                           "Infinity",
                                           "-Infinity",
                                           "1e400",
                                           "-1e400",
                                           "9223372036854.7758075",
                                           "9223372036855",
                                           "1e19",
                                           "100000000000000000000000000000000000000000000000000"};
  const std::vector<std::string> bad_ns = {
      "-5",   "NaN",   "Infinity", "9223372036854775808", "18446744073709551615",
      "1e19", "1e400", "-1e-9"};
  auto check = [](const std::string& body, const std::string& field, const std::string& text) {
    SCOPED_TRACE(text);
    SdkBatch batch = MustParse(body);
    EXPECT_EQ(batch.valid_indices, (std::vector<uint32_t>{1})) << "the good event is kept";
    ASSERT_EQ(batch.rejections.size(), 1u);
    EXPECT_EQ(batch.rejections[0].index, 0u);
    EXPECT_EQ(batch.rejections[0].error.field, field);
    EXPECT_THAT(batch.rejections[0].error.reason, HasSubstr("between 0 and 9223372036854"));
    EXPECT_THAT(batch.rejections[0].error.reason, HasSubstr("got " + text));
  };
  for (const std::string& text : bad_ms) {
    check(RawBody({WithDurationPlaceholders(15, "HttpResponse"), FixtureEvent(0)},
                  {{"@MS@", text}, {"@NS@", "null"}}),
          "kind.HttpResponse.duration_ms", text);
    check(RawBody({WithDurationPlaceholders(13, "DatabaseQuery"), FixtureEvent(0)},
                  {{"@MS@", text}, {"@NS@", "null"}}),
          "kind.DatabaseQuery.duration_ms", text);
  }
  for (const std::string& text : bad_ns) {
    check(RawBody({WithDurationPlaceholders(15, "HttpResponse"), FixtureEvent(0)},
                  {{"@MS@", "19"}, {"@NS@", text}}),
          "metadata.duration_ns", text);
  }
  ExpectRejected(
      StateChange([](Value& e) { Field(Field(e, "metadata"), "duration_ns") = Str("5"); }),
      "metadata.duration_ns", "got a string");
  Value response = FixtureEvent(15);
  Field(Payload(response, "HttpResponse"), "duration_ms") = Json("[1.5]");
  ExpectRejected(response, "kind.HttpResponse.duration_ms", "got an array");
  // Text that is no JSON number in a duration slot ("1.", garbage) is not
  // JSON: the whole body is refused.
  for (const std::string text : {"1.", "1.2.3", "0x10"}) {
    auto whole = ParseSdkBatch(RawBody({WithDurationPlaceholders(15, "HttpResponse")},
                                       {{"@MS@", text}, {"@NS@", "null"}}),
                               model::ValidationLimits{});
    EXPECT_EQ(whole.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(SdkJsonDuration, RawTextIsFoundWhateverTheKeySpelling) {
  // Escaped key names are JSON; the duration text must be found under them
  // too.
  const std::string event = BodyOf({StateChange()});
  for (const std::string& spelling : {std::string(R"("duration\u005fns":9007199254740993)"),
                                      std::string(R"("\u0064uration_ns":9007199254740993)")}) {
    std::string body = event;
    const std::string needle = "\"duration_ns\":2000";
    ASSERT_NE(body.find(needle), std::string::npos) << body;
    body.replace(body.find(needle), needle.size(), spelling);
    SdkBatch batch = MustParse(body);
    ASSERT_EQ(batch.valid_indices.size(), 1u) << spelling;
    EXPECT_EQ(batch.events.Get(0).metadata().duration_ns(), 9007199254740993u) << spelling;
  }
  // Several events: each one's own text.
  std::string body =
      RawBody({WithDurationPlaceholders(15, "HttpResponse"), FixtureEvent(0),
               WithDurationPlaceholders(13, "DatabaseQuery")},
              {{"@MS@", "NaN"}, {"@NS@", "null"}, {"@MS@", "1.25"}, {"@NS@", "7.5"}});
  SdkBatch batch = MustParse(body);
  EXPECT_EQ(batch.valid_indices, (std::vector<uint32_t>{1, 2}));
  ASSERT_EQ(batch.rejections.size(), 1u);
  EXPECT_EQ(batch.rejections[0].index, 0u);
  EXPECT_EQ(batch.rejections[0].error.field, "kind.HttpResponse.duration_ms");
  EXPECT_EQ(batch.events.Get(2).metadata().duration_ns(), 8u);  // Its own, rounded.
  EXPECT_EQ(batch.events.Get(2).database_query().duration_ms(), 1u);
}

TEST(SdkJsonDuration, FractionalEventsRoundTrip) {
  SdkBatch first = MustParse(
      RawBody({WithDurationPlaceholders(15, "HttpResponse")}, {{"@MS@", "1.5"}, {"@NS@", "null"}}));
  ASSERT_EQ(first.valid_indices.size(), 1u);
  std::vector<Event> events(first.events.begin(), first.events.end());
  SdkBatch second = MustParse(EventsToSdkJson(events));
  ASSERT_EQ(second.valid_indices.size(), 1u);
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(first.events.Get(0), second.events.Get(0)))
      << second.events.Get(0).DebugString();
  // A Value built in memory (no body text) converts from its doubles.
  Value v = FixtureEvent(15);
  Field(Payload(v, "HttpResponse"), "duration_ms") = Num(1.5);
  Field(Field(v, "metadata"), "duration_ns") = Null();
  Event out;
  EXPECT_FALSE(SdkValueToEvent(v, &out).has_value());
  EXPECT_EQ(out.metadata().duration_ns(), 1500000u);
}

// ------------------------------------------------------------- responses

TEST(SdkJsonResponse, HttpStatusMapping) {
  raceway::v1::BatchResult r;
  r.set_accepted(3);
  EXPECT_EQ(HttpStatusForResult(r), 200);
  r.set_accepted(0);
  r.set_duplicate(2);
  EXPECT_EQ(HttpStatusForResult(r), 200);
  r.set_rejected(1);
  EXPECT_EQ(HttpStatusForResult(r), 207);
  r.set_duplicate(0);
  EXPECT_EQ(HttpStatusForResult(r), 422);

  EXPECT_EQ(HttpStatusForError(absl::OkStatus()), 200);
  EXPECT_EQ(HttpStatusForError(absl::InvalidArgumentError("x")), 400);
  EXPECT_EQ(HttpStatusForError(absl::OutOfRangeError("x")), 413);
  EXPECT_EQ(HttpStatusForError(absl::UnauthenticatedError("x")), 401);
  EXPECT_EQ(HttpStatusForError(absl::PermissionDeniedError("x")), 403);
  EXPECT_EQ(HttpStatusForError(absl::ResourceExhaustedError("x")), 429);
  EXPECT_EQ(HttpStatusForError(absl::UnavailableError("x")), 503);
  EXPECT_EQ(HttpStatusForError(absl::DeadlineExceededError("x")), 504);
  EXPECT_EQ(HttpStatusForError(absl::InternalError("x")), 500);
}

TEST(SdkJsonResponse, ResultBody) {
  raceway::v1::BatchResult r;
  r.set_accepted(2);
  r.set_duplicate(1);
  r.set_rejected(1);
  auto* rej = r.add_rejected_events();
  rej->set_index(3);
  rej->set_id("abc");
  rej->set_field("kind");
  rej->set_reason("unknown kind \"Foo\"");
  Value body = ParseValue(SdkResultJson(r));
  const auto& f = body.struct_value().fields();
  EXPECT_TRUE(f.at("success").bool_value());
  EXPECT_EQ(f.at("accepted").number_value(), 2);
  EXPECT_EQ(f.at("duplicate").number_value(), 1);
  EXPECT_EQ(f.at("rejected").number_value(), 1);
  const auto& item = f.at("rejected_events").list_value().values(0).struct_value().fields();
  EXPECT_EQ(item.at("index").number_value(), 3);
  EXPECT_EQ(item.at("id").string_value(), "abc");
  EXPECT_EQ(item.at("field").string_value(), "kind");
  EXPECT_EQ(item.at("message").string_value(), "events[3].kind: unknown kind \"Foo\"");

  raceway::v1::BatchResult all_bad;
  all_bad.set_rejected(1);
  EXPECT_FALSE(
      ParseValue(SdkResultJson(all_bad)).struct_value().fields().at("success").bool_value());

  Value err = ParseValue(SdkErrorJson(absl::InvalidArgumentError("body is not valid JSON")));
  EXPECT_FALSE(err.struct_value().fields().at("success").bool_value());
  const auto& e = err.struct_value().fields().at("error").struct_value().fields();
  EXPECT_EQ(e.at("code").string_value(), "INVALID_ARGUMENT");
  EXPECT_EQ(e.at("message").string_value(), "body is not valid JSON");
}

}  // namespace
}  // namespace raceway::ingest
