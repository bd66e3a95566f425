#include "libs/service/http_server.h"

#include <httplib.h>

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace raceway::service {

HttpServerThread::HttpServerThread() : server_(std::make_unique<httplib::Server>()) {}

HttpServerThread::~HttpServerThread() { Stop(); }

absl::Status HttpServerThread::Start(const std::string& listen) {
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
    thread_.join();
  }
}

}  // namespace raceway::service
