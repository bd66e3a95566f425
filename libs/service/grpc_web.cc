#include "libs/service/grpc_web.h"

#include <grpcpp/generic/generic_stub.h>
#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace raceway::service {
namespace {

constexpr const char* kAllowedHeaders =
    "content-type, x-grpc-web, x-user-agent, grpc-timeout, authorization, x-raceway-key, "
    "connect-protocol-version";
constexpr const char* kExposedHeaders = "grpc-status, grpc-message, grpc-status-details-bin";

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

// Headers that describe the HTTP/1.1 hop, not the call.
bool IsHopHeader(const std::string& name) {
  static const char* kSkip[] = {"content-type",
                                "content-length",
                                "host",
                                "connection",
                                "accept",
                                "accept-encoding",
                                "accept-language",
                                "origin",
                                "referer",
                                "user-agent",
                                "x-grpc-web",
                                "x-user-agent",
                                "te",
                                "grpc-timeout",
                                "cookie",
                                "keep-alive",
                                "transfer-encoding",
                                "connect-protocol-version",
                                "pragma",
                                "cache-control",
                                "priority",
                                "remote_addr",
                                "remote_port",
                                "local_addr",
                                "local_port"};
  if (name.rfind("sec-", 0) == 0 || name.rfind("access-control-", 0) == 0) return true;
  if (name.size() > 4 && name.compare(name.size() - 4, 4, "-bin") == 0) return true;
  return std::find_if(std::begin(kSkip), std::end(kSkip),
                      [&](const char* s) { return name == s; }) != std::end(kSkip);
}

// grpc-timeout: 1-8 digits and a unit (H M S m u n).
std::optional<std::chrono::nanoseconds> ParseTimeout(const std::string& v) {
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  int64_t n;
  if (!absl::SimpleAtoi(v.substr(0, v.size() - 1), &n) || n < 0) return std::nullopt;
  switch (v.back()) {
    case 'H':
      return std::chrono::hours(n);
    case 'M':
      return std::chrono::minutes(n);
    case 'S':
      return std::chrono::seconds(n);
    case 'm':
      return std::chrono::milliseconds(n);
    case 'u':
      return std::chrono::microseconds(n);
    case 'n':
      return std::chrono::nanoseconds(n);
  }
  return std::nullopt;
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

std::string ByteBufferToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
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

// Runs one forwarded call and emits frames through `emit`. Each async step
// is awaited before the next, so one completion queue per call suffices.
void ForwardCall(grpc::Channel& channel, const std::string& method, const std::string& request,
                 grpc::ClientContext& context, const std::function<bool(std::string)>& emit) {
  grpc::CompletionQueue cq;
  grpc::GenericStub stub(std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  auto call = stub.PrepareCall(&context, method, &cq);
  void* tag;
  bool ok = false;
  auto await = [&](void* expected) {
    cq.Next(&tag, &ok);
    (void)expected;
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  bool alive = await(reinterpret_cast<void*>(1));
  if (alive) {
    grpc::Slice slice(request.data(), request.size());
    grpc::ByteBuffer buffer(&slice, 1);
    call->Write(buffer, reinterpret_cast<void*>(2));
    alive = await(reinterpret_cast<void*>(2));
  }
  if (alive) {
    call->WritesDone(reinterpret_cast<void*>(3));
    alive = await(reinterpret_cast<void*>(3));
  }
  bool client_gone = false;
  while (alive) {
    grpc::ByteBuffer response;
    call->Read(&response, reinterpret_cast<void*>(4));
    if (!await(reinterpret_cast<void*>(4))) break;
    if (!emit(GrpcWebFrame(0x00, ByteBufferToString(response)))) {
      client_gone = true;
      context.TryCancel();
      break;
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  await(reinterpret_cast<void*>(5));
  if (!client_gone) emit(GrpcWebFrame(0x80, Trailers(status)));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

}  // namespace

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

absl::StatusOr<std::unique_ptr<GrpcWebGateway>> GrpcWebGateway::Start(
    const std::string& listen, std::shared_ptr<grpc::Channel> channel,
    std::vector<std::string> cors_origins) {
  std::unique_ptr<GrpcWebGateway> gw(
      new GrpcWebGateway(std::move(channel), std::move(cors_origins)));
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
  server.Post(R"(/([A-Za-z0-9_.]+)/([A-Za-z0-9_]+))", [self, cors](const httplib::Request& req,
                                                                   httplib::Response& res) {
    cors(req, res);
    const std::string type = absl::AsciiStrToLower(req.get_header_value("Content-Type"));
    if (type != "application/grpc-web" && type != "application/grpc-web+proto") {
      res.status = 415;
      res.set_content("gRPC-Web gateway: Content-Type must be application/grpc-web+proto",
                      "text/plain");
      return;
    }
    const std::string& body = req.body;
    if (body.size() < 5 || (static_cast<uint8_t>(body[0]) & 0x80) != 0) {
      res.status = 400;
      res.set_content("gRPC-Web gateway: body must hold one data frame", "text/plain");
      return;
    }
    const uint32_t len = (static_cast<uint32_t>(static_cast<uint8_t>(body[1])) << 24) |
                         (static_cast<uint32_t>(static_cast<uint8_t>(body[2])) << 16) |
                         (static_cast<uint32_t>(static_cast<uint8_t>(body[3])) << 8) |
                         static_cast<uint32_t>(static_cast<uint8_t>(body[4]));
    if (body.size() != 5 + static_cast<size_t>(len)) {
      res.status = 400;
      res.set_content("gRPC-Web gateway: frame length does not match the body", "text/plain");
      return;
    }
    auto context = std::make_shared<grpc::ClientContext>();
    for (const auto& [name, value] : req.headers) {
      const std::string key = absl::AsciiStrToLower(name);
      if (IsHopHeader(key)) continue;
      context->AddMetadata(key, value);
    }
    if (auto timeout = ParseTimeout(req.get_header_value("grpc-timeout"))) {
      context->set_deadline(std::chrono::system_clock::now() + *timeout);
    }
    const std::string method = absl::StrCat("/", req.matches[1].str(), "/", req.matches[2].str());
    auto request = std::make_shared<std::string>(body.substr(5));
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "application/grpc-web+proto",
        [self, method, request, context](size_t, httplib::DataSink& sink) {
          ForwardCall(*self->channel_, method, *request, *context, [&sink](std::string frame) {
            return sink.write(frame.data(), frame.size());
          });
          sink.done();
          return true;
        });
  });
  if (absl::Status s = gw->http_.Start(listen); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("gRPC-Web: ", s.message()));
  }
  return gw;
}

}  // namespace raceway::service
