#include "libs/service/http_connection_guard.h"

#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/service/http_task_queue.h"
#include "libs/service/rate_limiter.h"

namespace raceway::service {
namespace {

using Clock = std::chrono::steady_clock;

// Threads beyond max_connections, so that refusing connections over a cap
// never waits for a thread.
constexpr size_t kRefusalThreads = 8;
// Threads kept while idle: httplib's own pool size.
constexpr size_t kMinThreads = 8;
constexpr std::chrono::seconds kIdleThreadTimeout(30);
// How long, and how much, a connection closed in the middle of its
// client's request is drained (LingeringClose).
constexpr std::chrono::milliseconds kLinger(100);
constexpr size_t kLingerBytes = 64 << 10;
// Chunk framing and trailers on top of a body's payload_max_length bytes.
constexpr size_t kBodyFramingBytes = 64 << 10;

int PollMillis(Clock::duration d) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, std::numeric_limits<int>::max()));
}

// The numeric address and port of a socket's peer (or its own end).
void SocketAddress(int fd, bool peer, std::string* ip, int* port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  if ((peer ? getpeername(fd, sa, &len) : getsockname(fd, sa, &len)) != 0) return;
  char host[NI_MAXHOST];
  char serv[NI_MAXSERV];
  if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return;
  }
  *ip = host;
  if (!absl::SimpleAtoi(serv, port)) *port = 0;
}

}  // namespace

// A connection's socket as httplib's Stream, every read bounded by the
// current phase of the current request: its headers (deadline and bytes
// from the request's start; a stop ends them too) or its body (deadline and
// bytes from the end of the headers, and an idle limit per read). Reads are
// buffered (httplib reads a request line and headers one byte at a time).
// Used by one thread.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int fd, std::string remote_ip, int remote_port, int stop_fd,
                   const HttpServerOptions& options, size_t max_body_bytes,
                   std::chrono::microseconds write_timeout)
      : fd_(fd),
        remote_ip_(std::move(remote_ip)),
        remote_port_(remote_port),
        stop_fd_(stop_fd),
        options_(options),
        max_body_bytes_(max_body_bytes),
        write_timeout_ms_(PollMillis(write_timeout)) {
    SocketAddress(fd, /*peer=*/false, &local_ip_, &local_port_);
  }

  void BeginRequest() {
    phase_ = Phase::kHeaders;
    deadline_ = Clock::now() + options_.header_timeout;
    budget_ = options_.max_header_bytes;
  }

  // Waits up to `idle` (and the header deadline) for the request's first
  // byte. False: close the connection.
  bool AwaitRequest(Clock::duration idle) {
    if (begin_ < end_) return true;
    const auto until = std::min(deadline_, Clock::now() + idle);
    for (;;) {
      pollfd fds[2] = {{.fd = fd_, .events = POLLIN, .revents = 0},
                       {.fd = stop_fd_, .events = POLLIN, .revents = 0}};
      const int ready = poll(fds, stop_fd_ >= 0 ? 2 : 1, PollMillis(until - Clock::now()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0 || fds[1].revents != 0) return false;
      return true;  // Data, or the end of the stream for httplib to find.
    }
  }

  // The request's headers are complete; its body starts. A request with
  // neither Content-Length nor Transfer-Encoding has none (RFC 9112 6.3;
  // httplib would read until the client closes).
  void BeginBody(const httplib::Request& req) {
    phase_ = HasRequestBody(req) ? Phase::kBody : Phase::kNoBody;
    deadline_ = Clock::now() + options_.body_timeout;
    budget_ = max_body_bytes_;
  }

  // A deadline passed or a bound was reached: the connection must close.
  bool failed() const { return failed_; }
  void CloseAfterResponse() { close_after_response_ = true; }
  bool close_after_response() const { return close_after_response_; }

  bool is_readable() const override {
    if (begin_ < end_) return true;
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    return poll(&p, 1, 0) > 0;
  }

  bool is_writable() const override {
    pollfd p{.fd = fd_, .events = POLLOUT, .revents = 0};
    int ready;
    do {
      ready = poll(&p, 1, write_timeout_ms_);
    } while (ready < 0 && errno == EINTR);
    return ready > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) == 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (failed_) return -1;
    if (phase_ == Phase::kNoBody) return 0;
    if (begin_ == end_) {
      const ssize_t filled = Fill();
      if (filled <= 0) return filled;
    }
    if (budget_ == 0) {
      failed_ = true;
      return -1;
    }
    const size_t n = std::min({size, end_ - begin_, budget_});
    std::memcpy(ptr, buffer_ + begin_, n);
    begin_ += n;
    budget_ -= n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    for (;;) {
      const ssize_t n = send(fd_, ptr, size, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = remote_ip_;
    port = remote_port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = local_ip_;
    port = local_port_;
  }
  socket_t socket() const override { return fd_; }

 private:
  // Refills the empty buffer within the phase's deadline: > 0 bytes, 0 at
  // the end of the stream, -1 (failed) otherwise.
  ssize_t Fill() {
    const bool headers = phase_ == Phase::kHeaders;
    const auto until =
        headers ? deadline_ : std::min(deadline_, Clock::now() + options_.body_idle_timeout);
    for (;;) {
      const auto now = Clock::now();
      if (now >= until) {
        failed_ = true;
        return -1;
      }
      pollfd fds[2] = {{.fd = fd_, .events = POLLIN, .revents = 0},
                       {.fd = stop_fd_, .events = POLLIN, .revents = 0}};
      // Stopping ends requests still in their headers, not bodies.
      const nfds_t watched = headers && stop_fd_ >= 0 ? 2 : 1;
      const int ready = poll(fds, watched, PollMillis(until - now));
      if (ready < 0 && errno != EINTR) break;
      if (ready <= 0) continue;  // The loop checks the deadline.
      if (fds[1].revents != 0) break;
      const ssize_t n = recv(fd_, buffer_, sizeof(buffer_), 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n < 0) break;
      begin_ = 0;
      end_ = static_cast<size_t>(n);
      return n;
    }
    failed_ = true;
    return -1;
  }

  const int fd_;
  const std::string remote_ip_;
  const int remote_port_;
  const int stop_fd_;
  const HttpServerOptions& options_;
  const size_t max_body_bytes_;
  const int write_timeout_ms_;
  std::string local_ip_;
  int local_port_ = 0;

  enum class Phase { kHeaders, kBody, kNoBody };
  Phase phase_ = Phase::kHeaders;
  Clock::time_point deadline_;
  size_t budget_ = 0;
  bool failed_ = false;
  bool close_after_response_ = false;

  char buffer_[16 << 10];
  size_t begin_ = 0, end_ = 0;
};

namespace {

// The connection the calling thread serves: httplib's handlers run on it.
thread_local ConnectionStream* current_stream = nullptr;

// After the handlers, before the answer is written: an error answer to a
// request with a body, or one saying "Connection: close", closes the
// connection (httplib itself would parse what is left of the body as the
// next request).
void CloseWhereBodyMayBeUnread(const httplib::Request& req, httplib::Response& res) {
  const bool says_close = absl::EqualsIgnoreCase(res.get_header_value("Connection"), "close");
  if (!says_close && !(res.status >= 400 && HasRequestBody(req))) return;
  if (!says_close) {
    res.headers.erase("Connection");
    res.set_header("Connection", "close");
  }
  res.headers.erase("Keep-Alive");
  if (current_stream != nullptr) current_stream->CloseAfterResponse();
}

// Closes a connection whose client may still be sending: first the answer
// side, then reads what arrives for a moment, so that closing with unread
// request bytes does not reset the connection before the client has read
// the answer.
void LingeringClose(int fd) {
  shutdown(fd, SHUT_WR);
  const auto until = Clock::now() + kLinger;
  char sink[4096];
  for (size_t drained = 0; drained < kLingerBytes;) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, PollMillis(until - Clock::now())) <= 0) break;
    const ssize_t n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
    if (n <= 0) break;
    drained += static_cast<size_t>(n);
  }
  close(fd);
}

// A short 503 on a connection over a cap, before reading anything.
void Refuse(int fd, const std::string& why) {
  const std::string body = absl::StrCat(why, "\n");
  const std::string answer = absl::StrCat(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: ",
      body.size(), "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n", body);
  // A new connection's send buffer is empty: this does not block.
  (void)send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  LingeringClose(fd);
}

}  // namespace

bool HasRequestBody(const httplib::Request& req) {
  return req.has_header("Transfer-Encoding") ||
         (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0");
}

ConnectionCounter::Admission ConnectionCounter::Admit(const std::string& client) {
  std::lock_guard lock(mu_);
  if (open_total_ >= total_) return Admission::kServerFull;
  size_t& open = open_[client];
  if (open >= per_client_) return Admission::kClientFull;
  ++open;
  ++open_total_;
  return Admission::kAdmitted;
}

void ConnectionCounter::Release(const std::string& client) {
  std::lock_guard lock(mu_);
  auto it = open_.find(client);
  if (--it->second == 0) open_.erase(it);
  --open_total_;
}

GuardedHttpServer::GuardedHttpServer() : stop_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  set_post_routing_handler(CloseWhereBodyMayBeUnread);
  Configure(HttpServerOptions{});
}

GuardedHttpServer::~GuardedHttpServer() {
  if (stop_fd_ >= 0) close(stop_fd_);
}

void GuardedHttpServer::Configure(const HttpServerOptions& options) {
  options_ = options;
  connections_ = std::make_unique<ConnectionCounter>(options.max_connections_per_client,
                                                     options.max_connections);
  new_task_queue = [max_threads = options.max_connections + kRefusalThreads] {
    return new GrowingTaskQueue({.min_threads = kMinThreads,
                                 .max_threads = max_threads,
                                 .idle_timeout = kIdleThreadTimeout});
  };
}

void GuardedHttpServer::RaiseListenBacklog() {
  // listen() again on a listening socket only changes its backlog (Linux).
  (void)::listen(svr_sock_.load(), SOMAXCONN);
}

void GuardedHttpServer::CloseIdleConnections() {
  if (stop_fd_ >= 0) (void)eventfd_write(stop_fd_, 1);
}

bool GuardedHttpServer::process_and_close_socket(socket_t sock) {
  std::string ip;
  int port = 0;
  SocketAddress(sock, /*peer=*/true, &ip, &port);
  const std::string client = RateLimitClient(ip, "", {});
  switch (connections_->Admit(client)) {
    case ConnectionCounter::Admission::kAdmitted:
      break;
    case ConnectionCounter::Admission::kClientFull:
      Refuse(sock, absl::StrCat("too many connections from this client (",
                                options_.max_connections_per_client, " open); retry later"));
      return false;
    case ConnectionCounter::Admission::kServerFull:
      Refuse(sock, absl::StrCat("too many connections (", options_.max_connections,
                                " open); retry later"));
      return false;
  }
  const size_t max_body_bytes =
      payload_max_length_ > (std::numeric_limits<size_t>::max() - kBodyFramingBytes) / 2
          ? std::numeric_limits<size_t>::max()
          : payload_max_length_ * 2 + kBodyFramingBytes;
  ConnectionStream strm(
      sock, ip, port, stop_fd_, options_, max_body_bytes,
      std::chrono::seconds(write_timeout_sec_) + std::chrono::microseconds(write_timeout_usec_));
  const bool ret = Serve(strm);
  if (strm.failed() || strm.close_after_response()) {
    LingeringClose(sock);
  } else {
    shutdown(sock, SHUT_RDWR);
    close(sock);
  }
  connections_->Release(client);
  return ret;
}

bool GuardedHttpServer::Serve(ConnectionStream& strm) {
  current_stream = &strm;
  bool ret = false;
  // httplib's keep-alive rules: at most keep_alive_max_count_ requests, the
  // last one answered with "Connection: close".
  for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
    strm.BeginRequest();
    if (!strm.AwaitRequest(std::chrono::seconds(keep_alive_timeout_sec_))) break;
    bool connection_closed = false;
    ret = process_request(strm, left == 1, connection_closed,
                          [&strm](httplib::Request& req) { strm.BeginBody(req); });
    if (!ret || connection_closed || strm.failed() || strm.close_after_response()) break;
  }
  current_stream = nullptr;
  return ret;
}

}  // namespace raceway::service
