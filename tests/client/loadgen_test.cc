// raceway-loadgen's library: the generated traces are valid and realistic;
// RunLoad counts, paces and verifies (against the fake IngestService writing
// into a memory storage, so a lost event can be staged).

#include "tools/loadgen/loadgen.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "libs/model/validation.h"
#include "libs/storage/factory.h"
#include "tests/client/fake_ingest.h"

namespace raceway::loadgen {
namespace {

using raceway::testing::FakeIngest;
using raceway::v1::Event;

TEST(TraceGeneratorTest, TracesAreValidAndRealistic) {
  TraceShape shape;
  shape.threads = 4;
  shape.race_probability = 1.0;
  shape.async_probability = 1.0;
  shape.error_probability = 1.0;
  TraceGenerator generator(shape, 42);
  std::set<std::string> all_ids;
  for (int n = 0; n < 20; ++n) {
    std::vector<Event> trace = generator.NextTrace();
    ASSERT_GE(trace.size(), 20u);
    std::set<std::string> ids, threads, services, kinds;
    int racy_writes = 0, protected_accesses = 0;
    for (const auto& e : trace) {
      auto error = model::ValidateEvent(e, model::ValidationLimits{});
      ASSERT_FALSE(error.has_value()) << error->field << ": " << error->reason;
      EXPECT_EQ(e.trace_id(), trace[0].trace_id());
      ids.insert(e.id());
      EXPECT_TRUE(all_ids.insert(e.id()).second) << "ids are unique across traces";
      threads.insert(e.metadata().thread_id());
      services.insert(e.metadata().service_name());
      kinds.insert(std::to_string(e.kind_case()));
      if (e.has_state_change() && e.state_change().variable() == "stats.counter") {
        ++racy_writes;
        EXPECT_EQ(e.lock_set_size(), 0);
      }
      if (e.has_state_change() && e.state_change().variable() == "account.balance") {
        ++protected_accesses;
        EXPECT_EQ(e.lock_set(0), "accounts");
      }
    }
    // Every parent is in the trace; exactly one root.
    int roots = 0;
    for (const auto& e : trace) {
      if (e.parent_id().empty()) {
        ++roots;
      } else {
        EXPECT_TRUE(ids.count(e.parent_id())) << e.DebugString();
      }
    }
    EXPECT_EQ(roots, 1);
    EXPECT_EQ(threads.size(), 6u);  // main, 4 workers, ledger w1
    EXPECT_EQ(services, (std::set<std::string>{"gateway", "ledger"}));
    EXPECT_EQ(racy_writes, 4);
    EXPECT_EQ(protected_accesses, 8);
    EXPECT_EQ(kinds.size(), 11u);  // All but MemoryFence / Custom.
    // The ledger side is linked to the gateway's span.
    for (const auto& e : trace) {
      if (e.metadata().service_name() == "ledger") {
        EXPECT_EQ(e.metadata().upstream_span_id(), trace[0].metadata().distributed_span_id());
      }
    }
    EXPECT_TRUE(trace[0].metadata().has_duration_ns());
  }
}

TEST(TraceGeneratorTest, DefaultsHaveAFewRaces) {
  TraceGenerator generator(TraceShape{}, 7);
  int traces_with_race = 0;
  for (int n = 0; n < 200; ++n) {
    int racy = 0;
    for (const auto& e : generator.NextTrace()) {
      racy += e.has_state_change() && e.state_change().variable() == "stats.counter";
    }
    traces_with_race += racy >= 2;
  }
  EXPECT_GT(traces_with_race, 20);
  EXPECT_LT(traces_with_race, 150);
}

class LoadgenFakeServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::StorageOptions options;
    options.backend = "memory";
    auto opened = storage::OpenStorage(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    storage_ = std::move(*opened);
  }

  LoadOptions Options() {
    LoadOptions o;
    o.client.target = server_.target();
    o.client.streams = 2;
    o.client.max_batch_events = 200;
    o.client.backoff.initial = std::chrono::milliseconds(10);
    return o;
  }

  // The fake acks every batch; it writes all of them into the storage
  // except the events whose ids are in `drop`.
  void WriteThrough(std::function<bool(const Event&)> drop) {
    server_.set_on_commit([this, drop](const google::protobuf::RepeatedPtrField<Event>& events) {
      std::vector<const Event*> keep;
      for (const auto& e : events) {
        if (!drop(e)) keep.push_back(&e);
      }
      ASSERT_TRUE(storage_->WriteBatch(keep).ok());
    });
  }

  FakeIngest server_;
  std::unique_ptr<storage::Storage> storage_;
};

TEST_F(LoadgenFakeServerTest, ExactEventCountAndCleanVerification) {
  WriteThrough([](const Event&) { return false; });
  LoadOptions o = Options();
  o.events = 5000;
  o.verify = true;
  std::vector<std::string> progress;
  o.progress = [&](const std::string& line) { progress.push_back(line); };
  auto report = RunLoad(o, storage_.get());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->flush_status.ok());
  EXPECT_EQ(report->recorded, 5000u);
  EXPECT_EQ(report->acked, 5000u);
  EXPECT_EQ(report->accepted, 5000u);
  EXPECT_EQ(report->failed, 0u);
  EXPECT_TRUE(report->verified);
  EXPECT_EQ(report->verified_events, 5000u);
  EXPECT_EQ(report->missing, 0u);
  EXPECT_GT(report->committed_per_second, 0);
  EXPECT_GT(report->ack_p99_ms, 0);
  EXPECT_LE(report->ack_p50_ms, report->ack_p99_ms);
  EXPECT_LE(report->ack_p99_ms, report->ack_max_ms);
  EXPECT_EQ(server_.stored_count(), 5000u);
  EXPECT_THAT(report->ToText(), ::testing::HasSubstr("0 missing"));
  EXPECT_THAT(report->ToJson(), ::testing::HasSubstr("\"missing\":0"));
}

TEST_F(LoadgenFakeServerTest, VerificationFindsAckedEventsThatAreNotStored) {
  // Lose every event of one kind: acked by the (lying) server, never stored.
  WriteThrough([](const Event& e) { return e.has_database_result(); });
  LoadOptions o = Options();
  o.events = 2000;
  o.verify = true;
  auto report = RunLoad(o, storage_.get());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->acked, 2000u);
  EXPECT_GT(report->missing, 0u);
  EXPECT_LT(report->missing, 2000u);
  ASSERT_FALSE(report->missing_examples.empty());
  auto lost = storage_->GetEvent(report->missing_examples[0]);
  EXPECT_TRUE(absl::IsNotFound(lost.status()));
  EXPECT_EQ(report->verified_events, 2000u);
}

TEST_F(LoadgenFakeServerTest, DurationModeAndPacing) {
  LoadOptions o = Options();
  o.duration = std::chrono::milliseconds(700);
  o.rate = 2000;  // events/s
  auto report = RunLoad(o, nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->flush_status.ok());
  // ~1400 events; generous bounds for a loaded machine.
  EXPECT_GT(report->recorded, 700u);
  EXPECT_LT(report->recorded, 2000u);
  EXPECT_EQ(report->acked, report->recorded);
  EXPECT_GE(report->seconds, 0.7);
}

TEST_F(LoadgenFakeServerTest, RetriesAreReported) {
  server_.set_policy([](int n, int) {
    if (n % 5 == 0) {
      return raceway::testing::Decision{raceway::testing::Decision::kRefuse,
                                        grpc::StatusCode::RESOURCE_EXHAUSTED, 20};
    }
    return raceway::testing::Decision{};
  });
  LoadOptions o = Options();
  o.events = 3000;
  auto report = RunLoad(o, nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->acked, 3000u);
  EXPECT_GT(report->server_refusals, 0u);
  EXPECT_GE(report->retries, report->server_refusals);
}

TEST(LoadgenOptionsTest, Rejected) {
  LoadOptions o;
  EXPECT_EQ(RunLoad(o, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  o.events = 10;
  o.verify = true;
  EXPECT_EQ(RunLoad(o, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace raceway::loadgen
