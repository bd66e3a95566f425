// gRPC-Web request frames and grpc-timeout on the query service's gateway
// (libs/service/grpc_web.h): only an uncompressed data frame is served
// (issue 13, risk "gRPC-Web frame flags"), refusals come back as gRPC-Web
// trailers with their code, and a grpc-timeout too long for int64
// nanoseconds is no deadline. A real query server on loopback (memory
// storage), plain HTTP/1.1 through cpp-httplib's client.

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/service/grpc_web.h"
#include "libs/storage/factory.h"
#include "raceway/v1/query.pb.h"
#include "services/query/query_server.h"
#include "tests/support/events.h"

namespace raceway::service {
namespace {

namespace v1 = raceway::v1;
using ::testing::HasSubstr;

struct Frame {
  uint8_t flag;
  std::string payload;
};

// The frames of a gRPC-Web response body; a truncated frame fails the test.
std::vector<Frame> ParseFrames(const std::string& body) {
  std::vector<Frame> out;
  size_t i = 0;
  while (i < body.size()) {
    EXPECT_LE(i + 5, body.size()) << "truncated frame header";
    if (i + 5 > body.size()) break;
    const uint32_t len = static_cast<uint32_t>(static_cast<uint8_t>(body[i + 1])) << 24 |
                         static_cast<uint32_t>(static_cast<uint8_t>(body[i + 2])) << 16 |
                         static_cast<uint32_t>(static_cast<uint8_t>(body[i + 3])) << 8 |
                         static_cast<uint32_t>(static_cast<uint8_t>(body[i + 4]));
    EXPECT_LE(i + 5 + len, body.size()) << "truncated frame";
    if (i + 5 + len > body.size()) break;
    out.push_back({static_cast<uint8_t>(body[i]), body.substr(i + 5, len)});
    i += 5 + len;
  }
  return out;
}

TEST(ParseGrpcWebRequestTest, OnlyOneUncompressedDataFrame) {
  const std::string message = "\x08\x05";
  // The result is a view into the body: the bodies outlive it.
  const std::string frame = GrpcWebFrame(0x00, message);
  auto ok = ParseGrpcWebRequest(frame);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, message);
  const std::string empty_frame = GrpcWebFrame(0x00, "");
  auto empty = ParseGrpcWebRequest(empty_frame);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(*empty, "");

  auto compressed = ParseGrpcWebRequest(GrpcWebFrame(0x01, message));
  EXPECT_EQ(compressed.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(compressed.status().message(),
              HasSubstr("compressed gRPC-Web frames are not supported"));
  for (uint8_t flag : {0x02, 0x7f, 0x80, 0x81, 0xff}) {
    auto refused = ParseGrpcWebRequest(GrpcWebFrame(flag, message));
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << int{flag};
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", flag);
    EXPECT_THAT(refused.status().message(), HasSubstr(hex));
  }
  for (const std::string& body :
       {std::string(), frame.substr(0, 4), frame.substr(0, 6), absl::StrCat(frame, "x"),
        absl::StrCat(frame, frame), std::string("\x00\xff\xff\xff\xff", 5) + message}) {
    EXPECT_EQ(ParseGrpcWebRequest(body).status().code(), absl::StatusCode::kInvalidArgument)
        << body.size();
  }
}

TEST(ParseGrpcTimeoutTest, UnitsAndBounds) {
  EXPECT_EQ(ParseGrpcTimeout("5S"), std::chrono::seconds(5));
  EXPECT_EQ(ParseGrpcTimeout("250m"), std::chrono::milliseconds(250));
  EXPECT_EQ(ParseGrpcTimeout("7u"), std::chrono::microseconds(7));
  EXPECT_EQ(ParseGrpcTimeout("99999999n"), std::chrono::nanoseconds(99999999));
  EXPECT_EQ(ParseGrpcTimeout("2M"), std::chrono::minutes(2));
  EXPECT_EQ(ParseGrpcTimeout("876000H"), kMaxGrpcTimeout);
  // Beyond 100 years (99999999H does not even fit in int64 nanoseconds):
  // no deadline.
  EXPECT_EQ(ParseGrpcTimeout("876001H"), std::nullopt);
  EXPECT_EQ(ParseGrpcTimeout("99999999H"), std::nullopt);
  for (const char* bad : {"", "S", "5", "5x", "-5S", "+5S", " 5S", "123456789S", "5s"}) {
    EXPECT_EQ(ParseGrpcTimeout(bad), std::nullopt) << bad;
  }
}

class GrpcWebFramesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::StorageOptions options;
    options.backend = "memory";
    auto storage = storage::OpenStorage(options);
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = std::move(*storage);
    const v1::Event root = testing::MakeEvent(model::NewUuidV4(), "main", 0, "bank");
    const std::vector<const v1::Event*> events = {&root};
    ASSERT_TRUE(storage_->WriteBatch(events).ok());

    Config config;
    config.query.listen = "127.0.0.1:0";
    config.query.grpc_web_listen = "127.0.0.1:0";
    config.query.cors_origins = {"http://dashboard.test"};
    config.metrics.query_listen = "";
    auto server = query::QueryServer::Start(config, storage_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    http_ = std::make_unique<httplib::Client>("127.0.0.1", server_->grpc_web_port());
  }

  httplib::Result Post(const std::string& body, const httplib::Headers& headers = {}) {
    httplib::Headers all = headers;
    all.emplace("X-Grpc-Web", "1");
    return http_->Post("/raceway.v1.QueryService/ListTraces", all, body,
                       "application/grpc-web+proto");
  }

  // A trailers-only answer: HTTP 200, one trailers frame with `code` and a
  // grpc-message containing `message_part`.
  void ExpectRefused(const httplib::Result& res, int code, const std::string& message_part) {
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/grpc-web+proto");
    const std::vector<Frame> frames = ParseFrames(res->body);
    ASSERT_EQ(frames.size(), 1u) << res->body;
    EXPECT_EQ(frames[0].flag, 0x80);
    EXPECT_THAT(frames[0].payload, HasSubstr(absl::StrCat("grpc-status:", code, "\r\n")));
    EXPECT_THAT(frames[0].payload, HasSubstr(message_part));
  }

  // Served: one data frame holding the one stored trace, then grpc-status 0.
  void ExpectServed(const httplib::Result& res) {
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const std::vector<Frame> frames = ParseFrames(res->body);
    ASSERT_EQ(frames.size(), 2u) << res->body;
    EXPECT_EQ(frames[0].flag, 0x00);
    v1::ListTracesResponse reply;
    ASSERT_TRUE(reply.ParseFromString(frames[0].payload));
    EXPECT_EQ(reply.traces_size(), 1);
    EXPECT_EQ(frames[1].flag, 0x80);
    EXPECT_THAT(frames[1].payload, HasSubstr("grpc-status:0\r\n"));
  }

  std::string Request() const {
    v1::ListTracesRequest request;
    request.set_page_size(5);
    return request.SerializeAsString();
  }

  std::shared_ptr<storage::Storage> storage_;
  std::unique_ptr<query::QueryServer> server_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_F(GrpcWebFramesTest, UncompressedDataFrameIsServed) {
  ExpectServed(Post(GrpcWebFrame(0x00, Request())));
}

// A compressed frame used to be served as if its payload were plain.
TEST_F(GrpcWebFramesTest, CompressedFrameIsUnimplemented) {
  auto res = Post(GrpcWebFrame(0x01, Request()));
  ExpectRefused(res, 12, "compressed gRPC-Web frames are not supported");
  EXPECT_EQ(res->get_header_value("grpc-accept-encoding"), "identity");
}

// Other flags used to be served too (0x7f), or answered HTTP 400, which a
// gRPC-Web client reads as INTERNAL (0x80).
TEST_F(GrpcWebFramesTest, OtherFlagsAreInvalidArgumentNamingTheByte) {
  ExpectRefused(Post(GrpcWebFrame(0x7f, Request())), 3, "frame flag 0x7f");
  ExpectRefused(Post(GrpcWebFrame(0x80, "grpc-status:0\r\n")), 3, "frame flag 0x80");
  ExpectRefused(Post(GrpcWebFrame(0x02, Request())), 3, "frame flag 0x02");
}

TEST_F(GrpcWebFramesTest, MalformedFramesAreInvalidArgument) {
  const std::string frame = GrpcWebFrame(0x00, Request());
  ExpectRefused(Post(frame.substr(0, 3)), 3, "one data frame");
  ExpectRefused(Post(frame.substr(0, frame.size() - 1)), 3, "declares");
  ExpectRefused(Post(frame + frame), 3, "declares");
  // The server still serves well-formed calls afterwards.
  ExpectServed(Post(frame));
}

// Hours beyond ~292 years used to overflow int64 nanoseconds (undefined
// behaviour): 5000000H wrapped to a deadline 14 years in the past, so the
// call failed DEADLINE_EXCEEDED.
TEST_F(GrpcWebFramesTest, HugeGrpcTimeoutIsNoDeadline) {
  ExpectServed(Post(GrpcWebFrame(0x00, Request()), {{"grpc-timeout", "5000000H"}}));
  ExpectServed(Post(GrpcWebFrame(0x00, Request()), {{"grpc-timeout", "99999999H"}}));
  ExpectServed(Post(GrpcWebFrame(0x00, Request()), {{"grpc-timeout", "30S"}}));
}

}  // namespace
}  // namespace raceway::service
