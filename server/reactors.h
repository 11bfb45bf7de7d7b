// Small gRPC callback-API pieces shared by the services: finishing a unary call from an absl
// status or once a proposal is applied. Used only inside server/.
#ifndef QUORUM_SERVER_REACTORS_H_
#define QUORUM_SERVER_REACTORS_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/etcd_errors.h"
#include "server/member_api.h"

namespace quorum::server {

inline grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                             const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// The deadline for waiting on Raft: the client's, capped by the member's request timeout.
inline absl::Time RequestDeadline(const grpc::CallbackServerContext* context,
                                  const MemberApi& member) {
  absl::Time fallback = member.DefaultDeadline();
  auto client = context->deadline();
  if (client == std::chrono::system_clock::time_point::max()) return fallback;
  return std::min(fallback, absl::FromChrono(client));
}

// A completion that finishes `reactor` once a proposal is applied: with the typed response the
// apply step produced (its header filled here) or with etcd's error.
template <typename Response>
ProposalDone FinishWhenApplied(MemberApi* member, grpc::ServerUnaryReactor* reactor,
                               Response* response) {
  return [member, reactor, response](ApplyResult result) {
    absl::StatusOr<Response> taken = TakeResponse<Response>(*member, std::move(result));
    if (taken.ok()) response->Swap(&*taken);
    reactor->Finish(ToGrpcStatus(taken.status()));
  };
}

// Proposes `internal` and finishes the call once it is applied.
template <typename Response>
grpc::ServerUnaryReactor* ProposeAndFinish(MemberApi* member, grpc::CallbackServerContext* context,
                                           internalpb::InternalRequest internal,
                                           Response* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  member->Propose(std::move(internal), RequestDeadline(context, *member),
                  FinishWhenApplied(member, reactor, response));
  return reactor;
}

inline grpc::ServerUnaryReactor* RefuseUnary(grpc::CallbackServerContext* context,
                                             const char* method) {
  return FinishUnary(context, ErrUnimplemented(method));
}

}  // namespace quorum::server

// Declares a unary method override that answers UNIMPLEMENTED naming the method.
#define QUORUM_REFUSED_UNARY(Method, Request, Response)                                  \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* context, const Request*, \
                                   Response*) override {                                 \
    return ::quorum::server::RefuseUnary(context, #Method);                              \
  }

#endif  // QUORUM_SERVER_REACTORS_H_
