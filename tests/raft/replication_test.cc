// Log replication rules: forwarding, conflicts and fast backtracking (Raft
// §5.3), the commit rule including the paper's Figure 8 (§5.4.2), flow control
// and memory caps.
#include <gtest/gtest.h>

#include "tests/raft/cluster.h"

namespace quorum::raft::testing {
namespace {

void NoPreVote(Config& c) {
  c.pre_vote = false;
  c.check_quorum = false;
}

TEST(ReplicationTest, ProposalOnLeaderIsAppliedEverywhere) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Stabilize();
  for (uint64_t id : {1, 2, 3}) EXPECT_EQ(c.applied(id), std::vector<std::string>{"x"});
}

TEST(ReplicationTest, FollowerForwardsProposalToLeader) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.node(3).Propose("from-3").ok());
  c.Stabilize();
  for (uint64_t id : {1, 2, 3}) EXPECT_EQ(c.applied(id), std::vector<std::string>{"from-3"});
}

TEST(ReplicationTest, ProposalWithoutLeaderFailsAtOnceWithUnavailable) {
  Cluster c({1, 2, 3});
  absl::Status s = c.node(2).Propose("x");
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
}

TEST(ReplicationTest, ConflictingFollowerSuffixIsOverwrittenAndBacktrackingSkipsTerms) {
  Cluster c({1, 2, 3}, NoPreVote);
  c.Elect(1);
  // Member 3 leads alone for a while in higher terms, piling up entries that
  // never commit; member 1 then wins again and must overwrite them.
  c.Isolate(3);
  c.raft(3).BecomeFollower(c.raft(3).term(), 0);
  c.node(3).Campaign();
  c.raft(3).BecomeLeader();  // white-box: uncommittable entries of a lone leader
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c.node(3).Propose("lost").ok());
  c.Stabilize();
  ASSERT_TRUE(c.node(1).Propose("kept").ok());
  c.Stabilize();
  c.Heal();
  c.ClearTrace();
  c.raft(3).BecomeFollower(c.raft(3).term(), 0);
  c.Elect(2);
  ASSERT_EQ(c.raft(2).role(), Role::kLeader);
  ASSERT_TRUE(c.node(2).Propose("after").ok());
  c.Stabilize();
  EXPECT_EQ(c.applied(3), (std::vector<std::string>{"kept", "after"}));
  int rejects = 0;
  for (const raftpb::Message& m : c.trace()) {
    rejects += m.type() == raftpb::MSG_APPEND_RESPONSE && m.reject();
  }
  // The hint skips the whole divergent term at once instead of 50 probes.
  EXPECT_LE(rejects, 2);
}

TEST(ReplicationTest, HintFindsLastIndexWithTermAtMostLeaders) {
  MemoryStorage s;
  std::vector<raftpb::Entry> ents;
  uint64_t terms[] = {1, 1, 2, 2, 5, 5, 5};  // indexes 1..7
  for (int i = 0; i < 7; ++i) {
    raftpb::Entry e;
    e.set_index(i + 1);
    e.set_term(terms[i]);
    ents.push_back(e);
  }
  ASSERT_TRUE(s.Append(ents).ok());
  RaftLog log(&s, UINT64_MAX);
  EXPECT_EQ(log.FindConflictByTerm(7, 3), (std::pair<uint64_t, uint64_t>{4, 2}));
  EXPECT_EQ(log.FindConflictByTerm(7, 5), (std::pair<uint64_t, uint64_t>{7, 5}));
  EXPECT_EQ(log.FindConflictByTerm(5, 1), (std::pair<uint64_t, uint64_t>{2, 1}));
}

// Raft paper Figure 8, replayed on five members. An entry from an earlier term
// that sits on a majority must not be committed by counting, because a member
// holding a later-term entry at that index can still win an election.
TEST(ReplicationTest, Figure8OldTermEntryOnMajorityIsNotCommittedByCounting) {
  Cluster c({1, 2, 3, 4, 5}, [](Config& cfg) {
    NoPreVote(cfg);
    cfg.max_size_per_msg = 1;  // one entry per append, so sends can be split
  });
  // Campaigns until `id` leads; a first attempt can lose to earlier votes.
  auto elect = [&](uint64_t id) {
    for (int i = 0; i < 5 && (i == 0 || c.raft(id).role() != Role::kLeader); ++i) {
      c.raft(id).BecomeFollower(c.raft(id).term(), 0);
      c.Elect(id);
    }
    ASSERT_EQ(c.raft(id).role(), Role::kLeader);
  };
  elect(1);
  const uint64_t base = c.raft(1).log().LastIndex();  // committed empty entry
  // (a) S1 replicates entry base+1 to S2 only.
  for (uint64_t id : {3, 4, 5}) c.Isolate(id);
  ASSERT_TRUE(c.node(1).Propose("a").ok());
  c.Stabilize();
  ASSERT_EQ(c.raft(2).log().LastIndex(), base + 1);
  const uint64_t t_a = c.raft(1).term();
  // (b) S1 stops; S5 wins with S3, S4 and appends base+1 locally only.
  c.Heal();
  c.Isolate(1);
  c.Isolate(2);
  c.SetDropFilter(
      [](const raftpb::Message& m) { return m.from() == 5 && m.type() == raftpb::MSG_APPEND; });
  elect(5);
  const uint64_t t_b = c.raft(5).term();
  ASSERT_EQ(c.raft(5).log().TermOrZero(base + 1), t_b);
  // (c) S5 stops; S1 wins a later term with S2, S3 and copies its old entry
  // base+1 onto S3 (but not its own newer entry base+2).
  c.Heal();
  c.Isolate(5);
  c.Isolate(4);
  c.SetDropFilter([&](const raftpb::Message& m) {
    if (m.type() != raftpb::MSG_APPEND || m.to() != 3) return false;
    if (c.raft(3).log().TermOrZero(base + 1) != t_a) return false;
    for (const raftpb::Entry& e : m.entries()) {
      if (e.index() > base + 1) return true;
    }
    return false;
  });
  elect(1);
  ASSERT_GT(c.raft(1).term(), t_b);
  ASSERT_EQ(c.raft(3).log().TermOrZero(base + 1), t_a);
  ASSERT_EQ(c.raft(3).log().LastIndex(), base + 1);
  // base+1 (old term) is on S1, S2, S3, a majority, yet is not committed.
  EXPECT_EQ(c.raft(1).log().committed(), base);
  // (d) S1 stops; S5 wins with S3, S4 (its last term beats theirs) and
  // overwrites base+1. Had S1 committed "a", this would lose a committed entry.
  c.Heal();
  c.Isolate(1);
  elect(5);
  c.Stabilize();
  for (uint64_t id : {2, 3, 4, 5}) {
    EXPECT_EQ(c.raft(id).log().TermOrZero(base + 1), t_b) << "member " << id;
    EXPECT_TRUE(c.applied(id).empty());
  }
}

TEST(ReplicationTest, Figure8CurrentTermEntryCommitsOlderOnesIndirectly) {
  Cluster c({1, 2, 3}, NoPreVote);
  c.Elect(1);
  c.Isolate(3);
  c.Isolate(2);
  ASSERT_TRUE(c.node(1).Propose("old").ok());
  c.Stabilize();
  c.Heal();
  c.raft(1).BecomeFollower(c.raft(1).term(), 0);
  c.Elect(1);  // new term: its empty entry commits "old" with it
  for (uint64_t id : {1, 2, 3}) EXPECT_EQ(c.applied(id), std::vector<std::string>{"old"});
}

TEST(ReplicationTest, InflightWindowBoundsPipelinedAppends) {
  Cluster c({1, 2, 3}, [](Config& cfg) {
    cfg.max_inflight_msgs = 4;
    cfg.max_size_per_msg = 1;
  });
  c.Elect(1);
  c.Isolate(2);
  c.Isolate(3);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.node(1).Propose("p").ok());
  NodeStatus st = c.node(1).Status();
  EXPECT_LE(st.progress[2].inflight, 4u);
  EXPECT_LE(st.progress[3].inflight, 4u);
  c.Heal();
  for (int i = 0; i < 5; ++i) {
    c.TickAll();
    c.Stabilize();
  }
  EXPECT_EQ(c.applied(2).size(), 20u);
}

TEST(ReplicationTest, AppendBatchesRespectMaxSizePerMessage) {
  Cluster c({1, 2, 3}, [](Config& cfg) { cfg.max_size_per_msg = 4096; });
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(c.node(1).Propose(std::string(512, 'x')).ok());
  c.Stabilize();
  c.Heal();
  c.ClearTrace();
  c.TickAll();
  c.Stabilize();
  for (const raftpb::Message& m : c.trace()) {
    if (m.type() == raftpb::MSG_APPEND && m.entries_size() > 1) {
      EXPECT_LE(m.ByteSizeLong(), 4096u + 600u);
    }
  }
  EXPECT_EQ(c.applied(3).size(), 64u);
}

TEST(ReplicationTest, LeaderRefusesProposalsOverUncommittedCap) {
  Cluster c({1, 2, 3}, [](Config& cfg) { cfg.max_uncommitted_bytes = 1000; });
  c.Elect(1);
  c.Isolate(2);
  c.Isolate(3);
  absl::Status s;
  int accepted = 0;
  for (int i = 0; i < 20 && s.ok(); ++i) {
    s = c.node(1).Propose(std::string(100, 'x'));
    accepted += s.ok();
  }
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(accepted, 10);
  c.Heal();
  c.TickAll();
  c.Stabilize();
  EXPECT_TRUE(c.node(1).Propose(std::string(100, 'x')).ok());  // room again once applied
}

TEST(ReplicationTest, RestartedFollowerKeepsPersistedLogAndCatchesUp) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.node(1).Propose("a").ok());
  c.Stabilize();
  c.Restart(2);
  ASSERT_TRUE(c.node(1).Propose("b").ok());
  c.Stabilize();
  EXPECT_EQ(c.applied(2), (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace quorum::raft::testing
