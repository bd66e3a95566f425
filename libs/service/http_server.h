#ifndef RACEWAY_LIBS_SERVICE_HTTP_SERVER_H_
#define RACEWAY_LIBS_SERVICE_HTTP_SERVER_H_

// Runs a cpp-httplib server on its own thread (httplib serves each
// connection from its internal thread pool). Start/Stop from one thread;
// the handlers registered on the server must be thread-safe.

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace httplib {
class Server;
}

namespace raceway::service {

class HttpServerThread {
 public:
  HttpServerThread();
  ~HttpServerThread();  // Stops.

  // Register handlers on this before Start.
  httplib::Server& server() { return *server_; }

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
