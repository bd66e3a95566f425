// HTTP edges on real loopback servers (issue 13): a chunked body over the
// ingest port's bound is refused while it arrives, and the API-key header
// rules (Bearer scheme case-insensitive, one precedence rule) are the same on
// HTTP and gRPC.

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/service/config.h"
#include "libs/service/grpc_util.h"
#include "libs/storage/factory.h"
#include "raceway/v1/ingest.grpc.pb.h"
#include "services/ingest/ingest_server.h"

namespace raceway::service {
namespace {

size_t ResidentBytes() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<size_t>(resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

class IngestHttpEdgesTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> keys = {}) {
    storage::StorageOptions options;
    options.backend = "memory";
    auto storage = storage::OpenStorage(options);
    ASSERT_TRUE(storage.ok()) << storage.status();
    Config config;
    config.ingest.listen = "127.0.0.1:0";
    config.ingest.http_listen = "127.0.0.1:0";
    config.ingest.flush_interval_ms = 1;
    config.metrics.ingest_listen = "";
    config.ingest.max_batch_bytes = 1 << 20;  // Body bound: 2 * 1 MiB + 1 MiB.
    config.auth.ingest_keys = std::move(keys);
    auto server = ingest::IngestServer::Start(config, std::move(*storage));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  std::unique_ptr<ingest::IngestServer> server_;
};

TEST_F(IngestHttpEdgesTest, ChunkedBodyOverTheBoundIs413WithoutBufferingIt) {
  Start();
  constexpr size_t kBound = 3 << 20;
  constexpr size_t kSent = 96 << 20;  // What the server would buffer without the bound.
  const size_t before = ResidentBytes();

  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server_->http_port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string head =
      "POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  ASSERT_EQ(send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  const std::string data(64 << 10, ' ');
  const std::string chunk = absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n");
  // Send until the server answers (or stops reading); read the answer as
  // soon as it is there, before the server's close can reset it.
  std::string answer;
  for (size_t sent = 0; sent < kSent;) {
    pollfd p{.fd = fd, .events = POLLIN | POLLOUT, .revents = 0};
    ASSERT_GE(poll(&p, 1, 10'000), 0);
    if (p.revents & POLLIN) break;
    if (p.revents & (POLLERR | POLLHUP)) break;
    if (p.revents & POLLOUT) {
      const ssize_t n = send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    } else {
      break;  // Neither readable nor writable for 10 s: the server stalled.
    }
  }
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer.substr(0, 200);
  EXPECT_NE(answer.find("OUT_OF_RANGE"), std::string::npos) << answer.substr(0, 400);
  const size_t after = ResidentBytes();
  EXPECT_LT(after, before + kBound + (24 << 20))
      << "RSS grew by " << (after - before) << " bytes for a refused body";
}

TEST_F(IngestHttpEdgesTest, ChunkedBodyOnAnotherPathIsAnsweredWithoutReadingIt) {
  Start();
  httplib::Client http("127.0.0.1", server_->http_port());
  const std::string data(64 << 10, ' ');
  for (const char* path : {"/nope", "/health"}) {
    const size_t before = ResidentBytes();
    size_t sent = 0;
    auto res = http.Post(
        path,
        [&](size_t, httplib::DataSink& sink) {
          if (sent >= (64u << 20)) {
            sink.done();
            return true;
          }
          sent += data.size();
          return sink.write(data.data(), data.size());
        },
        "application/json");
    // The answer, or the server closed while the client was still sending.
    if (res) {
      EXPECT_TRUE(res->status == 404 || res->status == 405) << path << ": " << res->status;
    }
    const size_t after = ResidentBytes();
    EXPECT_LT(after, before + (24 << 20)) << path << ": RSS grew by " << (after - before);
  }
}

TEST_F(IngestHttpEdgesTest, ChunkedBodyWithinTheBoundIsStored) {
  Start();
  httplib::Client http("127.0.0.1", server_->http_port());
  // A content provider without a length is sent chunked.
  const std::string body = R"({"events":[]})";
  auto res = http.Post(
      "/events",
      [&](size_t, httplib::DataSink& sink) {
        sink.write(body.data(), body.size());
        sink.done();
        return true;
      },
      "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
}

// ------------------------------------------------------------ auth headers

TEST(SelectApiKeyTest, BearerSchemeIsCaseInsensitiveAndTheKeyHeaderWins) {
  EXPECT_EQ(SelectApiKey("", "Bearer k1"), "k1");
  EXPECT_EQ(SelectApiKey("", "bearer k1"), "k1");
  EXPECT_EQ(SelectApiKey("", "BEARER k1"), "k1");
  EXPECT_EQ(SelectApiKey("", "bEaReR   k1"), "k1");
  EXPECT_EQ(SelectApiKey("", "Basic k1"), "");
  EXPECT_EQ(SelectApiKey("", "Bearerk1"), "");
  EXPECT_EQ(SelectApiKey("", "Bearer"), "");
  EXPECT_EQ(SelectApiKey("", ""), "");
  EXPECT_EQ(SelectApiKey("k2", "Bearer k1"), "k2");
  EXPECT_EQ(SelectApiKey("k2", ""), "k2");
}

TEST(ApiKeyMatchesTest, ExactKeysOnly) {
  const std::vector<std::string> keys = {"secret-1", "secret-2"};
  EXPECT_TRUE(ApiKeyMatches("secret-2", keys));
  EXPECT_FALSE(ApiKeyMatches("secret-", keys));
  EXPECT_FALSE(ApiKeyMatches("secret-10", keys));
  EXPECT_FALSE(ApiKeyMatches("", keys));
  EXPECT_FALSE(ApiKeyMatches(std::string("secret-1\0", 9), keys));
}

TEST_F(IngestHttpEdgesTest, HttpAndGrpcApplyTheSameHeaderRules) {
  Start({"secret-1"});
  struct Case {
    std::string x_key;          // "" = header absent.
    std::string authorization;  // "" = header absent.
    bool accepted;
  };
  const std::vector<Case> cases = {
      {"", "Bearer secret-1", true},
      {"", "bearer secret-1", true},
      {"", "BEARER secret-1", true},
      {"", "Basic secret-1", false},
      {"secret-1", "", true},
      // X-Raceway-Key takes precedence on both paths, whichever is right.
      {"secret-1", "Bearer wrong", true},
      {"wrong", "Bearer secret-1", false},
  };
  httplib::Client http("127.0.0.1", server_->http_port());
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = raceway::v1::IngestService::NewStub(channel);
  for (const Case& c : cases) {
    const std::string name =
        absl::StrCat("x-raceway-key=\"", c.x_key, "\" authorization=\"", c.authorization, "\"");
    httplib::Headers headers;
    grpc::ClientContext context;
    if (!c.x_key.empty()) {
      headers.emplace("X-Raceway-Key", c.x_key);
      context.AddMetadata("x-raceway-key", c.x_key);
    }
    if (!c.authorization.empty()) {
      headers.emplace("Authorization", c.authorization);
      context.AddMetadata("authorization", c.authorization);
    }
    auto res = http.Post("/events", headers, R"({"events":[]})", "application/json");
    ASSERT_TRUE(res) << name;
    EXPECT_EQ(res->status, c.accepted ? 200 : 401) << name << ": " << res->body;
    raceway::v1::SubmitRequest request;
    raceway::v1::SubmitResponse response;
    const grpc::Status status = stub->Submit(&context, request, &response);
    EXPECT_EQ(status.error_code(),
              c.accepted ? grpc::StatusCode::OK : grpc::StatusCode::UNAUTHENTICATED)
        << name << ": " << status.error_message();
  }
}

}  // namespace
}  // namespace raceway::service
