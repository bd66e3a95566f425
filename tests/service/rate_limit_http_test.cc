// The per-client rate limit on real loopback HTTP servers: HttpServerThread
// on a fake clock (exact Retry-After), the ingest service's POST /events
// port and the query service's gRPC-Web / Connect JSON port.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/service/config.h"
#include "libs/service/grpc_util.h"
#include "libs/service/grpc_web.h"
#include "libs/service/http_server.h"
#include "libs/storage/factory.h"
#include "raceway/v1/query.pb.h"
#include "services/ingest/ingest_server.h"
#include "services/query/query_server.h"
#include "tests/support/tsan_uninstrumented.h"

namespace raceway::service {
namespace {

namespace pb = google::protobuf;
using ::testing::HasSubstr;

int RetryAfterSeconds(const httplib::Result& res) {
  int seconds = -1;
  EXPECT_TRUE(absl::SimpleAtoi(res->get_header_value("Retry-After"), &seconds))
      << "Retry-After: \"" << res->get_header_value("Retry-After") << "\"";
  return seconds;
}

storage::StorageOptions MemoryStorage() {
  storage::StorageOptions options;
  options.backend = "memory";
  return options;
}

pb::Struct ParseObject(const std::string& json) {
  pb::Struct out;
  EXPECT_TRUE(pb::util::JsonStringToMessage(json, &out).ok()) << json;
  return out;
}

// ------------------------------------------------ HttpServerThread directly

class FakeClock {
 public:
  RateLimiter::Clock clock() {
    return [this] { return std::chrono::nanoseconds(now_ns_.load()); };
  }
  void Advance(std::chrono::nanoseconds d) { now_ns_.fetch_add(d.count()); }

 private:
  std::atomic<int64_t> now_ns_{1'000'000'000'000};
};

TEST(HttpRateLimitTest, RefusedBeforeTheHandlerWithRetryAfterRoundedUp) {
  FakeClock clock;
  HttpServerThread http;
  std::atomic<int> handled{0};
  // HttpServerThread serves bodies through content-reader routes only.
  http.server().Post("/work", [&](const httplib::Request&, httplib::Response& res,
                                  const httplib::ContentReader& read) {
    handled++;
    std::string body;
    ReadBoundedBody(read, 1 << 20, res, &body);
    res.set_content(body, "text/plain");
  });
  // 40 per minute: T = 1.5 s; a burst of 2.
  http.SetRateLimit(
      {.limiter = RateLimiter::Create({.requests_per_minute = 40, .burst = 2}, clock.clock()),
       .api_keys = {"key-a", "key-b"},
       .refuse = [](const httplib::Request&, httplib::Response& res, const absl::Status& status,
                    std::chrono::milliseconds retry_after) {
         res.status = 429;
         res.set_content(absl::StrCat(status.message(), " / ", retry_after.count()), "text/plain");
       }});
  ASSERT_TRUE(http.Start("127.0.0.1:0").ok());
  httplib::Client client("127.0.0.1", http.port());
  const httplib::Headers a = {{"X-Raceway-Key", "key-a"}};
  for (int i = 0; i < 2; ++i) {
    auto res = client.Post("/work", a, "payload", "text/plain");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  }
  auto refused = client.Post("/work", a, std::string(100000, 'x'), "text/plain");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);
  EXPECT_EQ(RetryAfterSeconds(refused), 2);  // 1.5 s, rounded up.
  EXPECT_EQ(refused->get_header_value("Connection"), "close");
  EXPECT_THAT(refused->body, HasSubstr("more than 40 requests per minute"));
  EXPECT_THAT(refused->body, HasSubstr("/ 1500"));
  EXPECT_EQ(handled.load(), 2);

  // Another key has its own budget, whichever header carries it.
  auto b = client.Post("/work", {{"Authorization", "Bearer key-b"}}, "payload", "text/plain");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 200);
  // After the emission interval key-a may send one more.
  clock.Advance(std::chrono::milliseconds(1500));
  auto again = client.Post("/work", a, "payload", "text/plain");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(again->body, "payload");

  // Unknown keys and no key share the client address's budget.
  for (const char* key : {"key-z", "key-y"}) {
    auto res = client.Post("/work", {{"X-Raceway-Key", key}}, "payload", "text/plain");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << key;
  }
  auto anonymous = client.Post("/work", "payload", "text/plain");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 429);
  // CORS preflights are not counted (here no route answers them).
  auto preflight = client.Options("/work");
  ASSERT_TRUE(preflight);
  EXPECT_NE(preflight->status, 429);
  EXPECT_EQ(handled.load(), 6);
}

// ------------------------------------------------ the ingest HTTP port

constexpr char kOneEvent[] = R"({"events":[{
  "id":"%ID%","trace_id":"%TRACE%","parent_id":null,
  "timestamp":"2025-10-16T12:34:56.123456+00:00",
  "kind":{"StateChange":{"variable":"balance","old_value":100,"new_value":90,
                         "location":"app.py:42","access_type":"Write"}},
  "metadata":{"thread_id":"python-5315-b4f01c38","process_id":5315,"service_name":"py-shop",
              "environment":"development","tags":{},"duration_ns":null},
  "causality_vector":[["py-shop#vm-5315",1]],"lock_set":[]}]})";

std::string OneEventBody() {
  std::string body = kOneEvent;
  body.replace(body.find("%ID%"), 4, model::NewUuidV4());
  body.replace(body.find("%TRACE%"), 7, model::NewUuidV4());
  return body;
}

TEST(IngestRateLimitTest, OverTheLimitIs429WithRetryAfterAndNothingStored) {
  auto storage = storage::OpenStorage(MemoryStorage());
  ASSERT_TRUE(storage.ok()) << storage.status();
  std::shared_ptr<storage::Storage> shared = std::move(*storage);
  Config config;
  config.ingest.listen = "127.0.0.1:0";
  config.ingest.http_listen = "127.0.0.1:0";
  config.ingest.flush_interval_ms = 1;
  config.metrics.ingest_listen = "";
  config.auth.ingest_keys = {"key-a", "key-b"};
  // One per minute, a burst of 2: the window is a minute, far longer than
  // the test.
  config.ingest.rate_limit_rpm = 1;
  config.ingest.rate_limit_burst = 2;
  auto server = ingest::IngestServer::Start(config, shared);
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->http_port());
  const httplib::Headers a = {{"Authorization", "Bearer key-a"}};
  for (int i = 0; i < 2; ++i) {
    auto res = client.Post("/events", a, OneEventBody(), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
  }
  auto refused = client.Post("/events", a, OneEventBody(), "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);
  const int retry_after = RetryAfterSeconds(refused);
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 60);
  EXPECT_EQ(refused->get_header_value("Content-Type"), "application/json");
  const pb::Struct error = ParseObject(refused->body);
  EXPECT_FALSE(error.fields().at("success").bool_value());
  EXPECT_EQ(error.fields().at("error").struct_value().fields().at("code").string_value(),
            "RESOURCE_EXHAUSTED");
  EXPECT_THAT(error.fields().at("error").struct_value().fields().at("message").string_value(),
              HasSubstr("rate limit"));

  auto b = client.Post("/events", {{"X-Raceway-Key", "key-b"}}, OneEventBody(), "application/json");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 200) << b->body;
  auto stored = shared->CountEvents();
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, 3u);  // The refused batch was never parsed.

  // Without a valid key the client is limited by address, before auth.
  for (int i = 0; i < 2; ++i) {
    auto res = client.Post("/events", {{"X-Raceway-Key", "guess"}}, R"({"events":[]})",
                           "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401);
  }
  auto guessing = client.Post("/events", {{"X-Raceway-Key", "guess-2"}}, R"({"events":[]})",
                              "application/json");
  ASSERT_TRUE(guessing);
  EXPECT_EQ(guessing->status, 429);
  // Liveness probes from the same (limited) address are still answered.
  for (int i = 0; i < 3; ++i) {
    auto health = client.Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200) << health->body;
  }
  (*server)->Shutdown();
}

// ------------------------------------------------ the query gRPC-Web port

struct Trailers {
  int grpc_status = -1;
  grpc::Status status;
};

// Reads the trailers frame that ends a gRPC-Web body.
Trailers ParseTrailers(const std::string& body) {
  Trailers out;
  size_t at = 0;
  while (at + 5 <= body.size()) {
    const uint32_t len = (uint32_t(uint8_t(body[at + 1])) << 24) |
                         (uint32_t(uint8_t(body[at + 2])) << 16) |
                         (uint32_t(uint8_t(body[at + 3])) << 8) | uint32_t(uint8_t(body[at + 4]));
    if (uint8_t(body[at]) == 0x80) {
      std::string message, details;
      for (absl::string_view line :
           absl::StrSplit(absl::string_view(body).substr(at + 5, len), "\r\n")) {
        const size_t colon = line.find(':');
        if (colon == absl::string_view::npos) continue;
        const absl::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
        if (name == "grpc-status") {
          EXPECT_TRUE(absl::SimpleAtoi(value, &out.grpc_status));
        } else if (name == "grpc-message") {
          message = std::string(value);
        } else if (name == "grpc-status-details-bin") {
          EXPECT_TRUE(absl::Base64Unescape(value, &details));
        }
      }
      out.status = grpc::Status(static_cast<grpc::StatusCode>(out.grpc_status), message, details);
    }
    at += 5 + len;
  }
  return out;
}

TEST(QueryRateLimitTest, GrpcWebGetsResourceExhaustedTrailersConnectGets429) {
  auto storage = storage::OpenStorage(MemoryStorage());
  ASSERT_TRUE(storage.ok()) << storage.status();
  std::shared_ptr<storage::Storage> shared = std::move(*storage);
  Config config;
  config.query.listen = "127.0.0.1:0";
  config.query.grpc_web_listen = "127.0.0.1:0";
  config.query.cors_origins = {"http://dashboard.test"};
  config.metrics.query_listen = "";
  config.auth.query_keys = {"dash-1", "dash-2"};
  config.query.rate_limit_rpm = 1;
  config.query.rate_limit_burst = 2;
  auto server = query::QueryServer::Start(config, shared);
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->grpc_web_port());
  const std::string grpc_web = GrpcWebFrame(0, v1::ListTracesRequest().SerializeAsString());
  const httplib::Headers one = {{"Authorization", "Bearer dash-1"},
                                {"Origin", "http://dashboard.test"}};

  auto ok = client.Post("/raceway.v1.QueryService/ListTraces", one, grpc_web,
                        "application/grpc-web+proto");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ParseTrailers(ok->body).grpc_status, 0) << ok->body;
  auto json_ok = client.Post("/raceway.v1.QueryService/ListTraces", one, "{}", "application/json");
  ASSERT_TRUE(json_ok);
  EXPECT_EQ(json_ok->status, 200) << json_ok->body;

  // gRPC-Web: HTTP 200 with the status in the trailers (connect-web reads an
  // HTTP 429 as UNAVAILABLE), RetryInfo in grpc-status-details-bin, and CORS
  // so a browser may read it.
  auto refused = client.Post("/raceway.v1.QueryService/ListTraces", one, grpc_web,
                             "application/grpc-web+proto");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 200);
  EXPECT_EQ(refused->get_header_value("Content-Type"), "application/grpc-web+proto");
  EXPECT_EQ(refused->get_header_value("Access-Control-Allow-Origin"), "http://dashboard.test");
  EXPECT_GE(RetryAfterSeconds(refused), 1);
  const Trailers trailers = ParseTrailers(refused->body);
  EXPECT_EQ(trailers.grpc_status, 8);  // RESOURCE_EXHAUSTED.
  EXPECT_THAT(trailers.status.error_message(), HasSubstr("rate limit"));
  const auto delay = RetryDelay(trailers.status);
  ASSERT_TRUE(delay.has_value());
  EXPECT_GT(delay->count(), 0);
  EXPECT_LE(delay->count(), 60000);

  // Connect JSON: 429 and the Connect error code.
  auto json_refused =
      client.Post("/raceway.v1.QueryService/ListTraces", one, "{}", "application/json");
  ASSERT_TRUE(json_refused);
  EXPECT_EQ(json_refused->status, 429);
  EXPECT_GE(RetryAfterSeconds(json_refused), 1);
  const pb::Struct error = ParseObject(json_refused->body);
  EXPECT_EQ(error.fields().at("code").string_value(), "resource_exhausted") << json_refused->body;

  // Another dashboard key is still served.
  auto other = client.Post("/raceway.v1.QueryService/ListTraces", {{"X-Raceway-Key", "dash-2"}},
                           grpc_web, "application/grpc-web+proto");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  EXPECT_EQ(ParseTrailers(other->body).grpc_status, 0) << other->body;
  (*server)->Shutdown();
}

}  // namespace
}  // namespace raceway::service
