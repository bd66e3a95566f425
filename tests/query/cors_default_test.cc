// CORS by default (issue 13): with the default configuration no other
// origin may call either HTTP port from a browser. A preflight from a web
// page elsewhere gets no Access-Control-Allow-Origin on the query service's
// gRPC-Web / Connect port nor on the ingest port, and a simple POST from it
// is answered without one (so the page cannot read the answer). Opening it
// up is explicit: query.cors_origins.

#include <httplib.h>

#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/service/config.h"
#include "libs/storage/factory.h"
#include "services/ingest/ingest_server.h"
#include "services/query/query_server.h"

namespace raceway::query {
namespace {

constexpr char kOtherSite[] = "http://evil.example";

class CorsDefaultTest : public ::testing::Test {
 protected:
  void Start(service::Config config) {
    config.ingest.listen = "127.0.0.1:0";
    config.ingest.http_listen = "127.0.0.1:0";
    config.query.listen = "127.0.0.1:0";
    config.query.grpc_web_listen = "127.0.0.1:0";
    config.metrics.ingest_listen = "";
    config.metrics.query_listen = "";
    storage::StorageOptions memory;
    memory.backend = "memory";
    auto opened = storage::OpenStorage(memory);
    ASSERT_TRUE(opened.ok()) << opened.status();
    std::shared_ptr<storage::Storage> shared = std::move(*opened);
    auto ingest = ingest::IngestServer::Start(config, shared);
    ASSERT_TRUE(ingest.ok()) << ingest.status();
    ingest_ = std::move(*ingest);
    auto query = QueryServer::Start(config, shared);
    ASSERT_TRUE(query.ok()) << query.status();
    query_ = std::move(*query);
  }

  static httplib::Result Preflight(int port, const std::string& path, const std::string& origin) {
    httplib::Client http("127.0.0.1", port);
    return http.Options(path, httplib::Headers{{"Origin", origin},
                                               {"Access-Control-Request-Method", "POST"},
                                               {"Access-Control-Request-Headers", "content-type"}});
  }

  std::unique_ptr<ingest::IngestServer> ingest_;
  std::unique_ptr<QueryServer> query_;
};

TEST_F(CorsDefaultTest, NoOtherOriginByDefaultOnEitherPort) {
  ASSERT_NO_FATAL_FAILURE(Start(service::Config()));
  EXPECT_THAT(service::Config().query.cors_origins, ::testing::IsEmpty());

  auto query =
      Preflight(query_->grpc_web_port(), "/raceway.v1.QueryService/ListTraces", kOtherSite);
  ASSERT_TRUE(query);
  EXPECT_FALSE(query->has_header("Access-Control-Allow-Origin"))
      << "query port allows " << query->get_header_value("Access-Control-Allow-Origin");
  auto ingest = Preflight(ingest_->http_port(), "/events", kOtherSite);
  ASSERT_TRUE(ingest);
  EXPECT_FALSE(ingest->has_header("Access-Control-Allow-Origin"))
      << "ingest port allows " << ingest->get_header_value("Access-Control-Allow-Origin");

  // The call itself (Connect JSON) is answered, but not for that page.
  httplib::Client http("127.0.0.1", query_->grpc_web_port());
  auto listed = http.Post("/raceway.v1.QueryService/ListTraces",
                          httplib::Headers{{"Origin", kOtherSite}}, "{}", "application/json");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->status, 200) << listed->body;
  EXPECT_FALSE(listed->has_header("Access-Control-Allow-Origin"));
}

TEST_F(CorsDefaultTest, ConfiguredOriginsAreAllowed) {
  service::Config config;
  config.query.cors_origins = {"http://localhost:5173"};
  ASSERT_NO_FATAL_FAILURE(Start(config));
  auto allowed = Preflight(query_->grpc_web_port(), "/raceway.v1.QueryService/ListTraces",
                           "http://localhost:5173");
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 204);
  EXPECT_EQ(allowed->get_header_value("Access-Control-Allow-Origin"), "http://localhost:5173");
  auto other =
      Preflight(query_->grpc_web_port(), "/raceway.v1.QueryService/ListTraces", kOtherSite);
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->has_header("Access-Control-Allow-Origin"));
}

}  // namespace
}  // namespace raceway::query
