#include "server/auth_state.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "etcdserverpb/rpc.pb.h"
#include "proto/etcd_errors.h"

namespace quorum::server {
namespace {

using internalpb::InternalRequest;
using Message = google::protobuf::Message;

bool HasRootRole(const authpb::User& user) {
  return std::find(user.roles().begin(), user.roles().end(), kRootRole) != user.roles().end();
}

// A key interval [begin, end); no end: up to every key.
struct Interval {
  std::string begin;
  std::optional<std::string> end;
};

// etcd reads a permission's range end as: empty, the key alone; "\0", every key from the key.
Interval PermissionInterval(const authpb::Permission& perm) {
  if (perm.range_end().empty()) return {perm.key(), perm.key() + std::string(1, '\0')};
  if (perm.range_end() == std::string_view("\0", 1)) return {perm.key(), std::nullopt};
  return {perm.key(), perm.range_end()};
}

bool Grants(authpb::Permission::Type granted, authpb::Permission::Type wanted) {
  return granted == authpb::Permission::READWRITE || granted == wanted;
}

template <typename Response>
absl::StatusOr<std::unique_ptr<Message>> Answer() {
  return std::unique_ptr<Message>(std::make_unique<Response>());
}

}  // namespace

bool IsAuthChange(const InternalRequest& request) {
  switch (request.request_case()) {
    case InternalRequest::kAuthEnable:
    case InternalRequest::kAuthDisable:
    case InternalRequest::kAuthenticate:
    case InternalRequest::kUserAdd:
    case InternalRequest::kUserDelete:
    case InternalRequest::kUserChangePassword:
    case InternalRequest::kUserGrantRole:
    case InternalRequest::kUserRevokeRole:
    case InternalRequest::kRoleAdd:
    case InternalRequest::kRoleDelete:
    case InternalRequest::kRoleGrantPermission:
    case InternalRequest::kRoleRevokePermission:
      return true;
    default:
      return false;
  }
}

AuthState AuthState::FromRecords(storage::AuthRecords records) {
  AuthState state;
  state.enabled_ = records.enabled;
  state.revision_ = records.revision;
  for (auto& user : records.users) {
    std::string name = user.name();
    state.users_.emplace(std::move(name), std::move(user));
  }
  for (auto& role : records.roles) {
    std::string name = role.name();
    state.roles_.emplace(std::move(name), std::move(role));
  }
  return state;
}

const authpb::User* AuthState::FindUser(std::string_view name) const {
  auto it = users_.find(name);
  return it == users_.end() ? nullptr : &it->second;
}

const authpb::Role* AuthState::FindRole(std::string_view name) const {
  auto it = roles_.find(name);
  return it == roles_.end() ? nullptr : &it->second;
}

bool AuthState::HasRole(std::string_view user, std::string_view role) const {
  const authpb::User* u = FindUser(user);
  return u != nullptr && std::find(u->roles().begin(), u->roles().end(), role) != u->roles().end();
}

void AuthState::BumpRevision(storage::RecordChanges* records) {
  ++revision_;
  records->PutAuthRevision(revision_);
}

absl::StatusOr<std::unique_ptr<Message>> AuthState::Apply(const InternalRequest& request,
                                                          storage::RecordChanges* records) {
  switch (request.request_case()) {
    case InternalRequest::kAuthEnable: {
      // etcd behaviour: enabling an enabled store is a no-op, and enabling does not bump the
      // revision (disabling does).
      if (enabled_) return Answer<etcdserverpb::AuthEnableResponse>();
      const authpb::User* root = FindUser(kRootUser);
      if (root == nullptr) return ErrRootUserNotExist();
      if (!HasRootRole(*root)) return ErrRootRoleNotExist();
      enabled_ = true;
      records->PutAuthEnabled(true);
      return Answer<etcdserverpb::AuthEnableResponse>();
    }
    case InternalRequest::kAuthDisable:
      if (enabled_) {
        enabled_ = false;
        records->PutAuthEnabled(false);
        BumpRevision(records);
      }
      return Answer<etcdserverpb::AuthDisableResponse>();
    case InternalRequest::kAuthenticate: {
      if (!enabled_) return ErrAuthNotEnabled();
      const authpb::User* user = FindUser(request.authenticate().name());
      if (user == nullptr || user->options().no_password()) return ErrAuthFailed();
      return Answer<etcdserverpb::AuthenticateResponse>();
    }
    case InternalRequest::kUserAdd: {
      const internalpb::UserEntry& entry = request.user_add();
      if (entry.name().empty()) return ErrUserEmpty();
      if (FindUser(entry.name()) != nullptr) return ErrUserAlreadyExist();
      authpb::User user;
      user.set_name(entry.name());
      user.set_password(entry.hashed_password());
      *user.mutable_options() = entry.options();
      records->PutUser(user);
      users_.emplace(entry.name(), std::move(user));
      BumpRevision(records);
      return Answer<etcdserverpb::AuthUserAddResponse>();
    }
    case InternalRequest::kUserDelete: {
      const std::string& name = request.user_delete().name();
      if (enabled_ && name == kRootUser) return ErrInvalidAuthMgmt();
      if (users_.erase(name) == 0) return ErrUserNotFound();
      records->DeleteUser(name);
      BumpRevision(records);
      return Answer<etcdserverpb::AuthUserDeleteResponse>();
    }
    case InternalRequest::kUserChangePassword: {
      auto it = users_.find(request.user_change_password().name());
      if (it == users_.end()) return ErrUserNotFound();
      it->second.set_password(request.user_change_password().hashed_password());
      records->PutUser(it->second);
      BumpRevision(records);
      return Answer<etcdserverpb::AuthUserChangePasswordResponse>();
    }
    case InternalRequest::kUserGrantRole: {
      const auto& grant = request.user_grant_role();
      auto it = users_.find(grant.user());
      if (it == users_.end()) return ErrUserNotFound();
      // etcd behaviour: the root role may be granted before it was ever added.
      if (grant.role() != kRootRole && FindRole(grant.role()) == nullptr) return ErrRoleNotFound();
      auto* roles = it->second.mutable_roles();
      if (std::find(roles->begin(), roles->end(), grant.role()) != roles->end()) {
        return Answer<etcdserverpb::AuthUserGrantRoleResponse>();
      }
      roles->Add(std::string(grant.role()));
      std::sort(roles->begin(), roles->end());
      records->PutUser(it->second);
      BumpRevision(records);
      return Answer<etcdserverpb::AuthUserGrantRoleResponse>();
    }
    case InternalRequest::kUserRevokeRole: {
      const auto& revoke = request.user_revoke_role();
      if (enabled_ && revoke.name() == kRootUser && revoke.role() == kRootRole) {
        return ErrInvalidAuthMgmt();
      }
      auto it = users_.find(revoke.name());
      if (it == users_.end()) return ErrUserNotFound();
      auto* roles = it->second.mutable_roles();
      auto found = std::find(roles->begin(), roles->end(), revoke.role());
      if (found == roles->end()) return ErrRoleNotGranted();
      roles->erase(found);
      records->PutUser(it->second);
      BumpRevision(records);
      return Answer<etcdserverpb::AuthUserRevokeRoleResponse>();
    }
    case InternalRequest::kRoleAdd: {
      const std::string& name = request.role_add().name();
      if (name.empty()) return ErrRoleEmpty();
      if (FindRole(name) != nullptr) return ErrRoleAlreadyExist();
      authpb::Role role;
      role.set_name(name);
      records->PutRole(role);
      roles_.emplace(name, std::move(role));
      BumpRevision(records);
      return Answer<etcdserverpb::AuthRoleAddResponse>();
    }
    case InternalRequest::kRoleDelete: {
      const std::string& name = request.role_delete().role();
      if (enabled_ && name == kRootRole) return ErrInvalidAuthMgmt();
      if (roles_.erase(name) == 0) return ErrRoleNotFound();
      records->DeleteRole(name);
      // The role leaves every user that held it.
      for (auto& [user_name, user] : users_) {
        auto* roles = user.mutable_roles();
        auto found = std::find(roles->begin(), roles->end(), name);
        if (found == roles->end()) continue;
        roles->erase(found);
        records->PutUser(user);
      }
      BumpRevision(records);
      return Answer<etcdserverpb::AuthRoleDeleteResponse>();
    }
    case InternalRequest::kRoleGrantPermission: {
      const auto& grant = request.role_grant_permission();
      auto it = roles_.find(grant.name());
      if (it == roles_.end()) return ErrRoleNotFound();
      auto* perms = it->second.mutable_keypermission();
      // Kept sorted by key; the same key and range end is updated in place, as etcd does.
      auto same = std::find_if(perms->begin(), perms->end(), [&](const authpb::Permission& p) {
        return p.key() == grant.perm().key() && p.range_end() == grant.perm().range_end();
      });
      if (same != perms->end()) {
        same->set_permtype(grant.perm().permtype());
      } else {
        *perms->Add() = grant.perm();
        std::stable_sort(perms->begin(), perms->end(),
                         [](const authpb::Permission& a, const authpb::Permission& b) {
                           return a.key() < b.key();
                         });
      }
      records->PutRole(it->second);
      BumpRevision(records);
      return Answer<etcdserverpb::AuthRoleGrantPermissionResponse>();
    }
    case InternalRequest::kRoleRevokePermission: {
      const auto& revoke = request.role_revoke_permission();
      auto it = roles_.find(revoke.role());
      if (it == roles_.end()) return ErrRoleNotFound();
      auto* perms = it->second.mutable_keypermission();
      const int before = perms->size();
      perms->erase(std::remove_if(perms->begin(), perms->end(),
                                  [&](const authpb::Permission& p) {
                                    return p.key() == revoke.key() &&
                                           p.range_end() == revoke.range_end();
                                  }),
                   perms->end());
      if (perms->size() == before) return ErrPermissionNotGranted();
      records->PutRole(it->second);
      BumpRevision(records);
      return Answer<etcdserverpb::AuthRoleRevokePermissionResponse>();
    }
    default:
      return ErrUnimplemented("this auth request type");
  }
}

bool AuthState::Covers(const authpb::User& user, std::string_view key, std::string_view range_end,
                       authpb::Permission::Type type) const {
  std::vector<Interval> granted;
  for (const std::string& role_name : user.roles()) {
    const authpb::Role* role = FindRole(role_name);
    if (role == nullptr) continue;
    for (const authpb::Permission& perm : role->keypermission()) {
      if (Grants(perm.permtype(), type)) granted.push_back(PermissionInterval(perm));
    }
  }
  if (range_end.empty()) {
    // One key: some granted interval holds it.
    return std::any_of(granted.begin(), granted.end(), [&](const Interval& i) {
      return i.begin <= key && (!i.end.has_value() || key < *i.end);
    });
  }
  // A range ("\0": to the end of the keyspace) must be covered by the union of the intervals.
  std::optional<std::string> want_end;
  if (range_end != std::string_view("\0", 1)) want_end = std::string(range_end);
  std::sort(granted.begin(), granted.end(),
            [](const Interval& a, const Interval& b) { return a.begin < b.begin; });
  std::string covered(key);
  for (const Interval& i : granted) {
    if (i.begin > covered) break;
    if (!i.end.has_value()) return true;
    if (*i.end > covered) covered = *i.end;
    if (want_end.has_value() && covered >= *want_end) return true;
  }
  return false;
}

absl::Status AuthState::CheckPermission(const AuthInfo& info, std::string_view key,
                                        std::string_view range_end,
                                        authpb::Permission::Type type) const {
  if (!enabled_) return absl::OkStatus();
  if (info.revision == 0) return ErrUserEmpty();
  if (info.revision < revision_) return ErrAuthOldRevision();
  const authpb::User* user = FindUser(info.user);
  if (user == nullptr) return ErrPermissionDenied();
  if (HasRootRole(*user)) return absl::OkStatus();
  if (Covers(*user, key, range_end, type)) return absl::OkStatus();
  return ErrPermissionDenied();
}

absl::Status AuthState::CheckAdmin(const AuthInfo& info) const {
  if (!enabled_) return absl::OkStatus();
  if (info.user.empty()) return ErrUserEmpty();
  const authpb::User* user = FindUser(info.user);
  if (user == nullptr) return ErrUserNotFound();
  if (!HasRootRole(*user)) return ErrPermissionDenied();
  return absl::OkStatus();
}

}  // namespace quorum::server
