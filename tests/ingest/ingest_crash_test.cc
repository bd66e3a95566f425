// Crash safety of raceway-ingest as a real process: under load from several
// streams and unary callers, the service is killed with SIGKILL; after a
// restart on the same database, every event that was acked before the kill
// is present, the derived rows agree with the events, and resending
// everything stores nothing twice. Runs on SQLite (a file) and PostgreSQL.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/storage/factory.h"
#include "raceway/v1/ingest.grpc.pb.h"
#include "tests/storage_sql/sql_test_util.h"
#include "tests/support/events.h"
#include "tests/support/service_process.h"
#include "tests/support/test_env.h"

namespace raceway::ingest {
namespace {

using raceway::testing::ServiceProcess;
using raceway::v1::Event;

constexpr int kEventsPerBatch = 40;  // One trace per batch.

// Every batch the load sent, and which of them were acked (committed).
class Ledger {
 public:
  void Sent(uint64_t key, std::vector<Event> events) {
    std::lock_guard<std::mutex> lock(mu_);
    batches_[key] = std::move(events);
  }
  void Acked(uint64_t key) {
    std::lock_guard<std::mutex> lock(mu_);
    acked_.insert(key);
  }
  std::map<uint64_t, std::vector<Event>> batches() const {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }
  std::set<uint64_t> acked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }
  size_t acked_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_.size();
  }

 private:
  mutable std::mutex mu_;
  std::map<uint64_t, std::vector<Event>> batches_;
  std::set<uint64_t> acked_;
};

std::vector<Event> NewBatch(uint64_t key) {
  const std::string trace = model::NewUuidV4();
  std::vector<Event> events;
  for (int i = 0; i < kEventsPerBatch; ++i) {
    Event e = i % 4 == 3 ? raceway::testing::MakeStateChange(trace, absl::StrCat("t", i % 3), i,
                                                             absl::StrCat("v", key % 7),
                                                             raceway::v1::ACCESS_TYPE_WRITE)
                         : raceway::testing::MakeEvent(trace, absl::StrCat("t", i % 3), i);
    if (i > 0) e.set_parent_id(events[i - 1].id());
    events.push_back(std::move(e));
  }
  return events;
}

// One bidirectional stream with up to 8 batches in flight, until the
// server dies or `stop` is set. Keys are `base + n`.
void StreamLoad(const std::string& target, uint64_t base, Ledger* ledger,
                const std::atomic<bool>* stop) {
  auto stub = raceway::v1::IngestService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->Stream(&context);
  uint64_t next = 0;
  int in_flight = 0;
  auto send = [&] {
    raceway::v1::StreamRequest request;
    request.set_sequence(base + next);
    auto events = NewBatch(base + next);
    for (const auto& e : events) *request.add_events() = e;
    ledger->Sent(base + next, std::move(events));
    ++next;
    ++in_flight;
    return stream->Write(request);
  };
  while (in_flight < 8 && send()) {
  }
  raceway::v1::StreamAck ack;
  while (stream->Read(&ack)) {
    --in_flight;
    if (ack.code() == 0) ledger->Acked(ack.sequence());
    if (stop->load() || !send()) break;
  }
  context.TryCancel();
}

// Unary Submit calls in a loop. Keys are `base + n`.
void UnaryLoad(const std::string& target, uint64_t base, Ledger* ledger,
               const std::atomic<bool>* stop) {
  auto stub = raceway::v1::IngestService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  for (uint64_t n = 0; !stop->load(); ++n) {
    raceway::v1::SubmitRequest request;
    auto events = NewBatch(base + n);
    for (const auto& e : events) *request.add_events() = e;
    ledger->Sent(base + n, std::move(events));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    raceway::v1::SubmitResponse response;
    const grpc::Status s = stub->Submit(&context, request, &response);
    if (!s.ok()) break;  // The server is gone.
    ledger->Acked(base + n);
  }
}

class IngestCrashTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      dir_ = std::filesystem::temp_directory_path() / ("raceway_crash_" + model::NewUuidV4());
      std::filesystem::create_directories(dir_);
      const std::string path = (dir_ / "raceway.db").string();
      options_.backend = "sqlite";
      options_.sqlite_path = path;
      storage_flags_ = {"--storage.backend=sqlite", "--storage.sqlite.database_path=" + path};
    } else {
      RACEWAY_REQUIRE_ENV(base_url, "RACEWAY_TEST_POSTGRES_URL");
      const std::string url = storage::testing::WithDatabase(base_url, "raceway_pg_crash");
      ASSERT_TRUE(storage::testing::EnsurePostgresDatabase(url).ok());
      auto cleared = storage::testing::OpenCleared("postgres", url);
      ASSERT_TRUE(cleared.ok()) << cleared.status();
      options_ = storage::testing::SqlOptions("postgres", url);
      storage_flags_ = {"--storage.backend=postgres",
                        "--storage.postgres.connection_string=" + url};
    }
  }

  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  absl::StatusOr<std::unique_ptr<ServiceProcess>> StartIngest() {
    std::vector<std::string> args = storage_flags_;
    for (const char* flag :
         {"--ingest.listen=127.0.0.1:0", "--ingest.http_listen=", "--metrics.ingest_listen=",
          "--ingest.flush_interval_ms=2", "--storage.create_if_missing=true"}) {
      args.push_back(flag);
    }
    return ServiceProcess::Start(RACEWAY_INGEST_BINARY, args, "ingest started");
  }

  std::filesystem::path dir_;
  storage::StorageOptions options_;
  std::vector<std::string> storage_flags_;
};

TEST_P(IngestCrashTest, EveryAckedEventSurvivesKill9) {
  auto first = StartIngest();
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string target = (*first)->Address("grpc_port");

  Ledger ledger;
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (uint64_t i = 0; i < 3; ++i) {
    load.emplace_back(StreamLoad, target, (i + 1) << 32, &ledger, &stop);
  }
  load.emplace_back(UnaryLoad, target, uint64_t{9} << 32, &ledger, &stop);

  // Kill in the middle of the load: after enough commits, with batches in
  // flight on every stream.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (ledger.acked_count() < 300 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int status = (*first)->Stop(SIGKILL);
  stop = true;
  for (auto& t : load) t.join();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

  const auto batches = ledger.batches();
  const auto acked = ledger.acked();
  ASSERT_GE(acked.size(), 300u) << "the load did not get going";
  ASSERT_GT(batches.size(), acked.size()) << "no batch was in flight at the kill";

  // Restart on the same database (SQLite recovers its WAL on open).
  auto second = StartIngest();
  ASSERT_TRUE(second.ok()) << second.status();

  {
    auto opened = storage::OpenStorage(options_);
    ASSERT_TRUE(opened.ok()) << opened.status();
    auto& reader = **opened;
    uint64_t missing = 0;
    for (uint64_t key : acked) {
      const auto& events = batches.at(key);
      auto summary = reader.GetTraceSummary(events[0].trace_id());
      if (!summary.ok() || summary->event_count != events.size()) {
        ++missing;
        continue;
      }
      for (const auto& e : events) {
        auto got = reader.GetEvent(e.id());
        if (!got.ok() || got->SerializeAsString() != e.SerializeAsString()) ++missing;
      }
    }
    EXPECT_EQ(missing, 0u) << "acked batches or events lost out of " << acked.size();
  }

  // Resend everything that was sent: the acked batches come back as
  // duplicates, the rest is stored now; nothing is stored twice.
  auto stub = raceway::v1::IngestService::NewStub(
      grpc::CreateChannel((*second)->Address("grpc_port"), grpc::InsecureChannelCredentials()));
  uint64_t duplicates_of_acked = 0, total = 0;
  for (const auto& [key, events] : batches) {
    raceway::v1::SubmitRequest request;
    for (const auto& e : events) *request.add_events() = e;
    grpc::ClientContext context;
    raceway::v1::SubmitResponse response;
    const grpc::Status s = stub->Submit(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(response.result().accepted() + response.result().duplicate(), events.size());
    if (acked.count(key)) duplicates_of_acked += response.result().duplicate();
    total += events.size();
  }
  EXPECT_EQ(duplicates_of_acked, acked.size() * kEventsPerBatch);

  auto opened = storage::OpenStorage(options_);
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto count = (*opened)->CountEvents();
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, total);
  auto traces = (*opened)->CountTraces();
  ASSERT_TRUE(traces.ok()) << traces.status();
  EXPECT_EQ(*traces, batches.size());

  // SIGTERM drains and exits 0.
  const int term = (*second)->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(term) && WEXITSTATUS(term) == 0) << (*second)->Log();
}

INSTANTIATE_TEST_SUITE_P(Backends, IngestCrashTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace raceway::ingest
