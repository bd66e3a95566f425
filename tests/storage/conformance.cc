#include "tests/storage/conformance.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"
#include "libs/model/operation_key.h"
#include "libs/model/uuid.h"
#include "libs/model/validation.h"
#include "libs/model/welford.h"

namespace raceway::storage::testing {

std::string BackendFactoryName(const ::testing::TestParamInfo<BackendFactory>& info) {
  return info.param.name;
}

// Sanitizer runtimes define these; detected at run time because TSan builds
// may undefine __SANITIZE_THREAD__ (see libs/storage/common/mutex.h).
extern "C" void __asan_init() __attribute__((weak));
extern "C" void __tsan_init() __attribute__((weak));

double TestScale() {
  if (const char* env = std::getenv("RACEWAY_STORAGE_TEST_SCALE")) {
    const double v = std::atof(env);
    if (v > 0) return v;
  }
  const bool sanitized = &__asan_init != nullptr || &__tsan_init != nullptr;
  return sanitized ? 0.2 : 1.0;
}

void StorageConformanceTest::SetUp() {
  auto s = GetParam().open();
  ASSERT_TRUE(s.ok()) << s.status();
  storage_ = *std::move(s);
  ASSERT_NE(storage_, nullptr);
}

void StorageConformanceTest::TearDown() { storage_.reset(); }

namespace {

using raceway::v1::Event;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

constexpr int64_t kBaseNs = 1767225600LL * 1000000000LL;  // 2026-01-01T00:00:00Z

// ------------------------------------------------------------ event builders

std::string Id() { return raceway::model::NewUuidV4(); }

void SetTime(Event& e, int64_t ns) {
  e.mutable_timestamp()->set_seconds(ns / 1000000000);
  e.mutable_timestamp()->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

// A valid FunctionCall event at kBaseNs + offset_ns.
Event Ev(const std::string& trace, int64_t offset_ns, const std::string& service = "svc",
         const std::string& thread = "t1") {
  Event e;
  e.set_id(Id());
  e.set_trace_id(trace);
  SetTime(e, kBaseNs + offset_ns);
  e.mutable_metadata()->set_thread_id(thread);
  e.mutable_metadata()->set_service_name(service);
  e.mutable_function_call()->set_function_name("handle");
  return e;
}

Event Access(const std::string& trace, int64_t offset_ns, const std::string& variable,
             raceway::v1::AccessType type, const std::string& service = "svc",
             const std::string& thread = "t1") {
  Event e = Ev(trace, offset_ns, service, thread);
  auto* sc = e.mutable_state_change();
  sc->set_variable(variable);
  sc->set_access_type(type);
  sc->set_location("app.rs:10");
  sc->mutable_new_value()->set_number_value(1);
  return e;
}

Event WithDuration(Event e, uint64_t ns) {
  e.mutable_metadata()->set_duration_ns(ns);
  return e;
}

Event ChildOf(Event e, const Event& parent) {
  e.set_parent_id(parent.id());
  return e;
}

std::vector<const Event*> Ptrs(const std::vector<Event>& events) {
  std::vector<const Event*> out;
  out.reserve(events.size());
  for (const Event& e : events) out.push_back(&e);
  return out;
}

void ExpectValid(const std::vector<Event>& events) {
  for (const Event& e : events) {
    auto err = raceway::model::ValidateEvent(e, raceway::model::ValidationLimits{});
    ASSERT_FALSE(err.has_value()) << "test event invalid: " << err->field << " " << err->reason;
  }
}

WriteResult Write(Storage& s, const std::vector<Event>& events) {
  auto ptrs = Ptrs(events);
  auto r = s.WriteBatch(ptrs);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : WriteResult{};
}

std::string Bytes(const Event& e) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  e.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

google::protobuf::Value Json(const std::string& text) {
  google::protobuf::Value v;
  v.set_string_value(text);
  return v;
}

// One event of every kind with every field set.
std::vector<Event> EveryKind(const std::string& trace) {
  std::vector<Event> out;
  auto base = [&](int i) {
    Event e = Ev(trace, 1000 * i, absl::StrCat("svc-", i % 3), absl::StrCat("thread-", i % 2));
    auto* m = e.mutable_metadata();
    m->set_process_id(4242 + i);
    m->set_environment("production");
    (*m->mutable_tags())["region"] = "eu-west-1";
    (*m->mutable_tags())["zone"] = "b";
    m->set_duration_ns(1000 + i);
    m->set_instance_id(absl::StrCat("pod-", i));
    m->set_distributed_span_id(absl::StrCat("span-", i));
    m->set_upstream_span_id(i > 0 ? absl::StrCat("span-", i - 1) : "");
    auto* cv = e.add_causality_vector();
    cv->set_component("thread-0");
    cv->set_clock(7 + i);
    auto* cv2 = e.add_causality_vector();
    cv2->set_component("thread-1");
    cv2->set_clock(3);
    e.add_lock_set("mutex-a");
    e.add_lock_set("rw-b");
    return e;
  };
  int i = 0;
  {
    Event e = base(i++);
    auto* k = e.mutable_function_call();
    k->set_function_name("process_payment");
    k->set_module("bank::payments");
    auto* s = k->mutable_args()->mutable_struct_value();
    (*s->mutable_fields())["amount"].set_number_value(12.5);
    (*s->mutable_fields())["ok"].set_bool_value(true);
    (*s->mutable_fields())["none"].set_null_value(google::protobuf::NULL_VALUE);
    auto* l = (*s->mutable_fields())["list"].mutable_list_value();
    l->add_values()->set_string_value("a");
    l->add_values()->set_number_value(-1e-7);
    k->set_file("src/bank.rs");
    k->set_line(42);
    out.push_back(e);
  }
  {
    Event e = base(i++);
    e.mutable_async_spawn()->set_task_id(Id());
    e.mutable_async_spawn()->set_spawned_by("thread-0");
    out.push_back(e);
  }
  {
    Event e = base(i++);
    e.mutable_async_await()->set_future_id(Id());
    e.mutable_async_await()->set_awaited_at("src/main.rs:7");
    out.push_back(e);
  }
  {
    Event e = base(i++);
    auto* k = e.mutable_state_change();
    k->set_variable("account.balance");
    k->mutable_old_value()->set_number_value(100);
    k->mutable_new_value()->set_number_value(50);
    k->set_location("src/bank.rs:50");
    k->set_access_type(raceway::v1::ACCESS_TYPE_ATOMIC_RMW);
    out.push_back(e);
  }
  {
    Event e = base(i++);
    e.mutable_lock_acquire()->set_lock_id("mutex-a");
    e.mutable_lock_acquire()->set_lock_type("RwLock::Write");
    e.mutable_lock_acquire()->set_location("src/bank.rs:48");
    out.push_back(e);
  }
  {
    Event e = base(i++);
    e.mutable_lock_release()->set_lock_id("mutex-a");
    e.mutable_lock_release()->set_lock_type("RwLock::Write");
    e.mutable_lock_release()->set_location("src/bank.rs:52");
    out.push_back(e);
  }
  {
    Event e = base(i++);
    e.mutable_memory_fence()->set_ordering(raceway::v1::MEMORY_ORDERING_SEQ_CST);
    e.mutable_memory_fence()->set_location("src/atomic.rs:3");
    out.push_back(e);
  }
  {
    Event e = base(i++);
    auto* k = e.mutable_http_request();
    k->set_method("POST");
    k->set_url("https://api.example.com/pay?x=1&y=2");
    (*k->mutable_headers())["content-type"] = "application/json";
    (*k->mutable_headers())["x-trace"] = "abc";
    *k->mutable_body() = Json("{\"raw\": true}");
    out.push_back(e);
  }
  {
    Event e = base(i++);
    auto* k = e.mutable_http_response();
    k->set_status(503);
    (*k->mutable_headers())["retry-after"] = "5";
    k->mutable_body()->mutable_list_value()->add_values()->set_bool_value(false);
    k->set_duration_ms(12);
    out.push_back(e);
  }
  {
    Event e = base(i++);
    e.mutable_database_query()->set_query("SELECT * FROM accounts WHERE id = $1");
    e.mutable_database_query()->set_database("main");
    e.mutable_database_query()->set_duration_ms(3);
    out.push_back(e);
  }
  {
    Event e = base(i++);
    e.mutable_database_result()->set_rows_affected(18446744073709551615ULL);
    out.push_back(e);
  }
  {
    Event e = base(i++);
    e.mutable_error()->set_error_type("TimeoutError");
    e.mutable_error()->set_message("deadline exceeded");
    e.mutable_error()->add_stack_trace("at f (a.rs:1)");
    e.mutable_error()->add_stack_trace("at g (b.rs:2)");
    out.push_back(e);
  }
  {
    Event e = base(i++);
    e.mutable_custom()->set_name("cache_miss");
    (*e.mutable_custom()->mutable_data()->mutable_struct_value()->mutable_fields())["key"]
        .set_string_value("user:1");
    out.push_back(e);
  }
  // Chain them so some have parents.
  for (size_t k = 1; k < out.size(); k += 2) out[k].set_parent_id(out[k - 1].id());
  return out;
}

void ExpectSameEvent(const Event& got, const Event& want) {
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(got, want))
      << "got:\n"
      << got.DebugString() << "want:\n"
      << want.DebugString();
  EXPECT_EQ(Bytes(got), Bytes(want));
}

template <typename T>
T Ok(absl::StatusOr<T> v) {
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *std::move(v) : T{};
}

// ------------------------------------------------------------ reading everything

std::vector<TraceSummary> AllTraces(Storage& s, const TraceFilter& f = {}, uint32_t page = 7) {
  std::vector<TraceSummary> out;
  PageRequest req{page, ""};
  for (int guard = 0; guard < 100000; ++guard) {
    auto p = s.ListTraces(f, req, nullptr);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) break;
    out.insert(out.end(), p->items.begin(), p->items.end());
    if (p->next_page_token.empty()) break;
    req.page_token = p->next_page_token;
  }
  return out;
}

std::vector<VariableAccess> AllAccesses(Storage& s, const std::string& variable = "",
                                        const TimeRange& range = {}, uint32_t page = 5) {
  std::vector<VariableAccess> out;
  PageRequest req{page, ""};
  for (int guard = 0; guard < 1000000; ++guard) {
    auto p = s.GetVariableAccesses(variable, range, req);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) break;
    out.insert(out.end(), p->items.begin(), p->items.end());
    if (p->next_page_token.empty()) break;
    req.page_token = p->next_page_token;
  }
  return out;
}

std::vector<Event> AllTraceEvents(Storage& s, const std::string& trace, uint32_t page = 3) {
  std::vector<Event> out;
  PageRequest req{page, ""};
  for (int guard = 0; guard < 1000000; ++guard) {
    auto p = s.GetTraceEventsPage(trace, req);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) break;
    out.insert(out.end(), p->items.begin(), p->items.end());
    if (p->next_page_token.empty()) break;
    req.page_token = p->next_page_token;
  }
  return out;
}

std::string Fmt(double v) { return absl::StrFormat("%.6g", v); }

// Everything observable through the reader interface, as text, for
// comparing two write orders.
std::string Snapshot(Storage& s, const std::vector<std::string>& operations) {
  std::string out;
  absl::StrAppend(&out, "events=", Ok(s.CountEvents()), " traces=", Ok(s.CountTraces()), "\n");
  for (const TraceSummary& t : AllTraces(s)) {
    absl::StrAppend(&out, "trace ", t.trace_id, " n=", t.event_count, " ", t.first_ns, "..",
                    t.last_ns, " [", absl::StrJoin(t.services, ","), "]\n");
    for (const Event& e : Ok(s.GetTraceEvents(t.trace_id)))
      absl::StrAppend(&out, "  ", e.id(), "\n");
  }
  for (const VariableAccess& a : AllAccesses(s, "", {}, 50)) {
    absl::StrAppend(&out, "access ", a.variable, " ", a.timestamp_ns, " ", a.event_id, " ",
                    a.trace_id, " ", a.thread_id, " ", a.service_name, " ", a.access_type, " ",
                    a.location, " [", absl::StrJoin(a.lock_set, ","), "] ", a.distributed_span_id,
                    " ", a.upstream_span_id, "\n");
  }
  for (const ServiceStats& v : Ok(s.ListServices())) {
    absl::StrAppend(&out, "service ", v.service, " ", v.event_count, " ", v.trace_count, " ",
                    v.first_ns, " ", v.last_ns, "\n");
  }
  for (const ServiceCallRow& c : Ok(s.ListServiceCalls({}))) {
    absl::StrAppend(&out, "call ", c.from_service, "->", c.to_service, " ", c.link_type, " ",
                    c.call_count, " ", c.trace_count, "\n");
  }
  for (const VariableStats& v : Ok(s.TopVariables({}, 1000))) {
    absl::StrAppend(&out, "var ", v.variable, " ", v.access_count, " ", v.trace_count, " [",
                    absl::StrJoin(v.services, ","), "]\n");
  }
  for (const DurationStats& d : Ok(s.DurationsByKind({}))) {
    absl::StrAppend(&out, "kind ", d.name, " ", d.count, " ", Fmt(d.avg_duration_ns), "\n");
  }
  for (const DurationStats& d : Ok(s.DurationsByService({}))) {
    absl::StrAppend(&out, "bysvc ", d.name, " ", d.count, " ", Fmt(d.avg_duration_ns), "\n");
  }
  for (const Baseline& b : Ok(s.GetBaselines(operations))) {
    absl::StrAppend(&out, "baseline ", b.operation, " ", b.count, " ", Fmt(b.mean), " ", Fmt(b.m2),
                    " ", Fmt(b.min), " ", Fmt(b.max), "\n");
  }
  return out;
}

std::vector<std::string> Operations(const std::vector<Event>& events) {
  std::set<std::string> ops;
  for (const Event& e : events) ops.insert(raceway::model::OperationKey(e));
  return {ops.begin(), ops.end()};
}

// A random but valid workload: traces with parent chains across services,
// spans linking services, state changes, durations.
std::vector<Event> RandomWorkload(std::mt19937_64& rng, int traces, int events_per_trace) {
  std::vector<Event> out;
  const char* services[] = {"api", "auth", "db", "cache"};
  const char* vars[] = {"x", "y", "account.balance", "cfg"};
  for (int t = 0; t < traces; ++t) {
    const std::string trace = Id();
    std::vector<size_t> in_trace;
    for (int i = 0; i < events_per_trace; ++i) {
      const std::string service = services[rng() % 4];
      const std::string thread = absl::StrCat("t", rng() % 3);
      const int64_t ts = static_cast<int64_t>(t) * 1000000 + static_cast<int64_t>(rng() % 100000);
      Event e;
      switch (rng() % 5) {
        case 0:
        case 1:
          e = Access(trace, ts, vars[rng() % 4],
                     rng() % 2 ? raceway::v1::ACCESS_TYPE_WRITE : raceway::v1::ACCESS_TYPE_READ,
                     service, thread);
          e.add_lock_set(absl::StrCat("L", rng() % 2));
          break;
        case 2:
          e = Ev(trace, ts, service, thread);
          e.mutable_http_response()->set_status(rng() % 2 ? 200 : 500);
          e.mutable_http_response()->set_duration_ms(rng() % 50);
          break;
        default:
          e = Ev(trace, ts, service, thread);
          e.mutable_function_call()->set_function_name(absl::StrCat("fn", rng() % 3));
          break;
      }
      if (rng() % 2) e.mutable_metadata()->set_duration_ns(rng() % 1000000);
      if (!in_trace.empty() && rng() % 4 != 0) {
        e.set_parent_id(out[in_trace[rng() % in_trace.size()]].id());
      }
      const int span = static_cast<int>(rng() % 4);
      if (span > 0) {
        e.mutable_metadata()->set_distributed_span_id(absl::StrCat("s", span, "-", service));
        if (rng() % 2) {
          e.mutable_metadata()->set_upstream_span_id(
              absl::StrCat("s", (span + 1) % 4, "-", services[rng() % 4]));
          if (rng() % 3 == 0) (*e.mutable_metadata()->mutable_tags())["link_type"] = "GrpcCall";
        }
      }
      in_trace.push_back(out.size());
      out.push_back(std::move(e));
    }
  }
  return out;
}

// ============================================================ tests

TEST_P(StorageConformanceTest, EmptyStorage) {
  Storage& s = storage();
  EXPECT_FALSE(s.BackendName().empty());
  EXPECT_EQ(Ok(s.CountEvents()), 0u);
  EXPECT_EQ(Ok(s.CountTraces()), 0u);
  const std::string id = Id();
  EXPECT_EQ(s.GetEvent(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.GetTraceSummary(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.GetTraceEvents(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.GetTraceEventsPage(id, {}).status().code(), absl::StatusCode::kNotFound);
  uint64_t total = 99;
  auto traces = s.ListTraces({}, {}, &total);
  ASSERT_TRUE(traces.ok()) << traces.status();
  EXPECT_THAT(traces->items, IsEmpty());
  EXPECT_EQ(traces->next_page_token, "");
  EXPECT_EQ(total, 0u);
  EXPECT_THAT(Ok(s.GetVariableAccesses("", {}, {})).items, IsEmpty());
  EXPECT_THAT(Ok(s.GetBaselines({"FunctionCall(handle)"})), IsEmpty());
  EXPECT_THAT(Ok(s.ListServices()), IsEmpty());
  EXPECT_THAT(Ok(s.ListServiceCalls({})), IsEmpty());
  EXPECT_THAT(Ok(s.TopVariables({}, 10)), IsEmpty());
  EXPECT_THAT(Ok(s.DurationsByKind({})), IsEmpty());
  EXPECT_THAT(Ok(s.DurationsByService({})), IsEmpty());
  EXPECT_EQ(Ok(s.DeleteTracesBefore(kBaseNs)), 0u);
  EXPECT_TRUE(s.Clear().ok());
  auto empty = s.WriteBatch({});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->accepted, 0u);
  EXPECT_EQ(empty->duplicate, 0u);
}

TEST_P(StorageConformanceTest, MalformedArgumentsAreInvalid) {
  Storage& s = storage();
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(s.GetEvent("not-a-uuid").status().code(), kInvalid);
  EXPECT_EQ(s.GetEvent("").status().code(), kInvalid);
  EXPECT_EQ(s.GetTraceSummary("x").status().code(), kInvalid);
  EXPECT_EQ(s.GetTraceEvents("'; DROP TABLE events; --").status().code(), kInvalid);
  EXPECT_EQ(s.GetTraceEventsPage("123", {}).status().code(), kInvalid);
  const std::string trace = Id();
  Write(s, {Ev(trace, 1), Ev(trace, 2), Access(trace, 3, "v", raceway::v1::ACCESS_TYPE_WRITE)});
  for (const std::string bad : {"garbage", "!!!!", "AAAA", "dGVzdA"}) {
    EXPECT_EQ(s.ListTraces({}, {1, bad}, nullptr).status().code(), kInvalid) << bad;
    EXPECT_EQ(s.GetTraceEventsPage(trace, {1, bad}).status().code(), kInvalid) << bad;
    EXPECT_EQ(s.GetVariableAccesses("", {}, {1, bad}).status().code(), kInvalid) << bad;
  }
  // A token of another method is rejected too.
  auto events = Ok(s.GetTraceEventsPage(trace, {1, ""}));
  ASSERT_FALSE(events.next_page_token.empty());
  EXPECT_EQ(s.ListTraces({}, {1, events.next_page_token}, nullptr).status().code(), kInvalid);
  EXPECT_EQ(s.GetVariableAccesses("", {}, {1, events.next_page_token}).status().code(), kInvalid);
  // Writer precondition: canonical ids.
  Event bad = Ev(trace, 4);
  bad.set_id("NOT-A-UUID");
  std::vector<const Event*> batch{&bad};
  EXPECT_EQ(s.WriteBatch(batch).status().code(), kInvalid);
  Event upper = Ev(trace, 5);
  upper.set_trace_id("A0000000-0000-4000-8000-000000000000");
  batch = {&upper};
  EXPECT_EQ(s.WriteBatch(batch).status().code(), kInvalid);
  EXPECT_EQ(Ok(s.CountEvents()), 3u);
}

TEST_P(StorageConformanceTest, ReadersAcceptUpperCaseIds) {
  Storage& s = storage();
  const std::string trace = Id();
  Event e = Ev(trace, 1);
  Write(s, {e});
  std::string upper_id = e.id(), upper_trace = trace;
  std::transform(upper_id.begin(), upper_id.end(), upper_id.begin(), ::toupper);
  std::transform(upper_trace.begin(), upper_trace.end(), upper_trace.begin(), ::toupper);
  EXPECT_EQ(Ok(s.GetEvent(upper_id)).id(), e.id());
  EXPECT_EQ(Ok(s.GetTraceSummary(upper_trace)).trace_id, trace);
  EXPECT_EQ(Ok(s.GetTraceEvents(upper_trace)).size(), 1u);
}

TEST_P(StorageConformanceTest, RoundTripsEveryKindAndField) {
  Storage& s = storage();
  const std::string trace = Id();
  std::vector<Event> events = EveryKind(trace);
  ASSERT_EQ(events.size(), 13u);
  ExpectValid(events);
  WriteResult r = Write(s, events);
  EXPECT_EQ(r.accepted, 13u);
  EXPECT_EQ(r.duplicate, 0u);
  for (const Event& e : events) ExpectSameEvent(Ok(s.GetEvent(e.id())), e);
  std::vector<Event> got = Ok(s.GetTraceEvents(trace));
  ASSERT_EQ(got.size(), events.size());
  for (size_t i = 0; i < got.size(); ++i) ExpectSameEvent(got[i], events[i]);
  TraceSummary sum = Ok(s.GetTraceSummary(trace));
  EXPECT_EQ(sum.trace_id, trace);
  EXPECT_EQ(sum.event_count, 13u);
  EXPECT_EQ(sum.first_ns, kBaseNs);
  EXPECT_EQ(sum.last_ns, kBaseNs + 12000);
  EXPECT_THAT(sum.services, ElementsAre("svc-0", "svc-1", "svc-2"));
}

TEST_P(StorageConformanceTest, RoundTripsEdgeValuesVerbatim) {
  Storage& s = storage();
  const std::string trace = Id();
  std::vector<Event> events;
  const std::vector<std::string> nasty = {
      "'; DROP TABLE events; --",
      "\" OR 1=1 --",
      "Robert'); DELETE FROM trace_summaries WHERE ('1'='1",
      "back\\slash \\\\ and %_ wildcards * ? [a-z]",
      "ünïcödé — 日本語 — emoji 🦀🔥 — combining é — rtl עברית",
      "line1\nline2\r\n\ttab \x01 control",
      "{\"looks\": [\"like\", \"json\"]}",
      "$1 :name @p ?",
  };
  for (size_t i = 0; i < nasty.size(); ++i) {
    Event e = Access(trace, static_cast<int64_t>(i), nasty[i], raceway::v1::ACCESS_TYPE_WRITE,
                     nasty[i], nasty[i]);
    e.mutable_state_change()->set_location(nasty[i]);
    *e.mutable_state_change()->mutable_new_value() = Json(nasty[i]);
    (*e.mutable_metadata()->mutable_tags())[nasty[i]] = nasty[i];
    e.add_lock_set(nasty[i]);
    e.mutable_metadata()->set_distributed_span_id(nasty[i]);
    events.push_back(e);
  }
  // Empty values everywhere optional.
  {
    Event e = Ev(trace, 100);
    e.mutable_function_call()->set_function_name("");
    e.mutable_function_call()->mutable_args()->mutable_struct_value();  // {}
    events.push_back(e);
    Event f = Ev(trace, 101);
    f.mutable_custom()->set_name("");
    f.mutable_custom()->mutable_data()->mutable_list_value();  // []
    events.push_back(f);
    Event g = Ev(trace, 102);
    g.mutable_custom()->mutable_data()->set_string_value("");
    events.push_back(g);
    Event h = Ev(trace, 103);
    h.mutable_error();  // All fields empty.
    events.push_back(h);
  }
  // 1 MiB JSON: a big string plus a wide object.
  {
    Event e = Ev(trace, 200);
    auto* fields = e.mutable_custom()->mutable_data()->mutable_struct_value()->mutable_fields();
    (*fields)["blob"].set_string_value(std::string(1 << 20, 'x'));
    for (int i = 0; i < 2000; ++i) (*fields)[absl::StrCat("k", i)].set_number_value(i * 0.5);
    e.mutable_custom()->set_name("big");
    events.push_back(e);
  }
  // Extreme numbers and times.
  {
    Event e = WithDuration(Ev(trace, 300), 18446744073709551615ULL);
    e.mutable_function_call()->mutable_args()->set_number_value(1.7976931348623157e308);
    events.push_back(e);
    Event f = Ev(trace, 301);
    f.mutable_function_call()->mutable_args()->set_number_value(-4.9e-324);
    events.push_back(f);
  }
  ExpectValid(events);
  WriteResult r = Write(s, events);
  EXPECT_EQ(r.accepted, events.size());
  for (const Event& e : events) ExpectSameEvent(Ok(s.GetEvent(e.id())), e);
  // Identifiers used as keys come back verbatim too.
  std::vector<VariableAccess> accesses = AllAccesses(s);
  ASSERT_EQ(accesses.size(), nasty.size());
  std::set<std::string> vars;
  for (const VariableAccess& a : accesses) {
    vars.insert(a.variable);
    EXPECT_EQ(a.variable, a.service_name);
    EXPECT_EQ(a.variable, a.thread_id);
    EXPECT_EQ(a.variable, a.location);
    EXPECT_EQ(a.variable, a.distributed_span_id);
    EXPECT_THAT(a.lock_set, ElementsAre(a.variable));
  }
  EXPECT_EQ(vars, std::set<std::string>(nasty.begin(), nasty.end()));
  for (const std::string& v : nasty) {
    auto one = AllAccesses(s, v);
    ASSERT_EQ(one.size(), 1u) << v;
    EXPECT_EQ(one[0].variable, v);
  }
  std::set<std::string> services;
  for (const ServiceStats& st : Ok(s.ListServices())) services.insert(st.service);
  for (const std::string& v : nasty) EXPECT_TRUE(services.contains(v)) << v;
  TraceFilter f;
  f.service = nasty[0];
  EXPECT_EQ(AllTraces(s, f).size(), 1u);
}

TEST_P(StorageConformanceTest, DuplicatesAcrossBatchesChangeNothing) {
  Storage& s = storage();
  const std::string trace = Id();
  Event root = WithDuration(Ev(trace, 0, "api"), 100);
  Event child = ChildOf(WithDuration(Ev(trace, 10, "db"), 300), root);
  Event access = ChildOf(Access(trace, 20, "x", raceway::v1::ACCESS_TYPE_WRITE, "db"), child);
  std::vector<Event> batch{root, child, access};
  const std::vector<std::string> ops = Operations(batch);
  WriteResult r = Write(s, batch);
  EXPECT_EQ(r.accepted, 3u);
  EXPECT_EQ(r.duplicate, 0u);
  const std::string before = Snapshot(s, ops);
  // The whole batch again.
  r = Write(s, batch);
  EXPECT_EQ(r.accepted, 0u);
  EXPECT_EQ(r.duplicate, 3u);
  EXPECT_EQ(Snapshot(s, ops), before);
  // A batch mixing old and new ids.
  Event extra = ChildOf(WithDuration(Ev(trace, 30, "api"), 200), child);
  r = Write(s, {child, extra, root});
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_EQ(r.duplicate, 2u);
  EXPECT_EQ(Ok(s.CountEvents()), 4u);
  EXPECT_EQ(Ok(s.GetTraceSummary(trace)).event_count, 4u);
  auto baselines = Ok(s.GetBaselines({"FunctionCall(handle)"}));
  ASSERT_EQ(baselines.size(), 1u);
  EXPECT_EQ(baselines[0].count, 3u);
  // A duplicate with different content does not overwrite the stored event.
  Event changed = root;
  changed.mutable_metadata()->set_service_name("other");
  r = Write(s, {changed});
  EXPECT_EQ(r.duplicate, 1u);
  EXPECT_EQ(Ok(s.GetEvent(root.id())).metadata().service_name(), "api");
  auto calls = Ok(s.ListServiceCalls({}));
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].from_service, "api");
  EXPECT_EQ(calls[0].to_service, "db");
  EXPECT_EQ(calls[0].call_count, 1u);
  EXPECT_EQ(calls[1].from_service, "db");
  EXPECT_EQ(calls[1].to_service, "api");
  EXPECT_EQ(calls[1].call_count, 1u);
}

TEST_P(StorageConformanceTest, ChildBeforeParentDerivesRowsWhenParentArrives) {
  Storage& s = storage();
  const std::string trace = Id();
  Event parent = Ev(trace, 0, "gateway");
  Event child = ChildOf(Ev(trace, 10, "orders"), parent);
  Event grandchild = ChildOf(Ev(trace, 20, "payments"), child);
  // Child and grandchild first, in separate batches, in reverse order.
  Write(s, {grandchild});
  EXPECT_THAT(Ok(s.ListServiceCalls({})), IsEmpty());
  Write(s, {child});
  auto calls = Ok(s.ListServiceCalls({}));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].from_service, "orders");
  EXPECT_EQ(calls[0].to_service, "payments");
  EXPECT_EQ(calls[0].link_type, "Parent");
  EXPECT_EQ(Ok(s.GetTraceEvents(trace)).size(), 2u);  // Orphans are stored and readable.
  Write(s, {parent});
  calls = Ok(s.ListServiceCalls({}));
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].from_service, "gateway");
  EXPECT_EQ(calls[0].to_service, "orders");
  EXPECT_EQ(calls[0].call_count, 1u);
  EXPECT_EQ(calls[0].trace_count, 1u);
  EXPECT_EQ(calls[1].from_service, "orders");
  EXPECT_EQ(calls[1].call_count, 1u);
  // Re-sending any of them changes nothing.
  Write(s, {parent, child, grandchild});
  auto again = Ok(s.ListServiceCalls({}));
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].call_count, 1u);
  EXPECT_EQ(again[1].call_count, 1u);

  // Within one batch, child listed before its parent; a parent in another
  // trace (cross-trace parent edge counts in the child's trace).
  const std::string t2 = Id();
  Event p2 = Ev(t2, 100, "gateway");
  Event c2 = ChildOf(Ev(t2, 110, "orders"), p2);
  Event x = ChildOf(Ev(Id(), 120, "search"), p2);
  Write(s, {c2, x, p2});
  calls = Ok(s.ListServiceCalls({}));
  std::map<std::string, uint64_t> by;
  for (const auto& c : calls) by[c.from_service + ">" + c.to_service] = c.call_count;
  EXPECT_EQ(by["gateway>orders"], 2u);
  EXPECT_EQ(by["gateway>search"], 1u);
  EXPECT_EQ(by["orders>payments"], 1u);
}

TEST_P(StorageConformanceTest, DerivedRowsAreOrderFreeAndIdempotent) {
  std::mt19937_64 rng(1234);
  std::vector<Event> events = RandomWorkload(rng, 8, 60);
  ExpectValid(events);
  const std::vector<std::string> ops = Operations(events);
  Storage& s = storage();
  Write(s, events);
  const std::string reference = Snapshot(s, ops);
  // Reverse order (children before parents), one event per batch.
  ASSERT_TRUE(s.Clear().ok());
  EXPECT_EQ(Ok(s.CountEvents()), 0u);
  for (auto it = events.rbegin(); it != events.rend(); ++it) Write(s, {*it});
  EXPECT_EQ(Snapshot(s, ops), reference);
  // Random order, random batch sizes, every batch possibly re-sent, plus a
  // few re-sent old events mixed into new batches.
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(s.Clear().ok());
    std::vector<Event> shuffled = events;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    size_t i = 0;
    while (i < shuffled.size()) {
      const size_t n = std::min<size_t>(1 + rng() % 40, shuffled.size() - i);
      std::vector<Event> batch(shuffled.begin() + i, shuffled.begin() + i + n);
      if (i > 0 && rng() % 2) batch.push_back(shuffled[rng() % i]);  // An old one.
      Write(s, batch);
      if (rng() % 3 == 0) {
        WriteResult again = Write(s, batch);
        EXPECT_EQ(again.accepted, 0u);
      }
      i += n;
    }
    EXPECT_EQ(Snapshot(s, ops), reference) << "round " << round;
  }
}

TEST_P(StorageConformanceTest, TraceEventsInTimestampIdOrderWithPages) {
  Storage& s = storage();
  const std::string trace = Id();
  std::vector<Event> events;
  for (int i = 0; i < 25; ++i) events.push_back(Ev(trace, (i % 5) * 1000));  // Ties on time.
  std::shuffle(events.begin(), events.end(), std::mt19937_64(7));
  Write(s, events);
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    const int64_t ta = raceway::model::TimestampNanos(a), tb = raceway::model::TimestampNanos(b);
    return ta != tb ? ta < tb : a.id() < b.id();
  });
  std::vector<Event> all = Ok(s.GetTraceEvents(trace));
  ASSERT_EQ(all.size(), events.size());
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].id(), events[i].id()) << i;
  for (uint32_t page : {1u, 2u, 4u, 5u, 24u, 25u, 26u}) {
    std::vector<Event> paged = AllTraceEvents(s, trace, page);
    ASSERT_EQ(paged.size(), events.size()) << page;
    for (size_t i = 0; i < paged.size(); ++i) EXPECT_EQ(paged[i].id(), events[i].id());
  }
  // Exactly one full page: no token.
  auto p = Ok(s.GetTraceEventsPage(trace, {25, ""}));
  EXPECT_EQ(p.items.size(), 25u);
  EXPECT_EQ(p.next_page_token, "");
  // page_size 0 = default (1000), caps at 10000.
  EXPECT_EQ(Ok(s.GetTraceEventsPage(trace, {0, ""})).items.size(), 25u);
  std::vector<Event> many;
  const std::string big = Id();
  for (int i = 0; i < 1100; ++i) many.push_back(Ev(big, i));
  Write(s, many);
  auto def = Ok(s.GetTraceEventsPage(big, {0, ""}));
  EXPECT_EQ(def.items.size(), 1000u);
  EXPECT_FALSE(def.next_page_token.empty());
  EXPECT_EQ(Ok(s.GetTraceEventsPage(big, {4000000000u, ""})).items.size(), 1100u);
  // The token from one trace's last page, used after the end, gives an empty page.
  auto last = Ok(s.GetTraceEventsPage(big, {1000, def.next_page_token}));
  EXPECT_EQ(last.items.size(), 100u);
  EXPECT_EQ(last.next_page_token, "");
}

TEST_P(StorageConformanceTest, TraceEventPagesNeitherSkipNorRepeatWhileWriting) {
  Storage& s = storage();
  const std::string trace = Id();
  std::vector<Event> initial;
  for (int i = 0; i < 300; ++i) initial.push_back(Ev(trace, i * 1000));
  Write(s, initial);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::mt19937_64 rng(3);
    while (!stop.load()) {
      std::vector<Event> batch;
      for (int i = 0; i < 5; ++i) batch.push_back(Ev(trace, static_cast<int64_t>(rng() % 300000)));
      Write(s, batch);
    }
  });
  std::vector<Event> seen = AllTraceEvents(s, trace, 7);
  stop = true;
  writer.join();
  std::set<std::string> ids;
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_TRUE(ids.insert(seen[i].id()).second) << "repeated " << seen[i].id();
    if (i > 0) {
      const int64_t a = raceway::model::TimestampNanos(seen[i - 1]);
      const int64_t b = raceway::model::TimestampNanos(seen[i]);
      EXPECT_TRUE(a < b || (a == b && seen[i - 1].id() < seen[i].id())) << i;
    }
  }
  for (const Event& e : initial) EXPECT_TRUE(ids.contains(e.id())) << "skipped " << e.id();
}

TEST_P(StorageConformanceTest, ListTracesNewestFirstWithFiltersAndTotal) {
  Storage& s = storage();
  std::vector<std::string> ids;
  std::vector<Event> events;
  for (int t = 0; t < 30; ++t) {
    ids.push_back(Id());
    for (int i = 0; i <= t % 4; ++i) {
      events.push_back(Ev(ids[t], t * 1000000 + i, t % 3 == 0 ? "alpha" : "beta"));
    }
  }
  // Two traces with the same last_ns: ties by trace_id descending.
  const std::string tie_a = "ffffffff-0000-4000-8000-000000000000";
  const std::string tie_b = "00000000-0000-4000-8000-000000000000";
  events.push_back(Ev(tie_a, 500000000, "gamma"));
  events.push_back(Ev(tie_b, 500000000, "gamma"));
  Write(s, events);

  uint64_t total = 0;
  auto all = AllTraces(s, {}, 4);
  ASSERT_EQ(all.size(), 32u);
  EXPECT_EQ(all[0].trace_id, tie_a);
  EXPECT_EQ(all[1].trace_id, tie_b);
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_TRUE(all[i - 1].last_ns > all[i].last_ns ||
                (all[i - 1].last_ns == all[i].last_ns && all[i - 1].trace_id > all[i].trace_id));
  }
  auto page = Ok(s.ListTraces({}, {5, ""}, &total));
  EXPECT_EQ(total, 32u);
  EXPECT_EQ(page.items.size(), 5u);
  EXPECT_FALSE(page.next_page_token.empty());
  // page_size 0 = 100 (all here); last page has no token.
  EXPECT_EQ(Ok(s.ListTraces({}, {0, ""}, nullptr)).items.size(), 32u);
  EXPECT_EQ(Ok(s.ListTraces({}, {0, ""}, nullptr)).next_page_token, "");
  EXPECT_EQ(Ok(s.ListTraces({}, {32, ""}, nullptr)).next_page_token, "");

  TraceFilter by_service;
  by_service.service = "alpha";
  auto alpha = AllTraces(s, by_service, 3);
  EXPECT_EQ(alpha.size(), 10u);
  for (const auto& t : alpha) EXPECT_THAT(t.services, ElementsAre("alpha"));
  Ok(s.ListTraces(by_service, {1, ""}, &total));
  EXPECT_EQ(total, 10u);

  TraceFilter by_count;
  by_count.min_events = 4;
  auto big = AllTraces(s, by_count, 2);
  EXPECT_EQ(big.size(), 7u);  // t % 4 == 3.
  for (const auto& t : big) EXPECT_EQ(t.event_count, 4u);

  TraceFilter by_time;
  by_time.last_activity.start_ns = kBaseNs + 10 * 1000000;
  by_time.last_activity.end_ns = kBaseNs + 20 * 1000000;
  auto window = AllTraces(s, by_time, 3);
  EXPECT_EQ(window.size(), 10u);  // t = 10..19.
  for (const auto& t : window) {
    EXPECT_GE(t.last_ns, *by_time.last_activity.start_ns);
    EXPECT_LT(t.last_ns, *by_time.last_activity.end_ns);
  }
  TraceFilter combined = by_time;
  combined.service = "beta";
  combined.min_events = 2;
  Ok(s.ListTraces(combined, {100, ""}, &total));
  int expected = 0;
  for (int t = 10; t < 20; ++t) expected += (t % 3 != 0 && t % 4 >= 1) ? 1 : 0;
  EXPECT_EQ(total, static_cast<uint64_t>(expected));
  EXPECT_EQ(AllTraces(s, combined, 1).size(), static_cast<size_t>(expected));
  TraceFilter none;
  none.service = "nope";
  EXPECT_THAT(AllTraces(s, none), IsEmpty());
}

// The documented ListTraces guarantee while writes continue: no trace is
// returned twice; every trace whose last activity does not change during
// the listing is returned; the sequence is strictly descending by
// (last_ns, trace_id). A trace updated during the listing moves towards the
// front and may be missed by this listing (it appears first in a new one).
TEST_P(StorageConformanceTest, ListTracesPagesNeitherSkipNorRepeatWhileWriting) {
  Storage& s = storage();
  std::vector<std::string> initial;
  std::vector<Event> events;
  for (int t = 0; t < 200; ++t) {
    initial.push_back(Id());
    events.push_back(Ev(initial.back(), t * 1000));
  }
  Write(s, events);
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::set<std::string> touched;
  std::thread writer([&] {
    std::mt19937_64 rng(5);
    while (!stop.load()) {
      std::vector<Event> batch;
      // A new trace anywhere in time, and a newer event for an old trace.
      batch.push_back(Ev(Id(), static_cast<int64_t>(rng() % 300000)));
      const std::string& moved = initial[rng() % initial.size()];
      {
        std::lock_guard<std::mutex> lock(mu);
        touched.insert(moved);
      }
      batch.push_back(Ev(moved, 200000 + static_cast<int64_t>(rng() % 100000)));
      Write(s, batch);
    }
  });
  std::vector<TraceSummary> seen = AllTraces(s, {}, 9);
  stop = true;
  writer.join();
  std::set<std::string> ids;
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_TRUE(ids.insert(seen[i].trace_id).second) << "repeated " << seen[i].trace_id;
    if (i > 0) {
      EXPECT_TRUE(
          seen[i - 1].last_ns > seen[i].last_ns ||
          (seen[i - 1].last_ns == seen[i].last_ns && seen[i - 1].trace_id > seen[i].trace_id));
    }
  }
  for (const std::string& t : initial) {
    if (!touched.contains(t)) {
      EXPECT_TRUE(ids.contains(t)) << "skipped " << t;
    }
  }
}

TEST_P(StorageConformanceTest, VariableAccessIndex) {
  Storage& s = storage();
  const std::string t1 = Id(), t2 = Id();
  std::vector<Event> events;
  for (int i = 0; i < 10; ++i) {
    Event e = Access(i % 2 ? t1 : t2, i * 100, i % 3 ? "balance" : "config",
                     i % 2 ? raceway::v1::ACCESS_TYPE_WRITE : raceway::v1::ACCESS_TYPE_ATOMIC_READ,
                     absl::StrCat("svc", i % 2), absl::StrCat("th", i));
    e.mutable_state_change()->set_location(absl::StrCat("f.rs:", i));
    e.add_lock_set("m1");
    if (i == 4) e.clear_lock_set();
    e.mutable_metadata()->set_distributed_span_id(absl::StrCat("span", i));
    e.mutable_metadata()->set_upstream_span_id(i ? absl::StrCat("span", i - 1) : "");
    events.push_back(e);
  }
  events.push_back(Ev(t1, 5));  // Not a StateChange: not indexed.
  Write(s, events);
  auto all = AllAccesses(s, "", {}, 3);
  ASSERT_EQ(all.size(), 10u);
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_TRUE(std::tie(all[i - 1].variable, all[i - 1].timestamp_ns, all[i - 1].event_id) <
                std::tie(all[i].variable, all[i].timestamp_ns, all[i].event_id));
  }
  EXPECT_EQ(all[0].variable, "balance");
  for (const VariableAccess& a : all) {
    const Event* e = nullptr;
    for (const Event& c : events) {
      if (c.id() == a.event_id) e = &c;
    }
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(a.trace_id, e->trace_id());
    EXPECT_EQ(a.timestamp_ns, raceway::model::TimestampNanos(*e));
    EXPECT_EQ(a.thread_id, e->metadata().thread_id());
    EXPECT_EQ(a.service_name, e->metadata().service_name());
    EXPECT_EQ(a.access_type, e->state_change().access_type());
    EXPECT_EQ(a.location, e->state_change().location());
    EXPECT_EQ(a.lock_set, std::vector<std::string>(e->lock_set().begin(), e->lock_set().end()));
    EXPECT_EQ(a.distributed_span_id, e->metadata().distributed_span_id());
    EXPECT_EQ(a.upstream_span_id, e->metadata().upstream_span_id());
  }
  auto config = AllAccesses(s, "config", {}, 1);
  ASSERT_EQ(config.size(), 4u);  // i = 0, 3, 6, 9
  for (const auto& a : config) EXPECT_EQ(a.variable, "config");
  TimeRange range;
  range.start_ns = kBaseNs + 300;
  range.end_ns = kBaseNs + 900;  // Exclusive.
  auto windowed = AllAccesses(s, "config", range, 1);
  ASSERT_EQ(windowed.size(), 2u);  // 300, 600
  EXPECT_EQ(windowed[0].timestamp_ns, kBaseNs + 300);
  EXPECT_EQ(windowed[1].timestamp_ns, kBaseNs + 600);
  auto windowed_all = AllAccesses(s, "", range, 2);
  EXPECT_EQ(windowed_all.size(), 6u);  // 300..800
  EXPECT_THAT(AllAccesses(s, "nope"), IsEmpty());
  // page_size 0 = default.
  EXPECT_EQ(Ok(s.GetVariableAccesses("", {}, {})).items.size(), 10u);
  // A token from the all-variables listing used with a variable filter.
  auto first = Ok(s.GetVariableAccesses("", {}, {1, ""}));
  ASSERT_EQ(first.items[0].variable, "balance");
  EXPECT_EQ(Ok(s.GetVariableAccesses("config", {}, {100, first.next_page_token})).items.size(), 4u);
  EXPECT_EQ(Ok(s.GetVariableAccesses("balance", {}, {100, first.next_page_token})).items.size(),
            5u);
  EXPECT_EQ(Ok(s.GetVariableAccesses("a", {}, {100, first.next_page_token})).items.size(), 0u);
}

TEST_P(StorageConformanceTest, VariableAccessPagesNeitherSkipNorRepeatWhileWriting) {
  Storage& s = storage();
  std::vector<Event> initial;
  for (int i = 0; i < 300; ++i) {
    initial.push_back(
        Access(Id(), i * 10, absl::StrCat("v", i % 3), raceway::v1::ACCESS_TYPE_WRITE));
  }
  Write(s, initial);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::mt19937_64 rng(9);
    while (!stop.load()) {
      Write(s, {Access(Id(), static_cast<int64_t>(rng() % 3000), absl::StrCat("v", rng() % 3),
                       raceway::v1::ACCESS_TYPE_READ)});
    }
  });
  auto seen = AllAccesses(s, "", {}, 11);
  auto one_var = AllAccesses(s, "v1", {}, 4);
  stop = true;
  writer.join();
  for (const auto* list : {&seen, &one_var}) {
    std::set<std::string> ids;
    for (const auto& a : *list) EXPECT_TRUE(ids.insert(a.event_id).second) << "repeated";
    for (const Event& e : initial) {
      if (list == &one_var && e.state_change().variable() != "v1") continue;
      EXPECT_TRUE(ids.contains(e.id())) << "skipped " << e.id();
    }
  }
}

TEST_P(StorageConformanceTest, BaselinesMatchSinglePassWelford) {
  Storage& s = storage();
  const std::string trace = Id();
  std::map<std::string, raceway::model::WelfordStats> want;
  std::vector<Event> events;
  std::mt19937_64 rng(11);
  for (int i = 0; i < 200; ++i) {
    Event e = Ev(trace, i);
    if (i % 4 == 0) {
      e.mutable_http_response()->set_status(200);
      e.mutable_http_response()->set_duration_ms(rng() % 40);  // duration from duration_ms
    } else {
      e.mutable_function_call()->set_function_name(i % 2 ? "a" : "b");
      if (i % 7 == 0) {  // No duration: does not feed baselines.
        events.push_back(e);
        continue;
      }
      e.mutable_metadata()->set_duration_ns(1000 + rng() % 100000);
    }
    want[raceway::model::OperationKey(e)].Add(static_cast<double>(*raceway::model::DurationNs(e)));
    events.push_back(e);
  }
  for (size_t i = 0; i < events.size(); i += 17) {
    Write(s,
          std::vector<Event>(events.begin() + i, events.begin() + std::min(events.size(), i + 17)));
  }
  auto got = Ok(s.GetBaselines(
      {"FunctionCall(a)", "nope", "HttpResponse(200)", "FunctionCall(b)", "FunctionCall(a)"}));
  ASSERT_EQ(got.size(), 3u);  // Missing keys omitted, duplicates once.
  EXPECT_EQ(got[0].operation, "FunctionCall(a)");
  EXPECT_EQ(got[1].operation, "HttpResponse(200)");
  EXPECT_EQ(got[2].operation, "FunctionCall(b)");
  for (const Baseline& b : got) {
    const auto& w = want.at(b.operation);
    EXPECT_EQ(b.count, w.count) << b.operation;
    EXPECT_NEAR(b.mean, w.mean, 1e-9 * std::abs(w.mean)) << b.operation;
    EXPECT_NEAR(b.m2, w.m2, 1e-9 * std::abs(w.m2) + 1e-6) << b.operation;
    EXPECT_EQ(b.min, w.min) << b.operation;
    EXPECT_EQ(b.max, w.max) << b.operation;
  }
}

TEST_P(StorageConformanceTest, ConcurrentWelfordMergeFromFourThreadsEqualsSinglePass) {
  Storage& s = storage();
  const int batches = std::max(5, static_cast<int>(40 * TestScale()));
  const char* keys[] = {"alpha", "beta", "gamma"};
  std::vector<std::vector<std::vector<Event>>> work(4);
  std::map<std::string, raceway::model::WelfordStats> want;
  std::mt19937_64 rng(21);
  for (int t = 0; t < 4; ++t) {
    for (int b = 0; b < batches; ++b) {
      std::vector<Event> batch;
      const std::string trace = Id();
      for (int i = 0; i < 50; ++i) {
        Event e = Ev(trace, i);
        e.mutable_function_call()->set_function_name(keys[rng() % 3]);
        // Wide spread with a large offset: numerically demanding.
        e.mutable_metadata()->set_duration_ns(1000000000ULL + rng() % 5000000);
        want[raceway::model::OperationKey(e)].Add(static_cast<double>(e.metadata().duration_ns()));
        batch.push_back(std::move(e));
      }
      work[t].push_back(std::move(batch));
    }
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (const auto& batch : work[t]) Write(s, batch);
    });
  }
  for (auto& th : threads) th.join();
  std::vector<std::string> ops;
  for (const auto& [k, w] : want) ops.push_back(k);
  auto got = Ok(s.GetBaselines(ops));
  ASSERT_EQ(got.size(), want.size());
  for (const Baseline& b : got) {
    const auto& w = want.at(b.operation);
    EXPECT_EQ(b.count, w.count) << b.operation;
    EXPECT_NEAR(b.mean, w.mean, 1e-9 * w.mean) << b.operation;
    EXPECT_NEAR(b.m2, w.m2, 1e-6 * w.m2) << b.operation;
    EXPECT_EQ(b.min, w.min);
    EXPECT_EQ(b.max, w.max);
  }
}

// A scenario with known aggregates.
struct Scenario {
  std::string t1 = Id(), t2 = Id();
  std::vector<Event> events;
  Scenario() {
    Event e1 = WithDuration(Ev(t1, 1000, "A"), 100);
    Event e2 = ChildOf(WithDuration(Ev(t1, 2000, "B"), 300), e1);
    e2.mutable_http_request()->set_method("GET");
    Event e3 = ChildOf(Access(t1, 3000, "x", raceway::v1::ACCESS_TYPE_WRITE, "B"), e2);
    Event e4 = ChildOf(Access(t1, 4000, "x", raceway::v1::ACCESS_TYPE_READ, "A"), e1);
    Event e5 = ChildOf(Access(t1, 5000, "y", raceway::v1::ACCESS_TYPE_WRITE, "A"), e1);
    Event f1 = WithDuration(Ev(t2, 10000, "A"), 50);
    f1.mutable_metadata()->set_distributed_span_id("s1");
    Event f2 = WithDuration(Ev(t2, 11000, "C"), 150);
    f2.mutable_metadata()->set_distributed_span_id("s2");
    f2.mutable_metadata()->set_upstream_span_id("s1");
    Event f3 = Ev(t2, 12000, "C");
    f3.mutable_http_response()->set_status(200);
    f3.mutable_http_response()->set_duration_ms(2);
    f3.mutable_metadata()->set_distributed_span_id("s2");
    f3.mutable_metadata()->set_upstream_span_id("s1");
    Event f4 = Ev(t2, 13000, "C");
    f4.mutable_metadata()->set_distributed_span_id("s3");
    f4.mutable_metadata()->set_upstream_span_id("s1");
    (*f4.mutable_metadata()->mutable_tags())["link_type"] = "MessageQueue";
    Event f5 = ChildOf(Access(t2, 14000, "x", raceway::v1::ACCESS_TYPE_WRITE, "C"), f1);
    events = {e1, e2, e3, e4, e5, f1, f2, f3, f4, f5};
  }
};

TEST_P(StorageConformanceTest, ServiceAggregates) {
  Storage& s = storage();
  Scenario sc;
  ExpectValid(sc.events);
  Write(s, sc.events);
  EXPECT_EQ(Ok(s.CountEvents()), 10u);
  EXPECT_EQ(Ok(s.CountTraces()), 2u);

  auto services = Ok(s.ListServices());
  ASSERT_EQ(services.size(), 3u);
  EXPECT_EQ(services[0].service, "A");
  EXPECT_EQ(services[0].event_count, 4u);
  EXPECT_EQ(services[0].trace_count, 2u);
  EXPECT_EQ(services[0].first_ns, kBaseNs + 1000);
  EXPECT_EQ(services[0].last_ns, kBaseNs + 10000);
  EXPECT_EQ(services[1].service, "B");
  EXPECT_EQ(services[1].event_count, 2u);
  EXPECT_EQ(services[1].trace_count, 1u);
  EXPECT_EQ(services[2].service, "C");
  EXPECT_EQ(services[2].event_count, 4u);
  EXPECT_EQ(services[2].last_ns, kBaseNs + 14000);

  auto calls = Ok(s.ListServiceCalls({}));
  std::vector<std::string> rows;
  for (const auto& c : calls) {
    rows.push_back(absl::StrCat(c.from_service, ">", c.to_service, " ", c.link_type, " ",
                                c.call_count, " ", c.trace_count));
  }
  // f2 (default, priority 2) and f3 (HttpResponse, priority 1) both create
  // s1->s2: one call, link HttpCall. f4's tag makes s1->s3 a MessageQueue.
  EXPECT_THAT(rows, ElementsAre("A>B Parent 1 1", "A>C HttpCall 1 1", "A>C MessageQueue 1 1",
                                "A>C Parent 1 1"));
  TimeRange only_t2;
  only_t2.start_ns = kBaseNs + 9000;
  rows.clear();
  for (const auto& c : Ok(s.ListServiceCalls(only_t2)))
    rows.push_back(c.from_service + ">" + c.to_service + " " + c.link_type);
  EXPECT_THAT(rows, ElementsAre("A>C HttpCall", "A>C MessageQueue", "A>C Parent"));
  TimeRange only_t1;
  only_t1.end_ns = kBaseNs + 6000;
  rows.clear();
  for (const auto& c : Ok(s.ListServiceCalls(only_t1)))
    rows.push_back(c.from_service + ">" + c.to_service + " " + c.link_type);
  EXPECT_THAT(rows, ElementsAre("A>B Parent"));
  TimeRange gap;  // Overlaps no trace's activity.
  gap.start_ns = kBaseNs + 6000;
  gap.end_ns = kBaseNs + 9000;
  EXPECT_THAT(Ok(s.ListServiceCalls(gap)), IsEmpty());

  auto vars = Ok(s.TopVariables({}, 10));
  ASSERT_EQ(vars.size(), 2u);
  EXPECT_EQ(vars[0].variable, "x");
  EXPECT_EQ(vars[0].access_count, 3u);
  EXPECT_EQ(vars[0].trace_count, 2u);
  EXPECT_THAT(vars[0].services, ElementsAre("A", "B", "C"));
  EXPECT_EQ(vars[1].variable, "y");
  EXPECT_EQ(vars[1].access_count, 1u);
  EXPECT_EQ(vars[1].trace_count, 1u);
  EXPECT_THAT(vars[1].services, ElementsAre("A"));
  auto top1 = Ok(s.TopVariables({}, 1));
  ASSERT_EQ(top1.size(), 1u);
  EXPECT_EQ(top1[0].variable, "x");
  auto vars_t2 = Ok(s.TopVariables(only_t2, 10));
  ASSERT_EQ(vars_t2.size(), 1u);
  EXPECT_EQ(vars_t2[0].access_count, 1u);
  EXPECT_THAT(vars_t2[0].services, ElementsAre("C"));
  EXPECT_THAT(Ok(s.TopVariables({}, 0)), IsEmpty());

  auto kinds = Ok(s.DurationsByKind({}));
  ASSERT_EQ(kinds.size(), 3u);
  EXPECT_EQ(kinds[0].name, "FunctionCall");
  EXPECT_EQ(kinds[0].count, 3u);
  EXPECT_DOUBLE_EQ(kinds[0].avg_duration_ns, 100.0);
  EXPECT_EQ(kinds[1].name, "HttpRequest");
  EXPECT_EQ(kinds[1].count, 1u);
  EXPECT_DOUBLE_EQ(kinds[1].avg_duration_ns, 300.0);
  EXPECT_EQ(kinds[2].name, "HttpResponse");
  EXPECT_DOUBLE_EQ(kinds[2].avg_duration_ns, 2e6);
  auto kinds_t1 = Ok(s.DurationsByKind(only_t1));
  ASSERT_EQ(kinds_t1.size(), 2u);
  EXPECT_EQ(kinds_t1[0].count, 1u);
  EXPECT_DOUBLE_EQ(kinds_t1[0].avg_duration_ns, 100.0);

  auto by_svc = Ok(s.DurationsByService({}));
  ASSERT_EQ(by_svc.size(), 3u);
  EXPECT_EQ(by_svc[0].name, "A");
  EXPECT_EQ(by_svc[0].count, 2u);
  EXPECT_DOUBLE_EQ(by_svc[0].avg_duration_ns, 75.0);
  EXPECT_EQ(by_svc[1].name, "B");
  EXPECT_DOUBLE_EQ(by_svc[1].avg_duration_ns, 300.0);
  EXPECT_EQ(by_svc[2].name, "C");
  EXPECT_EQ(by_svc[2].count, 2u);
  EXPECT_DOUBLE_EQ(by_svc[2].avg_duration_ns, (150.0 + 2e6) / 2);

  TraceSummary t2 = Ok(s.GetTraceSummary(sc.t2));
  EXPECT_EQ(t2.event_count, 5u);
  EXPECT_THAT(t2.services, ElementsAre("A", "C"));
}

TEST_P(StorageConformanceTest, SpanLinkTypeIsOrderFree) {
  Storage& s = storage();
  const std::string trace = Id();
  auto span_event = [&](const std::string& span, const std::string& up, const std::string& svc) {
    Event e = Ev(trace, 1, svc);
    e.mutable_metadata()->set_distributed_span_id(span);
    e.mutable_metadata()->set_upstream_span_id(up);
    return e;
  };
  Event caller = span_event("u", "", "front");
  Event plain = span_event("d", "u", "back");  // HttpCall, priority 2
  Event db = span_event("d", "u", "back");     // DatabaseQuery, priority 1
  db.mutable_database_query()->set_query("SELECT 1");
  Event tagged = span_event("d", "u", "back");  // GrpcCall, priority 0
  (*tagged.mutable_metadata()->mutable_tags())["link_type"] = "GrpcCall";
  Event bogus = span_event("d", "u", "back");  // Unknown tag: ignored.
  (*bogus.mutable_metadata()->mutable_tags())["link_type"] = "Carrier pigeon";
  std::vector<Event> all{caller, plain, db, tagged, bogus};
  std::vector<int> order{0, 1, 2, 3, 4};
  do {
    ASSERT_TRUE(s.Clear().ok());
    for (int i : order) Write(s, {all[i]});
    auto calls = Ok(s.ListServiceCalls({}));
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].link_type, "GrpcCall");
    EXPECT_EQ(calls[0].call_count, 1u);
  } while (std::next_permutation(order.begin(), order.end()) && order[0] < 2);
  ASSERT_TRUE(s.Clear().ok());
  Write(s, {plain, caller, db});
  auto calls = Ok(s.ListServiceCalls({}));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].link_type, "DatabaseQuery");
}

TEST_P(StorageConformanceTest, RetentionDeletesOldTracesAndTheirRows) {
  Storage& s = storage();
  Scenario sc;  // t1 ends at +5000, t2 at +14000.
  Write(s, sc.events);
  const std::string orphan_trace = Id();
  Event orphan = ChildOf(Access(orphan_trace, 2000, "z", raceway::v1::ACCESS_TYPE_WRITE, "Z"),
                         Ev(Id(), 0));  // Parent never arrives.
  Write(s, {orphan});
  const std::vector<std::string> ops = Operations(sc.events);
  auto baselines_before = Ok(s.GetBaselines(ops));

  EXPECT_EQ(Ok(s.DeleteTracesBefore(kBaseNs + 5000)), 1u);  // orphan trace only (strict <).
  EXPECT_EQ(s.GetTraceSummary(orphan_trace).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Ok(s.DeleteTracesBefore(kBaseNs + 5001)), 1u);  // t1
  EXPECT_EQ(Ok(s.CountTraces()), 1u);
  EXPECT_EQ(Ok(s.CountEvents()), 5u);
  for (const std::string& t : {sc.t1, orphan_trace}) {
    EXPECT_EQ(s.GetTraceSummary(t).status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(s.GetTraceEvents(t).status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(s.GetTraceEventsPage(t, {}).status().code(), absl::StatusCode::kNotFound);
  }
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(s.GetEvent(sc.events[i].id()).status().code(), absl::StatusCode::kNotFound);
  }
  EXPECT_TRUE(s.GetEvent(sc.events[5].id()).ok());
  auto accesses = AllAccesses(s);
  ASSERT_EQ(accesses.size(), 1u);
  EXPECT_EQ(accesses[0].trace_id, sc.t2);
  auto services = Ok(s.ListServices());
  ASSERT_EQ(services.size(), 2u);  // A, C
  EXPECT_EQ(services[0].service, "A");
  EXPECT_EQ(services[0].event_count, 1u);
  EXPECT_EQ(services[0].trace_count, 1u);
  std::vector<std::string> rows;
  for (const auto& c : Ok(s.ListServiceCalls({})))
    rows.push_back(c.from_service + ">" + c.to_service + " " + c.link_type);
  EXPECT_THAT(rows, ElementsAre("A>C HttpCall", "A>C MessageQueue", "A>C Parent"));
  auto vars = Ok(s.TopVariables({}, 10));
  ASSERT_EQ(vars.size(), 1u);
  EXPECT_EQ(vars[0].access_count, 1u);
  auto kinds = Ok(s.DurationsByKind({}));
  ASSERT_EQ(kinds.size(), 2u);  // FunctionCall (f1, f2), HttpResponse
  EXPECT_EQ(kinds[0].count, 2u);
  uint64_t total = 0;
  EXPECT_EQ(Ok(s.ListTraces({}, {}, &total)).items.size(), 1u);
  EXPECT_EQ(total, 1u);
  // Baselines summarise history: unchanged.
  auto baselines_after = Ok(s.GetBaselines(ops));
  ASSERT_EQ(baselines_after.size(), baselines_before.size());
  for (size_t i = 0; i < baselines_after.size(); ++i) {
    EXPECT_EQ(baselines_after[i].count, baselines_before[i].count);
  }
  // A deleted event may be written again (a new trace as far as storage knows).
  WriteResult again = Write(s, {sc.events[0]});
  EXPECT_EQ(again.accepted, 1u);
  EXPECT_EQ(Ok(s.DeleteTracesBefore(kBaseNs + 1000000000)), 2u);
  EXPECT_EQ(Ok(s.CountEvents()), 0u);
  EXPECT_THAT(Ok(s.ListServices()), IsEmpty());
  EXPECT_THAT(Ok(s.ListServiceCalls({})), IsEmpty());
}

TEST_P(StorageConformanceTest, RetentionOfManyTraces) {
  Storage& s = storage();
  std::vector<Event> events;
  for (int t = 0; t < 700; ++t) {
    const std::string trace = Id();
    events.push_back(Ev(trace, t));
    events.push_back(Access(trace, t, "v", raceway::v1::ACCESS_TYPE_WRITE));
  }
  Write(s, events);
  EXPECT_EQ(Ok(s.DeleteTracesBefore(kBaseNs + 600)), 600u);
  EXPECT_EQ(Ok(s.CountTraces()), 100u);
  EXPECT_EQ(Ok(s.CountEvents()), 200u);
  EXPECT_EQ(AllAccesses(s, "v", {}, 1000).size(), 100u);
}

TEST_P(StorageConformanceTest, ClearRemovesEverything) {
  Storage& s = storage();
  Scenario sc;
  Write(s, sc.events);
  ASSERT_TRUE(s.Clear().ok());
  EXPECT_EQ(Ok(s.CountEvents()), 0u);
  EXPECT_EQ(Ok(s.CountTraces()), 0u);
  EXPECT_THAT(Ok(s.GetBaselines(Operations(sc.events))), IsEmpty());
  EXPECT_THAT(Ok(s.ListServices()), IsEmpty());
  EXPECT_THAT(Ok(s.ListServiceCalls({})), IsEmpty());
  EXPECT_THAT(AllAccesses(s), IsEmpty());
  EXPECT_EQ(s.GetEvent(sc.events[0].id()).status().code(), absl::StatusCode::kNotFound);
  // Everything can be written again.
  EXPECT_EQ(Write(s, sc.events).accepted, sc.events.size());
}

TEST_P(StorageConformanceTest, HundredThousandEventBatch) {
  Storage& s = storage();
  const int n = std::max(1000, static_cast<int>(100000 * TestScale()));
  std::mt19937_64 rng(17);
  std::vector<std::string> traces;
  for (int t = 0; t < 100; ++t) traces.push_back(Id());
  std::vector<Event> events;
  events.reserve(n);
  for (int i = 0; i < n; ++i) {
    const std::string& trace = traces[i % 100];
    Event e = i % 3 == 0 ? Access(trace, i, absl::StrCat("var", i % 50),
                                  raceway::v1::ACCESS_TYPE_WRITE, absl::StrCat("svc", i % 5))
                         : Ev(trace, i, absl::StrCat("svc", i % 5), absl::StrCat("t", i % 8));
    if (i % 2) e.mutable_metadata()->set_duration_ns(rng() % 100000);
    if (i >= 100) e.set_parent_id(events[i - 100].id());
    events.push_back(std::move(e));
  }
  const auto start = std::chrono::steady_clock::now();
  WriteResult r = Write(s, events);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[%s] one batch of %d events: %.2f s (%.0f events/s)\n", s.BackendName().c_str(), n,
              secs, n / secs);
  EXPECT_EQ(r.accepted, static_cast<uint32_t>(n));
  EXPECT_EQ(Ok(s.CountEvents()), static_cast<uint64_t>(n));
  EXPECT_EQ(Ok(s.CountTraces()), 100u);
  auto one = Ok(s.GetTraceEvents(traces[7]));
  EXPECT_EQ(one.size(), static_cast<size_t>(n / 100));
  for (size_t i = 1; i < one.size(); ++i) {
    EXPECT_LT(raceway::model::TimestampNanos(one[i - 1]), raceway::model::TimestampNanos(one[i]));
  }
  EXPECT_EQ(Ok(s.TopVariables({}, 100)).size(), 50u);
  // Re-sending the whole batch: all duplicates.
  r = Write(s, events);
  EXPECT_EQ(r.duplicate, static_cast<uint32_t>(n));
  EXPECT_EQ(Ok(s.CountEvents()), static_cast<uint64_t>(n));
}

TEST_P(StorageConformanceTest, ManyConcurrentWritersAndReaders) {
  Storage& s = storage();
  const int writers = 8;
  const int batches = std::max(3, static_cast<int>(25 * TestScale()));
  const int per_batch = 100;
  std::atomic<int> writers_done{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  std::vector<std::string> shared_traces;
  for (int i = 0; i < 10; ++i) shared_traces.push_back(Id());
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(100 + w);
      for (int b = 0; b < batches; ++b) {
        std::vector<Event> batch;
        for (int i = 0; i < per_batch; ++i) {
          // Writers share traces and keys: contention on the same rows.
          const std::string& trace = shared_traces[rng() % shared_traces.size()];
          Event e = rng() % 2 ? Access(trace, static_cast<int64_t>(rng() % 1000000),
                                       absl::StrCat("shared", rng() % 4),
                                       raceway::v1::ACCESS_TYPE_WRITE, absl::StrCat("w", w))
                              : WithDuration(Ev(trace, static_cast<int64_t>(rng() % 1000000),
                                                absl::StrCat("w", w)),
                                             rng() % 1000);
          batch.push_back(std::move(e));
        }
        auto ptrs = Ptrs(batch);
        auto r = s.WriteBatch(ptrs);
        if (!r.ok() || r->accepted != static_cast<uint32_t>(per_batch)) ++errors;
      }
      ++writers_done;
    });
  }
  std::atomic<uint64_t> reads{0};
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&, r] {
      uint64_t last_count = 0;
      while (writers_done.load() < writers) {
        auto count = s.CountEvents();
        if (!count.ok() || *count < last_count) ++errors;  // Counts never go backwards.
        if (count.ok()) last_count = *count;
        switch (r) {
          case 0:
            if (!s.ListTraces({}, {10, ""}, nullptr).ok()) ++errors;
            if (auto ev = s.GetTraceEvents(shared_traces[0]);
                !ev.ok() && ev.status().code() != absl::StatusCode::kNotFound) {
              ++errors;
            }
            break;
          case 1:
            if (!s.GetVariableAccesses("shared1", {}, {50, ""}).ok()) ++errors;
            if (!s.TopVariables({}, 5).ok()) ++errors;
            break;
          default:
            if (!s.ListServices().ok() || !s.DurationsByService({}).ok() ||
                !s.ListServiceCalls({}).ok() || !s.GetBaselines({"FunctionCall(handle)"}).ok()) {
              ++errors;
            }
        }
        ++reads;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(reads.load(), 0u);
  const uint64_t total = static_cast<uint64_t>(writers) * batches * per_batch;
  EXPECT_EQ(Ok(s.CountEvents()), total);
  uint64_t sum = 0;
  for (const auto& t : AllTraces(s)) sum += t.event_count;
  EXPECT_EQ(sum, total);
  uint64_t accesses = 0;
  for (const auto& v : Ok(s.TopVariables({}, 10))) accesses += v.access_count;
  EXPECT_EQ(accesses, AllAccesses(s, "", {}, 10000).size());
  auto base = Ok(s.GetBaselines({"FunctionCall(handle)"}));
  ASSERT_EQ(base.size(), 1u);
  EXPECT_EQ(base[0].count, total - accesses);
}

}  // namespace
}  // namespace raceway::storage::testing

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StorageConformanceTest);
