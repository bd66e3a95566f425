#include "services/ingest/http_intake.h"

#include <httplib.h>

#include <future>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "libs/model/uuid.h"
#include "libs/model/validation.h"
#include "libs/service/connect_json.h"
#include "libs/service/grpc_util.h"
#include "libs/service/version.h"
#include "services/ingest/sdk_json.h"

namespace raceway::ingest {
namespace {

using google::protobuf::Value;

// The routes, for telling 404 (no such path) from 405 (wrong method).
struct Route {
  std::string_view path;
  std::string_view allow;  // The Allow header of a 405.
};
constexpr Route kRoutes[] = {
    {"/events", "POST"},
    {"/health", "GET, HEAD"},
    {"/status", "GET, HEAD"},
};

// The body bound: the SDK JSON text of a batch is larger than the events'
// in-memory size that max_batch_bytes counts.
size_t MaxBodyBytes(const model::ValidationLimits& limits) {
  return limits.max_batch_bytes * 2 + (1 << 20);
}

void SetCount(const absl::StatusOr<uint64_t>& n, Value* out) {
  if (n.ok()) {
    out->set_number_value(static_cast<double>(*n));
  } else {
    out->set_null_value(google::protobuf::NULL_VALUE);  // Unknown: the storage did not answer.
  }
}

std::string ToJson(const Value& v) {
  std::string out;
  // Cannot fail: the values are finite numbers, strings and nesting.
  (void)google::protobuf::util::MessageToJsonString(v, &out);
  return out;
}

// "ok", or the status as text (bounded, safe to echo).
std::string StorageState(const absl::Status& status) {
  return status.ok() ? "ok" : model::EchoSafe(status.ToString(), 512);
}

void Reply(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), "application/json");
}

// A refused batch: its error, plus Retry-After (whole seconds, rounded up)
// when the refusal carries a retry delay, the same one gRPC clients get.
void ReplyRefusal(httplib::Response& res, const absl::Status& status) {
  Reply(res, HttpStatusForError(status), SdkErrorJson(status));
  if (const auto delay = service::RetryAfter(status)) {
    res.set_header("Retry-After",
                   absl::StrCat(std::chrono::ceil<std::chrono::seconds>(*delay).count()));
  }
}

// The status an error answer of the HTTP server itself stands for.
absl::Status ServerError(int http_status, size_t max_body_bytes) {
  switch (http_status) {
    case 400:
      return absl::InvalidArgumentError(
          "malformed HTTP request (request line, headers, method, or a body without "
          "Content-Length)");
    case 413:
      return absl::OutOfRangeError(
          absl::StrCat("request body is larger than ", max_body_bytes, " bytes"));
    case 415:
      return absl::UnimplementedError("Content-Encoding: not supported (gzip, deflate and br are)");
    case 414:
    case 431:
      return absl::OutOfRangeError("request line or headers are too large");
    case 500:
      return absl::InternalError("the request failed inside the server");
    default:
      return absl::UnknownError(absl::StrCat("HTTP ", http_status));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpIntake>> HttpIntake::Start(const std::string& listen,
                                                              BatchIntake& intake,
                                                              const GroupCommitter& committer,
                                                              storage::Storage& storage,
                                                              std::vector<std::string> api_keys,
                                                              service::HttpRateLimit rate_limit) {
  std::unique_ptr<HttpIntake> http(new HttpIntake(intake, committer, storage, std::move(api_keys)));
  HttpIntake* self = http.get();
  auto& server = http->http_.server();
  server.set_payload_max_length(MaxBodyBytes(intake.limits()));
  // A content-reader route: the body is bounded while it arrives, whatever
  // its transfer encoding (ReadBoundedBody).
  server.Post("/events",
              [self](const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader& read) { self->HandleEvents(req, res, read); });
  server.Get("/health",
             [self](const httplib::Request&, httplib::Response& res) { self->HandleHealth(res); });
  server.Get("/status", [self](const httplib::Request& req, httplib::Response& res) {
    self->HandleStatus(req, res);
  });
  // Any other path or method with a body: answered (404/405 below) without
  // reading it, so httplib never buffers an unbounded chunked body.
  const auto unrouted = [](const httplib::Request&, httplib::Response& res,
                           const httplib::ContentReader&) {
    res.status = 404;
    res.set_header("Connection", "close");
  };
  server.Post(".*", unrouted);
  server.Put(".*", unrouted);
  server.Patch(".*", unrouted);
  server.Delete(".*", unrouted);
  // Runs for every answer >= 400; the routes' own answers carry a body.
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [self](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        self->HandleUnanswered(req, res);
        return httplib::Server::HandlerResponse::Handled;
      }));
  http->http_.SetRateLimit(std::move(rate_limit), /*exempt_paths=*/{"/health"});
  if (absl::Status s = http->http_.Start(listen); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("HTTP intake: ", s.message()));
  }
  return http;
}

bool HttpIntake::Authorized(const httplib::Request& req, httplib::Response& res) const {
  if (api_keys_.empty() || service::ApiKeyMatches(service::PresentedApiKey(req), api_keys_)) {
    return true;
  }
  const absl::Status s =
      absl::UnauthenticatedError("missing or wrong API key: send \"Authorization: Bearer <key>\"");
  Reply(res, HttpStatusForError(s), SdkErrorJson(s));
  return false;
}

void HttpIntake::HandleEvents(const httplib::Request& req, httplib::Response& res,
                              const httplib::ContentReader& read) {
  if (!Authorized(req, res)) {
    res.set_header("Connection", "close");  // Its body was not read.
    return;
  }
  // Only JSON bodies: a web page on another origin can POST text/plain
  // without a preflight, never application/json, so this keeps pages a
  // developer visits from writing events (the port sends no CORS headers).
  if (const std::string type = req.get_header_value("Content-Type");
      !service::IsConnectJsonContentType(type)) {
    Reply(res, 415,
          SdkErrorJson(absl::InvalidArgumentError(
              absl::StrCat("Content-Type \"", model::EchoSafe(type, 128),
                           "\" is not accepted: send the events as application/json"))));
    res.set_header("Accept-Post", "application/json");
    res.set_header("Connection", "close");  // Its body was not read.
    return;
  }
  const size_t max_body = MaxBodyBytes(intake_.limits());
  std::string body;
  if (const int http_status = service::ReadBoundedBody(read, max_body, res, &body);
      http_status != 0) {
    Reply(res, http_status, SdkErrorJson(ServerError(http_status, max_body)));
    return;
  }
  auto batch = ParseSdkBatch(body, intake_.limits());
  if (!batch.ok()) {
    Reply(res, HttpStatusForError(batch.status()), SdkErrorJson(batch.status()));
    return;
  }
  // Ack after commit: this handler thread waits for the group commit.
  std::promise<std::pair<absl::Status, raceway::v1::BatchResult>> promise;
  auto future = promise.get_future();
  absl::Status queued = intake_.SubmitConverted(
      batch->EventPointers(), batch->rejections,
      [&promise](const absl::Status& status, raceway::v1::BatchResult result) {
        promise.set_value({status, std::move(result)});
      });
  if (!queued.ok()) {
    ReplyRefusal(res, queued);
    return;
  }
  auto [status, result] = future.get();
  if (!status.ok()) {
    ReplyRefusal(res, status);
    return;
  }
  Reply(res, HttpStatusForResult(result), SdkResultJson(result));
}

void HttpIntake::HandleHealth(httplib::Response& res) {
  // The cheapest read every backend answers through its index: an id that
  // is never stored. NOT_FOUND means the database answered.
  const absl::Status probe = storage_.GetEvent(model::FormatUuid(model::UuidBytes{})).status();
  const bool healthy = probe.ok() || absl::IsNotFound(probe);
  Value body;
  auto& f = *body.mutable_struct_value()->mutable_fields();
  f["status"].set_string_value(healthy ? "healthy" : "unhealthy");
  f["storage"].set_string_value(StorageState(healthy ? absl::OkStatus() : probe));
  Reply(res, healthy ? 200 : 503, ToJson(body));
}

void HttpIntake::HandleStatus(const httplib::Request& req, httplib::Response& res) {
  if (!Authorized(req, res)) return;
  const absl::StatusOr<uint64_t> events = storage_.CountEvents();
  const absl::StatusOr<uint64_t> traces =
      events.ok() ? storage_.CountTraces() : absl::StatusOr<uint64_t>(events.status());
  Value body;
  auto& f = *body.mutable_struct_value()->mutable_fields();
  f["success"].set_bool_value(true);
  f["error"].set_null_value(google::protobuf::NULL_VALUE);
  auto& d = *f["data"].mutable_struct_value()->mutable_fields();
  d["service"].set_string_value("raceway-ingest");
  d["version"].set_string_value(service::kRacewayVersion);
  d["backend"].set_string_value(storage_.BackendName());
  d["storage"].set_string_value(StorageState(traces.status()));
  SetCount(events, &d["events_captured"]);
  SetCount(traces, &d["traces_active"]);
  d["uptime_seconds"].set_number_value(static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count()));
  auto& q = *d["queue"].mutable_struct_value()->mutable_fields();
  q["buffered_bytes"].set_number_value(static_cast<double>(committer_.BufferedBytes()));
  q["last_commit_failed"].set_bool_value(committer_.StorageDown());
  Reply(res, 200, ToJson(body));
}

void HttpIntake::HandleUnanswered(const httplib::Request& req, httplib::Response& res) const {
  const std::string request =
      absl::StrCat(model::EchoSafe(req.method, 16), " ", model::EchoSafe(req.path, 256));
  if (res.status != 404) {
    const absl::Status s = ServerError(res.status, MaxBodyBytes(intake_.limits()));
    res.set_content(SdkErrorJson(s), "application/json");
    return;
  }
  for (const Route& route : kRoutes) {
    if (req.path != route.path) continue;
    res.status = 405;
    res.set_header("Allow", std::string(route.allow));
    res.set_content(SdkErrorJson(absl::UnimplementedError(
                        absl::StrCat(request, " is not supported: ", std::string(route.path),
                                     " accepts ", std::string(route.allow)))),
                    "application/json");
    return;
  }
  res.set_content(SdkErrorJson(absl::NotFoundError(absl::StrCat("no route for ", request))),
                  "application/json");
}

}  // namespace raceway::ingest
