#ifndef RACEWAY_LIBS_SERVICE_HTTP_SERVER_H_
#define RACEWAY_LIBS_SERVICE_HTTP_SERVER_H_

// Runs a cpp-httplib server on its own thread (httplib serves each
// connection from its internal thread pool). Start/Stop from one thread;
// the handlers registered on the server must be thread-safe.

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

class HttpServerThread {
 public:
  HttpServerThread();
  ~HttpServerThread();  // Stops.

  // Register handlers on this before Start.
  httplib::Server& server() { return *server_; }

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
  // Stops accepting and joins the serving thread. Idempotent.
  void Stop();

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_HTTP_SERVER_H_
