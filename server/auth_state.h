// The users, roles and permissions of etcd's auth store as a plain value: the rules of every auth
// change entry (root user and role, duplicate and missing names, the auth revision) and of every
// permission check (key ranges, prefixes, from-key, the root role). No threads, no storage: the
// applier applies entries to a copy and swaps it in once the entry's records are written
// (AuthStore), and the unit tests drive it directly.
#ifndef QUORUM_SERVER_AUTH_STATE_H_
#define QUORUM_SERVER_AUTH_STATE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "authpb/auth.pb.h"
#include "google/protobuf/message.h"
#include "internalpb/internal.pb.h"
#include "storage/schema.h"

namespace quorum::server {

// etcd's names for the administrator.
inline constexpr char kRootUser[] = "root";
inline constexpr char kRootRole[] = "root";

// Who made a request (etcd's AuthInfo): a user name and the auth revision its credentials were
// checked against. Revision 0 means no credentials.
struct AuthInfo {
  std::string user;
  uint64_t revision = 0;
};

// True for entries that change the auth store (and need root once auth is enabled).
bool IsAuthChange(const internalpb::InternalRequest& request);

class AuthState {
 public:
  static AuthState FromRecords(storage::AuthRecords records);

  bool enabled() const { return enabled_; }
  uint64_t revision() const { return revision_; }
  const authpb::User* FindUser(std::string_view name) const;
  const authpb::Role* FindRole(std::string_view name) const;
  const std::map<std::string, authpb::User, std::less<>>& users() const { return users_; }
  const std::map<std::string, authpb::Role, std::less<>>& roles() const { return roles_; }

  // Applies one auth change (IsAuthChange) at raft index `index` with etcd's rules, adding the
  // records it changes to `records`, and returns the typed response (AuthEnableResponse, ...).
  // On error nothing changed. Authenticate changes nothing here: its token is the caller's
  // business (AuthStore), but the user must exist and may log in with a password.
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> Apply(
      const internalpb::InternalRequest& request, storage::RecordChanges* records);

  // etcd's isOpPermitted: OK when auth is disabled; "user name is empty" without credentials;
  // "revision of auth store is old" for credentials checked before the last auth change;
  // otherwise the user's roles must cover [key, range_end) (empty range_end: the key alone;
  // "\0": every key from `key`) for `type` (READ or WRITE); root covers everything.
  absl::Status CheckPermission(const AuthInfo& info, std::string_view key,
                               std::string_view range_end, authpb::Permission::Type type) const;
  // etcd's IsAdminPermitted: OK when auth is disabled; the user must hold the root role.
  absl::Status CheckAdmin(const AuthInfo& info) const;
  bool HasRole(std::string_view user, std::string_view role) const;

 private:
  void BumpRevision(storage::RecordChanges* records);
  bool Covers(const authpb::User& user, std::string_view key, std::string_view range_end,
              authpb::Permission::Type type) const;

  bool enabled_ = false;
  uint64_t revision_ = 0;
  std::map<std::string, authpb::User, std::less<>> users_;
  std::map<std::string, authpb::Role, std::less<>> roles_;
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_AUTH_STATE_H_
