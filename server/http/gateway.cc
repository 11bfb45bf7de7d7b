#include "server/http/gateway.h"

#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "server/http/gateway_json.h"
#include "server/http/gateway_stream.h"
#include "spdlog/spdlog.h"

namespace quorum::server::http {
namespace {

// The routes of etcd 3.4's generated gateway files (etcdserverpb/gw/rpc.pb.gw.go,
// v3electionpb/gw, v3lockpb/gw): path under /v3/ and the gRPC method it calls.
struct Route {
  const char* path;
  const char* method;  // full protobuf name
};
constexpr Route kRoutes[] = {
    {"kv/range", "etcdserverpb.KV.Range"},
    {"kv/put", "etcdserverpb.KV.Put"},
    {"kv/deleterange", "etcdserverpb.KV.DeleteRange"},
    {"kv/txn", "etcdserverpb.KV.Txn"},
    {"kv/compaction", "etcdserverpb.KV.Compact"},
    {"watch", "etcdserverpb.Watch.Watch"},
    {"lease/grant", "etcdserverpb.Lease.LeaseGrant"},
    {"lease/revoke", "etcdserverpb.Lease.LeaseRevoke"},
    {"kv/lease/revoke", "etcdserverpb.Lease.LeaseRevoke"},
    {"lease/keepalive", "etcdserverpb.Lease.LeaseKeepAlive"},
    {"lease/timetolive", "etcdserverpb.Lease.LeaseTimeToLive"},
    {"kv/lease/timetolive", "etcdserverpb.Lease.LeaseTimeToLive"},
    {"lease/leases", "etcdserverpb.Lease.LeaseLeases"},
    {"kv/lease/leases", "etcdserverpb.Lease.LeaseLeases"},
    {"cluster/member/add", "etcdserverpb.Cluster.MemberAdd"},
    {"cluster/member/remove", "etcdserverpb.Cluster.MemberRemove"},
    {"cluster/member/update", "etcdserverpb.Cluster.MemberUpdate"},
    {"cluster/member/list", "etcdserverpb.Cluster.MemberList"},
    {"cluster/member/promote", "etcdserverpb.Cluster.MemberPromote"},
    {"maintenance/alarm", "etcdserverpb.Maintenance.Alarm"},
    {"maintenance/status", "etcdserverpb.Maintenance.Status"},
    {"maintenance/defragment", "etcdserverpb.Maintenance.Defragment"},
    // Hash and HashKV share this path in etcd 3.4's gateway; Hash is the one that answers.
    {"maintenance/hash", "etcdserverpb.Maintenance.Hash"},
    {"maintenance/snapshot", "etcdserverpb.Maintenance.Snapshot"},
    {"maintenance/transfer-leadership", "etcdserverpb.Maintenance.MoveLeader"},
    {"auth/enable", "etcdserverpb.Auth.AuthEnable"},
    {"auth/disable", "etcdserverpb.Auth.AuthDisable"},
    {"auth/authenticate", "etcdserverpb.Auth.Authenticate"},
    {"auth/user/add", "etcdserverpb.Auth.UserAdd"},
    {"auth/user/get", "etcdserverpb.Auth.UserGet"},
    {"auth/user/list", "etcdserverpb.Auth.UserList"},
    {"auth/user/delete", "etcdserverpb.Auth.UserDelete"},
    {"auth/user/changepw", "etcdserverpb.Auth.UserChangePassword"},
    {"auth/user/grant", "etcdserverpb.Auth.UserGrantRole"},
    {"auth/user/revoke", "etcdserverpb.Auth.UserRevokeRole"},
    {"auth/role/add", "etcdserverpb.Auth.RoleAdd"},
    {"auth/role/get", "etcdserverpb.Auth.RoleGet"},
    {"auth/role/list", "etcdserverpb.Auth.RoleList"},
    {"auth/role/delete", "etcdserverpb.Auth.RoleDelete"},
    {"auth/role/grant", "etcdserverpb.Auth.RoleGrantPermission"},
    {"auth/role/revoke", "etcdserverpb.Auth.RoleRevokePermission"},
    {"election/campaign", "v3electionpb.Election.Campaign"},
    {"election/proclaim", "v3electionpb.Election.Proclaim"},
    {"election/leader", "v3electionpb.Election.Leader"},
    {"election/observe", "v3electionpb.Election.Observe"},
    {"election/resign", "v3electionpb.Election.Resign"},
    {"lock/lock", "v3lockpb.Lock.Lock"},
    {"lock/unlock", "v3lockpb.Lock.Unlock"},
};

// etcd serves the gateway under /v3/ and rewrites /v3beta/ to it; /v3alpha/ is not served.
constexpr const char* kPrefixes[] = {"/v3/", "/v3beta/"};

// How often a waiting request looks whether its client is still there.
constexpr absl::Duration kPeerCheckInterval = absl::Milliseconds(100);

std::string GrpcMethodPath(const google::protobuf::MethodDescriptor& method) {
  return absl::StrCat("/", method.service()->full_name(), "/", method.name());
}

void PrepareContext(const httplib::Request& request, grpc::ClientContext& context) {
  // The gateway passes the Authorization header on as the call's auth token.
  if (request.has_header("Authorization")) {
    context.AddMetadata("token", request.get_header_value("Authorization"));
  }
}

void WriteGatewayError(httplib::Response& response, int code, std::string_view message,
                       int http_status = 0) {
  response.status = http_status != 0 ? http_status : HttpStatusFromGrpcCode(code);
  response.set_content(ErrorBody(code, message), "application/json");
}

}  // namespace

Gateway::Gateway(grpc::Server* server)
    : channel_([server] {
        grpc::ChannelArguments arguments;
        arguments.SetMaxReceiveMessageSize(-1);
        arguments.SetMaxSendMessageSize(-1);
        return server->InProcessChannel(arguments);
      }()),
      stub_(channel_) {}

void Gateway::AddRoutes(HttpFace& face) {
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const Route& route : kRoutes) {
    const google::protobuf::MethodDescriptor* method =
        pool->FindMethodByName(std::string(route.method));
    if (method == nullptr) {
      spdlog::error("gateway: no gRPC method {} for /v3/{}", route.method, route.path);
      continue;
    }
    const bool streaming = method->client_streaming() || method->server_streaming();
    for (const char* prefix : kPrefixes) {
      face.PostOnly(
          absl::StrCat(prefix, route.path),
          [this, method, streaming](const httplib::Request& request, httplib::Response& response) {
            if (streaming) {
              ServeStream(*method, request, response);
            } else {
              ServeUnary(*method, request, response);
            }
          });
    }
  }
  for (const char* prefix : kPrefixes) face.SetNotFoundBody(prefix, "Not Found");
}

void Gateway::ServeUnary(const google::protobuf::MethodDescriptor& method,
                         const httplib::Request& request, httplib::Response& response) {
  std::unique_ptr<google::protobuf::Message> call_request = NewMessage(method.input_type());
  // Like etcd's decoder, only the first JSON value of the body counts.
  absl::Status syntax;
  std::vector<std::string_view> values = SplitJsonValues(request.body, &syntax);
  if (values.empty() && !syntax.ok()) {
    WriteGatewayError(response, grpc::StatusCode::INVALID_ARGUMENT, std::string(syntax.message()));
    return;
  }
  if (absl::Status parsed = JsonToMessage(values.empty() ? "" : values[0], *call_request);
      !parsed.ok()) {
    WriteGatewayError(response, grpc::StatusCode::INVALID_ARGUMENT, std::string(parsed.message()));
    return;
  }
  grpc::ClientContext context;
  PrepareContext(request, context);
  const grpc::ByteBuffer request_bytes = SerializeToByteBuffer(*call_request);
  grpc::ByteBuffer reply_bytes;
  grpc::Status status;
  absl::Notification done;
  stub_.UnaryCall(&context, GrpcMethodPath(method), grpc::StubOptions(), &request_bytes,
                  &reply_bytes, [&](grpc::Status s) {
                    status = std::move(s);
                    done.Notify();
                  });
  // A call may wait long (a lock held by another): it ends when the client goes or the
  // connection is shut down.
  bool cancelled = false;
  while (!done.WaitForNotificationWithTimeout(kPeerCheckInterval)) {
    if (!cancelled && HttpFace::PeerGone()) {
      context.TryCancel();
      cancelled = true;
    }
  }
  if (!status.ok()) {
    WriteGatewayError(response, status.error_code(), status.error_message());
    return;
  }
  std::unique_ptr<google::protobuf::Message> reply = NewMessage(method.output_type());
  if (!ParseByteBuffer(reply_bytes, *reply)) {
    WriteGatewayError(response, grpc::StatusCode::INTERNAL, "cannot parse the gRPC response");
    return;
  }
  response.set_header("Grpc-Metadata-Content-Type", "application/grpc");
  response.set_content(MessageToJson(*reply), "application/json");
}

void Gateway::ServeStream(const google::protobuf::MethodDescriptor& method,
                          const httplib::Request& request, httplib::Response& response) {
  // Every JSON value of the body is one request message; at least one is sent.
  std::vector<grpc::ByteBuffer> requests;
  absl::Status syntax;
  std::vector<std::string_view> values = SplitJsonValues(request.body, &syntax);
  if (values.empty() && !syntax.ok()) {
    // etcd's gateway answers a bad first message of a stream as an unknown error, with 500.
    WriteGatewayError(response, grpc::StatusCode::UNKNOWN, std::string(syntax.message()), 500);
    return;
  }
  // Values after a broken one are not sent, as a decoder stops there.
  if (values.empty()) values.push_back("");
  for (std::string_view value : values) {
    std::unique_ptr<google::protobuf::Message> message = NewMessage(method.input_type());
    if (absl::Status parsed = JsonToMessage(value, *message); !parsed.ok()) {
      // etcd's gateway answers a bad message of a stream as an unknown error, with 500.
      WriteGatewayError(response, grpc::StatusCode::UNKNOWN, std::string(parsed.message()), 500);
      return;
    }
    requests.push_back(SerializeToByteBuffer(*message));
    if (!method.client_streaming()) break;
  }
  std::shared_ptr<GatewayStream> call = GatewayStream::Start(
      stub_, GrpcMethodPath(method), method.output_type(), std::move(requests),
      [&request](grpc::ClientContext& context) { PrepareContext(request, context); });
  // As grpc-gateway, the status line waits for the first message: a call that fails before
  // it is answered with the error's status.
  if (!call->WaitFirstEvent()) {
    call->Cancel();  // the client went away
    return;
  }
  if (grpc::Status status; call->FailedBeforeAnyMessage(status)) {
    response.status = HttpStatusFromGrpcCode(status.error_code());
    response.set_content(StreamErrorBody(status.error_code(), status.error_message()),
                         "application/json");
    return;
  }
  response.set_header("Grpc-Metadata-Content-Type", "application/grpc");
  response.set_chunked_content_provider(
      "application/json", [call](size_t, httplib::DataSink& sink) { return call->WriteNext(sink); },
      [call](bool) { call->Cancel(); });
}

}  // namespace quorum::server::http
