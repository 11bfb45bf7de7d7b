// Auth across a 3-member cluster of real processes: users, roles and the auth switch set through
// one member hold on every member, survive kill -9 of all of them, and reach a follower that
// was down while the log was compacted past it (catch-up by snapshot). Simple tokens are learned
// by every member from the login entry; JWT tokens are checked by each member with the shared
// key, so they outlive a restart of the whole cluster.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/support/cluster.h"
#include "v3lockpb/v3lock.grpc.pb.h"

namespace quorum {
namespace {

using testing::TempDir;
using testing::TestCluster;
using testing::WaitUntil;

constexpr auto kRpcTimeout = std::chrono::seconds(5);

class AuthCluster {
 public:
  explicit AuthCluster(TestCluster& cluster) : cluster_(cluster) {}

  std::shared_ptr<grpc::Channel> Channel(int i) {
    return grpc::CreateChannel(cluster_.spec(i).Endpoint(), grpc::InsecureChannelCredentials());
  }
  void Prepare(grpc::ClientContext* context, const std::string& token) {
    context->set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
    if (!token.empty()) context->AddMetadata("token", token);
  }

  // Logs in at member i; the token, or "" with the error's message in `error`.
  std::string Login(int i, const std::string& user, const std::string& password,
                    std::string* error = nullptr) {
    auto stub = etcdserverpb::Auth::NewStub(Channel(i));
    grpc::ClientContext context;
    Prepare(&context, "");
    etcdserverpb::AuthenticateRequest request;
    request.set_name(user);
    request.set_password(password);
    etcdserverpb::AuthenticateResponse response;
    grpc::Status s = stub->Authenticate(&context, request, &response);
    if (error != nullptr) *error = s.error_message();
    return s.ok() ? response.token() : "";
  }

  grpc::Status Put(int i, const std::string& token, const std::string& key) {
    auto stub = etcdserverpb::KV::NewStub(Channel(i));
    grpc::ClientContext context;
    Prepare(&context, token);
    etcdserverpb::PutRequest request;
    request.set_key(key);
    request.set_value("v");
    etcdserverpb::PutResponse response;
    return stub->Put(&context, request, &response);
  }

  grpc::Status Get(int i, const std::string& token, const std::string& key, bool serializable) {
    auto stub = etcdserverpb::KV::NewStub(Channel(i));
    grpc::ClientContext context;
    Prepare(&context, token);
    etcdserverpb::RangeRequest request;
    request.set_key(key);
    request.set_serializable(serializable);
    etcdserverpb::RangeResponse response;
    return stub->Range(&context, request, &response);
  }

  // Takes lock `name` for the caller of `token` with a lease of its own making (the server's
  // session lease), then releases it.
  grpc::Status LockAndUnlock(int i, const std::string& token, const std::string& name) {
    auto stub = v3lockpb::Lock::NewStub(Channel(i));
    grpc::ClientContext context;
    Prepare(&context, token);
    v3lockpb::LockRequest request;
    request.set_name(name);
    v3lockpb::LockResponse response;
    grpc::Status s = stub->Lock(&context, request, &response);
    if (!s.ok()) return s;
    grpc::ClientContext unlock_context;
    Prepare(&unlock_context, token);
    v3lockpb::UnlockRequest unlock;
    unlock.set_key(response.key());
    v3lockpb::UnlockResponse unlocked;
    return stub->Unlock(&unlock_context, unlock, &unlocked);
  }

  // Sets up root, user "u" with readwrite on the prefix "u/", and enables auth, through member i.
  void SetUp(int i) {
    auto stub = etcdserverpb::Auth::NewStub(Channel(i));
    auto call = [&](auto method, const auto& request, auto* response) {
      grpc::ClientContext context;
      Prepare(&context, "");
      grpc::Status s = (stub.get()->*method)(&context, request, response);
      ASSERT_TRUE(s.ok()) << s.error_message();
    };
    etcdserverpb::AuthUserAddRequest root;
    root.set_name("root");
    root.set_password("rootpw");
    etcdserverpb::AuthUserAddResponse added;
    call(&etcdserverpb::Auth::Stub::UserAdd, root, &added);
    etcdserverpb::AuthUserAddRequest user;
    user.set_name("u");
    user.set_password("upw");
    call(&etcdserverpb::Auth::Stub::UserAdd, user, &added);
    etcdserverpb::AuthRoleAddRequest role;
    role.set_name("prefix-rw");
    etcdserverpb::AuthRoleAddResponse role_added;
    call(&etcdserverpb::Auth::Stub::RoleAdd, role, &role_added);
    etcdserverpb::AuthRoleGrantPermissionRequest perm;
    perm.set_name("prefix-rw");
    perm.mutable_perm()->set_key("u/");
    perm.mutable_perm()->set_range_end("u0");
    perm.mutable_perm()->set_permtype(authpb::Permission::READWRITE);
    etcdserverpb::AuthRoleGrantPermissionResponse granted;
    call(&etcdserverpb::Auth::Stub::RoleGrantPermission, perm, &granted);
    etcdserverpb::AuthUserGrantRoleResponse role_granted;
    etcdserverpb::AuthUserGrantRoleRequest grant;
    grant.set_user("root");
    grant.set_role("root");
    call(&etcdserverpb::Auth::Stub::UserGrantRole, grant, &role_granted);
    grant.set_user("u");
    grant.set_role("prefix-rw");
    call(&etcdserverpb::Auth::Stub::UserGrantRole, grant, &role_granted);
    etcdserverpb::AuthEnableResponse enabled;
    call(&etcdserverpb::Auth::Stub::AuthEnable, etcdserverpb::AuthEnableRequest(), &enabled);
  }

  // Member i enforces the setup: u may write under "u/" only, anonymous reads are refused.
  void ExpectEnforced(int i) {
    std::string token;
    // A restarted member may need a moment to have a leader for the login entry.
    ASSERT_TRUE(WaitUntil([&] { return !(token = Login(i, "u", "upw")).empty(); },
                          std::chrono::seconds(20)))
        << "member " << i << " refuses u's login";
    EXPECT_TRUE(Put(i, token, "u/key").ok());
    grpc::Status denied = Put(i, token, "other");
    EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED) << denied.error_message();
    grpc::Status anonymous = Get(i, "", "u/key", /*serializable=*/true);
    EXPECT_EQ(anonymous.error_message(), "etcdserver: user name is empty");
    std::string error;
    EXPECT_EQ(Login(i, "u", "wrong", &error), "");
    EXPECT_EQ(error, "etcdserver: authentication failed, invalid user ID or password");
  }

 private:
  TestCluster& cluster_;
};

TEST(AuthClusterTest, AuthStateHoldsOnEveryMemberAndSurvivesKillNineOfAll) {
  TestCluster cluster(3);
  cluster.StartAll();
  ASSERT_TRUE(cluster.WaitForLeader().has_value());
  AuthCluster auth(cluster);
  ASSERT_NO_FATAL_FAILURE(auth.SetUp(0));
  // A token from one member's login works on every member (each applied the login entry).
  std::string token = auth.Login(1, "u", "upw");
  ASSERT_FALSE(token.empty());
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(auth.Put(i, token, "u/" + std::to_string(i)).ok()) << "member " << i;
  }
  // The Lock service runs as its caller: u may lock under its prefix only.
  grpc::Status locked = auth.LockAndUnlock(2, token, "u/lock");
  EXPECT_TRUE(locked.ok()) << locked.error_message();
  grpc::Status refused = auth.LockAndUnlock(2, token, "elsewhere");
  EXPECT_EQ(refused.error_message(), "etcdserver: permission denied");
  for (int i = 0; i < 3; ++i) cluster.Kill(i);
  cluster.StartAll();
  ASSERT_TRUE(cluster.WaitForLeader().has_value());
  // Tokens live in memory only, as etcd's: gone after the restart.
  grpc::Status stale = auth.Put(0, token, "u/after");
  EXPECT_EQ(stale.error_message(), "etcdserver: invalid auth token");
  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(auth.ExpectEnforced(i));
}

TEST(AuthClusterTest, AFollowerCatchingUpBySnapshotLearnsTheAuthState) {
  TestCluster cluster(3,
                      {"--snapshot-count", "100", "--experimental-snapshot-catchup-entries", "10"});
  cluster.StartAll();
  auto leader = cluster.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const int stopped = (*leader + 1) % 3;
  cluster.Kill(stopped);
  AuthCluster auth(cluster);
  ASSERT_NO_FATAL_FAILURE(auth.SetUp(*leader));
  std::string root = auth.Login(*leader, "root", "rootpw");
  ASSERT_FALSE(root.empty());
  // Enough writes for the log to be compacted past the stopped member.
  for (int n = 0; n < 250; ++n) {
    grpc::Status s = auth.Put(*leader, root, "bulk/" + std::to_string(n));
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  cluster.Start(stopped);
  ASSERT_TRUE(WaitUntil(
      [&] { return cluster.Log(stopped).find("installed snapshot") != std::string::npos; },
      std::chrono::seconds(30)))
      << "the member caught up without a snapshot; the test did not exercise it";
  ASSERT_NO_FATAL_FAILURE(auth.ExpectEnforced(stopped));
}

TEST(AuthClusterTest, AJwtTokenFromOneMemberWorksOnEveryMemberAndOutlivesARestartOfAll) {
  TempDir keys;
  const std::string key = keys.path() + "/jwt.key";
  const std::string pub = keys.path() + "/jwt.pub";
  ASSERT_EQ(std::system(("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " +
                         key + " 2>/dev/null && openssl pkey -in " + key + " -pubout -out " + pub +
                         " 2>/dev/null")
                            .c_str()),
            0);
  TestCluster cluster(3, {"--auth-token", "jwt,pub-key=" + pub + ",priv-key=" + key +
                                              ",sign-method=RS256,ttl=10m"});
  cluster.StartAll();
  ASSERT_TRUE(cluster.WaitForLeader().has_value());
  AuthCluster auth(cluster);
  ASSERT_NO_FATAL_FAILURE(auth.SetUp(0));
  std::string token = auth.Login(2, "u", "upw");
  ASSERT_FALSE(token.empty());
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(auth.Put(i, token, "u/" + std::to_string(i)).ok()) << "member " << i;
    EXPECT_EQ(auth.Put(i, token, "other").error_message(), "etcdserver: permission denied");
  }
  for (int i = 0; i < 3; ++i) cluster.Kill(i);
  cluster.StartAll();
  ASSERT_TRUE(cluster.WaitForLeader().has_value());
  // Nothing about the token was kept in memory: the restarted members check it from the key.
  for (int i = 0; i < 3; ++i) {
    grpc::Status after = auth.Put(i, token, "u/after" + std::to_string(i));
    EXPECT_TRUE(after.ok()) << "member " << i << ": " << after.error_message();
  }
  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(auth.ExpectEnforced(i));
}

}  // namespace
}  // namespace quorum
