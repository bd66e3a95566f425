#ifndef RACEWAY_SERVICES_INGEST_HTTP_INTAKE_H_
#define RACEWAY_SERVICES_INGEST_HTTP_INTAKE_H_

// HTTP/JSON intake: POST /events with the reference Raceway SDKs' body
// ({"events":[…]}, externally tagged kinds), so existing SDKs send
// unchanged. Same validation, partial success and ack-after-commit as gRPC.
// Auth: "Authorization: Bearer <key>" or "X-Raceway-Key: <key>".
// Status codes: 200 all stored (or duplicates); 207 some rejected, the rest
// stored; 422 every event rejected; 400 body is not an SDK batch; 401 bad
// key; 413 batch over a limit; 429 backpressure and 503 storage down, both
// with Retry-After. Runs its own thread pool; Start/Stop from one thread.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/service/http_server.h"
#include "services/ingest/batch_intake.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace raceway::ingest {

class HttpIntake {
 public:
  // Binds `listen` ("host:port", port 0 = free port) and serves.
  static absl::StatusOr<std::unique_ptr<HttpIntake>> Start(const std::string& listen,
                                                           BatchIntake& intake,
                                                           std::vector<std::string> api_keys);
  int port() const { return http_.port(); }
  // Stops accepting; in-flight requests finish first.
  void Stop() { http_.Stop(); }

 private:
  HttpIntake(BatchIntake& intake, std::vector<std::string> api_keys)
      : intake_(intake), api_keys_(std::move(api_keys)) {}
  void Handle(const httplib::Request& request, httplib::Response& response);

  BatchIntake& intake_;
  const std::vector<std::string> api_keys_;
  service::HttpServerThread http_;
};

}  // namespace raceway::ingest

#endif  // RACEWAY_SERVICES_INGEST_HTTP_INTAKE_H_
