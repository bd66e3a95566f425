#include "libs/service/grpc_forward.h"

#include <grpc/grpc.h>
#include <grpcpp/generic/generic_stub.h>
#include <httplib.h>

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "libs/model/validation.h"

namespace raceway::service {
namespace {

// Headers that describe the HTTP/1.1 hop or the wire protocol, not the call.
bool IsHopHeader(const std::string& name) {
  static const char* kSkip[] = {"content-type",
                                "content-length",
                                "content-encoding",
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
                                "connect-timeout-ms",
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

std::string ByteBufferToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

}  // namespace

bool LegalMetadata(std::string_view key, std::string_view value) {
  return grpc_header_key_is_legal(grpc_slice_from_static_buffer(key.data(), key.size())) &&
         grpc_header_nonbin_value_is_legal(
             grpc_slice_from_static_buffer(value.data(), value.size()));
}

absl::Status AddForwardedMetadata(const httplib::Request& req, grpc::ClientContext& context) {
  std::vector<std::pair<std::string, const std::string*>> metadata;
  for (const auto& [name, value] : req.headers) {
    std::string key = absl::AsciiStrToLower(name);
    if (IsHopHeader(key)) continue;
    if (!LegalMetadata(key, value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("header \"", model::EchoSafe(key, 128),
                       "\": not forwardable as gRPC metadata (names: a-z 0-9 - _ .; values: "
                       "printable ASCII)"));
    }
    metadata.emplace_back(std::move(key), &value);
  }
  for (const auto& [key, value] : metadata) context.AddMetadata(key, *value);
  return absl::OkStatus();
}

// Each async step is awaited before the next, so one completion queue per
// call suffices and one tag serves every step.
grpc::Status ForwardCall(grpc::Channel& channel, const std::string& method,
                         std::string_view request, grpc::ClientContext& context,
                         const std::function<bool(std::string)>& on_message) {
  grpc::CompletionQueue cq;
  grpc::GenericStub stub(std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  auto call = stub.PrepareCall(&context, method, &cq);
  static int step_tag;
  void* const step = &step_tag;
  void* tag;
  bool ok = false;
  auto await = [&] {
    cq.Next(&tag, &ok);
    return ok;
  };
  call->StartCall(step);
  bool alive = await();
  if (alive) {
    grpc::Slice slice(request.data(), request.size());
    grpc::ByteBuffer buffer(&slice, 1);
    call->Write(buffer, step);
    alive = await();
  }
  if (alive) {
    call->WritesDone(step);
    alive = await();
  }
  while (alive) {
    grpc::ByteBuffer response;
    call->Read(&response, step);
    if (!await()) break;
    if (!on_message(ByteBufferToString(response))) {
      context.TryCancel();
      break;
    }
  }
  grpc::Status status;
  call->Finish(&status, step);
  await();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

}  // namespace raceway::service
