// etcdserverpb.Auth over a Member. Changes go through the log stamped with the caller, and the
// applier checks root there (etcd's needAdminPermission); passwords are hashed here, on the
// member that received them, off the gRPC threads, so the log carries only the bcrypt hash.
// Authenticate checks the password here and proposes the login so every member learns the
// token. Reads (UserGet, UserList, RoleGet, RoleList) are served locally after a read barrier,
// with etcd's rules: lists need root, a user may read itself and the roles it holds.
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/auth_context.h"
#include "server/reactors.h"
#include "server/service_factories.h"

namespace quorum::server {
namespace {

using namespace etcdserverpb;  // the service's many message types

class AuthService final : public Auth::CallbackService {
 public:
  explicit AuthService(MemberApi* member) : member_(member) {}

  grpc::ServerUnaryReactor* AuthEnable(grpc::CallbackServerContext* context,
                                       const AuthEnableRequest* request,
                                       AuthEnableResponse* response) override {
    internalpb::InternalRequest internal;
    *internal.mutable_auth_enable() = *request;
    return Change(context, std::move(internal), response);
  }
  grpc::ServerUnaryReactor* AuthDisable(grpc::CallbackServerContext* context,
                                        const AuthDisableRequest* request,
                                        AuthDisableResponse* response) override {
    internalpb::InternalRequest internal;
    *internal.mutable_auth_disable() = *request;
    return Change(context, std::move(internal), response);
  }

  grpc::ServerUnaryReactor* Authenticate(grpc::CallbackServerContext* context,
                                         const AuthenticateRequest* request,
                                         AuthenticateResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    const absl::Time deadline = RequestDeadline(context, *member_);
    // etcd: a linearizable read point first, so a user added just before is seen.
    member_->ReadBarrier(
        deadline, [this, reactor, request, response, deadline](absl::Status ready) {
          if (!ready.ok()) return reactor->Finish(ToGrpcStatus(ready));
          member_->RunInBackground([this, reactor, request, response, deadline] {
            absl::StatusOr<uint64_t> checked =
                member_->auth().CheckPassword(request->name(), request->password());
            if (!checked.ok()) return reactor->Finish(ToGrpcStatus(checked.status()));
            internalpb::InternalRequest internal;
            internal.mutable_authenticate()->set_name(request->name());
            internal.mutable_authenticate()->set_simple_token(member_->auth().NewTokenPrefix());
            member_->Propose(std::move(internal), deadline, Finisher(reactor, response));
          });
        });
    return reactor;
  }

  grpc::ServerUnaryReactor* UserAdd(grpc::CallbackServerContext* context,
                                    const AuthUserAddRequest* request,
                                    AuthUserAddResponse* response) override {
    internalpb::InternalRequest internal;
    internalpb::UserEntry* entry = internal.mutable_user_add();
    entry->set_name(request->name());
    *entry->mutable_options() = request->options();
    if (request->options().no_password()) return Change(context, std::move(internal), response);
    return HashThenChange(context, request->password(), std::move(internal), response);
  }
  grpc::ServerUnaryReactor* UserChangePassword(grpc::CallbackServerContext* context,
                                               const AuthUserChangePasswordRequest* request,
                                               AuthUserChangePasswordResponse* response) override {
    internalpb::InternalRequest internal;
    internalpb::UserEntry* entry = internal.mutable_user_change_password();
    entry->set_name(request->name());
    return HashThenChange(context, request->password(), std::move(internal), response);
  }

  grpc::ServerUnaryReactor* UserDelete(grpc::CallbackServerContext* context,
                                       const AuthUserDeleteRequest* request,
                                       AuthUserDeleteResponse* response) override {
    internalpb::InternalRequest internal;
    *internal.mutable_user_delete() = *request;
    return Change(context, std::move(internal), response);
  }
  grpc::ServerUnaryReactor* UserGrantRole(grpc::CallbackServerContext* context,
                                          const AuthUserGrantRoleRequest* request,
                                          AuthUserGrantRoleResponse* response) override {
    internalpb::InternalRequest internal;
    *internal.mutable_user_grant_role() = *request;
    return Change(context, std::move(internal), response);
  }
  grpc::ServerUnaryReactor* UserRevokeRole(grpc::CallbackServerContext* context,
                                           const AuthUserRevokeRoleRequest* request,
                                           AuthUserRevokeRoleResponse* response) override {
    internalpb::InternalRequest internal;
    *internal.mutable_user_revoke_role() = *request;
    return Change(context, std::move(internal), response);
  }
  grpc::ServerUnaryReactor* RoleAdd(grpc::CallbackServerContext* context,
                                    const AuthRoleAddRequest* request,
                                    AuthRoleAddResponse* response) override {
    internalpb::InternalRequest internal;
    *internal.mutable_role_add() = *request;
    return Change(context, std::move(internal), response);
  }
  grpc::ServerUnaryReactor* RoleDelete(grpc::CallbackServerContext* context,
                                       const AuthRoleDeleteRequest* request,
                                       AuthRoleDeleteResponse* response) override {
    internalpb::InternalRequest internal;
    *internal.mutable_role_delete() = *request;
    return Change(context, std::move(internal), response);
  }
  grpc::ServerUnaryReactor* RoleGrantPermission(
      grpc::CallbackServerContext* context, const AuthRoleGrantPermissionRequest* request,
      AuthRoleGrantPermissionResponse* response) override {
    internalpb::InternalRequest internal;
    *internal.mutable_role_grant_permission() = *request;
    return Change(context, std::move(internal), response);
  }
  grpc::ServerUnaryReactor* RoleRevokePermission(
      grpc::CallbackServerContext* context, const AuthRoleRevokePermissionRequest* request,
      AuthRoleRevokePermissionResponse* response) override {
    internalpb::InternalRequest internal;
    *internal.mutable_role_revoke_permission() = *request;
    return Change(context, std::move(internal), response);
  }

  grpc::ServerUnaryReactor* UserGet(grpc::CallbackServerContext* context,
                                    const AuthUserGetRequest* request,
                                    AuthUserGetResponse* response) override {
    return Read(
        context, response, [request, response](const AuthState& state, const AuthInfo& caller) {
          if (auto s = state.CheckAdmin(caller); !s.ok() && request->name() != caller.user) {
            return s;
          }
          const authpb::User* user = state.FindUser(request->name());
          if (user == nullptr) return ErrUserNotFound();
          *response->mutable_roles() = user->roles();
          return absl::OkStatus();
        });
  }
  grpc::ServerUnaryReactor* UserList(grpc::CallbackServerContext* context,
                                     const AuthUserListRequest*,
                                     AuthUserListResponse* response) override {
    return Read(context, response, [response](const AuthState& state, const AuthInfo& caller) {
      if (auto s = state.CheckAdmin(caller); !s.ok()) return s;
      for (const auto& [name, user] : state.users()) response->add_users(name);
      return absl::OkStatus();
    });
  }
  grpc::ServerUnaryReactor* RoleGet(grpc::CallbackServerContext* context,
                                    const AuthRoleGetRequest* request,
                                    AuthRoleGetResponse* response) override {
    return Read(context, response,
                [request, response](const AuthState& state, const AuthInfo& caller) {
                  if (auto s = state.CheckAdmin(caller);
                      !s.ok() && !state.HasRole(caller.user, request->role())) {
                    return s;
                  }
                  const authpb::Role* role = state.FindRole(request->role());
                  if (role == nullptr) return ErrRoleNotFound();
                  *response->mutable_perm() = role->keypermission();
                  return absl::OkStatus();
                });
  }
  grpc::ServerUnaryReactor* RoleList(grpc::CallbackServerContext* context,
                                     const AuthRoleListRequest*,
                                     AuthRoleListResponse* response) override {
    return Read(context, response, [response](const AuthState& state, const AuthInfo& caller) {
      if (auto s = state.CheckAdmin(caller); !s.ok()) return s;
      for (const auto& [name, role] : state.roles()) response->add_roles(name);
      return absl::OkStatus();
    });
  }

 private:
  // Finishes the call with the applied response, its header at the current revision (etcd's
  // auth answers carry the keyspace revision).
  template <typename Response>
  ProposalDone Finisher(grpc::ServerUnaryReactor* reactor, Response* response) {
    return [this, reactor, response](ApplyResult result) {
      absl::StatusOr<Response> taken = TakeResponse<Response>(*member_, std::move(result));
      if (taken.ok()) {
        response->Swap(&*taken);
        *response->mutable_header() = member_->CurrentHeader();
      }
      reactor->Finish(ToGrpcStatus(taken.status()));
    };
  }

  // Proposes an auth change stamped with its caller.
  template <typename Response>
  grpc::ServerUnaryReactor* Change(grpc::CallbackServerContext* context,
                                   internalpb::InternalRequest internal, Response* response) {
    absl::StatusOr<AuthInfo> caller = CallerOf(*context, member_->auth());
    if (!caller.ok()) return FinishUnary(context, caller.status());
    Stamp(*caller, &internal);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    member_->Propose(std::move(internal), RequestDeadline(context, *member_),
                     Finisher(reactor, response));
    return reactor;
  }

  // Hashes `password` into the request's user entry on the background thread (bcrypt takes tens of
  // ms), then proposes `internal`.
  template <typename Response>
  grpc::ServerUnaryReactor* HashThenChange(grpc::CallbackServerContext* context,
                                           std::string password,
                                           internalpb::InternalRequest internal,
                                           Response* response) {
    absl::StatusOr<AuthInfo> caller = CallerOf(*context, member_->auth());
    if (!caller.ok()) return FinishUnary(context, caller.status());
    Stamp(*caller, &internal);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    const absl::Time deadline = RequestDeadline(context, *member_);
    auto shared = std::make_shared<internalpb::InternalRequest>(std::move(internal));
    const bool is_add = shared->has_user_add();
    member_->RunInBackground([this, reactor, response, deadline, shared, is_add,
                              password = std::move(password)] {
      absl::StatusOr<std::string> hashed = HashPassword(password, member_->auth().bcrypt_cost());
      if (!hashed.ok()) return reactor->Finish(ToGrpcStatus(hashed.status()));
      internalpb::UserEntry* target =
          is_add ? shared->mutable_user_add() : shared->mutable_user_change_password();
      target->set_hashed_password(*std::move(hashed));
      member_->Propose(std::move(*shared), deadline, Finisher(reactor, response));
    });
    return reactor;
  }

  // A local read of the auth state at a linearizable read point, for the caller.
  template <typename Response, typename ReadState>
  grpc::ServerUnaryReactor* Read(grpc::CallbackServerContext* context, Response* response,
                                 ReadState read) {
    absl::StatusOr<AuthInfo> caller = CallerOf(*context, member_->auth());
    if (!caller.ok()) return FinishUnary(context, caller.status());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    member_->ReadBarrier(
        RequestDeadline(context, *member_),
        [this, reactor, response, read = std::move(read), caller = *caller](absl::Status ready) {
          if (!ready.ok()) return reactor->Finish(ToGrpcStatus(ready));
          absl::Status s = read(*member_->auth().Current(), caller);
          if (s.ok()) *response->mutable_header() = member_->CurrentHeader();
          reactor->Finish(ToGrpcStatus(s));
        });
    return reactor;
  }

  MemberApi* member_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewAuthService(MemberApi* member) {
  return std::make_unique<AuthService>(member);
}

}  // namespace quorum::server
