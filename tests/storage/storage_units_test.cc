// Unit tests of the storage library's pieces: migration runner, factory,
// JSON columns, page tokens, fault injection.

#include <atomic>
#include <map>
#include <thread>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/storage/common/event_json.h"
#include "libs/storage/common/page_token.h"
#include "libs/storage/factory.h"
#include "libs/storage/fault_injection/fault_injection_storage.h"
#include "libs/storage/memory/memory_storage.h"
#include "libs/storage/migrations.h"

namespace raceway::storage {
namespace {

using raceway::v1::Event;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ------------------------------------------------------------ migrations

class FakeTarget : public MigrationTarget {
 public:
  absl::Status Lock() override {
    log.push_back("lock");
    return lock_status;
  }
  absl::Status Unlock() override {
    log.push_back("unlock");
    return absl::OkStatus();
  }
  absl::Status EnsureMigrationTable() override {
    log.push_back("ensure");
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<AppliedMigration>> AppliedMigrations() override {
    log.push_back("applied");
    return applied;
  }
  absl::Status Apply(const Migration& m) override {
    log.push_back("apply " + std::to_string(m.version));
    if (!apply_status.ok()) return apply_status;
    applied.push_back({m.version, m.name, m.checksum});
    return absl::OkStatus();
  }
  std::vector<std::string> log;
  std::vector<AppliedMigration> applied;
  absl::Status lock_status, apply_status;
};

TEST(MigrationsTest, CompiledInForEveryDialect) {
  const auto& sqlite = CompiledMigrations("sqlite");
  ASSERT_FALSE(sqlite.empty());
  EXPECT_EQ(sqlite[0].version, 1);
  EXPECT_EQ(sqlite[0].name, "initial_schema");
  EXPECT_THAT(sqlite[0].sql, HasSubstr("CREATE TABLE events"));
  EXPECT_EQ(sqlite[0].checksum.size(), 64u);
  for (size_t i = 1; i < sqlite.size(); ++i) EXPECT_LT(sqlite[i - 1].version, sqlite[i].version);
  // postgres/mysql folders are embedded too (possibly empty); unknown is empty.
  (void)CompiledMigrations("postgres");
  (void)CompiledMigrations("mysql");
  EXPECT_TRUE(CompiledMigrations("oracle").empty());
}

TEST(MigrationsTest, AppliesPendingInOrderUnderTheLock) {
  FakeTarget t;
  ASSERT_TRUE(Migrate(t, "sqlite", true).ok());
  std::vector<std::string> want{"lock", "ensure", "applied"};
  for (const auto& m : CompiledMigrations("sqlite"))
    want.push_back("apply " + std::to_string(m.version));
  want.push_back("unlock");
  EXPECT_EQ(t.log, want);
  t.log.clear();
  ASSERT_TRUE(Migrate(t, "sqlite", true).ok());  // Nothing pending.
  EXPECT_THAT(t.log, ElementsAre("lock", "ensure", "applied", "unlock"));
}

TEST(MigrationsTest, CheckOnlyDoesNotLockOrCreate) {
  FakeTarget t;
  absl::Status st = Migrate(t, "sqlite", false);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("001_initial_schema not applied"));
  EXPECT_THAT(st.message(), HasSubstr("auto_migrate"));
  EXPECT_THAT(t.log, ElementsAre("applied"));
}

TEST(MigrationsTest, ChangedChecksumNamesTheMigrationAndUnlocks) {
  FakeTarget t;
  t.applied.push_back({1, "initial_schema", "0000"});
  absl::Status st = Migrate(t, "sqlite", true);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("migration 001_initial_schema was changed"));
  EXPECT_EQ(t.log.back(), "unlock");
  EXPECT_EQ(Migrate(t, "sqlite", false).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(MigrationsTest, ApplyFailureIsReportedWithItsNameAndUnlocks) {
  FakeTarget t;
  t.apply_status = absl::InternalError("syntax error");
  absl::Status st = Migrate(t, "sqlite", true);
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(st.message(), HasSubstr("001_initial_schema"));
  EXPECT_THAT(st.message(), HasSubstr("syntax error"));
  EXPECT_EQ(t.log.back(), "unlock");
}

TEST(MigrationsTest, LockFailureAndUnknownDialect) {
  FakeTarget t;
  t.lock_status = absl::UnavailableError("timeout");
  EXPECT_EQ(Migrate(t, "sqlite", true).code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(t.log, ElementsAre("lock"));
  EXPECT_EQ(Migrate(t, "oracle", true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetMigrationStatus(t, "oracle").status().code(), absl::StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------ factory

TEST(FactoryTest, ParsesUrls) {
  auto m = StorageOptionsFromUrl("memory://");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->backend, "memory");
  auto abs = StorageOptionsFromUrl("sqlite:///var/lib/raceway/db.sqlite");
  ASSERT_TRUE(abs.ok());
  EXPECT_EQ(abs->backend, "sqlite");
  EXPECT_EQ(abs->sqlite_path, "/var/lib/raceway/db.sqlite");
  auto rel = StorageOptionsFromUrl("sqlite://data/raceway.db");
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ(rel->sqlite_path, "data/raceway.db");
  auto pg = StorageOptionsFromUrl("postgresql://u:p@h:5432/db?sslmode=disable");
  ASSERT_TRUE(pg.ok());
  EXPECT_EQ(pg->backend, "postgres");
  EXPECT_EQ(pg->connection_string, "postgresql://u:p@h:5432/db?sslmode=disable");
  EXPECT_EQ(StorageOptionsFromUrl("postgres://h/db")->backend, "postgres");
  auto sb = StorageOptionsFromUrl("supabase://u:p@pooler:6543/postgres");
  ASSERT_TRUE(sb.ok());
  EXPECT_EQ(sb->backend, "supabase");
  EXPECT_EQ(sb->connection_string, "postgresql://u:p@pooler:6543/postgres");
  auto my = StorageOptionsFromUrl("mysql://u:p@127.0.0.1:3306/raceway");
  ASSERT_TRUE(my.ok());
  EXPECT_EQ(my->backend, "mysql");
  for (const char* bad : {"", "sqlite://", "sqlite://:memory:", "redis://h", "/tmp/x.db"}) {
    EXPECT_EQ(StorageOptionsFromUrl(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  // A password is never echoed.
  auto leak = StorageOptionsFromUrl("oracle://user:secret@h/db");
  EXPECT_THAT(leak.status().message(), ::testing::Not(HasSubstr("secret")));
}

TEST(FactoryTest, OpensBackendsByName) {
  StorageOptions o;
  o.backend = "memory";
  auto m = OpenStorage(o);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->BackendName(), "memory");
  o.backend = "cassandra";
  auto bad = OpenStorage(o);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("cassandra"));
  o.backend = "sqlite";
  o.sqlite_path = ":memory:";
  EXPECT_EQ(OpenStorage(o).status().code(), absl::StatusCode::kInvalidArgument);
#if !RACEWAY_WITH_SQL_BACKENDS
  for (const char* name : {"postgres", "supabase", "mysql"}) {
    o.backend = name;
    auto s = OpenStorage(o);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kUnimplemented) << name;
    EXPECT_THAT(s.status().message(), HasSubstr(std::string("backend ") + name + " not built"));
  }
#endif
}

// ------------------------------------------------------------ JSON columns

Event Rich() {
  Event e;
  e.set_id(raceway::model::NewUuidV4());
  e.set_trace_id(raceway::model::NewUuidV4());
  e.mutable_timestamp()->set_seconds(1767225600);
  auto* m = e.mutable_metadata();
  m->set_thread_id("t\"1\\");
  m->set_service_name("svc ü 🦀");
  m->set_process_id(-5);
  (*m->mutable_tags())["b"] = "2";
  (*m->mutable_tags())["a"] = "line\nbreak\x01";
  m->set_duration_ns(18446744073709551615ULL);
  auto* cv = e.add_causality_vector();
  cv->set_component("t1");
  cv->set_clock(9007199254740993ULL);
  e.add_lock_set("m\"x");
  auto* f = e.mutable_function_call();
  f->set_function_name("f");
  f->set_line(7);
  auto* s = f->mutable_args()->mutable_struct_value();
  (*s->mutable_fields())["n"].set_number_value(0.1);
  (*s->mutable_fields())["big"].set_number_value(1e300);
  (*s->mutable_fields())["neg"].set_number_value(-3);
  (*s->mutable_fields())["null"].set_null_value(google::protobuf::NULL_VALUE);
  auto* l = (*s->mutable_fields())["list"].mutable_list_value();
  l->add_values()->set_bool_value(true);
  l->add_values()->mutable_struct_value();
  return e;
}

template <typename M>
void ExpectParsesBackTo(const std::string& json, const M& want) {
  M got;
  auto st = google::protobuf::util::JsonStringToMessage(json, &got);
  ASSERT_TRUE(st.ok()) << st << "\n" << json;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(got, want))
      << json << "\n"
      << got.DebugString() << "\nwant\n"
      << want.DebugString();
}

TEST(EventJsonTest, IsTheProto3JsonMapping) {
  const Event e = Rich();
  ExpectParsesBackTo(common::MessageJson(e.metadata()), e.metadata());
  ExpectParsesBackTo(common::KindJson(e), e.function_call());
  ExpectParsesBackTo(common::MessageJson(e), e);  // Includes the Timestamp.
  EXPECT_EQ(common::CausalityJson(e), "[{\"component\":\"t1\",\"clock\":\"9007199254740993\"}]");
  EXPECT_EQ(common::StringArrayJson(e.lock_set()), "[\"m\\\"x\"]");
  EXPECT_THAT(common::MessageJson(e.metadata()),
              HasSubstr("\"tags\":{\"a\":\"line\\nbreak\\u0001\",\"b\":\"2\"}"));
  EXPECT_THAT(common::MessageJson(e.metadata()),
              HasSubstr("\"duration_ns\":\"18446744073709551615\""));
  // Every kind, as the storage suite's events.
  Event sc;
  sc.mutable_state_change()->set_variable("v");
  sc.mutable_state_change()->set_access_type(raceway::v1::ACCESS_TYPE_ATOMIC_RMW);
  EXPECT_EQ(common::KindJson(sc),
            "{\"variable\":\"v\",\"access_type\":\"ACCESS_TYPE_ATOMIC_RMW\"}");
  Event none;
  EXPECT_EQ(common::KindJson(none), "{}");
  EXPECT_EQ(common::CausalityJson(none), "");
  EXPECT_EQ(common::StringArrayJson(none.lock_set()), "");
  Event http;
  (*http.mutable_http_request()->mutable_headers())["h"] = "v";
  http.mutable_http_request()->mutable_body()->set_string_value("x");
  ExpectParsesBackTo(common::KindJson(http), http.http_request());
}

TEST(EventJsonTest, InvalidUtf8IsReplaced) {
  raceway::v1::Metadata m;
  m.set_thread_id(
      std::string("a\xff"
                  "b\xc3",
                  4));
  EXPECT_EQ(common::MessageJson(m),
            "{\"thread_id\":\"a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\"}");
}

TEST(EventJsonTest, StringArraysRoundTrip) {
  google::protobuf::RepeatedPtrField<std::string> v;
  for (const char* s : {"plain", "q\"uote", "back\\slash", "nl\n", "ü🦀", "\x01", ""}) v.Add(s);
  auto parsed = common::ParseStringArrayJson(common::StringArrayJson(v));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, std::vector<std::string>(v.begin(), v.end()));
  EXPECT_TRUE(common::ParseStringArrayJson("")->empty());
  EXPECT_TRUE(common::ParseStringArrayJson(" [ ] ")->empty());
  EXPECT_EQ(*common::ParseStringArrayJson("[\"\\u00fc\\ud83e\\udd80\\/\"]"),
            std::vector<std::string>{"ü🦀/"});
  for (const char* bad : {"[", "[\"a\"", "[\"a\",]", "{}", "[1]", "[\"\\x\"]", "[\"a\"] x"}) {
    EXPECT_FALSE(common::ParseStringArrayJson(bad).ok()) << bad;
  }
}

// ------------------------------------------------------------ page tokens

TEST(PageTokenTest, RoundTripsAndRejectsGarbage) {
  const std::string id = raceway::model::NewUuidV4();
  auto t = common::DecodeTraceCursor(common::EncodeTraceCursor({-5, id}));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->last_ns, -5);
  EXPECT_EQ(t->trace_id, id);
  auto e = common::DecodeEventCursor(common::EncodeEventCursor({INT64_MAX, id}));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->timestamp_ns, INT64_MAX);
  auto a = common::DecodeAccessCursor(common::EncodeAccessCursor({"v\0x ü", 7, id}));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->variable, "v");
  const std::string access = common::EncodeAccessCursor({std::string("a\0b", 3), 7, id});
  EXPECT_EQ(common::DecodeAccessCursor(access)->variable, std::string("a\0b", 3));
  // Wrong kind, truncated, trailing bytes, bad id.
  EXPECT_FALSE(common::DecodeTraceCursor(access).ok());
  EXPECT_FALSE(common::DecodeEventCursor(access).ok());
  const std::string tok = common::EncodeEventCursor({1, id});
  EXPECT_FALSE(common::DecodeEventCursor(tok.substr(0, tok.size() - 4)).ok());
  EXPECT_FALSE(common::DecodeEventCursor(tok + "AAAA").ok());
  EXPECT_FALSE(common::DecodeEventCursor(common::EncodeEventCursor({1, "not-a-uuid"})).ok());
  EXPECT_FALSE(common::DecodeTraceCursor("%%%").ok());
}

// ------------------------------------------------------------ fault injection

Event Ev(const std::string& trace) {
  Event e;
  e.set_id(raceway::model::NewUuidV4());
  e.set_trace_id(trace);
  e.mutable_timestamp()->set_seconds(1767225600);
  e.mutable_metadata()->set_thread_id("t");
  e.mutable_metadata()->set_service_name("s");
  e.mutable_function_call()->set_function_name("f");
  return e;
}

absl::StatusOr<WriteResult> Write(Storage& s, const Event& e) {
  const Event* p = &e;
  return s.WriteBatch(std::span<const Event* const>(&p, 1));
}

TEST(FaultInjectionTest, FailsTheNthWriteWithoutWriting) {
  auto inner = std::make_shared<MemoryStorage>();
  FaultInjectionStorage s(inner);
  s.FailNthWrite(2, absl::UnavailableError("boom"));
  const std::string trace = raceway::model::NewUuidV4();
  Event a = Ev(trace), b = Ev(trace), c = Ev(trace);
  EXPECT_TRUE(Write(s, a).ok());
  auto r = Write(s, b);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "boom");
  EXPECT_TRUE(Write(s, c).ok());
  EXPECT_EQ(*inner->CountEvents(), 2u);
  EXPECT_EQ(s.inner().GetEvent(b.id()).status().code(), absl::StatusCode::kNotFound);
  // The retry succeeds.
  EXPECT_EQ(Write(s, b)->accepted, 1u);
  EXPECT_EQ(s.write_calls(), 4u);
  EXPECT_EQ(s.failed_writes(), 1u);
  EXPECT_EQ(s.committed_writes(), 3u);
}

TEST(FaultInjectionTest, FailAfterCommitLosesOnlyTheAck) {
  auto inner = std::make_shared<MemoryStorage>();
  FaultInjectionStorage s(inner);
  s.FailNthWriteAfterCommit(1, absl::DeadlineExceededError("ack lost"));
  Event a = Ev(raceway::model::NewUuidV4());
  EXPECT_EQ(Write(s, a).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(*s.CountEvents(), 1u);
  auto retry = Write(s, a);
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry->duplicate, 1u);
  EXPECT_EQ(*s.CountEvents(), 1u);
}

TEST(FaultInjectionTest, DownAndUp) {
  auto inner = std::make_shared<MemoryStorage>();
  FaultInjectionStorage s(inner);
  s.SetDown();
  const std::string trace = raceway::model::NewUuidV4();
  EXPECT_EQ(Write(s, Ev(trace)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Write(s, Ev(trace)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.Clear().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(s.CountEvents().ok());  // Reads pass unless reads_too.
  s.SetDown(absl::InternalError("disk"), /*reads_too=*/true);
  EXPECT_EQ(s.CountEvents().status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(s.ListTraces({}, {}, nullptr).status().code(), absl::StatusCode::kInternal);
  s.SetUp();
  EXPECT_TRUE(Write(s, Ev(trace)).ok());
  EXPECT_EQ(*s.CountEvents(), 1u);
  EXPECT_EQ(s.failed_writes(), 2u);
}

TEST(FaultInjectionTest, StallsTheNthWriteUntilResumed) {
  auto inner = std::make_shared<MemoryStorage>();
  FaultInjectionStorage s(inner);
  s.StallNthWrite(1);
  Event a = Ev(raceway::model::NewUuidV4());
  std::atomic<bool> done{false};
  std::thread writer([&] {
    EXPECT_TRUE(Write(s, a).ok());
    done = true;
  });
  ASSERT_TRUE(s.WaitForStalledWriters(1, absl::Seconds(10)));
  EXPECT_FALSE(done.load());
  EXPECT_EQ(*inner->CountEvents(), 0u);
  // Other writers are not blocked by a one-shot stall.
  EXPECT_TRUE(Write(s, Ev(a.trace_id())).ok());
  s.Resume();
  writer.join();
  EXPECT_TRUE(done.load());
  EXPECT_EQ(*inner->CountEvents(), 2u);
  EXPECT_EQ(s.stalled_writers(), 0);
}

TEST(FaultInjectionTest, StalledModeBlocksEveryWriterAndDownReleasesThemWithAnError) {
  auto inner = std::make_shared<MemoryStorage>();
  FaultInjectionStorage s(inner);
  s.SetStalled();
  std::vector<std::thread> writers;
  std::atomic<int> unavailable{0};
  const std::string trace = raceway::model::NewUuidV4();
  for (int i = 0; i < 4; ++i) {
    writers.emplace_back([&] {
      auto r = Write(s, Ev(trace));
      if (r.status().code() == absl::StatusCode::kUnavailable) ++unavailable;
    });
  }
  ASSERT_TRUE(s.WaitForStalledWriters(4, absl::Seconds(10)));
  s.SetDown();  // Stalled writers fail instead of writing.
  for (auto& t : writers) t.join();
  EXPECT_EQ(unavailable.load(), 4);
  EXPECT_EQ(*inner->CountEvents(), 0u);
  s.SetUp();
  EXPECT_TRUE(Write(s, Ev(trace)).ok());
  EXPECT_EQ(s.BackendName(), "memory");
}

}  // namespace
}  // namespace raceway::storage
