// The ingest service on a SQLite file that is deleted or replaced while it
// runs (issue 13): the next batch is refused with UNAVAILABLE naming the
// path, no batch is acknowledged after that, /health turns 503 saying why,
// and the replacing file receives nothing.

#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <filesystem>
#include <mutex>
#include <vector>

#include "SQLiteCpp/SQLiteCpp.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/storage/factory.h"
#include "raceway/v1/ingest.grpc.pb.h"
#include "services/ingest/ingest_server.h"
#include "tests/support/events.h"

namespace raceway::ingest {
namespace {

using ::testing::HasSubstr;

class IngestSqliteFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("raceway_ingest_file_" + model::NewUuidV4());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "raceway.db").string();
    storage::StorageOptions options;
    options.backend = "sqlite";
    options.sqlite_path = path_;
    options.on_health_change = [this](const absl::Status& st) {
      std::lock_guard<std::mutex> lock(mu_);
      reports_.push_back(st);
    };
    auto opened = storage::OpenStorage(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    service::Config config;
    config.ingest.listen = "127.0.0.1:0";
    config.ingest.http_listen = "127.0.0.1:0";
    config.ingest.flush_interval_ms = 1;
    config.metrics.ingest_listen = "";
    auto server = IngestServer::Start(config, std::move(*opened));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = raceway::v1::IngestService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->grpc_port()), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  grpc::Status Submit(int events) {
    raceway::v1::SubmitRequest request;
    const std::string trace = model::NewUuidV4();
    for (int i = 0; i < events; ++i) {
      *request.add_events() = raceway::testing::MakeEvent(trace, "t1", i);
    }
    raceway::v1::SubmitResponse response;
    grpc::ClientContext context;
    return stub_->Submit(&context, request, &response);
  }

  // Every batch after the loss is refused, none acknowledged.
  void ExpectRefused(const std::string& what) {
    for (int i = 0; i < 5; ++i) {
      const grpc::Status s = Submit(10);
      ASSERT_FALSE(s.ok()) << "batch " << i << " was acknowledged after the file was " << what;
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
      EXPECT_THAT(s.error_message(), HasSubstr(path_));
      EXPECT_THAT(s.error_message(), HasSubstr(what));
    }
    httplib::Client http("127.0.0.1", server_->http_port());
    auto health = http.Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 503) << health->body;
    EXPECT_THAT(health->body, HasSubstr(what));
    std::lock_guard<std::mutex> lock(mu_);
    ASSERT_EQ(reports_.size(), 1u) << "the loss should be reported once";
    EXPECT_EQ(reports_[0].code(), absl::StatusCode::kUnavailable);
  }

  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<IngestServer> server_;
  std::unique_ptr<raceway::v1::IngestService::Stub> stub_;
  std::mutex mu_;
  std::vector<absl::Status> reports_;
};

TEST_F(IngestSqliteFileTest, DeletedDatabaseRefusesEveryBatch) {
  ASSERT_TRUE(Submit(10).ok());
  ASSERT_TRUE(std::filesystem::remove(path_));
  ASSERT_NO_FATAL_FAILURE(ExpectRefused("deleted"));
  EXPECT_FALSE(std::filesystem::exists(path_)) << "an empty database was created in its place";
}

TEST_F(IngestSqliteFileTest, ReplacedDatabaseRefusesEveryBatchAndTheNewFileGetsNothing) {
  ASSERT_TRUE(Submit(10).ok());
  const std::string other = (dir_ / "restored.db").string();
  {
    storage::StorageOptions options;
    options.backend = "sqlite";
    options.sqlite_path = other;
    ASSERT_TRUE(storage::OpenStorage(options).ok());
  }
  std::filesystem::rename(other, path_);
  ASSERT_NO_FATAL_FAILURE(ExpectRefused("replaced"));
  server_.reset();
  SQLite::Database db(path_, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM events").getInt(), 0);
}

}  // namespace
}  // namespace raceway::ingest
