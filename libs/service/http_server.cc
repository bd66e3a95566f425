#include "libs/service/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/service/grpc_util.h"
#include "libs/service/http_connection_guard.h"

namespace raceway::service {

std::string PresentedApiKey(const httplib::Request& req) {
  return std::string(
      SelectApiKey(req.get_header_value("X-Raceway-Key"), req.get_header_value("Authorization")));
}

int ReadBoundedBody(const httplib::ContentReader& read, size_t max_bytes, httplib::Response& res,
                    std::string* body) {
  bool too_big = false;
  const bool ok = read([&](const char* data, size_t n) {
    too_big = n > max_bytes - std::min(max_bytes, body->size());
    if (!too_big) body->append(data, n);
    return !too_big;
  });
  if (ok) return 0;
  res.set_header("Connection", "close");
  // httplib sets 413 itself for a Content-Length over the server's bound.
  if (too_big || res.status == 413) return 413;
  return res.status == 415 ? 415 : 400;
}

HttpServerThread::HttpServerThread() : server_(std::make_unique<GuardedHttpServer>()) {}

HttpServerThread::~HttpServerThread() { Stop(); }

httplib::Server& HttpServerThread::server() { return *server_; }

void HttpServerThread::SetRateLimit(HttpRateLimit limit, std::vector<std::string> exempt_paths) {
  if (!limit.limiter) return;
  rate_limit_ = std::move(limit);
  rate_limit_exempt_ = std::move(exempt_paths);
}

bool HttpServerThread::RefuseBeforeRouting(const httplib::Request& req,
                                           httplib::Response& res) const {
  // Only these methods have content-reader routes: httplib would parse the
  // body of any other as the next request (or, for PRI, read it whole).
  const bool body_method = req.method == "POST" || req.method == "PUT" || req.method == "PATCH" ||
                           req.method == "DELETE";
  if (!body_method && HasRequestBody(req)) {
    res.status = 400;
    return true;  // The post-routing handler closes the connection.
  }
  if (!rate_limit_.limiter) return false;
  // Preflights carry no key and no body; refusing one would surface in
  // the browser as a CORS failure instead of a retryable error.
  if (req.method == "OPTIONS") return false;
  if (std::find(rate_limit_exempt_.begin(), rate_limit_exempt_.end(), req.path) !=
      rate_limit_exempt_.end()) {
    return false;
  }
  const auto delay = rate_limit_.limiter->Admit(
      RateLimitClient(req.remote_addr, PresentedApiKey(req), rate_limit_.api_keys));
  if (delay.count() == 0) return false;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(delay);
  const auto seconds = std::chrono::ceil<std::chrono::seconds>(delay);
  rate_limit_.refuse(
      req, res,
      absl::ResourceExhaustedError(
          absl::StrCat("rate limit: more than ", rate_limit_.limiter->options().requests_per_minute,
                       " requests per minute from this client; retry in ", ms.count(), " ms")),
      ms);
  res.set_header("Retry-After", absl::StrCat(seconds.count()));
  res.set_header("Connection", "close");
  return true;
}

absl::Status HttpServerThread::Start(const std::string& listen) {
  if (options_.header_timeout.count() <= 0 || options_.max_header_bytes == 0 ||
      options_.body_timeout.count() <= 0 || options_.body_idle_timeout.count() <= 0 ||
      options_.max_connections_per_client == 0 || options_.max_connections == 0) {
    return absl::InvalidArgumentError("HTTP server: every timeout and limit must be above 0");
  }
  server_->Configure(options_);
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    return RefuseBeforeRouting(req, res) ? httplib::Server::HandlerResponse::Handled
                                         : httplib::Server::HandlerResponse::Unhandled;
  });
  // Registered after the port's own routes, so only what none of them
  // takes: answered without reading the body.
  const auto unrouted = [](const httplib::Request&, httplib::Response& res,
                           const httplib::ContentReader&) { res.status = 404; };
  server_->Post(".*", unrouted);
  server_->Put(".*", unrouted);
  server_->Patch(".*", unrouted);
  server_->Delete(".*", unrouted);

  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("\"", listen, "\" is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (port == 0) {
    port = server_->bind_to_any_port(host);
    if (port <= 0) return absl::UnavailableError(absl::StrCat("cannot listen on ", listen));
  } else if (!server_->bind_to_port(host, port)) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen));
  }
  server_->RaiseListenBacklog();
  port_ = port;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib's stop() is a no-op until the accept loop runs, so a Stop()
  // right after Start() would leave the thread serving forever: wait for it.
  for (int i = 0; i < 5000 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server_->is_running()) {
    server_->stop();
    return absl::UnavailableError(absl::StrCat("HTTP server on ", listen, " did not start"));
  }
  return absl::OkStatus();
}

void HttpServerThread::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    server_->CloseIdleConnections();
    thread_.join();
  }
}

}  // namespace raceway::service
