#include "libs/service/connect_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/rpc/status.pb.h"
#include "libs/model/validation.h"
#include "libs/service/grpc_forward.h"

namespace raceway::service {
namespace {

namespace pb = google::protobuf;

// Error messages can quote the request; keep them valid UTF-8 and bounded.
constexpr size_t kMaxMessageBytes = 16 << 10;

grpc::Status Error(grpc::StatusCode code, std::string message) {
  return grpc::Status(code, std::move(message));
}

// Protobuf's JSON parser explains an error on the first line and quotes
// the input around it on the next ones; the first line names the field.
std::string FirstLine(std::string_view s) { return std::string(s.substr(0, s.find('\n'))); }

pb::Value StringValue(std::string_view s) {
  pb::Value v;
  v.set_string_value(model::EchoSafe(s, kMaxMessageBytes));
  return v;
}

// google.rpc.Status details -> Connect "details": type name, the message in
// unpadded standard base64 and, for a type this binary knows, its JSON as
// "debug" for people reading the error with curl.
void AddDetails(const std::string& status_details, pb::Struct& error) {
  google::rpc::Status details;
  if (status_details.empty() || !details.ParseFromString(status_details) ||
      details.details().empty()) {
    return;
  }
  pb::ListValue& list = *(*error.mutable_fields())["details"].mutable_list_value();
  for (const pb::Any& any : details.details()) {
    const std::string_view url = any.type_url();
    const std::string type(url.substr(url.rfind('/') + 1));
    pb::Struct& detail = *list.add_values()->mutable_struct_value();
    (*detail.mutable_fields())["type"] = StringValue(type);
    std::string value = absl::Base64Escape(any.value());
    while (!value.empty() && value.back() == '=') value.pop_back();
    (*detail.mutable_fields())["value"] = StringValue(value);
    const pb::Descriptor* descriptor =
        pb::DescriptorPool::generated_pool()->FindMessageTypeByName(type);
    if (descriptor == nullptr) continue;
    std::unique_ptr<pb::Message> message(
        pb::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
    std::string json;
    pb::Value debug;
    if (message->ParseFromString(any.value()) &&
        pb::util::MessageToJsonString(*message, &json).ok() &&
        pb::util::JsonStringToMessage(json, &debug).ok()) {
      (*detail.mutable_fields())["debug"] = std::move(debug);
    }
  }
}

// Connect-Timeout-Ms: 1 to 10 ASCII digits.
std::optional<std::chrono::milliseconds> ParseTimeoutMs(const std::string& v) {
  if (v.empty() || v.size() > 10 || !std::all_of(v.begin(), v.end(), absl::ascii_isdigit)) {
    return std::nullopt;
  }
  int64_t ms = 0;
  if (!absl::SimpleAtoi(v, &ms)) return std::nullopt;
  return std::chrono::milliseconds(ms);
}

grpc::Status Forward(grpc::Channel& channel, const pb::MethodDescriptor& method,
                     std::string_view body, const httplib::Request& req, std::string* json) {
  const std::string version = req.get_header_value("Connect-Protocol-Version");
  if (req.has_header("Connect-Protocol-Version") && version != "1") {
    return Error(grpc::StatusCode::INVALID_ARGUMENT,
                 absl::StrCat("Connect-Protocol-Version: must be \"1\", got \"",
                              model::EchoSafe(version, 64), "\""));
  }
  grpc::ClientContext context;
  if (req.has_header("Connect-Timeout-Ms")) {
    const std::string value = req.get_header_value("Connect-Timeout-Ms");
    const auto timeout = ParseTimeoutMs(value);
    if (!timeout) {
      return Error(grpc::StatusCode::INVALID_ARGUMENT,
                   absl::StrCat("Connect-Timeout-Ms: must be 1 to 10 digits (milliseconds), got \"",
                                model::EchoSafe(value, 64), "\""));
    }
    // As connect-es does: a zero budget is spent before the call starts.
    if (timeout->count() == 0) {
      return Error(grpc::StatusCode::DEADLINE_EXCEEDED, "Connect-Timeout-Ms: 0, no time to call");
    }
    context.set_deadline(std::chrono::system_clock::now() + *timeout);
  }
  if (absl::Status s = AddForwardedMetadata(req, context); !s.ok()) {
    return Error(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message()));
  }

  pb::MessageFactory& factory = *pb::MessageFactory::generated_factory();
  std::unique_ptr<pb::Message> request(factory.GetPrototype(method.input_type())->New());
  const size_t first = body.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos) {
    const std::string_view text = body.substr(first);
    pb::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    const auto parsed = pb::util::JsonStringToMessage(text, request.get(), options);
    if (!parsed.ok()) {
      return Error(grpc::StatusCode::INVALID_ARGUMENT,
                   absl::StrCat("request body (", method.input_type()->full_name(),
                                " in proto3 JSON): ", FirstLine(parsed.message().ToString())));
    }
  }
  std::string reply;
  bool replied = false;
  grpc::Status status =
      ForwardCall(channel, absl::StrCat("/", method.service()->full_name(), "/", method.name()),
                  request->SerializeAsString(), context, [&](std::string message) {
                    if (!replied) reply = std::move(message);
                    replied = true;
                    return true;
                  });
  if (!status.ok()) return status;

  std::unique_ptr<pb::Message> response(factory.GetPrototype(method.output_type())->New());
  if (!replied || !response->ParseFromString(reply)) {
    return Error(grpc::StatusCode::INTERNAL,
                 absl::StrCat("the reply is not a ", method.output_type()->full_name()));
  }
  pb::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  if (const auto printed = pb::util::MessageToJsonString(*response, json, options); !printed.ok()) {
    return Error(grpc::StatusCode::INTERNAL, absl::StrCat("the reply cannot be printed as JSON: ",
                                                          printed.message().ToString()));
  }
  return grpc::Status::OK;
}

}  // namespace

bool IsConnectJsonContentType(std::string_view content_type) {
  const std::vector<std::string> parts = absl::StrSplit(std::string(content_type), ';');
  if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(parts[0]), "application/json")) {
    return false;
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    const absl::string_view p = absl::StripAsciiWhitespace(parts[i]);
    if (!absl::EqualsIgnoreCase(p, "charset=utf-8") && !absl::EqualsIgnoreCase(p, "charset=utf8")) {
      return false;
    }
  }
  return true;
}

void ServeConnectJson(grpc::Channel& channel, const std::string& service, const std::string& method,
                      std::string_view body, const httplib::Request& req, httplib::Response& res) {
  const pb::ServiceDescriptor* sd =
      pb::DescriptorPool::generated_pool()->FindServiceByName(service);
  const pb::MethodDescriptor* md = sd ? sd->FindMethodByName(method) : nullptr;
  if (md == nullptr) {
    // Route names are [A-Za-z0-9_.]: safe to echo.
    SetConnectError(Error(grpc::StatusCode::UNIMPLEMENTED,
                          sd ? absl::StrCat("no method ", method, " in ", service)
                             : absl::StrCat("no service ", service)),
                    res, 404);
    return;
  }
  if (md->client_streaming() || md->server_streaming()) {
    SetConnectError(Error(grpc::StatusCode::UNIMPLEMENTED,
                          absl::StrCat(md->full_name(),
                                       " is a streaming method; JSON serves unary methods only "
                                       "(use gRPC or gRPC-Web)")),
                    res, 415);
    return;
  }
  std::string json;
  if (grpc::Status status = Forward(channel, *md, body, req, &json); !status.ok()) {
    SetConnectError(status, res);
    return;
  }
  res.status = 200;
  res.set_content(std::move(json), "application/json");
}

void SetConnectError(const grpc::Status& status, httplib::Response& res, int http_status) {
  pb::Struct error;
  (*error.mutable_fields())["code"] = StringValue(ConnectCodeName(status.error_code()));
  if (!status.error_message().empty()) {
    (*error.mutable_fields())["message"] = StringValue(status.error_message());
  }
  AddDetails(status.error_details(), error);
  std::string body;
  if (!pb::util::MessageToJsonString(error, &body).ok()) {
    body = absl::StrCat("{\"code\":\"", ConnectCodeName(status.error_code()), "\"}");
  }
  res.status = http_status != 0 ? http_status : ConnectHttpStatus(status.error_code());
  res.set_content(std::move(body), "application/json");
}

const char* ConnectCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED:
      return "canceled";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "invalid_argument";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "deadline_exceeded";
    case grpc::StatusCode::NOT_FOUND:
      return "not_found";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "already_exists";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "permission_denied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "resource_exhausted";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "failed_precondition";
    case grpc::StatusCode::ABORTED:
      return "aborted";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "out_of_range";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "unimplemented";
    case grpc::StatusCode::INTERNAL:
      return "internal";
    case grpc::StatusCode::UNAVAILABLE:
      return "unavailable";
    case grpc::StatusCode::DATA_LOSS:
      return "data_loss";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "unauthenticated";
    default:  // UNKNOWN, and codes outside gRPC's range.
      return "unknown";
  }
}

// The Connect protocol's table (after its RFC 003), as @connectrpc/connect
// implements it.
int ConnectHttpStatus(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    default:  // UNKNOWN, INTERNAL, DATA_LOSS and codes outside gRPC's range.
      return 500;
  }
}

}  // namespace raceway::service
