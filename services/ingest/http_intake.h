#ifndef RACEWAY_SERVICES_INGEST_HTTP_INTAKE_H_
#define RACEWAY_SERVICES_INGEST_HTTP_INTAKE_H_

// The ingest HTTP port.
//
// POST /events: the reference Raceway SDKs' body ({"events":[…]},
// externally tagged kinds), so existing SDKs send unchanged. Same
// validation, partial success and ack-after-commit as gRPC. Status codes:
// 200 all stored (or duplicates); 207 some rejected, the rest stored; 422
// every event rejected; 400 body is not an SDK batch; 401 bad key; 413 batch
// over a limit; 429 backpressure or the client's rate limit
// (ingest.rate_limit_rpm) and 503 storage down, all with Retry-After.
//
// GET /health (no API key: liveness/readiness probes carry none): 200
// {"status":"healthy","storage":"ok"} when the storage answers a read (a
// primary-key lookup), else 503 {"status":"unhealthy","storage":"<error>"}.
// Only the live probe decides: a failed commit in the past does not keep the
// port unhealthy (an unready replica gets no traffic, so no commit would
// ever clear it); /status shows it.
//
// GET /status (behind the API key when auth is on, like /events): 200
// {"success":true,"error":null,"data":{"service":"raceway-ingest",
//  "version":"0.1.0","backend":"sqlite","storage":"ok" | "<error>",
//  "events_captured":n | null,"traces_active":n | null,
//  "uptime_seconds":n,"queue":{"buffered_bytes":n,"last_commit_failed":b}}}
// (the reference server's envelope and count names; counts are the stored
// events and traces, null with the error in "storage" when the storage does
// not answer).
//
// Every error on this port has one JSON shape, Content-Type
// application/json: {"success":false,"error":{"code":"<gRPC code name>",
// "message":"..."}}; an unknown path is 404 NOT_FOUND ("no route for GET
// /x"), a known path with another method 405 UNIMPLEMENTED with an Allow
// header, and the HTTP server's own refusals (malformed request, body over
// the size bound) get the same shape.
//
// Auth: "Authorization: Bearer <key>" or "X-Raceway-Key: <key>". Runs its own
// thread pool; Start/Stop from one thread; handlers are thread-safe.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/service/http_server.h"
#include "libs/storage/storage.h"
#include "services/ingest/batch_intake.h"
#include "services/ingest/group_committer.h"

namespace httplib {
class ContentReader;
struct Request;
struct Response;
}  // namespace httplib

namespace raceway::ingest {

class HttpIntake {
 public:
  // Binds `listen` ("host:port", port 0 = free port) and serves, every
  // request first passing `rate_limit` (HttpServerThread::SetRateLimit).
  // `committer` and `storage` (the one the committer writes to) are read by
  // /health and /status; all references must outlive the HttpIntake.
  static absl::StatusOr<std::unique_ptr<HttpIntake>> Start(const std::string& listen,
                                                           BatchIntake& intake,
                                                           const GroupCommitter& committer,
                                                           storage::Storage& storage,
                                                           std::vector<std::string> api_keys,
                                                           service::HttpRateLimit rate_limit = {});
  int port() const { return http_.port(); }
  // Stops accepting; in-flight requests finish first.
  void Stop() { http_.Stop(); }

 private:
  HttpIntake(BatchIntake& intake, const GroupCommitter& committer, storage::Storage& storage,
             std::vector<std::string> api_keys)
      : intake_(intake),
        committer_(committer),
        storage_(storage),
        api_keys_(std::move(api_keys)),
        started_(std::chrono::steady_clock::now()) {}
  // False (and `response` holds the 401) when auth is on and the request
  // presents no valid key.
  bool Authorized(const httplib::Request& request, httplib::Response& response) const;
  void HandleEvents(const httplib::Request& request, httplib::Response& response,
                    const httplib::ContentReader& read);
  void HandleHealth(httplib::Response& response);
  void HandleStatus(const httplib::Request& request, httplib::Response& response);
  // Fills the JSON body of an error answer the routes did not write (404,
  // 405, the HTTP server's own 400/413/...).
  void HandleUnanswered(const httplib::Request& request, httplib::Response& response) const;

  BatchIntake& intake_;
  const GroupCommitter& committer_;
  storage::Storage& storage_;
  const std::vector<std::string> api_keys_;
  const std::chrono::steady_clock::time_point started_;
  service::HttpServerThread http_;
};

}  // namespace raceway::ingest

#endif  // RACEWAY_SERVICES_INGEST_HTTP_INTAKE_H_
