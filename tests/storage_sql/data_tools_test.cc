// The data tools (libs/storage/tools, tools/raceway): migrate
// sqlite -> postgres -> mysql -> sqlite and compare every event byte for
// byte; an interrupted migration resumed from its checkpoint finishes
// without duplicates; JSON Lines export/import round trip; the CLI end to
// end. Needs the testdb.sh servers (RACEWAY_TEST_POSTGRES_TOOL_URL,
// RACEWAY_TEST_MYSQL_TOOL_URL).

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/model/validation.h"
#include "libs/storage/factory.h"
#include "libs/storage/postgres/sql_event_row.h"
#include "libs/storage/tools/copy.h"
#include "libs/storage/tools/jsonl.h"
#include "tests/storage_sql/sql_test_util.h"
#include "tests/support/test_env.h"

namespace raceway::storage::testing {
namespace {

using raceway::v1::Event;
namespace tools = raceway::storage::tools;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "raceway_tools_XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

void SetTime(Event& e, int64_t ns) {
  e.mutable_timestamp()->set_seconds(ns / 1000000000);
  e.mutable_timestamp()->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

// Events of every kind with JSON values, maps, unicode and parent links.
// `negative_zero`: include a -0.0 number, which survives every backend (the
// payload is the serialized proto) but not JSON Lines (protobuf's JSON
// printer writes it as 0).
std::vector<Event> RichEvents(int traces, int per_trace, uint64_t seed, bool negative_zero = true) {
  std::mt19937_64 rng(seed);
  const int64_t base = 1767225600LL * 1000000000LL;
  std::vector<Event> out;
  for (int t = 0; t < traces; ++t) {
    const std::string trace = model::NewUuidV4();
    std::vector<std::string> ids;
    for (int i = 0; i < per_trace; ++i) {
      Event e;
      e.set_id(model::NewUuidV4());
      e.set_trace_id(trace);
      if (i > 0 && i % 3 != 0) e.set_parent_id(ids[rng() % ids.size()]);
      SetTime(e, base + t * 1000000000LL + i * 1000 + static_cast<int64_t>(rng() % 500));
      auto* m = e.mutable_metadata();
      m->set_thread_id(absl::StrCat("thread-", i % 4));
      m->set_service_name(i % 5 == 0 ? "paiement-ünïcødé" : absl::StrCat("svc", t % 3));
      m->set_process_id(1234);
      m->set_environment("test");
      (*m->mutable_tags())["region"] = "eu";
      (*m->mutable_tags())["k\"ey"] = "v\\al\nue";
      if (i % 2) m->set_duration_ns(1000 + rng() % 100000);
      if (i % 7 == 0) {
        m->set_distributed_span_id(absl::StrCat("span-", t, "-", i / 7));
        if (i > 0) m->set_upstream_span_id(absl::StrCat("span-", t, "-", i / 7 - 1));
      }
      auto* cv = e.add_causality_vector();
      cv->set_component(m->thread_id());
      cv->set_clock(static_cast<uint64_t>(i));
      if (i % 4 == 1) e.add_lock_set("mutex-A");
      switch (i % 8) {
        case 0: {
          auto* f = e.mutable_function_call();
          f->set_function_name("handle'; DROP TABLE events; --");
          f->set_module("mod");
          f->set_file("src/main.rs");
          f->set_line(42);
          auto* s = f->mutable_args()->mutable_struct_value();
          (*s->mutable_fields())["n"].set_number_value(1.0 / 3.0);
          (*s->mutable_fields())["s"].set_string_value("日本語 \t tab");
          (*s->mutable_fields())["l"].mutable_list_value()->add_values()->set_bool_value(true);
          (*s->mutable_fields())["z"].set_null_value(google::protobuf::NULL_VALUE);
          break;
        }
        case 1: {
          auto* sc = e.mutable_state_change();
          sc->set_variable(absl::StrCat("account.balance", t % 2));
          sc->set_access_type(i % 3 ? raceway::v1::ACCESS_TYPE_WRITE
                                    : raceway::v1::ACCESS_TYPE_READ);
          sc->set_location("bank.rs:10");
          sc->mutable_old_value()->set_number_value(static_cast<double>(rng() % 1000));
          sc->mutable_new_value()->set_string_value("");
          break;
        }
        case 2: {
          auto* l = e.mutable_lock_acquire();
          l->set_lock_id("mutex-A");
          l->set_lock_type("RwLock::Read");
          l->set_location("x.rs:1");
          break;
        }
        case 3: {
          auto* h = e.mutable_http_request();
          h->set_method("POST");
          h->set_url("https://example.test/pay?x=1&y=2");
          (*h->mutable_headers())["content-type"] = "application/json";
          (*h->mutable_body()->mutable_struct_value()->mutable_fields())["amount"].set_number_value(
              12.5);
          break;
        }
        case 4: {
          auto* h = e.mutable_http_response();
          h->set_status(201);
          h->set_duration_ms(7);
          break;
        }
        case 5: {
          auto* q = e.mutable_database_query();
          q->set_query("SELECT * FROM t WHERE a = 'x'");
          q->set_database("db");
          q->set_duration_ms(3);
          break;
        }
        case 6: {
          auto* er = e.mutable_error();
          er->set_error_type("Timeout");
          er->set_message("took too long");
          er->add_stack_trace("a.rs:1");
          er->add_stack_trace("b.rs:2");
          break;
        }
        default: {
          auto* c = e.mutable_custom();
          c->set_name("cache_miss");
          c->mutable_data()->mutable_list_value()->add_values()->set_number_value(
              negative_zero ? -0.0 : 0.25);
          break;
        }
      }
      EXPECT_FALSE(model::ValidateEvent(e, model::ValidationLimits{}).has_value());
      ids.push_back(e.id());
      out.push_back(std::move(e));
    }
  }
  return out;
}

absl::Status WriteAll(Storage& s, const std::vector<Event>& events, size_t batch = 250) {
  for (size_t i = 0; i < events.size(); i += batch) {
    std::vector<const Event*> ptrs;
    for (size_t k = i; k < std::min(events.size(), i + batch); ++k) ptrs.push_back(&events[k]);
    auto r = s.WriteBatch(ptrs);
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

// Every stored event, by id, as deterministic bytes.
std::map<std::string, std::string> Snapshot(Storage& s) {
  std::map<std::string, std::string> out;
  absl::Status st = tools::ForEachEvent(s, 700, [&](const Event& e) {
    out[e.id()] = dbutil::SerializeDeterministic(e);
    return absl::OkStatus();
  });
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

std::map<std::string, std::string> Expected(const std::vector<Event>& events) {
  std::map<std::string, std::string> out;
  for (const Event& e : events) out[e.id()] = dbutil::SerializeDeterministic(e);
  return out;
}

absl::StatusOr<std::unique_ptr<Storage>> OpenUrl(const std::string& url) {
  auto o = StorageOptionsFromUrl(url);
  if (!o.ok()) return o.status();
  o->max_connections = 4;
  o->min_connections = 1;
  return OpenStorage(*o);
}

absl::StatusOr<std::unique_ptr<Storage>> OpenUrlCleared(const std::string& url) {
  auto s = OpenUrl(url);
  if (!s.ok()) return s.status();
  if (absl::Status st = (*s)->Clear(); !st.ok()) return st;
  return s;
}

TEST(DataToolsTest, MigrateSqlitePostgresMysqlSqliteKeepsEveryEventByteForByte) {
  RACEWAY_REQUIRE_ENV(pg, "RACEWAY_TEST_POSTGRES_TOOL_URL");
  RACEWAY_REQUIRE_ENV(my, "RACEWAY_TEST_MYSQL_TOOL_URL");
  TempDir dir;
  const std::string sqlite_a = "sqlite://" + dir.File("a.db");
  const std::string sqlite_b = "sqlite://" + dir.File("b.db");
  const std::vector<Event> events = RichEvents(40, 60, 7);
  const auto expected = Expected(events);

  auto a = OpenUrlCleared(sqlite_a);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(WriteAll(**a, events).ok());
  auto p = OpenUrlCleared(pg);
  ASSERT_TRUE(p.ok()) << p.status();
  auto m = OpenUrlCleared(my);
  ASSERT_TRUE(m.ok()) << m.status();
  auto b = OpenUrlCleared(sqlite_b);
  ASSERT_TRUE(b.ok()) << b.status();

  tools::CopyOptions options;
  options.batch_events = 333;
  options.page_events = 17;  // Several pages per trace.
  Storage* chain[] = {a->get(), p->get(), m->get(), b->get()};
  for (int hop = 0; hop < 3; ++hop) {
    auto r = tools::CopyEvents(*chain[hop], *chain[hop + 1], options);
    ASSERT_TRUE(r.ok()) << "hop " << hop << ": " << r.status();
    EXPECT_EQ(r->events_read, events.size());
    EXPECT_EQ(r->accepted, events.size());
    EXPECT_EQ(r->traces_done, 40u);
    auto v = tools::VerifyCopy(*chain[hop], *chain[hop + 1]);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_TRUE(v->ok()) << (v->examples.empty() ? "" : v->examples[0]);
    EXPECT_EQ(v->baseline_differences, 0u);
    EXPECT_GT(v->baseline_keys, 0u);
    EXPECT_EQ(Snapshot(*chain[hop + 1]), expected) << "after hop " << hop;
  }
  // Derived rows were re-derived identically on every backend.
  for (Storage* s : chain) {
    EXPECT_EQ(*s->CountTraces(), 40u);
    auto services = s->ListServices();
    ASSERT_TRUE(services.ok());
    auto calls = s->ListServiceCalls({});
    ASSERT_TRUE(calls.ok());
    auto first_calls = chain[0]->ListServiceCalls({});
    ASSERT_EQ(calls->size(), first_calls->size());
    for (size_t i = 0; i < calls->size(); ++i) {
      EXPECT_EQ((*calls)[i].call_count, (*first_calls)[i].call_count) << s->BackendName();
    }
  }
}

TEST(DataToolsTest, InterruptedMigrationResumesWithoutDuplicates) {
  RACEWAY_REQUIRE_ENV(pg, "RACEWAY_TEST_POSTGRES_TOOL_URL");
  RACEWAY_REQUIRE_ENV(my, "RACEWAY_TEST_MYSQL_TOOL_URL");
  TempDir dir;
  auto from = OpenUrlCleared(pg);
  ASSERT_TRUE(from.ok()) << from.status();
  auto to = OpenUrlCleared(my);
  ASSERT_TRUE(to.ok()) << to.status();
  const std::vector<Event> events = RichEvents(30, 50, 11);
  ASSERT_TRUE(WriteAll(**from, events).ok());

  tools::CopyOptions options;
  options.batch_events = 123;  // 5 batches end inside a trace.
  options.checkpoint_path = dir.File("copy.checkpoint");
  options.checkpoint_key = "pg -> mysql";
  options.stop_after_batches = 5;
  auto first = tools::CopyEvents(**from, **to, options);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(std::filesystem::exists(options.checkpoint_path));
  const uint64_t after_first = *(*to)->CountEvents();
  EXPECT_EQ(after_first, 5u * 123u);

  // Another copy's checkpoint is refused.
  tools::CopyOptions other = options;
  other.checkpoint_key = "something else";
  other.stop_after_batches = 0;
  EXPECT_EQ(tools::CopyEvents(**from, **to, other).status().code(),
            absl::StatusCode::kFailedPrecondition);

  options.stop_after_batches = 0;
  auto second = tools::CopyEvents(**from, **to, options);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->resumed);
  EXPECT_GT(second->traces_skipped, 0u);
  // Only the trace cut by the interruption is re-sent (its committed part
  // counts as duplicates).
  EXPECT_GT(second->duplicates, 0u);
  EXPECT_LT(second->duplicates, 50u);
  EXPECT_EQ(after_first + second->accepted, events.size());
  EXPECT_FALSE(std::filesystem::exists(options.checkpoint_path));
  EXPECT_EQ(*(*to)->CountEvents(), events.size());
  EXPECT_EQ(Snapshot(**to), Expected(events));

  // Idempotent: a full re-run adds nothing.
  options.checkpoint_path.clear();
  auto third = tools::CopyEvents(**from, **to, options);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->accepted, 0u);
  EXPECT_EQ(third->duplicates, events.size());
  EXPECT_EQ(*(*to)->CountEvents(), events.size());
  auto v = tools::VerifyCopy(**from, **to);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok());
  EXPECT_EQ(v->baseline_differences, 0u);
}

TEST(DataToolsTest, ExportImportRoundTrip) {
  RACEWAY_REQUIRE_ENV(pg, "RACEWAY_TEST_POSTGRES_TOOL_URL");
  TempDir dir;
  auto from = OpenUrlCleared(pg);
  ASSERT_TRUE(from.ok()) << from.status();
  const std::vector<Event> events = RichEvents(12, 40, 13, /*negative_zero=*/false);
  ASSERT_TRUE(WriteAll(**from, events).ok());

  const std::string file = dir.File("events.jsonl");
  {
    std::ofstream out(file);
    auto n = tools::ExportJsonl(**from, out, nullptr);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, events.size());
  }
  auto to = OpenUrlCleared("sqlite://" + dir.File("imported.db"));
  ASSERT_TRUE(to.ok()) << to.status();
  for (int round = 0; round < 2; ++round) {  // The second import only finds duplicates.
    std::ifstream in(file);
    tools::ImportOptions io;
    io.batch_events = 97;
    auto r = tools::ImportJsonl(in, **to, io);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->events_read, events.size());
    EXPECT_EQ(r->accepted, round == 0 ? events.size() : 0u);
  }
  EXPECT_EQ(Snapshot(**to), Expected(events));

  // A malformed line is refused with its line number.
  std::istringstream bad("\n{\"id\": \"nope\"}\n");
  auto r = tools::ImportJsonl(bad, **to, tools::ImportOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("line 2"), std::string_view::npos) << r.status();
  std::istringstream unknown("{\"no_such_field\": 1}\n");
  EXPECT_EQ(tools::ImportJsonl(unknown, **to, tools::ImportOptions{}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

int Shell(const std::string& command) {
  const int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(DataToolsTest, CommandLineMigrateExportImport) {
  RACEWAY_REQUIRE_ENV(pg, "RACEWAY_TEST_POSTGRES_TOOL_URL");
  RACEWAY_REQUIRE_ENV(my, "RACEWAY_TEST_MYSQL_TOOL_URL");
  TempDir dir;
  const std::string cli = RACEWAY_CLI_PATH;
  const std::string src = "sqlite://" + dir.File("src.db");
  {
    auto s = OpenUrlCleared(src);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(WriteAll(**s, RichEvents(10, 30, 17)).ok());
  }
  { ASSERT_TRUE(OpenUrlCleared(my).ok()); }
  const std::string log = dir.File("log.txt");
  EXPECT_EQ(Shell(absl::StrCat("cd ", dir.File(""), " && ", cli, " migrate --from '", src,
                               "' --to '", my, "' --batch 50 2>", log)),
            0);
  std::ifstream l(log);
  std::stringstream text;
  text << l.rdbuf();
  EXPECT_NE(text.str().find("[migrate]"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("300 events / 10 traces"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("0 mismatched"), std::string::npos) << text.str();
  // Idempotent re-run.
  EXPECT_EQ(Shell(absl::StrCat("cd ", dir.File(""), " && ", cli, " migrate --quiet --from '", src,
                               "' --to '", my, "' 2>/dev/null")),
            0);
  const std::string jsonl = dir.File("out.jsonl");
  EXPECT_EQ(Shell(absl::StrCat(cli, " export --quiet --from '", my, "' --out ", jsonl)), 0);
  EXPECT_EQ(Shell(absl::StrCat(cli, " import --quiet --to 'sqlite://", dir.File("dst.db"),
                               "' --in ", jsonl)),
            0);
  auto dst = OpenUrl("sqlite://" + dir.File("dst.db"));
  ASSERT_TRUE(dst.ok());
  EXPECT_EQ(*(*dst)->CountEvents(), 300u);
  EXPECT_EQ(Shell(absl::StrCat(cli, " migrate status --to '", my, "' >/dev/null")), 0);
  EXPECT_EQ(Shell(absl::StrCat(cli, " migrate --from '", src, "' 2>/dev/null")), 2);  // No --to.
  EXPECT_EQ(Shell(absl::StrCat(cli, " export --from sqlite:///nonexistent.db --out - 2>/dev/null")),
            1);
}

}  // namespace
}  // namespace raceway::storage::testing
