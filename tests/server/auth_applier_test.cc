// The applier with auth over a real store: auth changes persist with the entry and survive a
// reopen, need root once auth is on, and writes are checked again at apply with the user and
// auth revision their proposer stamped; logins record tokens on every member; bcrypt hashing.
#include <memory>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "proto/etcd_errors.h"
#include "server/applier.h"
#include "server/auth_store.h"
#include "storage/store_fixture.h"

namespace quorum::server {
namespace {

constexpr uint64_t kSelf = 0x11;
constexpr uint64_t kOther = 0x22;

class AuthApplierTest : public storage::testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    Attach();
  }
  void TearDown() override {
    applier_.reset();
    membership_.reset();
    StoreTest::TearDown();
  }
  void Attach() {
    auto membership = Membership::Load(backend_.get());
    ASSERT_TRUE(membership.ok()) << membership.status();
    membership_ = *std::move(membership);
    ASSERT_TRUE(alarms_.Load(backend_.get()).ok());
    lessor_ = std::make_unique<Lessor>(Lessor::Options{.min_ttl_seconds = 2});
    ASSERT_TRUE(lessor_->Load(backend_.get(), store_->LeasedKeys()).ok());
    store_->SetLeaseChecker([this](int64_t id) { return lessor_->Exists(id); });
    store_->SetEventSink(
        [this](int64_t, const std::vector<mvccpb::Event>& events) { lessor_->OnEvents(events); });
    auth_ = std::make_unique<AuthStore>(AuthStore::Options{.bcrypt_cost = 4});
    ASSERT_TRUE(auth_->Load(backend_.get()).ok());
    raftpb::ConfState voters;
    voters.add_voters(kSelf);
    applier_ = std::make_unique<Applier>(kSelf,
                                         Applier::State{.store = store_.get(),
                                                        .alarms = &alarms_,
                                                        .lessor = lessor_.get(),
                                                        .membership = membership_.get(),
                                                        .auth = auth_.get()},
                                         voters);
  }
  void ReopenAll() {
    applier_.reset();
    membership_.reset();
    Reopen();
    Attach();
  }

  // Applies `request` as proposed by this member for `user` at the current auth revision (or
  // `revision` when given) and returns its answer.
  ApplyResult Run(internalpb::InternalRequest request, const std::string& user = "",
                  std::optional<uint64_t> revision = std::nullopt) {
    request.set_proposer(kSelf);
    request.set_id(++log_index_);
    request.set_auth_user(user);
    request.set_auth_revision(revision.value_or(user.empty() ? 0 : auth_->Current()->revision()));
    raftpb::Entry entry;
    entry.set_index(log_index_);
    entry.set_term(2);
    entry.set_data(request.SerializeAsString());
    ApplyEffects effects;
    applier_->Apply(entry, std::nullopt, &effects);
    EXPECT_EQ(store_->Applied().index, log_index_);
    if (effects.completions.size() != 1) return ApplyResult{absl::InternalError("no answer")};
    return std::move(effects.completions[0].second);
  }
  absl::Status Status(internalpb::InternalRequest request, const std::string& user = "",
                      std::optional<uint64_t> revision = std::nullopt) {
    return Run(std::move(request), user, revision).status;
  }

  static internalpb::InternalRequest UserAdd(const std::string& name) {
    internalpb::InternalRequest r;
    r.mutable_user_add()->set_name(name);
    r.mutable_user_add()->set_hashed_password("h");
    return r;
  }
  static internalpb::InternalRequest GrantRole(const std::string& user, const std::string& role) {
    internalpb::InternalRequest r;
    r.mutable_user_grant_role()->set_user(user);
    r.mutable_user_grant_role()->set_role(role);
    return r;
  }
  static internalpb::InternalRequest RoleAdd(const std::string& name) {
    internalpb::InternalRequest r;
    r.mutable_role_add()->set_name(name);
    return r;
  }
  static internalpb::InternalRequest WriteOn(const std::string& role, const std::string& key,
                                             bool revoke = false) {
    internalpb::InternalRequest r;
    if (revoke) {
      r.mutable_role_revoke_permission()->set_role(role);
      r.mutable_role_revoke_permission()->set_key(key);
      return r;
    }
    r.mutable_role_grant_permission()->set_name(role);
    r.mutable_role_grant_permission()->mutable_perm()->set_key(key);
    r.mutable_role_grant_permission()->mutable_perm()->set_permtype(authpb::Permission::WRITE);
    return r;
  }
  static internalpb::InternalRequest Put(const std::string& key, int64_t lease = 0) {
    internalpb::InternalRequest r;
    *r.mutable_put() = storage::testing::PutReq(key, "v", lease);
    return r;
  }
  // root (with the root role) and "u" holding role "w" with write on "k"; auth enabled.
  void SetUpUsers() {
    ASSERT_TRUE(Status(UserAdd("root")).ok());
    ASSERT_TRUE(Status(GrantRole("root", "root")).ok());
    ASSERT_TRUE(Status(UserAdd("u")).ok());
    ASSERT_TRUE(Status(RoleAdd("w")).ok());
    ASSERT_TRUE(Status(GrantRole("u", "w")).ok());
    ASSERT_TRUE(Status(WriteOn("w", "k")).ok());
    internalpb::InternalRequest enable;
    enable.mutable_auth_enable();
    ASSERT_TRUE(Status(enable).ok());
  }

  uint64_t log_index_ = 10;
  AlarmSet alarms_;
  std::unique_ptr<Lessor> lessor_;
  std::unique_ptr<Membership> membership_;
  std::unique_ptr<AuthStore> auth_;
  std::unique_ptr<Applier> applier_;
};

TEST_F(AuthApplierTest, AuthStateIsWrittenWithTheEntryAndSurvivesAReopen) {
  SetUpUsers();
  const uint64_t revision = auth_->Current()->revision();
  ReopenAll();
  std::shared_ptr<const AuthState> state = auth_->Current();
  EXPECT_TRUE(state->enabled());
  EXPECT_EQ(state->revision(), revision);
  EXPECT_TRUE(state->HasRole("root", "root"));
  EXPECT_TRUE(state->HasRole("u", "w"));
  ASSERT_NE(state->FindRole("w"), nullptr);
  EXPECT_EQ(state->FindRole("w")->keypermission_size(), 1);
  EXPECT_EQ(state->FindUser("u")->password(), "h");
}

TEST_F(AuthApplierTest, AuthChangesNeedRootOnceEnabled) {
  SetUpUsers();
  EXPECT_EQ(Status(RoleAdd("x"), "u").message(), ErrPermissionDenied().message());
  EXPECT_EQ(Status(RoleAdd("x")).message(), ErrUserEmpty().message());
  EXPECT_TRUE(Status(RoleAdd("x"), "root").ok());
}

TEST_F(AuthApplierTest, WritesAreCheckedAgainAtApplyWithTheProposersRevision) {
  SetUpUsers();
  EXPECT_TRUE(Status(Put("k"), "u").ok());
  EXPECT_EQ(Status(Put("other"), "u").message(), ErrPermissionDenied().message());
  EXPECT_EQ(Status(Put("k")).message(), ErrUserEmpty().message());
  // Proposed before the permission was revoked: applied after it, with the older revision.
  const uint64_t before = auth_->Current()->revision();
  ASSERT_TRUE(Status(WriteOn("w", "k", /*revoke=*/true), "root").ok());
  EXPECT_EQ(Status(Put("k"), "u", before).message(), ErrAuthOldRevision().message());
  EXPECT_EQ(Status(Put("k"), "u").message(), ErrPermissionDenied().message());
  EXPECT_EQ(store_->CurrentRevision(), 2);
}

TEST_F(AuthApplierTest, TxnChecksEveryCompareAndEveryOpOfNestedTxns) {
  SetUpUsers();
  internalpb::InternalRequest txn;
  *txn.mutable_txn()->add_success()->mutable_request_put() = storage::testing::PutReq("k", "v");
  EXPECT_TRUE(Status(txn, "u").ok());
  auto* nested = txn.mutable_txn()->add_failure()->mutable_request_txn();
  *nested->add_success()->mutable_request_put() = storage::testing::PutReq("secret", "v");
  EXPECT_EQ(Status(txn, "u").message(), ErrPermissionDenied().message());
  internalpb::InternalRequest compare;
  compare.mutable_txn()->add_compare()->set_key("k");
  // Write on "k" does not grant reading it.
  EXPECT_EQ(Status(compare, "u").message(), ErrPermissionDenied().message());
}

TEST_F(AuthApplierTest, RevokingALeaseNeedsWriteOnEveryKeyAttached) {
  SetUpUsers();
  internalpb::InternalRequest grant;
  grant.mutable_lease_grant()->set_id(5);
  grant.mutable_lease_grant()->set_ttl(100);
  ASSERT_TRUE(Status(grant, "u").ok());
  ASSERT_TRUE(Status(Put("k", 5), "u").ok());
  ASSERT_TRUE(Status(Put("other", 5), "root").ok());
  // u may not attach another key to a lease holding a key it cannot write.
  EXPECT_EQ(Status(Put("k", 5), "u").message(), ErrPermissionDenied().message());
  internalpb::InternalRequest revoke;
  revoke.mutable_lease_revoke()->set_id(5);
  EXPECT_EQ(Status(revoke, "u").message(), ErrPermissionDenied().message());
  EXPECT_TRUE(Status(revoke, "root").ok());
}

TEST_F(AuthApplierTest, ALoginRecordsItsTokenAndLosingTheUserDropsIt) {
  SetUpUsers();
  internalpb::InternalRequest login;
  login.mutable_authenticate()->set_name("u");
  login.mutable_authenticate()->set_simple_token("abcdef");
  ApplyResult result = Run(login);
  ASSERT_TRUE(result.status.ok()) << result.status;
  auto* answer = CheckedResponse<etcdserverpb::AuthenticateResponse>(result.response.get());
  EXPECT_EQ(answer->token(), "abcdef." + std::to_string(log_index_));
  absl::StatusOr<AuthInfo> info = auth_->InfoFromToken(answer->token());
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->user, "u");
  EXPECT_EQ(info->revision, auth_->Current()->revision());
  EXPECT_EQ(auth_->InfoFromToken("abcdef.1").status().message(), ErrInvalidAuthToken().message());
  internalpb::InternalRequest del;
  del.mutable_user_delete()->set_name("u");
  ASSERT_TRUE(Status(del, "root").ok());
  EXPECT_EQ(auth_->InfoFromToken(answer->token()).status().message(),
            ErrInvalidAuthToken().message());
}

TEST(PasswordTest, BcryptHashesMatchOnlyTheirPassword) {
  absl::StatusOr<std::string> hash = HashPassword("secret", 4);
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(hash->rfind("$2a$04$", 0), 0u) << *hash;
  EXPECT_TRUE(PasswordMatches("secret", *hash));
  EXPECT_FALSE(PasswordMatches("Secret", *hash));
  EXPECT_FALSE(PasswordMatches("secret", ""));
  EXPECT_FALSE(PasswordMatches("secret", "not a hash"));
}

}  // namespace
}  // namespace quorum::server
