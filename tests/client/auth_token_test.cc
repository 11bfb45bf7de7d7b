// Unit tests of the login state shared by client::Client and quorum-elect: which refusals ask
// for a new login, and etcdctl's --user/--password rules.
#include "client/auth_token.h"

#include <gtest/gtest.h>

#include "proto/etcd_errors.h"

namespace quorum::client {
namespace {

TEST(AuthToken, StaleOrMissingTokenAsksForANewLogin) {
  AuthToken token("elector", "pw", std::chrono::seconds(1));
  EXPECT_TRUE(token.NeedsNewLogin(ErrInvalidAuthToken()));
  EXPECT_TRUE(token.NeedsNewLogin(ErrUserEmpty()));
  // These speak for the user itself: logging in again would change nothing.
  EXPECT_FALSE(token.NeedsNewLogin(ErrPermissionDenied()));
  EXPECT_FALSE(token.NeedsNewLogin(ErrAuthFailed()));
  EXPECT_FALSE(token.NeedsNewLogin(ErrNoLeader()));
  EXPECT_FALSE(token.NeedsNewLogin(absl::OkStatus()));
}

TEST(AuthToken, WithoutUserNothingAsksForALogin) {
  AuthToken token("", "", std::chrono::seconds(1));
  EXPECT_FALSE(token.has_user());
  EXPECT_FALSE(token.NeedsNewLogin(ErrInvalidAuthToken()));
  EXPECT_FALSE(token.NeedsNewLogin(ErrUserEmpty()));
}

TEST(ParseUserFlags, FollowsEtcdctl) {
  UserFlags none = ParseUserFlags("", "ignored");
  EXPECT_EQ(none.user, "");
  EXPECT_FALSE(none.password.has_value());

  UserFlags joined = ParseUserFlags("root:a:b", "");
  EXPECT_EQ(joined.user, "root");
  EXPECT_EQ(joined.password, "a:b");

  UserFlags separate = ParseUserFlags("team:root", "pw");
  EXPECT_EQ(separate.user, "team:root");
  EXPECT_EQ(separate.password, "pw");

  UserFlags name_only = ParseUserFlags("root", "");
  EXPECT_EQ(name_only.user, "root");
  EXPECT_FALSE(name_only.password.has_value());

  UserFlags empty_password = ParseUserFlags("root:", "");
  EXPECT_EQ(empty_password.password, "");
}

}  // namespace
}  // namespace quorum::client
