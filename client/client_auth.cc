// Client's auth: logging in on demand (the token itself is AuthToken's), and the Auth service's
// calls (see client.h).
#include "client/client.h"
#include "client/kv_client.h"

namespace quorum::client {

using namespace etcdserverpb;  // the API's many message types

absl::Status Client::Login() {
  if (options_.user.empty()) return absl::OkStatus();
  auto pinned = pool_.Current();
  grpc::ClientContext unused;
  return Authorize(pinned.channel, &unused);
}

namespace {

// One Auth call through Client::Invoke's rules.
template <typename Response, typename Request, typename Method>
absl::StatusOr<Response> AuthCall(
    const std::function<absl::Status(
        const std::function<grpc::Status(const EndpointPool::Pinned&, grpc::ClientContext*)>&)>&
        invoke,
    Method method, const Request& request) {
  Response response;
  absl::Status s = invoke([&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    auto stub = Auth::NewStub(p.channel);
    return (stub.get()->*method)(c, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

}  // namespace

#define QUORUM_AUTH_CALL(Response, Method, retry, request)                              \
  AuthCall<Response>([this](const Attempt& attempt) { return Invoke(retry, attempt); }, \
                     &Auth::Stub::Method, request)

absl::StatusOr<AuthEnableResponse> Client::AuthEnable() {
  return QUORUM_AUTH_CALL(AuthEnableResponse, AuthEnable, Retry::kUnsentOnly, AuthEnableRequest());
}

absl::StatusOr<AuthDisableResponse> Client::AuthDisable() {
  return QUORUM_AUTH_CALL(AuthDisableResponse, AuthDisable, Retry::kUnsentOnly,
                          AuthDisableRequest());
}

absl::StatusOr<AuthUserAddResponse> Client::UserAdd(const std::string& name,
                                                    const std::string& password, bool no_password) {
  AuthUserAddRequest request;
  request.set_name(name);
  request.set_password(password);
  request.mutable_options()->set_no_password(no_password);
  return QUORUM_AUTH_CALL(AuthUserAddResponse, UserAdd, Retry::kUnsentOnly, request);
}

absl::StatusOr<AuthUserGetResponse> Client::UserGet(const std::string& name) {
  AuthUserGetRequest request;
  request.set_name(name);
  return QUORUM_AUTH_CALL(AuthUserGetResponse, UserGet, Retry::kIdempotent, request);
}

absl::StatusOr<AuthUserListResponse> Client::UserList() {
  return QUORUM_AUTH_CALL(AuthUserListResponse, UserList, Retry::kIdempotent,
                          AuthUserListRequest());
}

absl::StatusOr<AuthUserDeleteResponse> Client::UserDelete(const std::string& name) {
  AuthUserDeleteRequest request;
  request.set_name(name);
  return QUORUM_AUTH_CALL(AuthUserDeleteResponse, UserDelete, Retry::kUnsentOnly, request);
}

absl::StatusOr<AuthUserChangePasswordResponse> Client::UserChangePassword(
    const std::string& name, const std::string& password) {
  AuthUserChangePasswordRequest request;
  request.set_name(name);
  request.set_password(password);
  return QUORUM_AUTH_CALL(AuthUserChangePasswordResponse, UserChangePassword, Retry::kUnsentOnly,
                          request);
}

absl::StatusOr<AuthUserGrantRoleResponse> Client::UserGrantRole(const std::string& user,
                                                                const std::string& role) {
  AuthUserGrantRoleRequest request;
  request.set_user(user);
  request.set_role(role);
  return QUORUM_AUTH_CALL(AuthUserGrantRoleResponse, UserGrantRole, Retry::kUnsentOnly, request);
}

absl::StatusOr<AuthUserRevokeRoleResponse> Client::UserRevokeRole(const std::string& user,
                                                                  const std::string& role) {
  AuthUserRevokeRoleRequest request;
  request.set_name(user);
  request.set_role(role);
  return QUORUM_AUTH_CALL(AuthUserRevokeRoleResponse, UserRevokeRole, Retry::kUnsentOnly, request);
}

absl::StatusOr<AuthRoleAddResponse> Client::RoleAdd(const std::string& name) {
  AuthRoleAddRequest request;
  request.set_name(name);
  return QUORUM_AUTH_CALL(AuthRoleAddResponse, RoleAdd, Retry::kUnsentOnly, request);
}

absl::StatusOr<AuthRoleGetResponse> Client::RoleGet(const std::string& name) {
  AuthRoleGetRequest request;
  request.set_role(name);
  return QUORUM_AUTH_CALL(AuthRoleGetResponse, RoleGet, Retry::kIdempotent, request);
}

absl::StatusOr<AuthRoleListResponse> Client::RoleList() {
  return QUORUM_AUTH_CALL(AuthRoleListResponse, RoleList, Retry::kIdempotent,
                          AuthRoleListRequest());
}

absl::StatusOr<AuthRoleDeleteResponse> Client::RoleDelete(const std::string& name) {
  AuthRoleDeleteRequest request;
  request.set_role(name);
  return QUORUM_AUTH_CALL(AuthRoleDeleteResponse, RoleDelete, Retry::kUnsentOnly, request);
}

absl::StatusOr<AuthRoleGrantPermissionResponse> Client::RoleGrantPermission(
    const std::string& name, const authpb::Permission& perm) {
  AuthRoleGrantPermissionRequest request;
  request.set_name(name);
  *request.mutable_perm() = perm;
  return QUORUM_AUTH_CALL(AuthRoleGrantPermissionResponse, RoleGrantPermission, Retry::kUnsentOnly,
                          request);
}

absl::StatusOr<AuthRoleRevokePermissionResponse> Client::RoleRevokePermission(
    const std::string& name, const std::string& key, const std::string& range_end) {
  AuthRoleRevokePermissionRequest request;
  request.set_role(name);
  request.set_key(key);
  request.set_range_end(range_end);
  return QUORUM_AUTH_CALL(AuthRoleRevokePermissionResponse, RoleRevokePermission,
                          Retry::kUnsentOnly, request);
}

#undef QUORUM_AUTH_CALL

}  // namespace quorum::client
