#include "services/ingest/http_intake.h"

#include <httplib.h>

#include <future>

#include "absl/strings/str_cat.h"
#include "libs/service/grpc_util.h"
#include "services/ingest/sdk_json.h"

namespace raceway::ingest {

absl::StatusOr<std::unique_ptr<HttpIntake>> HttpIntake::Start(const std::string& listen,
                                                              BatchIntake& intake,
                                                              std::vector<std::string> api_keys) {
  std::unique_ptr<HttpIntake> http(new HttpIntake(intake, std::move(api_keys)));
  HttpIntake* self = http.get();
  auto& server = http->http_.server();
  server.set_payload_max_length(intake.limits().max_batch_bytes * 2 + (1 << 20));
  server.Post("/events", [self](const httplib::Request& req, httplib::Response& res) {
    self->Handle(req, res);
  });
  if (absl::Status s = http->http_.Start(listen); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("HTTP intake: ", s.message()));
  }
  return http;
}

void HttpIntake::Handle(const httplib::Request& req, httplib::Response& res) {
  auto reply = [&res](int status, std::string body) {
    res.status = status;
    res.set_content(std::move(body), "application/json");
  };
  if (!api_keys_.empty()) {
    std::string key = req.get_header_value("X-Raceway-Key");
    const std::string auth = req.get_header_value("Authorization");
    if (key.empty() && auth.rfind("Bearer ", 0) == 0) key = auth.substr(7);
    if (!service::ApiKeyMatches(key, api_keys_)) {
      const absl::Status s = absl::UnauthenticatedError(
          "missing or wrong API key: send \"Authorization: Bearer <key>\"");
      reply(HttpStatusForError(s), SdkErrorJson(s));
      return;
    }
  }
  auto batch = ParseSdkBatch(req.body, intake_.limits());
  if (!batch.ok()) {
    reply(HttpStatusForError(batch.status()), SdkErrorJson(batch.status()));
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
    reply(HttpStatusForError(queued), SdkErrorJson(queued));
    if (absl::IsResourceExhausted(queued) || absl::IsUnavailable(queued)) {
      res.set_header("Retry-After", "1");
    }
    return;
  }
  auto [status, result] = future.get();
  if (!status.ok()) {
    reply(HttpStatusForError(status), SdkErrorJson(status));
    res.set_header("Retry-After", "1");
    return;
  }
  reply(HttpStatusForResult(result), SdkResultJson(result));
}

}  // namespace raceway::ingest
