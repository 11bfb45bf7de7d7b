// The JSON gateway etcd 3.4 serves beside gRPC on its client URLs: POST /v3/<service>/<call>
// (and /v3beta/..., which etcd maps to /v3/) with a JSON request body, answered with the JSON of
// the gRPC response. Every call goes through this member's own gRPC server on an in-process
// channel, so checks, auth and errors are the gRPC ones; the gateway only converts JSON and maps
// errors to HTTP as grpc-gateway v1 does. Streaming calls (watch, lease keep-alive, snapshot,
// election observe) answer with a chunked body of one {"result":...} object per message.
// main() builds one Gateway per gRPC server and adds its routes to the HTTP face.
#ifndef QUORUM_SERVER_HTTP_GATEWAY_H_
#define QUORUM_SERVER_HTTP_GATEWAY_H_

#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "server/http/http_face.h"

namespace quorum::server::http {

class Gateway {
 public:
  // `server` serves the etcd services; it must outlive every request the routes serve.
  explicit Gateway(grpc::Server* server);

  // Adds every gateway route to `face` (under /v3/ and /v3beta/), and Go's 404 body for unknown
  // paths there. `face` must not outlive this gateway.
  void AddRoutes(HttpFace& face);

 private:
  void ServeUnary(const google::protobuf::MethodDescriptor& method, const httplib::Request& request,
                  httplib::Response& response);
  void ServeStream(const google::protobuf::MethodDescriptor& method,
                   const httplib::Request& request, httplib::Response& response);

  std::shared_ptr<grpc::Channel> channel_;
  grpc::GenericStub stub_;
};

}  // namespace quorum::server::http

#endif  // QUORUM_SERVER_HTTP_GATEWAY_H_
