#include "libs/service/grpc_web.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/model/validation.h"
#include "libs/service/connect_json.h"
#include "libs/service/grpc_forward.h"
#include "libs/service/grpc_util.h"

namespace raceway::service {
namespace {

constexpr const char* kAllowedHeaders =
    "content-type, x-grpc-web, x-user-agent, grpc-timeout, authorization, x-raceway-key, "
    "connect-protocol-version, connect-timeout-ms";
constexpr const char* kExposedHeaders = "grpc-status, grpc-message, grpc-status-details-bin";
constexpr const char* kServedContentTypes =
    "application/json, application/grpc-web+proto, application/grpc-web";
// gRPC's default maximum received message size, which the forwarded call
// would meet anyway; bodies are refused before they are buffered beyond it.
constexpr size_t kMaxRequestBytes = 4 << 20;

// The headers a preflight may allow: ours, plus whatever header names the
// page asks for (Access-Control-Request-Headers), since every non-hop header
// is forwarded as call metadata (x-request-id, grpc-encoding, ...). Only
// header-name characters are echoed.
std::string AllowedHeaders(const httplib::Request& req) {
  std::string out = kAllowedHeaders;
  const std::string requested = req.get_header_value("Access-Control-Request-Headers");
  if (requested.empty()) return out;
  const bool clean = std::all_of(requested.begin(), requested.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ',' ||
           c == ' ';
  });
  if (clean) absl::StrAppend(&out, ", ", requested);
  return out;
}

std::string PercentEncode(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '%') {
      out.push_back(ch);
    } else {
      absl::StrAppend(&out, "%", absl::AsciiStrToUpper(absl::BytesToHexString(std::string(1, ch))));
    }
  }
  return out;
}

std::string Trailers(const grpc::Status& status) {
  std::string t = absl::StrCat("grpc-status:", static_cast<int>(status.error_code()), "\r\n");
  if (!status.error_message().empty()) {
    absl::StrAppend(&t, "grpc-message:", PercentEncode(status.error_message()), "\r\n");
  }
  if (!status.error_details().empty()) {
    absl::StrAppend(&t, "grpc-status-details-bin:", absl::Base64Escape(status.error_details()),
                    "\r\n");
  }
  return t;
}

// The body, decoded and at most kMaxRequestBytes (ReadBoundedBody). On
// failure, `http_status` is the HTTP status to answer with.
grpc::Status ReadBody(const httplib::ContentReader& read, httplib::Response& res, std::string* body,
                      int* http_status) {
  *http_status = ReadBoundedBody(read, kMaxRequestBytes, res, body);
  if (*http_status == 0) return grpc::Status::OK;
  switch (*http_status) {
    case 413:
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          absl::StrCat("request body: larger than ", kMaxRequestBytes, " bytes"));
    case 415:
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                          "Content-Encoding: not supported (gzip, deflate and br are)");
    default:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "request body: could not be read");
  }
}

}  // namespace

std::optional<std::chrono::nanoseconds> ParseGrpcTimeout(std::string_view value) {
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  int64_t n = 0;  // At most 8 digits: no overflow.
  for (char c : value.substr(0, value.size() - 1)) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  int64_t unit_ns;
  switch (value.back()) {
    case 'H':
      unit_ns = 3'600'000'000'000;
      break;
    case 'M':
      unit_ns = 60'000'000'000;
      break;
    case 'S':
      unit_ns = 1'000'000'000;
      break;
    case 'm':
      unit_ns = 1'000'000;
      break;
    case 'u':
      unit_ns = 1'000;
      break;
    case 'n':
      unit_ns = 1;
      break;
    default:
      return std::nullopt;
  }
  // Checked before multiplying: 99999999H does not fit in int64 nanoseconds.
  if (n > kMaxGrpcTimeout.count() / unit_ns) return std::nullopt;
  return std::chrono::nanoseconds(n * unit_ns);
}

std::string GrpcWebFrame(uint8_t flag, std::string_view payload) {
  std::string frame(5, '\0');
  frame[0] = static_cast<char>(flag);
  const auto n = static_cast<uint32_t>(payload.size());
  frame[1] = static_cast<char>(n >> 24);
  frame[2] = static_cast<char>(n >> 16);
  frame[3] = static_cast<char>(n >> 8);
  frame[4] = static_cast<char>(n);
  frame.append(payload);
  return frame;
}

absl::StatusOr<std::string_view> ParseGrpcWebRequest(std::string_view body) {
  if (body.size() < 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("gRPC-Web request: ", body.size(),
                     " bytes; the body must hold one data frame (5-byte header and message)"));
  }
  const auto flag = static_cast<uint8_t>(body[0]);
  if (flag == 0x01) {
    return absl::UnimplementedError(
        "compressed gRPC-Web frames are not supported (send grpc-encoding identity, flag 0x00)");
  }
  if (flag != 0x00) {
    return absl::InvalidArgumentError(
        absl::StrCat("gRPC-Web request: frame flag 0x", absl::Hex(flag, absl::kZeroPad2),
                     flag == 0x80 ? " is a trailers frame" : " is not a data frame",
                     "; only an uncompressed data frame (0x00) is accepted"));
  }
  const uint32_t len = (static_cast<uint32_t>(static_cast<uint8_t>(body[1])) << 24) |
                       (static_cast<uint32_t>(static_cast<uint8_t>(body[2])) << 16) |
                       (static_cast<uint32_t>(static_cast<uint8_t>(body[3])) << 8) |
                       static_cast<uint32_t>(static_cast<uint8_t>(body[4]));
  if (body.size() - 5 != len) {
    return absl::InvalidArgumentError(absl::StrCat("gRPC-Web request: the frame declares ", len,
                                                   " bytes but the body holds ", body.size() - 5,
                                                   " after its header"));
  }
  return body.substr(5);
}

absl::StatusOr<std::unique_ptr<GrpcWebGateway>> GrpcWebGateway::Start(
    const std::string& listen, std::shared_ptr<grpc::Channel> channel,
    std::vector<std::string> cors_origins, std::shared_ptr<RateLimiter> limiter,
    std::vector<std::string> api_keys, std::shared_ptr<const StaticSite> site) {
  std::unique_ptr<GrpcWebGateway> gw(
      new GrpcWebGateway(std::move(channel), std::move(cors_origins), std::move(site)));
  GrpcWebGateway* self = gw.get();
  auto cors = [self](const httplib::Request& req, httplib::Response& res) {
    const std::string origin = req.get_header_value("Origin");
    const bool any =
        std::find(self->origins_.begin(), self->origins_.end(), "*") != self->origins_.end();
    if (any) {
      res.set_header("Access-Control-Allow-Origin", "*");
    } else if (!origin.empty() && std::find(self->origins_.begin(), self->origins_.end(), origin) !=
                                      self->origins_.end()) {
      res.set_header("Access-Control-Allow-Origin", origin);
      res.set_header("Vary", "Origin");
    } else {
      return false;
    }
    res.set_header("Access-Control-Expose-Headers", kExposedHeaders);
    return true;
  };
  auto& server = gw->http_.server();
  server.Options(R"(/.*)", [cors](const httplib::Request& req, httplib::Response& res) {
    if (!cors(req, res)) {
      res.status = 403;
      return;
    }
    res.set_header("Access-Control-Allow-Methods", "POST, OPTIONS");
    res.set_header("Access-Control-Allow-Headers", AllowedHeaders(req));
    res.set_header("Access-Control-Max-Age", "86400");
    res.status = 204;
  });
  // The dashboard (same origin as the API, so it needs no CORS).
  server.Get(R"(/.*)", [self](const httplib::Request& req, httplib::Response& res) {
    if (self->site_ && self->site_->Serve(req, res)) return;
    if (req.path == "/" && self->site_) {
      res.set_header("Cache-Control", "no-cache");
      res.set_content(kDashboardNotBuiltHtml, "text/html; charset=utf-8");
      return;
    }
    res.status = 404;
    res.set_content("not found\n", "text/plain");
  });
  server.set_payload_max_length(kMaxRequestBytes);
  // One route for both protocols: Connect unary JSON by its Content-Type,
  // gRPC-Web otherwise.
  server.Post(R"(/([A-Za-z0-9_.]+)/([A-Za-z0-9_]+))", [self, cors](
                                                          const httplib::Request& req,
                                                          httplib::Response& res,
                                                          const httplib::ContentReader& read) {
    cors(req, res);
    const std::string content_type = req.get_header_value("Content-Type");
    const bool json = IsConnectJsonContentType(content_type);
    const std::string type = absl::AsciiStrToLower(content_type);
    if (!json && type != "application/grpc-web" && type != "application/grpc-web+proto") {
      res.set_header("Accept-Post", kServedContentTypes);
      SetConnectError(
          grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                       absl::StrCat("Content-Type \"", model::EchoSafe(content_type, 128),
                                    "\": not served; send application/json (Connect) or "
                                    "application/grpc-web+proto (gRPC-Web)")),
          res, 415);
      return;
    }
    std::string body;
    int http_status = 0;
    if (grpc::Status s = ReadBody(read, res, &body, &http_status); !s.ok()) {
      if (json) {
        SetConnectError(s, res, http_status);
      } else {
        res.status = http_status;
        res.set_content(absl::StrCat("gRPC-Web gateway: ", s.error_message()), "text/plain");
      }
      return;
    }
    if (json) {
      ServeConnectJson(*self->channel_, req.matches[1].str(), req.matches[2].str(), body, req, res);
      return;
    }
    const absl::StatusOr<std::string_view> message = ParseGrpcWebRequest(body);
    if (!message.ok()) {
      if (message.status().code() == absl::StatusCode::kUnimplemented) {
        res.set_header("grpc-accept-encoding", "identity");
      }
      res.status = 200;
      res.set_content(GrpcWebFrame(0x80, Trailers(ToGrpcStatus(message.status()))),
                      "application/grpc-web+proto");
      return;
    }
    auto context = std::make_shared<grpc::ClientContext>();
    if (absl::Status s = AddForwardedMetadata(req, *context); !s.ok()) {
      res.status = 400;
      res.set_content(absl::StrCat("gRPC-Web gateway: ", s.message()), "text/plain");
      return;
    }
    if (auto timeout = ParseGrpcTimeout(req.get_header_value("grpc-timeout"))) {
      context->set_deadline(std::chrono::system_clock::now() + *timeout);
    }
    const std::string method = absl::StrCat("/", req.matches[1].str(), "/", req.matches[2].str());
    auto request = std::make_shared<std::string>(*message);
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "application/grpc-web+proto",
        [self, method, request, context](size_t, httplib::DataSink& sink) {
          bool client_gone = false;
          const grpc::Status status =
              ForwardCall(*self->channel_, method, *request, *context, [&](std::string message) {
                const std::string frame = GrpcWebFrame(0x00, message);
                client_gone = !sink.write(frame.data(), frame.size());
                return !client_gone;
              });
          if (!client_gone) {
            const std::string trailers = GrpcWebFrame(0x80, Trailers(status));
            sink.write(trailers.data(), trailers.size());
          }
          sink.done();
          return true;
        });
  });
  gw->http_.SetRateLimit(
      {.limiter = std::move(limiter),
       .api_keys = std::move(api_keys),
       .refuse = [cors](const httplib::Request& req, httplib::Response& res,
                        const absl::Status& status, std::chrono::milliseconds retry_after) {
         cors(req, res);
         const grpc::Status refusal = WithRetryInfo(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                                    std::string(status.message()), retry_after);
         if (absl::AsciiStrToLower(req.get_header_value("Content-Type"))
                 .rfind("application/grpc-web", 0) == 0) {
           res.status = 200;
           res.set_content(GrpcWebFrame(0x80, Trailers(refusal)), "application/grpc-web+proto");
         } else {
           SetConnectError(refusal, res);
         }
       }});
  if (absl::Status s = gw->http_.Start(listen); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("gRPC-Web: ", s.message()));
  }
  return gw;
}

}  // namespace raceway::service
