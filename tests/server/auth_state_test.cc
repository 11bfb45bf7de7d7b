// AuthState's rules, driven directly: enabling needs root with the root role, the auth
// revision, management refusals, and the permission checks (single keys, ranges, prefixes,
// from-key, unions of grants, read versus write, root, stale or missing credentials).
#include "server/auth_state.h"

#include <string>

#include "gtest/gtest.h"
#include "proto/etcd_errors.h"

namespace quorum::server {
namespace {

using authpb::Permission;
using internalpb::InternalRequest;

class AuthStateTest : public ::testing::Test {
 protected:
  absl::Status Do(const InternalRequest& request) {
    storage::RecordChanges records;
    auto response = state_.Apply(request, &records);
    return response.status();
  }
  absl::Status AddUser(const std::string& name) {
    InternalRequest r;
    r.mutable_user_add()->set_name(name);
    r.mutable_user_add()->set_hashed_password("hash");
    return Do(r);
  }
  absl::Status AddRole(const std::string& name) {
    InternalRequest r;
    r.mutable_role_add()->set_name(name);
    return Do(r);
  }
  absl::Status Grant(const std::string& user, const std::string& role) {
    InternalRequest r;
    r.mutable_user_grant_role()->set_user(user);
    r.mutable_user_grant_role()->set_role(role);
    return Do(r);
  }
  absl::Status GrantPerm(const std::string& role, Permission::Type type, const std::string& key,
                         const std::string& end) {
    InternalRequest r;
    r.mutable_role_grant_permission()->set_name(role);
    r.mutable_role_grant_permission()->mutable_perm()->set_permtype(type);
    r.mutable_role_grant_permission()->mutable_perm()->set_key(key);
    r.mutable_role_grant_permission()->mutable_perm()->set_range_end(end);
    return Do(r);
  }
  absl::Status Enable() {
    InternalRequest r;
    r.mutable_auth_enable();
    return Do(r);
  }
  // Root, and a user "u" with role "r", auth enabled.
  void SetUpUsers() {
    ASSERT_TRUE(AddUser("root").ok());
    ASSERT_TRUE(Grant("root", "root").ok());
    ASSERT_TRUE(AddUser("u").ok());
    ASSERT_TRUE(AddRole("r").ok());
    ASSERT_TRUE(Grant("u", "r").ok());
    ASSERT_TRUE(Enable().ok());
  }
  absl::Status Read(const std::string& key, const std::string& end = "") {
    return state_.CheckPermission(Me(), key, end, Permission::READ);
  }
  absl::Status Write(const std::string& key, const std::string& end = "") {
    return state_.CheckPermission(Me(), key, end, Permission::WRITE);
  }
  AuthInfo Me() const { return AuthInfo{"u", state_.revision()}; }

  AuthState state_;
};

const std::string kNul(1, '\0');

TEST_F(AuthStateTest, EnablingNeedsARootUserHoldingTheRootRole) {
  EXPECT_EQ(Enable().message(), ErrRootUserNotExist().message());
  ASSERT_TRUE(AddUser("root").ok());
  EXPECT_EQ(Enable().message(), ErrRootRoleNotExist().message());
  // The root role may be granted without ever being added, as etcd allows.
  ASSERT_TRUE(Grant("root", "root").ok());
  EXPECT_TRUE(Enable().ok());
  EXPECT_TRUE(state_.enabled());
  EXPECT_EQ(state_.FindRole("root"), nullptr);
}

TEST_F(AuthStateTest, EveryChangeButEnableBumpsTheRevision) {
  ASSERT_TRUE(AddUser("root").ok());
  EXPECT_EQ(state_.revision(), 1u);
  ASSERT_TRUE(Grant("root", "root").ok());
  EXPECT_EQ(state_.revision(), 2u);
  // A second grant of the same role changes nothing.
  ASSERT_TRUE(Grant("root", "root").ok());
  EXPECT_EQ(state_.revision(), 2u);
  ASSERT_TRUE(Enable().ok());
  EXPECT_EQ(state_.revision(), 2u);
  InternalRequest disable;
  disable.mutable_auth_disable();
  ASSERT_TRUE(Do(disable).ok());
  EXPECT_EQ(state_.revision(), 3u);
  // A refused change leaves it.
  EXPECT_EQ(AddUser("root").message(), ErrUserAlreadyExist().message());
  EXPECT_EQ(state_.revision(), 3u);
}

TEST_F(AuthStateTest, RootCannotBeRemovedWhileAuthIsEnabled) {
  SetUpUsers();
  InternalRequest del;
  del.mutable_user_delete()->set_name("root");
  EXPECT_EQ(Do(del).message(), ErrInvalidAuthMgmt().message());
  InternalRequest revoke;
  revoke.mutable_user_revoke_role()->set_name("root");
  revoke.mutable_user_revoke_role()->set_role("root");
  EXPECT_EQ(Do(revoke).message(), ErrInvalidAuthMgmt().message());
  InternalRequest role_del;
  role_del.mutable_role_delete()->set_role("root");
  EXPECT_EQ(Do(role_del).message(), ErrInvalidAuthMgmt().message());
}

TEST_F(AuthStateTest, NamesAreCheckedAsEtcdDoes) {
  EXPECT_EQ(AddUser("").message(), ErrUserEmpty().message());
  EXPECT_EQ(AddRole("").message(), ErrRoleEmpty().message());
  EXPECT_EQ(Grant("nobody", "r").message(), ErrUserNotFound().message());
  ASSERT_TRUE(AddUser("u").ok());
  EXPECT_EQ(Grant("u", "nosuch").message(), ErrRoleNotFound().message());
  ASSERT_TRUE(AddRole("r").ok());
  EXPECT_EQ(AddRole("r").message(), ErrRoleAlreadyExist().message());
  InternalRequest revoke;
  revoke.mutable_user_revoke_role()->set_name("u");
  revoke.mutable_user_revoke_role()->set_role("r");
  EXPECT_EQ(Do(revoke).message(), ErrRoleNotGranted().message());
  InternalRequest revoke_perm;
  revoke_perm.mutable_role_revoke_permission()->set_role("r");
  revoke_perm.mutable_role_revoke_permission()->set_key("k");
  EXPECT_EQ(Do(revoke_perm).message(), ErrPermissionNotGranted().message());
}

TEST_F(AuthStateTest, DeletingARoleTakesItFromEveryUser) {
  SetUpUsers();
  InternalRequest del;
  del.mutable_role_delete()->set_role("r");
  ASSERT_TRUE(Do(del).ok());
  EXPECT_FALSE(state_.HasRole("u", "r"));
}

TEST_F(AuthStateTest, AKeyPermissionCoversThatKeyAlone) {
  SetUpUsers();
  ASSERT_TRUE(GrantPerm("r", Permission::READ, "k", "").ok());
  EXPECT_TRUE(Read("k").ok());
  EXPECT_EQ(Read("k2").message(), ErrPermissionDenied().message());
  EXPECT_EQ(Read("k", "l").message(), ErrPermissionDenied().message());
  EXPECT_TRUE(Read("k", "k" + kNul).ok());
}

TEST_F(AuthStateTest, APrefixPermissionCoversRangesInsideItOnly) {
  SetUpUsers();
  ASSERT_TRUE(GrantPerm("r", Permission::READ, "a/", "a0").ok());
  EXPECT_TRUE(Read("a/x").ok());
  EXPECT_TRUE(Read("a/", "a0").ok());
  EXPECT_TRUE(Read("a/b", "a/c").ok());
  EXPECT_EQ(Read("a", "a0").message(), ErrPermissionDenied().message());
  EXPECT_EQ(Read("a/", "b").message(), ErrPermissionDenied().message());
  EXPECT_EQ(Read("a/", kNul).message(), ErrPermissionDenied().message());
}

TEST_F(AuthStateTest, AFromKeyPermissionCoversEveryKeyAfterIt) {
  SetUpUsers();
  ASSERT_TRUE(GrantPerm("r", Permission::WRITE, "m", kNul).ok());
  EXPECT_TRUE(Write("m").ok());
  EXPECT_TRUE(Write("zzz").ok());
  EXPECT_TRUE(Write("n", kNul).ok());
  EXPECT_TRUE(Write("n", "p").ok());
  EXPECT_EQ(Write("l").message(), ErrPermissionDenied().message());
  EXPECT_EQ(Write("", kNul).message(), ErrPermissionDenied().message());
}

TEST_F(AuthStateTest, ARangeMayBeCoveredByTheUnionOfGrants) {
  SetUpUsers();
  ASSERT_TRUE(AddRole("r2").ok());
  ASSERT_TRUE(Grant("u", "r2").ok());
  ASSERT_TRUE(GrantPerm("r", Permission::READ, "a", "c").ok());
  ASSERT_TRUE(GrantPerm("r2", Permission::READWRITE, "c", "e").ok());
  EXPECT_TRUE(Read("b", "d").ok());
  EXPECT_EQ(Read("b", "f").message(), ErrPermissionDenied().message());
  // Only the second role grants writes.
  EXPECT_EQ(Write("b").message(), ErrPermissionDenied().message());
  EXPECT_TRUE(Write("d").ok());
}

TEST_F(AuthStateTest, ReadDoesNotGrantWriteNorWriteRead) {
  SetUpUsers();
  ASSERT_TRUE(GrantPerm("r", Permission::READ, "r", "").ok());
  ASSERT_TRUE(GrantPerm("r", Permission::WRITE, "w", "").ok());
  EXPECT_TRUE(Read("r").ok());
  EXPECT_FALSE(Write("r").ok());
  EXPECT_TRUE(Write("w").ok());
  EXPECT_FALSE(Read("w").ok());
  // Granting the same key and range again changes its type in place.
  ASSERT_TRUE(GrantPerm("r", Permission::READWRITE, "w", "").ok());
  EXPECT_TRUE(Read("w").ok());
  EXPECT_EQ(state_.FindRole("r")->keypermission_size(), 2);
}

TEST_F(AuthStateTest, CredentialsAreCheckedBeforePermissions) {
  SetUpUsers();
  EXPECT_EQ(state_.CheckPermission(AuthInfo{}, "k", "", Permission::READ).message(),
            ErrUserEmpty().message());
  // Checked against an older auth revision: refused whatever the permissions say.
  EXPECT_EQ(
      state_.CheckPermission(AuthInfo{"root", state_.revision() - 1}, "k", "", Permission::READ)
          .message(),
      ErrAuthOldRevision().message());
  EXPECT_TRUE(
      state_.CheckPermission(AuthInfo{"root", state_.revision()}, "", kNul, Permission::WRITE)
          .ok());
  EXPECT_EQ(state_.CheckPermission(AuthInfo{"gone", state_.revision()}, "k", "", Permission::READ)
                .message(),
            ErrPermissionDenied().message());
  EXPECT_TRUE(state_.CheckAdmin(AuthInfo{"root", 1}).ok());
  EXPECT_EQ(state_.CheckAdmin(Me()).message(), ErrPermissionDenied().message());
  EXPECT_EQ(state_.CheckAdmin(AuthInfo{}).message(), ErrUserEmpty().message());
  EXPECT_EQ(state_.CheckAdmin(AuthInfo{"gone", 1}).message(), ErrUserNotFound().message());
}

TEST_F(AuthStateTest, EverythingIsAllowedWhileAuthIsDisabled) {
  ASSERT_TRUE(AddUser("u").ok());
  EXPECT_TRUE(state_.CheckPermission(AuthInfo{}, "k", "", Permission::WRITE).ok());
  EXPECT_TRUE(state_.CheckAdmin(AuthInfo{}).ok());
}

TEST_F(AuthStateTest, ANoPasswordUserCannotLogIn) {
  SetUpUsers();
  InternalRequest add;
  add.mutable_user_add()->set_name("cn");
  add.mutable_user_add()->mutable_options()->set_no_password(true);
  ASSERT_TRUE(Do(add).ok());
  InternalRequest login;
  login.mutable_authenticate()->set_name("cn");
  EXPECT_EQ(Do(login).message(), ErrAuthFailed().message());
  login.mutable_authenticate()->set_name("u");
  EXPECT_TRUE(Do(login).ok());
}

}  // namespace
}  // namespace quorum::server
