// Slow and hostile HTTP clients on real loopback servers, the ingest HTTP
// port and the query service's gRPC-Web port (issue 13 bugs 4 and 5):
// clients drip-feeding headers do not starve the others and are closed
// after the header deadline, one address cannot hold more than its share of
// connections, and no request can make the server read an unbounded body or
// line on any route.

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/service/config.h"
#include "libs/service/http_server.h"
#include "libs/storage/factory.h"
#include "services/ingest/ingest_server.h"
#include "services/query/query_server.h"

namespace raceway::service {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr char kSlowAddress[] = "127.0.0.1";
constexpr char kOtherAddress[] = "127.0.0.2";

size_t ResidentBytes() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<size_t>(resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// A TCP connection from `from` (a 127.0.0.x address) to 127.0.0.1:`port`;
// -1 on failure.
int ConnectFrom(const char* from, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, from, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<uint16_t>(port));
  remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// What the server sent before it closed the connection (closed = true), or
// before `timeout` passed.
struct Received {
  std::string bytes;
  bool closed = false;
};

Received ReadUntilClosed(int fd, milliseconds timeout) {
  Received r;
  const auto deadline = Clock::now() + timeout;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return r;
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    const int ready = poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return r;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // End of stream or reset: closed either way.
      r.closed = true;
      return r;
    }
    r.bytes.append(buf, static_cast<size_t>(n));
  }
}

// One response from a keep-alive connection (head and Content-Length
// body); "" when none was complete within `timeout`.
std::string ReadResponse(int fd, milliseconds timeout) {
  std::string in;
  const auto deadline = Clock::now() + timeout;
  char buf[4096];
  for (;;) {
    const size_t head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const std::string head = absl::AsciiStrToLower(in.substr(0, head_end));
      size_t length = 0;
      if (const size_t at = head.find("\r\ncontent-length:"); at != std::string::npos) {
        const size_t from = at + 17;
        const std::string value = head.substr(from, head.find("\r\n", from) - from);
        if (!absl::SimpleAtoi(value, &length)) return "";
      }
      if (in.size() >= head_end + 4 + length) return in.substr(0, head_end + 4 + length);
    }
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return "";
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return "";
    in.append(buf, static_cast<size_t>(n));
  }
}

// Sends `request` from `from` on a new connection (it should ask for
// "Connection: close") and returns what came back within `timeout`.
Received Exchange(const char* from, int port, const std::string& request, milliseconds timeout) {
  const int fd = ConnectFrom(from, port);
  if (fd < 0) return {};
  Received r;
  if (SendAll(fd, request)) r = ReadUntilClosed(fd, timeout);
  close(fd);
  return r;
}

std::string HealthRequest(const std::string& connection = "close") {
  return absl::StrCat("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: ", connection,
                      "\r\n\r\n");
}

std::string ListTracesRequest(const std::string& connection = "close") {
  return absl::StrCat(
      "POST /raceway.v1.QueryService/ListTraces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: ",
      connection, "\r\n\r\n{}");
}

// Connections that send a request line and then one header line every
// `interval`, never finishing their headers (slowloris).
class Drip {
 public:
  Drip(int port, int connections, milliseconds interval) {
    for (int i = 0; i < connections; ++i) {
      const int fd = ConnectFrom(kSlowAddress, port);
      if (fd < 0) continue;
      SendAll(fd, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      fds_.push_back(fd);
    }
    thread_ = std::thread([this, interval] {
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
        // A connection the server closed fails here; it is left alone.
        for (int fd : fds_) send(fd, "X-Drip: 1\r\n", 11, MSG_NOSIGNAL | MSG_DONTWAIT);
      }
    });
  }
  ~Drip() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    for (int fd : fds_) close(fd);
  }

  const std::vector<int>& fds() const { return fds_; }

  // How many of the connections the server has closed by `deadline`.
  int ClosedBy(Clock::time_point deadline) const {
    int closed = 0;
    for (int fd : fds_) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      closed += ReadUntilClosed(fd, std::max(left, milliseconds(0))).closed ? 1 : 0;
    }
    return closed;
  }

 private:
  std::vector<int> fds_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// What a client achieved sending `head` and then up to `total` bytes of
// `body_unit` repeated, reading whatever the server answers meanwhile: how
// much the server let it send before it closed the connection, and what it
// answered.
struct Flood {
  size_t sent = 0;
  Received answer;
};

Flood SendFlood(int port, const std::string& head, const std::string& body_unit, size_t total) {
  Flood flood;
  const int fd = ConnectFrom(kSlowAddress, port);
  if (fd < 0) return flood;
  if (!SendAll(fd, head)) {
    close(fd);
    return flood;
  }
  char buf[4096];
  while (flood.sent < total && !flood.answer.closed) {
    pollfd p{.fd = fd, .events = POLLIN | POLLOUT, .revents = 0};
    if (poll(&p, 1, 10'000) <= 0) break;  // Neither for 10 s: the server stalled.
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
      const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n > 0) {
        flood.answer.bytes.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        flood.answer.closed = true;
      }
      continue;
    }
    const ssize_t n = send(fd, body_unit.data(), body_unit.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      flood.answer.closed = true;  // Reset by the server.
      break;
    }
    flood.sent += static_cast<size_t>(n);
  }
  if (!flood.answer.closed) {
    const Received rest = ReadUntilClosed(fd, milliseconds(10'000));
    flood.answer.bytes += rest.bytes;
    flood.answer.closed = rest.closed;
  }
  close(fd);
  return flood;
}

class SlowClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::StorageOptions options;
    options.backend = "memory";
    auto storage = storage::OpenStorage(options);
    ASSERT_TRUE(storage.ok()) << storage.status();
    std::shared_ptr<storage::Storage> shared = std::move(*storage);

    Config config;
    config.ingest.listen = "127.0.0.1:0";
    config.ingest.http_listen = "127.0.0.1:0";
    config.ingest.flush_interval_ms = 1;
    config.ingest.max_batch_bytes = 1 << 20;  // Body bound: 2 * 1 MiB + 1 MiB.
    config.metrics.ingest_listen = "";
    config.query.listen = "127.0.0.1:0";
    config.query.grpc_web_listen = "127.0.0.1:0";
    config.query.cors_origins = {"http://dashboard.test"};  // The preflights' origin.
    config.metrics.query_listen = "";
    auto ingest = ingest::IngestServer::Start(config, shared);
    ASSERT_TRUE(ingest.ok()) << ingest.status();
    ingest_ = std::move(*ingest);
    auto query = query::QueryServer::Start(config, shared);
    ASSERT_TRUE(query.ok()) << query.status();
    query_ = std::move(*query);
  }

  std::unique_ptr<ingest::IngestServer> ingest_;
  std::unique_ptr<query::QueryServer> query_;
};

// ------------------------------------------------------------ slowloris

TEST_F(SlowClientsTest, DripFedHeadersNeitherStarveOthersNorStayOpen) {
  const auto start = Clock::now();
  Drip ingest_drip(ingest_->http_port(), 100, milliseconds(3000));
  Drip web_drip(query_->grpc_web_port(), 100, milliseconds(3000));
  ASSERT_EQ(ingest_drip.fds().size(), 100u);
  ASSERT_EQ(web_drip.fds().size(), 100u);

  // A client at another address is answered while the slow ones are open.
  const Received health =
      Exchange(kOtherAddress, ingest_->http_port(), HealthRequest(), milliseconds(5000));
  EXPECT_TRUE(health.closed) << "no complete answer to GET /health within 5 s";
  EXPECT_EQ(health.bytes.rfind("HTTP/1.1 200", 0), 0u) << health.bytes.substr(0, 200);
  const Received traces =
      Exchange(kOtherAddress, query_->grpc_web_port(), ListTracesRequest(), milliseconds(5000));
  EXPECT_TRUE(traces.closed) << "no complete answer to ListTraces within 5 s";
  EXPECT_EQ(traces.bytes.rfind("HTTP/1.1 200", 0), 0u) << traces.bytes.substr(0, 200);

  // Every slow connection is closed by the server: over the per-address cap
  // at once, the others at the header deadline (10 s by default) although
  // each sends a line well within any per-read timeout.
  const auto bound = start + std::chrono::seconds(30);
  EXPECT_EQ(ingest_drip.ClosedBy(bound), 100);
  EXPECT_EQ(web_drip.ClosedBy(bound), 100);
}

// ------------------------------------------------------------ connection caps

TEST_F(SlowClientsTest, OneAddressGetsAtMost32ConnectionsOthersAreStillServed) {
  struct Port {
    const char* name;
    int port;
    std::string (*request)(const std::string&);
  };
  for (const Port& p : {Port{"ingest", ingest_->http_port(), &HealthRequest},
                        Port{"grpc-web", query_->grpc_web_port(), &ListTracesRequest}}) {
    SCOPED_TRACE(p.name);
    // 32 keep-alive connections from one address, each answered once (so
    // each is open and counted by the server).
    std::vector<int> held;
    for (int i = 0; i < 32; ++i) {
      const int fd = ConnectFrom(kSlowAddress, p.port);
      ASSERT_GE(fd, 0);
      held.push_back(fd);
      ASSERT_TRUE(SendAll(fd, p.request("keep-alive")));
      const std::string answer = ReadResponse(fd, milliseconds(5000));
      ASSERT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << "connection " << i << ": " << answer;
    }
    // The 33rd is refused at once with a short 503.
    const int extra = ConnectFrom(kSlowAddress, p.port);
    ASSERT_GE(extra, 0);
    const Received refused = ReadUntilClosed(extra, milliseconds(5000));
    close(extra);
    EXPECT_TRUE(refused.closed);
    EXPECT_EQ(refused.bytes.rfind("HTTP/1.1 503", 0), 0u) << refused.bytes;
    EXPECT_NE(refused.bytes.find("Retry-After: "), std::string::npos) << refused.bytes;
    EXPECT_NE(refused.bytes.find("Connection: close"), std::string::npos) << refused.bytes;

    // Another address is served meanwhile.
    const Received other = Exchange(kOtherAddress, p.port, p.request("close"), milliseconds(5000));
    EXPECT_EQ(other.bytes.rfind("HTTP/1.1 200", 0), 0u) << other.bytes.substr(0, 200);

    // A closed connection frees its place (the server notices the close
    // asynchronously: retry until it has).
    close(held.back());
    held.pop_back();
    std::string again;
    for (const auto until = Clock::now() + std::chrono::seconds(5);
         again.rfind("HTTP/1.1 200", 0) != 0 && Clock::now() < until;) {
      again = Exchange(kSlowAddress, p.port, p.request("close"), milliseconds(5000)).bytes;
    }
    EXPECT_EQ(again.rfind("HTTP/1.1 200", 0), 0u) << again.substr(0, 200);
    for (int fd : held) close(fd);
  }
}

// ------------------------------------------------------------ bodies

// On every kind of route of both ports, a body (or line) the route does not
// bound is neither read in full nor buffered: the server answers or closes
// before the client has sent a fraction of it.
TEST_F(SlowClientsTest, NoRouteReadsAnUnboundedBodyOrLine) {
  constexpr size_t kTotal = 200u << 20;
  // Kernel socket buffers on loopback absorb a few MiB (up to tcp_rmem's
  // maximum) even when nothing is read.
  constexpr size_t kMostSent = 64u << 20;
  // One chunk of kTotal bytes, no line end in it: what a server that does
  // not read a body takes for its next request line.
  const std::string spaces(64 << 10, ' ');
  const std::string digits(64 << 10, '1');
  struct Case {
    const char* name;
    int port;
    std::string head;
    const std::string& unit;
  };
  const int ingest = ingest_->http_port();
  const int web = query_->grpc_web_port();
  const std::string chunked =
      absl::StrCat("Transfer-Encoding: chunked\r\n\r\n", absl::Hex(kTotal), "\r\n");
  const std::string json = "Content-Type: application/json\r\n";
  const std::string endless_chunk_size = "Transfer-Encoding: chunked\r\n\r\n";
  const std::string rpc = "/raceway.v1.QueryService/ListTraces";
  const std::vector<Case> cases = {
      {"ingest GET /health chunked", ingest, absl::StrCat("GET /health HTTP/1.1\r\n", chunked),
       spaces},
      {"ingest GET /health Content-Length", ingest,
       absl::StrCat("GET /health HTTP/1.1\r\nContent-Length: ", kTotal, "\r\n\r\n"), spaces},
      {"ingest OPTIONS /events chunked", ingest,
       absl::StrCat("OPTIONS /events HTTP/1.1\r\n", chunked), spaces},
      {"ingest POST /nope chunked", ingest, absl::StrCat("POST /nope HTTP/1.1\r\n", chunked),
       spaces},
      {"ingest POST /events chunked", ingest,
       absl::StrCat("POST /events HTTP/1.1\r\n", json, chunked), spaces},
      {"ingest POST /events endless chunk size", ingest,
       absl::StrCat("POST /events HTTP/1.1\r\n", json, endless_chunk_size), digits},
      {"ingest endless request line", ingest, "GET /", spaces},
      {"ingest endless header line", ingest, "GET /health HTTP/1.1\r\nX-Long: ", spaces},
      {"grpc-web POST /nope chunked", web, absl::StrCat("POST /nope HTTP/1.1\r\n", chunked),
       spaces},
      {"grpc-web GET rpc chunked", web, absl::StrCat("GET ", rpc, " HTTP/1.1\r\n", chunked),
       spaces},
      {"grpc-web OPTIONS rpc chunked", web, absl::StrCat("OPTIONS ", rpc, " HTTP/1.1\r\n", chunked),
       spaces},
      {"grpc-web POST rpc chunked", web, absl::StrCat("POST ", rpc, " HTTP/1.1\r\n", json, chunked),
       spaces},
      {"grpc-web POST rpc endless chunk size", web,
       absl::StrCat("POST ", rpc, " HTTP/1.1\r\n", json, endless_chunk_size), digits},
      {"grpc-web endless request line", web, "GET /", spaces},
  };
  for (const Case& c : cases) {
    const size_t before = ResidentBytes();
    const Flood flood = SendFlood(c.port, c.head, c.unit, kTotal);
    const size_t after = ResidentBytes();
    EXPECT_LT(flood.sent, kMostSent) << c.name << ": the server read " << flood.sent << " bytes";
    EXPECT_TRUE(flood.answer.closed) << c.name << ": the server did not close the connection";
    if (!flood.answer.bytes.empty()) {
      EXPECT_EQ(flood.answer.bytes.rfind("HTTP/1.1 4", 0), 0u)
          << c.name << ": " << flood.answer.bytes.substr(0, 200);
    }
    EXPECT_LT(after, before + (32u << 20)) << c.name << ": RSS grew by " << (after - before);
  }
}

TEST_F(SlowClientsTest, HealthPreflightsAndSmallBodiesStillWorkOnKeptConnections) {
  const int ingest = ConnectFrom(kOtherAddress, ingest_->http_port());
  ASSERT_GE(ingest, 0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(SendAll(ingest, HealthRequest("keep-alive")));
    const std::string answer = ReadResponse(ingest, milliseconds(5000));
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  }
  ASSERT_TRUE(SendAll(ingest,
                      "POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                      "application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "d\r\n{\"events\":[]}\r\n0\r\n\r\n"));
  const std::string events = ReadResponse(ingest, milliseconds(5000));
  EXPECT_EQ(events.rfind("HTTP/1.1 200", 0), 0u) << events;
  close(ingest);

  const int web = ConnectFrom(kOtherAddress, query_->grpc_web_port());
  ASSERT_GE(web, 0);
  // Two of each: httplib answers at most 5 requests per connection.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(SendAll(web,
                        "OPTIONS /raceway.v1.QueryService/ListTraces HTTP/1.1\r\n"
                        "Host: 127.0.0.1\r\nOrigin: http://dashboard.test\r\n"
                        "Access-Control-Request-Method: POST\r\n"
                        "Access-Control-Request-Headers: content-type\r\n\r\n"));
    const std::string answer = ReadResponse(web, milliseconds(5000));
    EXPECT_EQ(answer.rfind("HTTP/1.1 204", 0), 0u) << answer;
    ASSERT_TRUE(SendAll(web, ListTracesRequest("keep-alive")));
    const std::string traces = ReadResponse(web, milliseconds(5000));
    EXPECT_EQ(traces.rfind("HTTP/1.1 200", 0), 0u) << traces;
  }
  close(web);
}

// ------------------------------------------------ HttpServerThread options

// A bare server with short deadlines: POST /body reads its body (bounded at
// 1 MiB), GET /ok answers.
class ShortDeadlinesTest : public ::testing::Test {
 protected:
  void Start(const HttpServerOptions& options) {
    http_.server().Get("/ok", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok", "text/plain");
    });
    http_.server().Post("/body", [this](const httplib::Request&, httplib::Response& res,
                                        const httplib::ContentReader& read) {
      std::string body;
      const int status = ReadBoundedBody(read, 1 << 20, res, &body);
      if (status != 0) {
        res.status = status;
        return;
      }
      bodies_read_++;
      res.set_content(absl::StrCat(body.size()), "text/plain");
    });
    http_.SetOptions(options);
    ASSERT_TRUE(http_.Start("127.0.0.1:0").ok());
  }

  HttpServerThread http_;
  std::atomic<int> bodies_read_{0};
};

TEST_F(ShortDeadlinesTest, HeadersDripFedPastTheHeaderDeadlineAreClosed) {
  Start({.header_timeout = milliseconds(500)});
  // One header line every 100 ms: far inside any per-read timeout, never
  // finishing the headers.
  Drip drip(http_.port(), 1, milliseconds(100));
  ASSERT_EQ(drip.fds().size(), 1u);
  EXPECT_EQ(drip.ClosedBy(Clock::now() + std::chrono::seconds(10)), 1);
  // The same request sent at once is answered.
  const Received ok = Exchange(kOtherAddress, http_.port(),
                               "GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n", milliseconds(5000));
  EXPECT_EQ(ok.bytes.rfind("HTTP/1.1 200", 0), 0u) << ok.bytes;
}

TEST_F(ShortDeadlinesTest, ABodyDripFedPastTheBodyDeadlineIsClosedUnanswered) {
  Start({.body_timeout = milliseconds(500)});
  const int fd = ConnectFrom(kSlowAddress, http_.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "POST /body HTTP/1.1\r\nContent-Length: 1000\r\n\r\n"));
  // One byte every 50 ms: each read is quick, the body would take 50 s.
  Received r;
  for (int i = 0; i < 1000 && !r.closed; ++i) {
    SendAll(fd, "x");
    r = ReadUntilClosed(fd, milliseconds(50));
  }
  close(fd);
  EXPECT_TRUE(r.closed) << "the server still reads the body after 50 s";
  EXPECT_EQ(bodies_read_.load(), 0);
}

TEST_F(ShortDeadlinesTest, ABodyThatStopsPastTheIdleTimeoutIsClosed) {
  Start({.body_idle_timeout = milliseconds(300)});
  const int fd = ConnectFrom(kSlowAddress, http_.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "POST /body HTTP/1.1\r\nContent-Length: 1000\r\n\r\nhalf"));
  const Received r = ReadUntilClosed(fd, milliseconds(10'000));
  close(fd);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(bodies_read_.load(), 0);
}

TEST_F(ShortDeadlinesTest, APostWithoutLengthHasAnEmptyBody) {
  Start({});
  // HTTP/1.1: neither Content-Length nor Transfer-Encoding means no body,
  // not one that lasts until the client closes.
  const int fd = ConnectFrom(kOtherAddress, http_.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "POST /body HTTP/1.1\r\n\r\n"));
  const std::string answer = ReadResponse(fd, milliseconds(5000));
  close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  EXPECT_EQ(answer.substr(answer.size() - 1), "0") << answer;
}

TEST_F(ShortDeadlinesTest, TheTotalCapRefusesEveryAddress) {
  Start({.max_connections = 3});
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) {
    const int fd = ConnectFrom(kSlowAddress, http_.port());
    ASSERT_GE(fd, 0);
    held.push_back(fd);
    ASSERT_TRUE(SendAll(fd, "GET /ok HTTP/1.1\r\n\r\n"));
    const std::string answer = ReadResponse(fd, milliseconds(5000));
    ASSERT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  }
  const Received refused =
      Exchange(kOtherAddress, http_.port(), "GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n",
               milliseconds(5000));
  EXPECT_EQ(refused.bytes.rfind("HTTP/1.1 503", 0), 0u) << refused.bytes;
  EXPECT_NE(refused.bytes.find("too many connections (3 open)"), std::string::npos)
      << refused.bytes;
  for (int fd : held) close(fd);
}

TEST(HttpServerOptionsTest, ZeroLimitsAreRefused) {
  HttpServerThread http;
  http.SetOptions({.max_connections_per_client = 0});
  EXPECT_EQ(http.Start("127.0.0.1:0").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ShortDeadlinesTest, StopClosesIdleKeptConnections) {
  Start({});
  const int fd = ConnectFrom(kSlowAddress, http_.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GET /ok HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(ReadResponse(fd, milliseconds(5000)).rfind("HTTP/1.1 200", 0), 0u);
  http_.Stop();  // Returns although the connection waits for its next request.
  EXPECT_TRUE(ReadUntilClosed(fd, milliseconds(10'000)).closed);
  close(fd);
}

}  // namespace
}  // namespace raceway::service
