#ifndef RACEWAY_LIBS_SERVICE_HTTP_SERVER_H_
#define RACEWAY_LIBS_SERVICE_HTTP_SERVER_H_

// Runs a cpp-httplib server on its own thread, each connection on a thread
// of a pool that grows on demand (http_task_queue.h), every connection and
// request within the bounds of HttpServerOptions. Start/Stop from one
// thread; the handlers registered on the server must be thread-safe.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "libs/service/rate_limiter.h"

namespace httplib {
class ContentReader;
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace raceway::service {

class GuardedHttpServer;

// What one client may cost an HttpServerThread (issue 13: a client sending
// slowly or without end must not hold threads or memory). A connection
// that passes a deadline or a bound is closed.
struct HttpServerOptions {
  // The request line and headers must be complete this long after the
  // connection is accepted or the previous response was written, however
  // steadily they trickle in.
  std::chrono::milliseconds header_timeout{10'000};
  // Request line and headers together.
  size_t max_header_bytes = 64 << 10;
  // A body must arrive within this of the end of its headers, ...
  std::chrono::milliseconds body_timeout{60'000};
  // ... with no wait for the next bytes longer than this.
  std::chrono::milliseconds body_idle_timeout{10'000};
  // Open connections per client (an address; an IPv6 address counts as its
  // /64, as RateLimitClient) and in total. A connection over either gets an
  // immediate "503" with "Retry-After" and "Connection: close", before any
  // of its request is read.
  size_t max_connections_per_client = 32;
  size_t max_connections = 512;
};

// A per-client request limit on one HTTP port (rate_limiter.h).
struct HttpRateLimit {
  std::shared_ptr<RateLimiter> limiter;  // nullptr = no limit.
  // A request presenting one of these keys is limited per key, any other
  // per client address (RateLimitClient).
  std::vector<std::string> api_keys;
  // Required with a limiter: writes the refusal's status, body and
  // port-specific headers for `status` (RESOURCE_EXHAUSTED, the delay in its
  // message). Called from the serving threads.
  std::function<void(const httplib::Request&, httplib::Response&, const absl::Status& status,
                     std::chrono::milliseconds retry_after)>
      refuse;
};

// The API key a request presents (SelectApiKey in grpc_util.h: the rule
// gRPC uses too); "" when none.
std::string PresentedApiKey(const httplib::Request& request);

// Reads a request body through a content-reader route's `read` into
// `body`, refusing it as soon as it passes `max_bytes`: the one bound for
// every transfer encoding (httplib checks only a Content-Length before
// reading; chunked and compressed bodies are bounded here while they
// arrive, decoded). Returns 0 when read, else the HTTP status to answer:
// 413 over the bound, 415 an unsupported Content-Encoding, 400 a body that
// could not be read; on failure `res` gets "Connection: close" (the rest of
// the body cannot stay on the connection).
int ReadBoundedBody(const httplib::ContentReader& read, size_t max_bytes, httplib::Response& res,
                    std::string* body);

// Beyond HttpServerOptions, every request is bounded whatever its route:
// - A body (Content-Length other than 0, or any Transfer-Encoding) on a
//   method other than POST, PUT, PATCH and DELETE gets 400 unread.
// - A POST, PUT, PATCH or DELETE that no content-reader route takes gets
//   404 unread: httplib would read it whole, decoded, with no bound. So a
//   route that takes a body must be a content-reader route (bounded with
//   ReadBoundedBody); a plain Post/Put/Patch/Delete handler is never
//   reached.
// - A request with neither Content-Length nor Transfer-Encoding has no body
//   (httplib would read one until the client closes).
// - The raw bytes of a body (chunk framing included) are at most twice the
//   server's payload_max_length plus 64 KiB: chunk-size and trailer lines
//   are bounded too.
// - An answer >= 400 to a request with a body, or one with "Connection:
//   close", closes the connection (the rest of the body cannot be parsed as
//   the next request).
// HttpServerThread owns the server's pre- and post-routing handlers and its
// task queue; httplib's read timeout is replaced by the options' deadlines,
// its keep-alive and write timeouts still apply.
class HttpServerThread {
 public:
  HttpServerThread();
  ~HttpServerThread();  // Stops.

  // Register handlers on this before Start.
  httplib::Server& server();

  // Before Start; the defaults otherwise. INVALID_ARGUMENT from Start when
  // a limit is 0.
  void SetOptions(const HttpServerOptions& options) { options_ = options; }

  // Before Start. Every request except CORS preflights (OPTIONS) passes the
  // limiter before routing, so before its body is read: a refused request
  // gets `refuse`'s answer plus "Retry-After: <seconds, rounded up>" and
  // "Connection: close" (its unread body cannot stay on the connection; a
  // client still sending a large body sees the connection close).
  // Requests for `exempt_paths` are never limited (liveness probes: a
  // refused probe would restart a healthy pod).
  void SetRateLimit(HttpRateLimit limit, std::vector<std::string> exempt_paths = {});

  // Binds `listen` ("host:port", port 0 = a free port) and starts serving.
  absl::Status Start(const std::string& listen);
  int port() const { return port_; }
  // Stops accepting, closes the connections waiting for a request (those
  // inside one finish it) and joins the serving threads. Idempotent.
  void Stop();

 private:
  // The pre-routing check: a body where no route takes one, then the rate
  // limit. True when it answered `res`.
  bool RefuseBeforeRouting(const httplib::Request& req, httplib::Response& res) const;

  std::unique_ptr<GuardedHttpServer> server_;
  HttpServerOptions options_;
  HttpRateLimit rate_limit_;
  std::vector<std::string> rate_limit_exempt_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_HTTP_SERVER_H_
