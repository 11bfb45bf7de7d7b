// The MembershipPeer service (proto/internalpb/peer.proto) and its client calls: a follower
// forwards MemberPromote to the leader, and a joining member asks the cluster for its id and
// members before it starts. The member registers the service on its peer server.
#ifndef QUORUM_SERVER_MEMBERSHIP_PEER_H_
#define QUORUM_SERVER_MEMBERSHIP_PEER_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.pb.h"
#include "internalpb/peer.grpc.pb.h"
#include "server/applier.h"
#include "server/peer/tls_credentials.h"

namespace quorum::server {

class MembershipPeerService final : public internalpb::MembershipPeer::CallbackService {
 public:
  using Done = absl::AnyInvocable<void(ApplyResult)>;
  struct Callbacks {
    // Promotes as the leader; answers etcd's "not leader" when this member does not lead.
    std::function<void(uint64_t id, absl::Time deadline, Done done)> promote;
    // This member's view: cluster id in the header, every member.
    std::function<etcdserverpb::MemberListResponse()> members;
  };
  explicit MembershipPeerService(Callbacks callbacks) : callbacks_(std::move(callbacks)) {}

  grpc::ServerUnaryReactor* Promote(grpc::CallbackServerContext* context,
                                    const etcdserverpb::MemberPromoteRequest* request,
                                    etcdserverpb::MemberPromoteResponse* response) override;
  grpc::ServerUnaryReactor* Members(grpc::CallbackServerContext* context,
                                    const etcdserverpb::MemberListRequest* request,
                                    etcdserverpb::MemberListResponse* response) override;

 private:
  const Callbacks callbacks_;
};

// Asks the leader behind `channel` to promote learner `id`. `done` gets the leader's error, or
// OK with the leader's MemberPromoteResponse (its member list) as the response.
void ForwardPromote(std::shared_ptr<grpc::Channel> channel, uint64_t id, absl::Time deadline,
                    MembershipPeerService::Done done);

// Asks the members at `peer_urls`, in turn, for their member list until one answers or
// `deadline` passes. The answer names the cluster id in its header. https:// URLs are dialed
// with `security`.
absl::StatusOr<etcdserverpb::MemberListResponse> FetchMembers(
    const std::vector<std::string>& peer_urls, absl::Time deadline, const PeerSecurity& security);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_MEMBERSHIP_PEER_H_
