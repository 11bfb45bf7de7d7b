// The JSON of etcd's gateway (grpc-gateway v1 with JSONPb{OrigName: true}) around protobuf's own
// JSON conversion: request bodies in, responses and error bodies out. Used by gateway.cc.
#ifndef QUORUM_SERVER_HTTP_GATEWAY_JSON_H_
#define QUORUM_SERVER_HTTP_GATEWAY_JSON_H_

#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "proto/go_json_string.h"

namespace quorum::server::http {

// Splits `body` into the JSON values it holds one after another (whitespace between them), as
// Go's json.Decoder reads them. The first value that is not valid JSON ends the list; `error`
// then says why, in Go's words ("invalid character 'x' looking for beginning of value",
// "unexpected EOF"), else it is OK.
std::vector<std::string_view> SplitJsonValues(std::string_view body, absl::Status* error);

// Fills `message` from one JSON value: field names as in the .proto or in lowerCamelCase,
// 64-bit integers as strings or numbers, bytes as base64, enums as names or numbers; unknown
// fields are skipped (etcd's decoder skips them too). An empty value means an empty message.
// On failure, the message says why.
absl::Status JsonToMessage(std::string_view json, google::protobuf::Message& message);

// The message as etcd's gateway writes it: .proto field names, fields at their default value
// left out, enums by name, 64-bit integers as strings.
std::string MessageToJson(const google::protobuf::Message& message);

// An empty message of the generated type `descriptor` names.
std::unique_ptr<google::protobuf::Message> NewMessage(
    const google::protobuf::Descriptor* descriptor);
// Parses a serialized message out of a gRPC buffer; false when it does not parse.
bool ParseByteBuffer(const grpc::ByteBuffer& buffer, google::protobuf::Message& message);
// A message serialized into a gRPC buffer.
grpc::ByteBuffer SerializeToByteBuffer(const google::protobuf::Message& message);

// The HTTP status grpc-gateway v1 answers for a gRPC status code (runtime.HTTPStatusFromCode).
int HttpStatusFromGrpcCode(int code);
// Go's http.StatusText for the statuses HttpStatusFromGrpcCode returns.
std::string HttpStatusText(int status);

// grpc-gateway v1's error body of a unary call: {"error":m,"message":m,"code":c}.
std::string ErrorBody(int code, std::string_view message);
// grpc-gateway v1's error object ending a stream:
// {"error":{"grpc_code":c,"http_code":h,"message":m,"http_status":t}}.
std::string StreamErrorBody(int code, std::string_view message);

}  // namespace quorum::server::http

#endif  // QUORUM_SERVER_HTTP_GATEWAY_JSON_H_
