// The Connect unary JSON form of every QueryService RPC, as curl and
// scripts use it: a real query server on loopback (memory storage) and
// plain HTTP/1.1 requests through cpp-httplib's client.

#include "libs/service/connect_json.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "libs/model/uuid.h"
#include "libs/service/grpc_util.h"
#include "libs/service/grpc_web.h"
#include "libs/storage/factory.h"
#include "raceway/v1/ingest.pb.h"
#include "raceway/v1/query.grpc.pb.h"
#include "services/query/query_server.h"
#include "tests/support/events.h"

namespace raceway::service {
namespace {

namespace pb = google::protobuf;
namespace v1 = raceway::v1;
using ::testing::HasSubstr;

constexpr char kOrigin[] = "http://dashboard.test";
constexpr char kKey[] = "connect-test-key";

pb::Struct ParseObject(const std::string& json) {
  pb::Struct out;
  EXPECT_TRUE(pb::util::JsonStringToMessage(json, &out).ok()) << json;
  return out;
}

std::string StringField(const pb::Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? "<absent>" : it->second.string_value();
}

// A Connect error answer: its HTTP status, JSON content type and code.
void ExpectConnectError(const httplib::Result& res, int http_status, const std::string& code,
                        const std::string& message_part = "") {
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, http_status) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  const pb::Struct error = ParseObject(res->body);
  EXPECT_EQ(StringField(error, "code"), code) << res->body;
  EXPECT_THAT(StringField(error, "message"), HasSubstr(message_part));
}

class ConnectJsonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::StorageOptions options;
    options.backend = "memory";
    auto storage = storage::OpenStorage(options);
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = std::move(*storage);

    // One trace: handle_request on main, two unsynchronised writes of
    // `balance` on two workers (a race), each a child of the request.
    trace_ = model::NewUuidV4();
    root_ = testing::MakeEvent(trace_, "main", 0, "bank");
    root_.mutable_function_call()->set_function_name("handle_request");
    root_.mutable_metadata()->set_duration_ns(17'000'000);
    w1_ = testing::MakeStateChange(trace_, "worker-1", 1, "balance", v1::ACCESS_TYPE_WRITE,
                                   "balance.rs:12");
    w2_ = testing::MakeStateChange(trace_, "worker-2", 2, "balance", v1::ACCESS_TYPE_WRITE,
                                   "balance.rs:45");
    w1_.set_parent_id(root_.id());
    w2_.set_parent_id(root_.id());
    const std::vector<const v1::Event*> events = {&root_, &w1_, &w2_};
    ASSERT_TRUE(storage_->WriteBatch(events).ok());

    config_.query.listen = "127.0.0.1:0";
    config_.query.grpc_web_listen = "127.0.0.1:0";
    config_.query.cors_origins = {kOrigin};
    config_.metrics.query_listen = "";
  }

  void Start() {
    auto server = query::QueryServer::Start(config_, storage_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    http_ = std::make_unique<httplib::Client>("127.0.0.1", server_->grpc_web_port());
  }

  httplib::Result Post(const std::string& method, const std::string& body,
                       const httplib::Headers& headers = {},
                       const std::string& type = "application/json") {
    return http_->Post(absl::StrCat("/raceway.v1.QueryService/", method), headers, body,
                       type.c_str());
  }

  // A successful call: 200, application/json, the body parsed back into
  // `response` (so it is proto3 JSON of the right type).
  void ExpectReply(const httplib::Result& res, pb::Message* response) {
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
    const auto parsed = pb::util::JsonStringToMessage(res->body, response);
    EXPECT_TRUE(parsed.ok()) << parsed.ToString() << "\n" << res->body;
  }

  std::shared_ptr<storage::Storage> storage_;
  std::string trace_;
  v1::Event root_, w1_, w2_;
  Config config_;
  std::unique_ptr<query::QueryServer> server_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_F(ConnectJsonTest, ListTraces) {
  Start();
  v1::ListTracesResponse r;
  ExpectReply(Post("ListTraces", "{}"), &r);
  ASSERT_EQ(r.traces_size(), 1);
  EXPECT_EQ(r.traces(0).trace_id(), trace_);
  EXPECT_EQ(r.traces(0).event_count(), 3u);
  EXPECT_EQ(r.total_count(), 1u);

  // Printing choices: JSON names, defaults printed, 64-bit as strings.
  auto res = Post("ListTraces", "");  // Empty body = empty request.
  ExpectReply(res, &r);
  EXPECT_THAT(res->body, HasSubstr("\"totalCount\":\"1\""));
  EXPECT_THAT(res->body, HasSubstr("\"nextPageToken\":\"\""));
  EXPECT_THAT(res->body, HasSubstr(absl::StrCat("\"traceId\":\"", trace_, "\"")));

  // What Connect clients send; proto field names are accepted too; filters
  // go through the same path.
  res = Post("ListTraces", R"({"min_events": "4", "pageSize": 10})",
             {{"Connect-Protocol-Version", "1"}, {"Connect-Timeout-Ms", "15000"}},
             "application/json; charset=utf-8");
  ExpectReply(res, &r);
  EXPECT_EQ(r.traces_size(), 0);
}

TEST_F(ConnectJsonTest, AnalyzeTraceMatchesGrpc) {
  Start();
  v1::AnalyzeTraceResponse json;
  ExpectReply(Post("AnalyzeTrace",
                   absl::StrCat(R"({"traceId":")", trace_, R"(","includeVectorClocks":true})")),
              &json);
  ASSERT_EQ(json.races_size(), 1);
  EXPECT_EQ(json.race_count(), 1u);
  EXPECT_EQ(json.races(0).variable(), "balance");
  EXPECT_EQ(json.races(0).severity(), v1::RACE_SEVERITY_CRITICAL);
  EXPECT_EQ(json.summary().event_count(), 3u);
  EXPECT_EQ(json.vector_clocks_size(), 3);
  EXPECT_EQ(json.critical_path().steps(0).event_id(), root_.id());

  // The same answer as the gRPC service itself gives.
  auto stub = v1::QueryService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", server_->grpc_port()), grpc::InsecureChannelCredentials()));
  v1::AnalyzeTraceRequest request;
  request.set_trace_id(trace_);
  request.set_include_vector_clocks(true);
  v1::AnalyzeTraceResponse direct;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->AnalyzeTrace(&context, request, &direct).ok());
  EXPECT_TRUE(pb::util::MessageDifferencer::Equals(json, direct))
      << json.ShortDebugString() << "\nvs\n"
      << direct.ShortDebugString();
}

TEST_F(ConnectJsonTest, HappensBefore) {
  Start();
  v1::HappensBeforeResponse r;
  auto res = Post("HappensBefore",
                  absl::StrCat(R"({"eventA":")", root_.id(), R"(","eventB":")", w1_.id(), "\"}"));
  ExpectReply(res, &r);
  EXPECT_EQ(r.relation(), v1::HAPPENS_BEFORE_RELATION_BEFORE);
  EXPECT_THAT(res->body, HasSubstr("\"relation\":\"HAPPENS_BEFORE_RELATION_BEFORE\""));
  res = Post("HappensBefore",
             absl::StrCat(R"({"event_a":")", w1_.id(), R"(","event_b":")", w2_.id(), "\"}"));
  ExpectReply(res, &r);
  EXPECT_EQ(r.relation(), v1::HAPPENS_BEFORE_RELATION_CONCURRENT);
}

TEST_F(ConnectJsonTest, ServiceErrorsMapToConnectCodes) {
  Start();
  ExpectConnectError(
      Post("AnalyzeTrace", absl::StrCat(R"({"traceId":")", model::NewUuidV4(), "\"}")), 404,
      "not_found");
  ExpectConnectError(Post("AnalyzeTrace", R"({"traceId":"not-a-uuid"})"), 400, "invalid_argument",
                     "trace_id");
  ExpectConnectError(Post("AnalyzeTrace", "{}"), 400, "invalid_argument", "trace_id");
  // Connect-Timeout-Ms is the call's deadline: 0 ms is spent already.
  ExpectConnectError(Post("ListTraces", "{}", {{"Connect-Timeout-Ms", "0"}}), 504,
                     "deadline_exceeded");
}

TEST_F(ConnectJsonTest, BadRequestBodies) {
  Start();
  ExpectConnectError(Post("AnalyzeTrace", "{bad"), 400, "invalid_argument",
                     "raceway.v1.AnalyzeTraceRequest");
  ExpectConnectError(Post("AnalyzeTrace", "[1]"), 400, "invalid_argument");
  ExpectConnectError(Post("AnalyzeTrace", absl::StrCat(R"({"traceId":")", trace_, "\"} junk")), 400,
                     "invalid_argument");
  // Unknown fields are refused, named, also nested ones.
  ExpectConnectError(
      Post("AnalyzeTrace", absl::StrCat(R"({"traceId":")", trace_, R"(","bogusField":1})")), 400,
      "invalid_argument", "bogusField");
  ExpectConnectError(Post("ListTraces", R"({"timeRange":{"startTime":"x"}})"), 400,
                     "invalid_argument", "startTime");
  // Wrong types and out-of-range values name the field.
  ExpectConnectError(Post("AnalyzeTrace", R"({"traceId":5})"), 400, "invalid_argument", "trace_id");
  ExpectConnectError(Post("ListTraces", R"({"minEvents":"-1"})"), 400, "invalid_argument",
                     "min_events");
  ExpectConnectError(Post("ListTraces", R"({"pageSize":1e30})"), 400, "invalid_argument",
                     "page_size");
  // Invalid UTF-8 in a string: refused, and the error is still valid JSON.
  ExpectConnectError(Post("AnalyzeTrace", "{\"traceId\":\"\xff\xfe\"}"), 400, "invalid_argument");
}

TEST_F(ConnectJsonTest, ProtocolErrors) {
  Start();
  ExpectConnectError(Post("NoSuchMethod", "{}"), 404, "unimplemented", "NoSuchMethod");
  ExpectConnectError(http_->Post("/raceway.v1.NoSuchService/ListTraces", "{}", "application/json"),
                     404, "unimplemented", "raceway.v1.NoSuchService");
  // A method of a service this server does not run: gRPC's UNIMPLEMENTED.
  ASSERT_NE(v1::SubmitRequest::descriptor(), nullptr);  // Links ingest.proto in.
  ExpectConnectError(http_->Post("/raceway.v1.IngestService/Submit", "{}", "application/json"), 501,
                     "unimplemented");
  // Streaming methods have no unary JSON form.
  ExpectConnectError(http_->Post("/raceway.v1.IngestService/Stream", "{}", "application/json"), 415,
                     "unimplemented", "streaming");

  auto res = Post("ListTraces", "{}", {}, "text/plain");
  ExpectConnectError(res, 415, "unimplemented", "text/plain");
  EXPECT_THAT(res->get_header_value("Accept-Post"), HasSubstr("application/json"));
  ExpectConnectError(Post("ListTraces", "{}", {}, "application/json; charset=latin1"), 415,
                     "unimplemented");
  ExpectConnectError(Post("ListTraces", "{}", {{"Connect-Protocol-Version", "2"}}), 400,
                     "invalid_argument", "Connect-Protocol-Version");
  ExpectConnectError(Post("ListTraces", "{}", {{"Connect-Timeout-Ms", "soon"}}), 400,
                     "invalid_argument", "Connect-Timeout-Ms");
  ExpectConnectError(Post("ListTraces", "{}", {{"Connect-Timeout-Ms", "12345678901"}}), 400,
                     "invalid_argument", "Connect-Timeout-Ms");
}

// gRPC aborts the process on metadata it cannot carry, so such headers are
// refused by name, on both protocols, and the server stays up.
TEST_F(ConnectJsonTest, HeadersGrpcCannotCarryAreRefused) {
  Start();
  ExpectConnectError(Post("ListTraces", "{}", {{"X-Note", "caf\xc3\xa9"}}), 400, "invalid_argument",
                     "x-note");
  ExpectConnectError(Post("ListTraces", "{}", {{"X-Bad!Name", "1"}}), 400, "invalid_argument",
                     "x-bad!name");
  auto res = Post("ListTraces", GrpcWebFrame(0, v1::ListTracesRequest().SerializeAsString()),
                  {{"X-Grpc-Web", "1"}, {"X-Note", "caf\xc3\xa9"}}, "application/grpc-web+proto");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("x-note"));
  v1::ListTracesResponse r;
  ExpectReply(Post("ListTraces", "{}", {{"X-Note", "cafe"}}), &r);
  EXPECT_EQ(r.traces_size(), 1);
}

TEST_F(ConnectJsonTest, HugeBodiesAreRefused) {
  Start();
  // Declared by Content-Length: refused before it is read.
  const std::string huge = absl::StrCat("{\"traceId\":\"", std::string(5 << 20, 'a'), "\"}");
  ExpectConnectError(Post("AnalyzeTrace", huge), 413, "resource_exhausted", "larger than");

  // Compressed: small on the wire, over the bound once decoded.
  const std::string spaces = absl::StrCat("{", std::string(5 << 20, ' '), "}");
  httplib::Client gzip("127.0.0.1", server_->grpc_web_port());
  gzip.set_compress(true);
  ExpectConnectError(gzip.Post("/raceway.v1.QueryService/ListTraces", spaces, "application/json"),
                     413, "resource_exhausted");
  // A compressed body within the bound is decoded and served.
  auto res =
      gzip.Post("/raceway.v1.QueryService/ListTraces", R"({"pageSize": 5})", "application/json");
  v1::ListTracesResponse r;
  ExpectReply(res, &r);
  EXPECT_EQ(r.traces_size(), 1);
}

TEST_F(ConnectJsonTest, ApiKey) {
  config_.auth.query_keys = {kKey};
  Start();
  ExpectConnectError(Post("ListTraces", "{}"), 401, "unauthenticated", "API key");
  ExpectConnectError(Post("ListTraces", "{}", {{"Authorization", "Bearer wrong"}}), 401,
                     "unauthenticated");
  v1::ListTracesResponse r;
  ExpectReply(Post("ListTraces", "{}", {{"Authorization", absl::StrCat("Bearer ", kKey)}}), &r);
  EXPECT_EQ(r.traces_size(), 1);
  ExpectReply(Post("ListTraces", "{}", {{"X-Raceway-Key", kKey}}), &r);
  EXPECT_EQ(r.traces_size(), 1);
}

TEST_F(ConnectJsonTest, Cors) {
  Start();
  auto pre =
      http_->Options("/raceway.v1.QueryService/ListTraces",
                     {{"Origin", kOrigin},
                      {"Access-Control-Request-Method", "POST"},
                      {"Access-Control-Request-Headers",
                       "content-type,connect-protocol-version,connect-timeout-ms,authorization"}});
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), kOrigin);
  for (const char* h : {"content-type", "connect-protocol-version", "connect-timeout-ms"}) {
    EXPECT_THAT(pre->get_header_value("Access-Control-Allow-Headers"), HasSubstr(h));
  }
  auto res = Post("ListTraces", "{}", {{"Origin", kOrigin}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Access-Control-Allow-Origin"), kOrigin);
  // Errors are readable by the page too.
  res = Post("NoSuchMethod", "{}", {{"Origin", kOrigin}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->get_header_value("Access-Control-Allow-Origin"), kOrigin);
  // Another origin: served, but not readable by its page.
  res = Post("ListTraces", "{}", {{"Origin", "http://evil.test"}});
  ASSERT_TRUE(res);
  EXPECT_FALSE(res->has_header("Access-Control-Allow-Origin"));
}

TEST(ConnectErrorTest, DetailsCarryRetryInfo) {
  httplib::Response res;
  SetConnectError(WithRetryInfo(grpc::StatusCode::RESOURCE_EXHAUSTED, "slow down",
                                std::chrono::milliseconds(1500)),
                  res);
  EXPECT_EQ(res.status, 429);
  const pb::Struct error = ParseObject(res.body);
  EXPECT_EQ(StringField(error, "code"), "resource_exhausted");
  EXPECT_EQ(StringField(error, "message"), "slow down");
  const auto& details = error.fields().at("details").list_value();
  ASSERT_EQ(details.values_size(), 1);
  const pb::Struct& detail = details.values(0).struct_value();
  EXPECT_EQ(StringField(detail, "type"), "google.rpc.RetryInfo");
  const std::string value = StringField(detail, "value");
  EXPECT_EQ(value.find('='), std::string::npos) << "unpadded base64";
  std::string bytes;
  ASSERT_TRUE(absl::Base64Unescape(value, &bytes));
  google::rpc::RetryInfo info;
  ASSERT_TRUE(info.ParseFromString(bytes));
  EXPECT_EQ(info.retry_delay().seconds(), 1);
  EXPECT_EQ(info.retry_delay().nanos(), 500'000'000);
  EXPECT_EQ(StringField(detail.fields().at("debug").struct_value(), "retryDelay"), "1.500s");
}

TEST(ConnectErrorTest, CodesAndHttpStatuses) {
  // connectrpc.com/docs/protocol#error-codes
  const std::vector<std::tuple<grpc::StatusCode, std::string, int>> table = {
      {grpc::StatusCode::CANCELLED, "canceled", 499},
      {grpc::StatusCode::UNKNOWN, "unknown", 500},
      {grpc::StatusCode::INVALID_ARGUMENT, "invalid_argument", 400},
      {grpc::StatusCode::DEADLINE_EXCEEDED, "deadline_exceeded", 504},
      {grpc::StatusCode::NOT_FOUND, "not_found", 404},
      {grpc::StatusCode::ALREADY_EXISTS, "already_exists", 409},
      {grpc::StatusCode::PERMISSION_DENIED, "permission_denied", 403},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, "resource_exhausted", 429},
      {grpc::StatusCode::FAILED_PRECONDITION, "failed_precondition", 400},
      {grpc::StatusCode::ABORTED, "aborted", 409},
      {grpc::StatusCode::OUT_OF_RANGE, "out_of_range", 400},
      {grpc::StatusCode::UNIMPLEMENTED, "unimplemented", 501},
      {grpc::StatusCode::INTERNAL, "internal", 500},
      {grpc::StatusCode::UNAVAILABLE, "unavailable", 503},
      {grpc::StatusCode::DATA_LOSS, "data_loss", 500},
      {grpc::StatusCode::UNAUTHENTICATED, "unauthenticated", 401},
  };
  for (const auto& [code, name, http] : table) {
    EXPECT_EQ(ConnectCodeName(code), name) << code;
    EXPECT_EQ(ConnectHttpStatus(code), http) << name;
  }
}

TEST(ConnectErrorTest, ContentTypes) {
  for (const char* ok : {"application/json", "Application/JSON", "application/json; charset=utf-8",
                         "application/json;charset=UTF-8", "application/json; charset=utf8"}) {
    EXPECT_TRUE(IsConnectJsonContentType(ok)) << ok;
  }
  for (const char* no :
       {"", "text/plain", "application/proto", "application/connect+json",
        "application/json; charset=latin1", "application/jsonx", "application/grpc-web+json"}) {
    EXPECT_FALSE(IsConnectJsonContentType(no)) << no;
  }
}

}  // namespace
}  // namespace raceway::service
