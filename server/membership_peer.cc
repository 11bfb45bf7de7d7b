#include "server/membership_peer.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "proto/etcd_errors.h"
#include "server/peer/peer_channel.h"

namespace quorum::server {

grpc::ServerUnaryReactor* MembershipPeerService::Promote(
    grpc::CallbackServerContext* context, const etcdserverpb::MemberPromoteRequest* request,
    etcdserverpb::MemberPromoteResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  callbacks_.promote(request->id(), absl::FromChrono(context->deadline()),
                     [this, reactor, response](ApplyResult result) {
                       if (result.status.ok())
                         *response->mutable_members() = callbacks_.members().members();
                       reactor->Finish(ToGrpcStatus(result.status));
                     });
  return reactor;
}

grpc::ServerUnaryReactor* MembershipPeerService::Members(
    grpc::CallbackServerContext* context, const etcdserverpb::MemberListRequest* /*request*/,
    etcdserverpb::MemberListResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  *response = callbacks_.members();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

void ForwardPromote(std::shared_ptr<grpc::Channel> channel, uint64_t id, absl::Time deadline,
                    MembershipPeerService::Done done) {
  // The call's state lives until its callback has run.
  struct Call {
    grpc::ClientContext context;
    std::unique_ptr<internalpb::MembershipPeer::Stub> stub;
    etcdserverpb::MemberPromoteRequest request;
    etcdserverpb::MemberPromoteResponse response;
    MembershipPeerService::Done done;
  };
  auto call = std::make_shared<Call>();
  call->context.set_deadline(absl::ToChronoTime(deadline));
  call->stub = internalpb::MembershipPeer::NewStub(std::move(channel));
  call->request.set_id(id);
  call->done = std::move(done);
  call->stub->async()->Promote(
      &call->context, &call->request, &call->response, [call](grpc::Status status) {
        ApplyResult result;
        result.status = FromGrpcStatus(status);
        // The leader did not answer in time: etcd's follower reports the same.
        if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
          result.status = ErrTimeout();
        if (result.status.ok()) {
          result.response =
              std::make_unique<etcdserverpb::MemberPromoteResponse>(std::move(call->response));
        }
        call->done(std::move(result));
      });
}

absl::StatusOr<etcdserverpb::MemberListResponse> FetchMembers(
    const std::vector<std::string>& peer_urls, absl::Time deadline, const PeerSecurity& security) {
  std::vector<std::string> errors;
  while (true) {
    errors.clear();
    for (const auto& url : peer_urls) {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Seconds(1))));
      etcdserverpb::MemberListResponse response;
      auto stub = internalpb::MembershipPeer::NewStub(DialPeer(url, security));
      grpc::Status status = stub->Members(&context, etcdserverpb::MemberListRequest(), &response);
      if (status.ok()) return response;
      errors.push_back(absl::StrCat(url, ": ", status.error_message()));
    }
    if (absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  return absl::UnavailableError(
      absl::StrCat("cannot fetch cluster info from peer urls (", absl::StrJoin(errors, "; "), ")"));
}

}  // namespace quorum::server
