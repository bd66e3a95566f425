#ifndef RACEWAY_LIBS_SERVICE_CONNECT_JSON_H_
#define RACEWAY_LIBS_SERVICE_CONNECT_JSON_H_

// The Connect protocol's unary JSON form (connectrpc.com/docs/protocol) for
// every unary method of the gRPC services compiled into this binary, with
// no per-method code: POST /<package.Service>/<Method>, Content-Type
// application/json, body = the request message in proto3 JSON (empty body =
// empty message; unknown fields refused). The method is looked up in the
// generated descriptor pool and the call forwarded through a grpc::Channel
// (ForwardCall), so auth, metrics and validation stay in the service. A
// reply is 200 application/json with the response in proto3 JSON: JSON
// (lowerCamelCase) names, every scalar and repeated field printed even when
// it has its default value, enums by name, 64-bit integers as strings. An
// error is a Connect JSON error {"code":"not_found","message":"..."} (plus
// "details" carried over from grpc-status-details-bin) with Connect's HTTP
// status for the code. Served by GrpcWebGateway on its port. Thread-safe.

#include <grpcpp/grpcpp.h>

#include <string>
#include <string_view>

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace raceway::service {

// application/json, optionally with "; charset=utf-8" (case-insensitive):
// what Connect clients send for unary JSON.
bool IsConnectJsonContentType(std::string_view content_type);

// Answers one unary JSON call of `service`/`method` whose (already read and
// size-checked) body is `body`. Headers honoured: Connect-Protocol-Version
// (absent or "1"), Connect-Timeout-Ms (the call's deadline); the others are
// forwarded as call metadata the way gRPC-Web calls forward them.
void ServeConnectJson(grpc::Channel& channel, const std::string& service, const std::string& method,
                      std::string_view body, const httplib::Request& req, httplib::Response& res);

// Makes `res` the Connect error for `status` (not OK): the JSON body, and
// `http_status`, or Connect's HTTP status for the code when it is 0.
void SetConnectError(const grpc::Status& status, httplib::Response& res, int http_status = 0);

// Connect's name ("not_found") and HTTP status (404) for a gRPC code.
const char* ConnectCodeName(grpc::StatusCode code);
int ConnectHttpStatus(grpc::StatusCode code);

}  // namespace raceway::service

#endif  // RACEWAY_LIBS_SERVICE_CONNECT_JSON_H_
