// The gRPC-Web gateway's request handling (libs/service/grpc_web.h,
// grpc_forward.h): the frame (ParseGrpcWebRequest), grpc-timeout
// (ParseGrpcTimeout) and the HTTP headers forwarded as call metadata
// (LegalMetadata, AddForwardedMetadata), then a real gRPC call with that
// metadata, because gRPC aborts the process on metadata it refuses (issue
// 13, bug 1).
//
// Input: header lines ("name: value", a line without ':' is a name with an
// empty value; any byte but '\n') up to the first empty line, then the
// request body. Invariants: an accepted body is one 0x00 frame whose
// message is the rest of the body; a refused one is UNIMPLEMENTED exactly
// for flag 0x01, else INVALID_ARGUMENT; a timeout is within 0 ..
// kMaxGrpcTimeout; LegalMetadata is gRPC's documented rule (names: 0-9 a-z
// - _ ., not empty; values: bytes 0x20-0x7e); AddForwardedMetadata refuses
// only when some header breaks that rule, and a call with what it accepted
// does not abort.

#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/service/grpc_forward.h"
#include "libs/service/grpc_web.h"
#include "tests/fuzz/fuzz_check.h"

namespace raceway::fuzz {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// A channel that never connects (a Unix socket path that does not exist):
// gRPC validates the metadata when the call starts, which is where it
// aborts on what it refuses, and then fails the call UNAVAILABLE at once.
std::shared_ptr<grpc::Channel>* channel;

bool SpecLegal(std::string_view key, std::string_view value) {
  const bool key_ok = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return absl::ascii_islower(static_cast<unsigned char>(c)) ||
           absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
  const bool value_ok = std::all_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u <= 0x7e;
  });
  return key_ok && value_ok;
}

Headers ParseHeaders(std::string_view block) {
  Headers out;
  if (block.empty()) return out;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(block.data(), block.size()), '\n')) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      out.emplace_back(std::string(line), "");
      continue;
    }
    absl::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    out.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return out;
}

void CheckFrame(std::string_view body) {
  const absl::StatusOr<std::string_view> message = service::ParseGrpcWebRequest(body);
  if (message.ok()) {
    FUZZ_CHECK(body.size() >= 5 && body[0] == '\0', "accepted a body that is not a 0x00 frame");
    FUZZ_CHECK(message->data() == body.data() + 5 && message->size() == body.size() - 5,
               "message is not the rest of the body");
    FUZZ_CHECK(service::GrpcWebFrame(0, *message) == body, "frame does not re-encode");
    return;
  }
  const bool compressed = body.size() >= 5 && body[0] == '\x01';
  const absl::StatusCode want =
      compressed ? absl::StatusCode::kUnimplemented : absl::StatusCode::kInvalidArgument;
  FUZZ_CHECK(message.status().code() == want, message.status().ToString());
}

void CheckTimeout(std::string_view value) {
  const auto timeout = service::ParseGrpcTimeout(value);
  if (!timeout) return;
  FUZZ_CHECK(timeout->count() >= 0 && *timeout <= service::kMaxGrpcTimeout,
             absl::StrCat("timeout out of range: ", std::string(value)));
  FUZZ_CHECK(value.size() >= 2 && value.size() <= 9,
             absl::StrCat("timeout accepted: ", std::string(value)));
}

void CheckHeaders(const Headers& headers, std::string_view request) {
  httplib::Request req;
  bool all_legal = true;
  for (const auto& [name, value] : headers) {
    const std::string key = absl::AsciiStrToLower(name);
    const bool legal = service::LegalMetadata(key, value);
    FUZZ_CHECK(legal == SpecLegal(key, value),
               absl::StrCat("LegalMetadata(\"", absl::CEscape(key), "\", \"", absl::CEscape(value),
                            "\") = ", legal));
    all_legal = all_legal && legal;
    if (key == "grpc-timeout") CheckTimeout(value);
    req.headers.emplace(name, value);
  }
  grpc::ClientContext context;
  const absl::Status added = service::AddForwardedMetadata(req, context);
  if (!added.ok()) {
    FUZZ_CHECK(!all_legal, absl::StrCat("refused legal headers: ", added.ToString()));
    FUZZ_CHECK(added.code() == absl::StatusCode::kInvalidArgument &&
                   absl::StrContains(added.message(), "header \""),
               added.ToString());
    return;
  }
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  service::ForwardCall(**channel, "/fuzz.NoService/Call", request, context,
                       [](std::string) { return true; });
}

}  // namespace
}  // namespace raceway::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  raceway::fuzz::channel = new std::shared_ptr<grpc::Channel>(grpc::CreateChannel(
      "unix:/nonexistent/raceway-fuzz.sock", grpc::InsecureChannelCredentials()));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find("\n\n");
  const std::string_view head = split == std::string_view::npos ? "" : input.substr(0, split);
  const std::string_view body = split == std::string_view::npos ? input : input.substr(split + 2);
  raceway::fuzz::CheckFrame(body);
  raceway::fuzz::CheckTimeout(body.substr(0, 10));
  const auto message = raceway::service::ParseGrpcWebRequest(body);
  raceway::fuzz::CheckHeaders(raceway::fuzz::ParseHeaders(head),
                              message.ok() ? *message : std::string_view());
  return 0;
}
