// Three members in one process over a fake peer network, their Raft loops stepped by the test
// (no loop threads, no sockets, no sleeps): a write on a follower is forwarded, committed and
// answered, and every member applies it; a write before any leader is refused with etcd's
// error; a linearizable read on a follower sees what was committed before it; a membership
// change reaches every member's list.
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "proto/etcd_errors.h"
#include "server/member_test_cluster.h"

namespace quorum::server {
namespace {

TEST_F(MemberTest, AWriteOnAFollowerIsForwardedCommittedAndAppliedEverywhere) {
  const int leader = ElectLeader();
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % kMembers;
  ApplyResult result = ProposeAndWait(follower, Put("k", "v"));
  ASSERT_TRUE(result.status.ok()) << result.status;
  auto* put = CheckedResponse<etcdserverpb::PutResponse>(result.response.get());
  EXPECT_GE(put->header().revision(), 2);
  // Every member applies it; the commit reaches the others with the next heartbeats.
  EXPECT_TRUE(Eventually([&] {
    for (int i = 0; i < kMembers; ++i) {
      if (ValueCount(i, "k") != 1) return false;
    }
    return true;
  }));
  for (int i = 0; i < kMembers; ++i) EXPECT_EQ(ValueCount(i, "k"), 1) << "member " << i;
}

TEST_F(MemberTest, AWriteBeforeAnyLeaderIsRefusedWithNoLeader) {
  auto outcome = NewOutcome<absl::Status>();
  members_[0]->Propose(Put("k", "v"), absl::Now() + absl::Seconds(60),
                       [outcome](ApplyResult r) { outcome->Set(r.status); });
  members_[0]->StepRaft(0);  // Raft refuses it at once: nobody to forward it to
  ASSERT_TRUE(outcome->Wait(absl::Seconds(10)));
  EXPECT_EQ(outcome->Take().message(), ErrNoLeader().message());
}

TEST_F(MemberTest, AFollowersLinearizableReadSeesWritesCommittedBeforeIt) {
  const int leader = ElectLeader();
  ASSERT_GE(leader, 0);
  ASSERT_TRUE(ProposeAndWait(leader, Put("k", "v1")).status.ok());
  const int follower = (leader + 2) % kMembers;
  auto outcome = NewOutcome<absl::Status>();
  members_[follower]->ReadBarrier(absl::Now() + absl::Seconds(60),
                                  [outcome](absl::Status s) { outcome->Set(std::move(s)); });
  ASSERT_TRUE(RunUntil(*outcome));
  absl::Status status = outcome->Take();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(ValueCount(follower, "k"), 1);
}

TEST_F(MemberTest, AnAddedLearnerIsListedByEveryMember) {
  const int leader = ElectLeader();
  ASSERT_GE(leader, 0);
  etcdserverpb::Member learner;
  learner.set_id(0xabcdef);
  learner.add_peerurls("http://127.0.0.1:30099");
  learner.set_islearner(true);
  auto outcome = NewOutcome<absl::Status>();
  members_[(leader + 1) % kMembers]->AddMember(
      learner, absl::Now() + absl::Seconds(60),
      [outcome](ApplyResult r) { outcome->Set(r.status); });
  ASSERT_TRUE(RunUntil(*outcome));
  absl::Status status = outcome->Take();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(Eventually([&] {
    for (auto& m : members_) {
      if (m->Members().size() != kMembers + 1) return false;
    }
    return true;
  }));
  for (auto& m : members_) {
    std::vector<etcdserverpb::Member> list = m->Members();
    ASSERT_EQ(list.size(), static_cast<size_t>(kMembers + 1));
    bool found = false;
    for (const auto& x : list) found = found || (x.id() == 0xabcdef && x.islearner());
    EXPECT_TRUE(found);
  }
  for (const auto& removed : removed_) EXPECT_FALSE(removed.load());
}

}  // namespace
}  // namespace quorum::server
