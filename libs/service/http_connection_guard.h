#ifndef RACEWAY_LIBS_SERVICE_HTTP_CONNECTION_GUARD_H_
#define RACEWAY_LIBS_SERVICE_HTTP_CONNECTION_GUARD_H_

// How an HttpServerThread serves a connection within HttpServerOptions
// (http_server.h). GuardedHttpServer replaces httplib's per-connection loop:
// it admits the connection against the per-client and total caps, then
// runs httplib's request processing over its own socket stream, which ends
// every read at the request's header deadline or body deadline and byte
// bound (httplib's own reads wait per recv and grow lines without limit).

#include <httplib.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "libs/service/http_server.h"

namespace raceway::service {

class ConnectionStream;

// Whether a request carries a body: a Content-Length other than 0, or any
// Transfer-Encoding.
bool HasRequestBody(const httplib::Request& req);

// Open connections per client and in total. Thread-safe.
class ConnectionCounter {
 public:
  enum class Admission { kAdmitted, kClientFull, kServerFull };

  ConnectionCounter(size_t per_client, size_t total) : per_client_(per_client), total_(total) {}

  // kAdmitted counts the connection; Release it when it closes.
  Admission Admit(const std::string& client);
  void Release(const std::string& client);

 private:
  const size_t per_client_;
  const size_t total_;
  std::mutex mu_;
  absl::flat_hash_map<std::string, size_t> open_;
  size_t open_total_ = 0;
};

// Configure and RaiseListenBacklog from the thread that starts the server,
// before it serves; CloseIdleConnections from any thread.
class GuardedHttpServer : public httplib::Server {
 public:
  GuardedHttpServer();
  ~GuardedHttpServer() override;

  // Before listening.
  void Configure(const HttpServerOptions& options);
  // After binding: httplib listens with a backlog of 5, so a burst of
  // connections (slow clients' included) has the kernel drop connection
  // attempts, each then retried by its client only after a second or more.
  void RaiseListenBacklog();
  // After stop(): connections waiting for (or inside the headers of) a
  // request close; those inside a body or a handler finish it.
  void CloseIdleConnections();

 private:
  // Called by httplib's accept loop (on a task-queue thread) for each
  // connection; closes it.
  bool process_and_close_socket(socket_t sock) override;
  // The request loop of an admitted connection.
  bool Serve(ConnectionStream& strm);

  HttpServerOptions options_;
  std::unique_ptr<ConnectionCounter> connections_;
  // Readable once stopping (an eventfd; -1 if none could be made, then idle
  // connections end at their keep-alive timeout).
  int stop_fd_ = -1;
};

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_HTTP_CONNECTION_GUARD_H_
