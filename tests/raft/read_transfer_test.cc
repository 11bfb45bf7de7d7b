// ReadIndex (Raft thesis §6.4) and leadership transfer (thesis §3.10).
#include <gtest/gtest.h>

#include "tests/raft/cluster.h"

namespace quorum::raft::testing {
namespace {

int CountHeartbeats(const std::vector<raftpb::Message>& trace) {
  int n = 0;
  for (const raftpb::Message& m : trace) n += m.type() == raftpb::MSG_HEARTBEAT;
  return n;
}

TEST(ReadIndexTest, LeaderAnswersAfterOneHeartbeatRoundWithItsCommitIndex) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Stabilize();
  c.ClearTrace();
  ASSERT_TRUE(c.node(1).ReadIndex("r1").ok());
  c.Stabilize();
  ASSERT_EQ(c.read_states(1).size(), 1u);
  EXPECT_EQ(c.read_states(1)[0].request_ctx, "r1");
  EXPECT_EQ(c.read_states(1)[0].index, c.raft(1).log().committed());
  EXPECT_EQ(CountHeartbeats(c.trace()), 2);  // one round to two followers
}

TEST(ReadIndexTest, ReadsArrivingTogetherShareOneHeartbeatRound) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.ClearTrace();
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(c.node(1).ReadIndex(std::string(1, 'r') += std::to_string(i)).ok());
  c.Stabilize();
  EXPECT_EQ(c.read_states(1).size(), 10u);
  EXPECT_EQ(CountHeartbeats(c.trace()), 2);
}

TEST(ReadIndexTest, LeaderWithoutQuorumDoesNotAnswer) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(2);
  c.Isolate(3);
  ASSERT_TRUE(c.node(1).ReadIndex("r").ok());
  c.Stabilize();
  EXPECT_TRUE(c.read_states(1).empty());
}

TEST(ReadIndexTest, RoundWhoseHeartbeatsWereLostIsAnsweredByTheNextHeartbeat) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(2);
  c.Isolate(3);
  ASSERT_TRUE(c.node(1).ReadIndex("r").ok());
  c.Stabilize();
  ASSERT_TRUE(c.read_states(1).empty());
  c.Heal();
  // No other read comes to open a new round: the periodic heartbeat carries the pending one.
  c.Tick(1);
  c.Stabilize();
  ASSERT_EQ(c.read_states(1).size(), 1u);
  EXPECT_EQ(c.read_states(1)[0].request_ctx, "r");
}

TEST(ReadIndexTest, NewLeaderDelaysReadsUntilItCommitsAnEntryOfItsTerm) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  // Drop appends so the new leader's empty entry cannot commit yet.
  c.SetDropFilter([](const raftpb::Message& m) { return m.type() == raftpb::MSG_APPEND; });
  c.raft(1).BecomeFollower(c.raft(1).term(), 0);
  c.raft(2).BecomeFollower(c.raft(2).term(), 0);
  c.raft(3).BecomeFollower(c.raft(3).term(), 0);
  c.Elect(1);
  ASSERT_EQ(c.raft(1).role(), Role::kLeader);
  ASSERT_TRUE(c.node(1).ReadIndex("r").ok());
  c.Stabilize();
  EXPECT_TRUE(c.read_states(1).empty());
  c.Heal();
  c.TickAll();
  c.Stabilize();
  ASSERT_EQ(c.read_states(1).size(), 1u);
  EXPECT_EQ(c.raft(1).log().TermOrZero(c.read_states(1)[0].index), c.raft(1).term());
}

TEST(ReadIndexTest, FollowerReadGoesThroughLeader) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Stabilize();
  c.ClearTrace();
  ASSERT_TRUE(c.node(3).ReadIndex("f").ok());
  c.Stabilize();
  ASSERT_EQ(c.read_states(3).size(), 1u);
  EXPECT_EQ(c.read_states(3)[0].request_ctx, "f");
  EXPECT_EQ(c.read_states(3)[0].index, c.raft(1).log().committed());
  bool forwarded = false;
  for (const raftpb::Message& m : c.trace()) {
    forwarded |= m.type() == raftpb::MSG_READ_INDEX && m.from() == 3 && m.to() == 1;
  }
  EXPECT_TRUE(forwarded);
}

TEST(ReadIndexTest, FollowerReadWithoutLeaderFailsAtOnce) {
  Cluster c({1, 2, 3});
  EXPECT_TRUE(absl::IsUnavailable(c.node(2).ReadIndex("r")));
}

TEST(TransferTest, LeaderHandsOverWithTimeoutNow) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  const uint64_t term = c.raft(1).term();
  c.node(1).TransferLeadership(3);
  c.Stabilize();
  EXPECT_EQ(c.raft(3).role(), Role::kLeader);
  EXPECT_EQ(c.raft(1).lead(), 3u);
  EXPECT_EQ(c.raft(3).term(), term + 1);
}

TEST(TransferTest, LaggingTransfereeIsCaughtUpFirst) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Stabilize();
  c.Heal();
  c.node(1).TransferLeadership(3);
  c.Stabilize();
  ASSERT_EQ(c.raft(3).role(), Role::kLeader);
  EXPECT_EQ(c.applied(3).size(), 5u);
}

TEST(TransferTest, ProposalsAreRefusedDuringTransferAndTransferTimesOut) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  c.node(1).TransferLeadership(3);
  c.Stabilize();
  EXPECT_EQ(c.raft(1).lead_transferee(), 3u);
  EXPECT_TRUE(absl::IsUnavailable(c.node(1).Propose("x")));
  c.Heal();
  c.Isolate(3);
  for (int i = 0; i < 10; ++i) {
    c.Tick(1);
    c.Tick(2);
    c.Stabilize();
  }
  EXPECT_EQ(c.raft(1).role(), Role::kLeader);
  EXPECT_EQ(c.raft(1).lead_transferee(), 0u);
  EXPECT_TRUE(c.node(1).Propose("x").ok());
}

TEST(TransferTest, FollowerForwardsTransferRequestToLeader) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.node(2).TransferLeadership(2);
  c.Stabilize();
  EXPECT_EQ(c.raft(2).role(), Role::kLeader);
}

}  // namespace
}  // namespace quorum::raft::testing
