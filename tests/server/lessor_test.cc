// The lessor's rules on a fake clock: etcd's grant checks and minimum TTL, renewal and expiry on
// the leader only, a fresh TTL on promotion, keys following the store's events.
#include "server/lessor.h"

#include "gtest/gtest.h"
#include "proto/etcd_errors.h"

namespace quorum::server {
namespace {

class LessorTest : public ::testing::Test {
 protected:
  Lessor::Options Options() {
    Lessor::Options options;
    options.min_ttl_seconds = 2;
    options.now = [this] { return now_; };
    return options;
  }
  mvccpb::Event PutEvent(const std::string& key, int64_t lease) {
    mvccpb::Event event;
    event.set_type(mvccpb::Event::PUT);
    event.mutable_kv()->set_key(key);
    event.mutable_kv()->set_lease(lease);
    return event;
  }
  mvccpb::Event DeleteEvent(const std::string& key) {
    mvccpb::Event event;
    event.set_type(mvccpb::Event::DELETE);
    event.mutable_kv()->set_key(key);
    return event;
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);
};

TEST_F(LessorTest, GrantChecksFollowEtcd) {
  Lessor lessor(Options());
  EXPECT_EQ(lessor.CheckGrant(0, 10).status(), ErrLeaseNotFound());
  EXPECT_EQ(lessor.CheckGrant(1, kMaxLeaseTtl + 1).status(), ErrLeaseTtlTooLarge());
  EXPECT_EQ(*lessor.CheckGrant(1, 1), 2);  // raised to the minimum
  EXPECT_EQ(*lessor.CheckGrant(1, 0), 2);
  EXPECT_EQ(*lessor.CheckGrant(1, 30), 30);
  lessor.Granted(1, 30);
  EXPECT_EQ(lessor.CheckGrant(1, 30).status(), ErrLeaseExist());
}

TEST_F(LessorTest, OnlyThePrimaryRenewsAndExpires) {
  Lessor lessor(Options());
  lessor.Granted(7, 5);
  EXPECT_EQ(lessor.Renew(7).status().code(), absl::StatusCode::kFailedPrecondition);
  now_ += absl::Seconds(100);
  EXPECT_TRUE(lessor.Expired(10, absl::Seconds(3)).empty());  // followers never expire leases

  lessor.Promote(absl::Seconds(1));
  now_ += absl::Seconds(5);
  EXPECT_TRUE(lessor.Expired(10, absl::Seconds(3)).empty());  // 5 s + 1 s extension
  EXPECT_EQ(*lessor.Renew(7), 5);
  now_ += absl::Seconds(4);
  EXPECT_EQ(lessor.Lookup(7, false)->ttl, 1);
  now_ += absl::Seconds(1);
  EXPECT_EQ(lessor.Expired(10, absl::Seconds(3)), std::vector<int64_t>{7});
  // Offered once per retry period while its revoke is in flight; renewing it is refused.
  EXPECT_TRUE(lessor.Expired(10, absl::Seconds(3)).empty());
  EXPECT_EQ(lessor.Renew(7).status().code(), absl::StatusCode::kUnavailable);
  now_ += absl::Seconds(3);
  EXPECT_EQ(lessor.Expired(10, absl::Seconds(3)), std::vector<int64_t>{7});
  lessor.Revoked(7);
  EXPECT_FALSE(lessor.Exists(7));
  EXPECT_EQ(lessor.Renew(7).status(), ErrLeaseNotFound());
}

TEST_F(LessorTest, PromotionGivesEveryLeaseItsTtlAgain) {
  Lessor lessor(Options());
  lessor.Promote(absl::ZeroDuration());
  lessor.Granted(1, 10);
  now_ += absl::Seconds(9);
  lessor.Demote();
  now_ += absl::Seconds(30);  // the election takes long; nothing expires meanwhile
  lessor.Promote(absl::Seconds(1));
  EXPECT_EQ(lessor.Lookup(1, false)->ttl, 11);
  now_ += absl::Seconds(10);
  EXPECT_TRUE(lessor.Expired(10, absl::Seconds(3)).empty());
  now_ += absl::Seconds(1);
  EXPECT_EQ(lessor.Expired(10, absl::Seconds(3)), std::vector<int64_t>{1});
}

TEST_F(LessorTest, KeysFollowPutsAndDeletes) {
  Lessor lessor(Options());
  lessor.Granted(1, 10);
  lessor.Granted(2, 10);
  lessor.OnEvents({PutEvent("a", 1), PutEvent("b", 1), PutEvent("c", 2)});
  EXPECT_EQ(lessor.Keys(1), (std::vector<std::string>{"a", "b"}));
  lessor.OnEvents({PutEvent("a", 2), DeleteEvent("b"), PutEvent("c", 0)});
  EXPECT_TRUE(lessor.Keys(1).empty());
  EXPECT_EQ(lessor.Keys(2), std::vector<std::string>{"a"});
  EXPECT_EQ(lessor.Lookup(2, true)->keys, std::vector<std::string>{"a"});
  EXPECT_EQ(lessor.Lookup(3, true).status(), ErrLeaseNotFound());
  EXPECT_EQ(lessor.List(), (std::vector<int64_t>{1, 2}));
}

}  // namespace
}  // namespace quorum::server
