// Leader election rules: Raft §5.2 voting, §5.4.1 up-to-date check, PreVote
// and CheckQuorum (Ongaro thesis §9.6, §6.2).
#include <gtest/gtest.h>

#include "tests/raft/cluster.h"

namespace quorum::raft::testing {
namespace {

raftpb::Message VoteRequest(uint64_t from, uint64_t to, uint64_t term, uint64_t index,
                            uint64_t log_term, bool pre = false) {
  raftpb::Message m;
  m.set_type(pre ? raftpb::MSG_PRE_VOTE : raftpb::MSG_VOTE);
  m.set_from(from);
  m.set_to(to);
  m.set_term(term);
  m.set_index(index);
  m.set_log_term(log_term);
  return m;
}

void NoPreVote(Config& c) {
  c.pre_vote = false;
  c.check_quorum = false;
}

TEST(ElectionTest, ElectionTimeoutElectsALeader) {
  Cluster c({1, 2, 3});
  for (int i = 0; i < 40 && c.raft(1).role() != Role::kLeader &&
                  c.raft(2).role() != Role::kLeader && c.raft(3).role() != Role::kLeader;
       ++i) {
    c.TickAll();
    c.Stabilize();
  }
  int leaders = 0;
  for (uint64_t id : {1, 2, 3}) leaders += c.raft(id).role() == Role::kLeader;
  EXPECT_EQ(leaders, 1);
}

TEST(ElectionTest, RandomizedTimeoutStaysWithinOneToTwoElectionTimeouts) {
  Cluster c({1, 2, 3});
  for (int i = 0; i < 50; ++i) {
    c.raft(1).BecomeFollower(c.raft(1).term() + 1, 0);
    const int t = c.raft(1).randomized_election_timeout();
    EXPECT_GE(t, 10);
    EXPECT_LT(t, 20);
  }
}

TEST(ElectionTest, CandidateWithMajorityBecomesLeaderAndAppendsEmptyEntry) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  EXPECT_EQ(c.raft(1).role(), Role::kLeader);
  EXPECT_EQ(c.raft(2).lead(), 1u);
  // Raft §8: the new leader's no-op entry (index 2, its term) commits.
  EXPECT_EQ(c.raft(1).log().committed(), 2u);
  EXPECT_EQ(c.raft(1).log().TermOrZero(2), c.raft(1).term());
  EXPECT_EQ(c.raft(3).log().committed(), 2u);
}

TEST(ElectionTest, FollowerGrantsAtMostOneVotePerTerm) {
  Cluster c({1, 2, 3}, NoPreVote);
  Raft& r = c.raft(3);
  ASSERT_TRUE(r.Step(VoteRequest(1, 3, 5, 1, 1)).ok());
  ASSERT_TRUE(r.Step(VoteRequest(2, 3, 5, 1, 1)).ok());
  std::vector<raftpb::Message> out = r.TakeMessages();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].reject());
  EXPECT_TRUE(out[1].reject());
  EXPECT_EQ(r.vote(), 1u);
  // A repeated request from the member we voted for is granted again.
  ASSERT_TRUE(r.Step(VoteRequest(1, 3, 5, 1, 1)).ok());
  EXPECT_FALSE(r.TakeMessages()[0].reject());
}

TEST(ElectionTest, VoteRejectedWhenCandidateLogIsLessUpToDate) {
  Cluster c({1, 2, 3}, NoPreVote);
  c.Elect(1);  // everyone has (2, term 2)
  Raft& r = c.raft(3);
  const uint64_t term = r.term();
  // Same last term, shorter log.
  ASSERT_TRUE(r.Step(VoteRequest(2, 3, term + 1, 1, 1)).ok());
  // Older last term, longer log.
  ASSERT_TRUE(r.Step(VoteRequest(2, 3, term + 2, 10, term - 1)).ok());
  for (const raftpb::Message& m : r.TakeMessages()) {
    EXPECT_TRUE(m.reject()) << m.ShortDebugString();
  }
  // A newer last term wins even with a shorter log.
  ASSERT_TRUE(r.Step(VoteRequest(2, 3, term + 3, 1, term + 1)).ok());
  EXPECT_FALSE(r.TakeMessages().back().reject());
}

TEST(ElectionTest, PreVoteKeepsRejoiningMemberFromDisruptingLeader) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  const uint64_t term = c.raft(1).term();
  c.Isolate(3);
  for (int i = 0; i < 100; ++i) {
    c.TickAll();
    c.Stabilize();
  }
  // Pre-elections failed, so the isolated member never raised its term.
  EXPECT_EQ(c.raft(3).term(), term);
  c.Heal();
  c.TickAll();
  c.Stabilize();
  EXPECT_EQ(c.raft(1).role(), Role::kLeader);
  EXPECT_EQ(c.raft(1).term(), term);
  EXPECT_EQ(c.raft(3).lead(), 1u);
}

TEST(ElectionTest, WithoutPreVoteRejoiningMemberForcesNewTerm) {
  Cluster c({1, 2, 3}, NoPreVote);
  c.Elect(1);
  const uint64_t term = c.raft(1).term();
  c.Isolate(3);
  for (int i = 0; i < 100; ++i) {
    c.TickAll();
    c.Stabilize();
  }
  EXPECT_GT(c.raft(3).term(), term);
  c.Heal();
  for (int i = 0; i < 30; ++i) {
    c.TickAll();
    c.Stabilize();
  }
  EXPECT_GT(c.raft(1).term(), term);  // the disruption PreVote prevents
}

// An election timeout (10 ticks) after the last answers, not up to two: the check runs on every
// tick against when each member last answered.
TEST(ElectionTest, CheckQuorumLeaderStepsDownWhenCutOffFromMajority) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Tick(1);  // heartbeats, answered: the last contact
  c.Stabilize();
  c.Isolate(1);
  for (int i = 0; i < 9; ++i) c.Tick(1);
  c.Stabilize();
  EXPECT_EQ(c.raft(1).role(), Role::kLeader);
  c.Tick(1);
  c.Stabilize();
  EXPECT_EQ(c.raft(1).role(), Role::kFollower);
  EXPECT_EQ(c.raft(1).lead(), 0u);
}

TEST(ElectionTest, VoterInLeaderLeaseIgnoresHigherTermVoteRequest) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  Raft& r = c.raft(2);
  const uint64_t term = r.term();
  ASSERT_TRUE(r.Step(VoteRequest(3, 2, term + 1, 100, term)).ok());
  EXPECT_EQ(r.term(), term);
  EXPECT_TRUE(r.TakeMessages().empty());
}

TEST(ElectionTest, StaleLeaderLearnsNewTermFromAppendResponse) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(1);
  c.Elect(2);  // forced campaign; 3 votes since 1 is silent
  for (int i = 0; i < 30 && c.raft(2).role() != Role::kLeader; ++i) {
    c.Tick(2);
    c.Tick(3);
    c.Stabilize();
  }
  ASSERT_EQ(c.raft(2).role(), Role::kLeader);
  c.Heal();
  c.Tick(1);  // old leader heartbeats with its stale term
  c.Stabilize();
  EXPECT_EQ(c.raft(1).role(), Role::kFollower);
  EXPECT_EQ(c.raft(1).term(), c.raft(2).term());
  c.Tick(2);
  c.Stabilize();
  EXPECT_EQ(c.raft(1).lead(), 2u);
}

}  // namespace
}  // namespace quorum::raft::testing
