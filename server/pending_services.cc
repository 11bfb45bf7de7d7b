// Services whose methods this member does not serve yet. They are registered anyway so that a
// client gets UNIMPLEMENTED with the method's name instead of an unknown-service error.
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/reactors.h"
#include "server/service_factories.h"

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

}  // namespace

std::unique_ptr<grpc::Service> NewAuthService(MemberApi*) {
  return std::make_unique<AuthService>();
}

}  // namespace quorum::server
