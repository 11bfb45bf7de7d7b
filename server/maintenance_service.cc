// etcdserverpb.Maintenance and etcdserverpb.Cluster over a Member: status, alarms, hashes,
// defragmentation and the member list.
#include "server/identity.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/reactors.h"
#include "server/service_factories.h"

namespace quorum::server {
namespace {

using namespace etcdserverpb;  // the service's many message types
using server::Member;

class MaintenanceService final : public Maintenance::CallbackService {
 public:
  explicit MaintenanceService(Member* member) : member_(member) {}

  grpc::ServerUnaryReactor* Alarm(grpc::CallbackServerContext* context,
                                  const AlarmRequest* request, AlarmResponse* response) override {
    if (request->action() == AlarmRequest::GET) {
      *response->mutable_header() = member_->CurrentHeader();
      for (const auto& alarm : member_->Alarms()) {
        // etcd filters GET by member id and type when they are given.
        if (request->memberid() != 0 && alarm.memberid() != request->memberid()) continue;
        if (request->alarm() != NONE && alarm.alarm() != request->alarm()) continue;
        *response->add_alarms() = alarm;
      }
      return FinishUnary(context, absl::OkStatus());
    }
    // Raising and clearing alarms goes through the log so every later write sees it in order.
    internalpb::InternalRequest internal;
    *internal.mutable_alarm() = *request;
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    member_->Propose(std::move(internal), [this, reactor, response](ApplyResult result) {
      if (result.status.ok()) {
        response->Swap(static_cast<AlarmResponse*>(result.response.get()));
        *response->mutable_header() = member_->CurrentHeader();
      }
      reactor->Finish(ToGrpcStatus(result.status));
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* context, const StatusRequest*,
                                   StatusResponse* response) override {
    *response = member_->Status();
    return FinishUnary(context, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* Defragment(grpc::CallbackServerContext* context,
                                       const DefragmentRequest*,
                                       DefragmentResponse* response) override {
    absl::Status s = member_->Defragment();
    if (s.ok()) *response->mutable_header() = member_->CurrentHeader();
    return FinishUnary(context, s);
  }

  grpc::ServerUnaryReactor* HashKV(grpc::CallbackServerContext* context,
                                   const HashKVRequest* request,
                                   HashKVResponse* response) override {
    auto result = member_->HashKV(request->revision());
    if (!result.ok()) return FinishUnary(context, result.status());
    response->Swap(&*result);
    return FinishUnary(context, absl::OkStatus());
  }

  QUORUM_REFUSED_UNARY(Hash, HashRequest, HashResponse)
  QUORUM_REFUSED_UNARY(MoveLeader, MoveLeaderRequest, MoveLeaderResponse)

  grpc::ServerWriteReactor<SnapshotResponse>* Snapshot(grpc::CallbackServerContext*,
                                                       const SnapshotRequest*) override {
    return new RefusedWriteStream<SnapshotResponse>("Snapshot");
  }

 private:
  Member* member_;
};

class ClusterService final : public Cluster::CallbackService {
 public:
  explicit ClusterService(server::Member* member) : member_(member) {}

  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* context,
                                       const MemberListRequest*,
                                       MemberListResponse* response) override {
    const Config& config = member_->config();
    *response->mutable_header() = member_->CurrentHeader();
    for (const auto& m : config.initial_cluster) {
      std::vector<std::string> urls;
      etcdserverpb::Member* out = response->add_members();
      for (const auto& u : m.peer_urls) {
        urls.push_back(u.original);
        out->add_peerurls(u.original);
      }
      out->set_id(ComputeMemberId(urls, config.initial_cluster_token));
      out->set_name(m.name);
      if (m.name == config.name) {
        for (const auto& u : config.advertise_client_urls) out->add_clienturls(u.original);
      }
    }
    return FinishUnary(context, absl::OkStatus());
  }

  QUORUM_REFUSED_UNARY(MemberAdd, MemberAddRequest, MemberAddResponse)
  QUORUM_REFUSED_UNARY(MemberRemove, MemberRemoveRequest, MemberRemoveResponse)
  QUORUM_REFUSED_UNARY(MemberUpdate, MemberUpdateRequest, MemberUpdateResponse)
  QUORUM_REFUSED_UNARY(MemberPromote, MemberPromoteRequest, MemberPromoteResponse)

 private:
  server::Member* member_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewMaintenanceService(Member* member) {
  return std::make_unique<MaintenanceService>(member);
}

std::unique_ptr<grpc::Service> NewClusterService(Member* member) {
  return std::make_unique<ClusterService>(member);
}

}  // namespace quorum::server
