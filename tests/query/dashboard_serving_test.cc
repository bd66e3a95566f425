// The dashboard on the query service's gRPC-Web port (issue 14): the page
// built into the binary at `/`, a directory instead with query.web_dir, the
// how-to-build page when there is no page, 404 for what is not a file, and
// a clear start error for a web_dir that does not exist.

#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/service/config.h"
#include "libs/storage/factory.h"
#include "services/query/dashboard_bundle.h"
#include "services/query/query_server.h"

namespace raceway::query {
namespace {

using ::testing::HasSubstr;

class DashboardServingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("raceway_dash_" + model::NewUuidV4());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    query_.reset();
    std::filesystem::remove_all(dir_);
  }

  absl::Status Start(const std::string& web_dir) {
    service::Config config;
    config.query.listen = "127.0.0.1:0";
    config.query.grpc_web_listen = "127.0.0.1:0";
    config.metrics.query_listen = "";
    config.query.web_dir = web_dir;
    storage::StorageOptions memory;
    memory.backend = "memory";
    auto opened = storage::OpenStorage(memory);
    if (!opened.ok()) return opened.status();
    auto query = QueryServer::Start(config, std::move(*opened));
    if (!query.ok()) return query.status();
    query_ = std::move(*query);
    return absl::OkStatus();
  }

  httplib::Result Get(const std::string& path) {
    httplib::Client http("127.0.0.1", query_->grpc_web_port());
    return http.Get(path);
  }

  std::filesystem::path dir_;
  std::unique_ptr<QueryServer> query_;
};

TEST_F(DashboardServingTest, RootServesTheBuiltInPageOrSaysHowToBuildIt) {
  ASSERT_TRUE(Start("").ok());
  auto res = Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/html; charset=utf-8");
  if (kDashboardFileCount > 0) {
    EXPECT_THAT(res->body, HasSubstr("assets/")) << "the built page loads its bundle";
    EXPECT_NE(res->get_header_value("Content-Security-Policy"), "");
  } else {
    EXPECT_THAT(res->body, HasSubstr("built without the web dashboard"));
  }
  auto missing = Get("/assets/no-such-file.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(DashboardServingTest, WebDirServesItsFilesAndAnEmptyDirExplains) {
  std::ofstream(dir_ / "index.html") << "<!doctype html><p>from the directory</p>";
  ASSERT_TRUE(Start(dir_.string()).ok());
  auto res = Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "<!doctype html><p>from the directory</p>");
  auto outside = Get("/../etc/passwd");
  ASSERT_TRUE(outside);
  EXPECT_EQ(outside->status, 404);

  query_.reset();
  std::filesystem::remove(dir_ / "index.html");
  ASSERT_TRUE(Start(dir_.string()).ok());
  res = Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(res->body, HasSubstr("built without the web dashboard"));
}

TEST_F(DashboardServingTest, AMissingWebDirIsAStartErrorNamingTheKey) {
  const absl::Status st = Start((dir_ / "missing").string());
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("query.web_dir"));
}

}  // namespace
}  // namespace raceway::query
