// Services whose methods this member does not serve yet. They are registered anyway so that a
// client gets UNIMPLEMENTED with the method's name instead of an unknown-service error.
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/reactors.h"
#include "server/service_factories.h"
#include "v3electionpb/v3election.grpc.pb.h"
#include "v3lockpb/v3lock.grpc.pb.h"

namespace quorum::server {
namespace {

using namespace etcdserverpb;  // the services' many message types

class AuthService final : public Auth::CallbackService {
 public:
  QUORUM_REFUSED_UNARY(AuthEnable, AuthEnableRequest, AuthEnableResponse)
  QUORUM_REFUSED_UNARY(AuthDisable, AuthDisableRequest, AuthDisableResponse)
  QUORUM_REFUSED_UNARY(Authenticate, AuthenticateRequest, AuthenticateResponse)
  QUORUM_REFUSED_UNARY(UserAdd, AuthUserAddRequest, AuthUserAddResponse)
  QUORUM_REFUSED_UNARY(UserGet, AuthUserGetRequest, AuthUserGetResponse)
  QUORUM_REFUSED_UNARY(UserList, AuthUserListRequest, AuthUserListResponse)
  QUORUM_REFUSED_UNARY(UserDelete, AuthUserDeleteRequest, AuthUserDeleteResponse)
  QUORUM_REFUSED_UNARY(UserChangePassword, AuthUserChangePasswordRequest,
                       AuthUserChangePasswordResponse)
  QUORUM_REFUSED_UNARY(UserGrantRole, AuthUserGrantRoleRequest, AuthUserGrantRoleResponse)
  QUORUM_REFUSED_UNARY(UserRevokeRole, AuthUserRevokeRoleRequest, AuthUserRevokeRoleResponse)
  QUORUM_REFUSED_UNARY(RoleAdd, AuthRoleAddRequest, AuthRoleAddResponse)
  QUORUM_REFUSED_UNARY(RoleGet, AuthRoleGetRequest, AuthRoleGetResponse)
  QUORUM_REFUSED_UNARY(RoleList, AuthRoleListRequest, AuthRoleListResponse)
  QUORUM_REFUSED_UNARY(RoleDelete, AuthRoleDeleteRequest, AuthRoleDeleteResponse)
  QUORUM_REFUSED_UNARY(RoleGrantPermission, AuthRoleGrantPermissionRequest,
                       AuthRoleGrantPermissionResponse)
  QUORUM_REFUSED_UNARY(RoleRevokePermission, AuthRoleRevokePermissionRequest,
                       AuthRoleRevokePermissionResponse)
};

class ElectionService final : public v3electionpb::Election::CallbackService {
 public:
  QUORUM_REFUSED_UNARY(Campaign, v3electionpb::CampaignRequest, v3electionpb::CampaignResponse)
  QUORUM_REFUSED_UNARY(Proclaim, v3electionpb::ProclaimRequest, v3electionpb::ProclaimResponse)
  QUORUM_REFUSED_UNARY(Leader, v3electionpb::LeaderRequest, v3electionpb::LeaderResponse)
  QUORUM_REFUSED_UNARY(Resign, v3electionpb::ResignRequest, v3electionpb::ResignResponse)
  grpc::ServerWriteReactor<v3electionpb::LeaderResponse>* Observe(
      grpc::CallbackServerContext*, const v3electionpb::LeaderRequest*) override {
    return new RefusedWriteStream<v3electionpb::LeaderResponse>("Observe");
  }
};

class LockService final : public v3lockpb::Lock::CallbackService {
 public:
  QUORUM_REFUSED_UNARY(Lock, v3lockpb::LockRequest, v3lockpb::LockResponse)
  QUORUM_REFUSED_UNARY(Unlock, v3lockpb::UnlockRequest, v3lockpb::UnlockResponse)
};

}  // namespace

std::unique_ptr<grpc::Service> NewAuthService(Member*) { return std::make_unique<AuthService>(); }
std::unique_ptr<grpc::Service> NewElectionService(Member*) {
  return std::make_unique<ElectionService>();
}
std::unique_ptr<grpc::Service> NewLockService(Member*) { return std::make_unique<LockService>(); }

}  // namespace quorum::server
