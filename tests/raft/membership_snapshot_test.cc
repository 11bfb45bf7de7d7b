// Single-server membership changes with learners (conf_change.h) and
// snapshots for lagging followers with log compaction (Raft §7).
#include <gtest/gtest.h>

#include "raft/conf_change.h"
#include "tests/raft/cluster.h"

namespace quorum::raft::testing {
namespace {

raftpb::ConfChange Change(raftpb::ConfChangeType type, uint64_t id) {
  raftpb::ConfChange cc;
  cc.set_type(type);
  cc.set_node_id(id);
  return cc;
}

std::vector<uint64_t> Voters(const NodeStatus& st) {
  return {st.conf_state.voters().begin(), st.conf_state.voters().end()};
}

TEST(ConfChangeTest, ConfStateTransitions) {
  raftpb::ConfState cs;
  cs.add_voters(1);
  auto r = ApplyConfChangeToConfState(cs, Change(raftpb::CONF_CHANGE_ADD_LEARNER, 2));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->learners_size(), 1);
  r = ApplyConfChangeToConfState(*r, Change(raftpb::CONF_CHANGE_ADD_VOTER, 2));  // promote
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->voters_size(), 2);
  EXPECT_EQ(r->learners_size(), 0);
  EXPECT_FALSE(ApplyConfChangeToConfState(cs, Change(raftpb::CONF_CHANGE_REMOVE, 1)).ok());
  EXPECT_FALSE(ApplyConfChangeToConfState(*r, Change(raftpb::CONF_CHANGE_REMOVE, 1)).ok());
  EXPECT_FALSE(ApplyConfChangeToConfState(cs, Change(raftpb::CONF_CHANGE_ADD_VOTER, 0)).ok());
}

TEST(MembershipTest, AddedVoterCatchesUpAndCountsForQuorum) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  ASSERT_TRUE(c.node(1).Propose("a").ok());
  c.Stabilize();
  c.AddEmptyMember(4);
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(raftpb::CONF_CHANGE_ADD_VOTER, 4)).ok());
  c.Stabilize();
  c.TickAll();
  c.Stabilize();
  EXPECT_EQ(Voters(c.node(1).Status()), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(Voters(c.node(4).Status()), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(c.applied(4), std::vector<std::string>{"a"});
  // Quorum is now 3 of 4: with two members down nothing commits.
  c.Isolate(3);
  c.Isolate(4);
  ASSERT_TRUE(c.node(1).Propose("b").ok());
  c.Stabilize();
  EXPECT_EQ(c.applied(1).size(), 1u);
}

TEST(MembershipTest, LearnerReceivesLogButNeverVotesOrCountsForCommit) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.AddEmptyMember(4);
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(raftpb::CONF_CHANGE_ADD_LEARNER, 4)).ok());
  c.Stabilize();
  c.TickAll();
  c.Stabilize();
  ASSERT_TRUE(c.node(1).Propose("a").ok());
  c.Stabilize();
  EXPECT_EQ(c.applied(4), std::vector<std::string>{"a"});
  // A learner never campaigns however long it waits.
  c.Isolate(1);
  c.Isolate(2);
  c.Isolate(3);
  c.Tick(4, 100);
  c.Stabilize();
  EXPECT_EQ(c.raft(4).role(), Role::kFollower);
  // Learner plus leader is not a quorum of {1,2,3}.
  c.Heal();
  c.Isolate(2);
  c.Isolate(3);
  ASSERT_TRUE(c.node(1).Propose("b").ok());
  c.Stabilize();
  EXPECT_EQ(c.applied(1).size(), 1u);
}

TEST(MembershipTest, PromotedLearnerBecomesVoter) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.AddEmptyMember(4);
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(raftpb::CONF_CHANGE_ADD_LEARNER, 4)).ok());
  c.Stabilize();
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(raftpb::CONF_CHANGE_ADD_VOTER, 4)).ok());
  c.Stabilize();
  EXPECT_EQ(Voters(c.node(4).Status()), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_TRUE(c.raft(4).Promotable());
}

TEST(MembershipTest, SecondChangeRefusedUntilFirstIsApplied) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(2);
  c.Isolate(3);
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(raftpb::CONF_CHANGE_ADD_LEARNER, 4)).ok());
  absl::Status s = c.node(1).ProposeConfChange(Change(raftpb::CONF_CHANGE_ADD_LEARNER, 5));
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  c.Heal();
  c.Stabilize();
  EXPECT_TRUE(c.node(1).ProposeConfChange(Change(raftpb::CONF_CHANGE_ADD_LEARNER, 5)).ok());
}

TEST(MembershipTest, RemovedVoterNoLongerCountsAndRemovedLeaderStepsDown) {
  Cluster c({1, 2, 3, 4});
  c.Elect(1);
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(raftpb::CONF_CHANGE_REMOVE, 4)).ok());
  c.Stabilize();
  EXPECT_EQ(Voters(c.node(1).Status()), (std::vector<uint64_t>{1, 2, 3}));
  ASSERT_TRUE(c.node(1).ProposeConfChange(Change(raftpb::CONF_CHANGE_REMOVE, 1)).ok());
  c.Stabilize();
  EXPECT_EQ(c.raft(1).role(), Role::kFollower);
  EXPECT_EQ(Voters(c.node(2).Status()), (std::vector<uint64_t>{2, 3}));
  for (int i = 0; i < 40 && c.raft(2).role() != Role::kLeader && c.raft(3).role() != Role::kLeader;
       ++i) {
    c.TickAll();
    c.Stabilize();
  }
  EXPECT_TRUE(c.raft(2).role() == Role::kLeader || c.raft(3).role() == Role::kLeader);
  EXPECT_NE(c.raft(1).role(), Role::kLeader);  // a non-member never campaigns
}

TEST(MembershipTest, ShrinkingTwoVotersToOneIsRefused) {
  Cluster c({1, 2});
  c.Elect(1);
  absl::Status s = c.node(1).ProposeConfChange(Change(raftpb::CONF_CHANGE_REMOVE, 2));
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
}

TEST(MembershipTest, NewLeaderRefusesConfChangeUntilItsTermEntryApplies) {
  Cluster c({1, 2, 3});
  c.SetDropFilter([](const raftpb::Message& m) { return m.type() == raftpb::MSG_APPEND; });
  c.Elect(1);
  ASSERT_EQ(c.raft(1).role(), Role::kLeader);
  EXPECT_TRUE(absl::IsFailedPrecondition(
      c.node(1).ProposeConfChange(Change(raftpb::CONF_CHANGE_ADD_LEARNER, 4))));
}

TEST(SnapshotTest, FollowerBehindCompactionPointReceivesSnapshot) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Stabilize();
  const uint64_t applied = c.node(1).Status().applied;
  c.SnapshotAndCompact(1, applied);
  c.Heal();
  c.ClearTrace();
  c.TickAll();
  c.Stabilize();
  bool sent = false;
  for (const raftpb::Message& m : c.trace()) sent |= m.type() == raftpb::MSG_SNAPSHOT;
  EXPECT_TRUE(sent);
  c.node(1).ReportSnapshot(3, true);
  ASSERT_TRUE(c.node(1).Propose("y").ok());
  c.Stabilize();
  c.TickAll();
  c.Stabilize();
  EXPECT_EQ(c.storage(3).FirstIndex().value(), applied + 1);
  EXPECT_EQ(c.raft(3).log().committed(), c.raft(1).log().committed());
  EXPECT_EQ(c.applied(3), std::vector<std::string>{"y"});  // the rest came in the snapshot
}

TEST(SnapshotTest, FailedSnapshotIsRetried) {
  Cluster c({1, 2, 3});
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Stabilize();
  c.SnapshotAndCompact(1, c.node(1).Status().applied);
  c.SetDropFilter([](const raftpb::Message& m) { return m.type() == raftpb::MSG_SNAPSHOT; });
  c.Heal();
  c.SetDropFilter([](const raftpb::Message& m) { return m.type() == raftpb::MSG_SNAPSHOT; });
  c.TickAll();
  c.Stabilize();
  EXPECT_EQ(c.node(1).Status().progress[3].state, ProgressState::kSnapshot);
  c.node(1).ReportSnapshot(3, false);
  c.Heal();
  c.TickAll();
  c.Stabilize();
  c.TickAll();
  c.Stabilize();
  EXPECT_EQ(c.raft(3).log().committed(), c.raft(1).log().committed());
}

TEST(MemoryStorageTest, AppendCompactAndTermContract) {
  MemoryStorage s;
  std::vector<raftpb::Entry> ents;
  for (uint64_t i = 1; i <= 5; ++i) {
    raftpb::Entry e;
    e.set_index(i);
    e.set_term(i <= 3 ? 1 : 2);
    ents.push_back(e);
  }
  ASSERT_TRUE(s.Append(ents).ok());
  EXPECT_EQ(s.FirstIndex().value(), 1u);
  EXPECT_EQ(s.LastIndex().value(), 5u);
  ASSERT_TRUE(s.Compact(3).ok());
  EXPECT_EQ(s.FirstIndex().value(), 4u);
  EXPECT_EQ(s.Term(3).value(), 1u);
  EXPECT_TRUE(IsCompacted(s.Term(2).status()));
  EXPECT_TRUE(absl::IsUnavailable(s.Term(6).status()));
  EXPECT_TRUE(IsCompacted(s.Entries(3, 5, UINT64_MAX).status()));
  EXPECT_EQ(s.Entries(4, 6, 0)->size(), 1u);  // byte limit still returns one
  // A conflicting append replaces the suffix.
  raftpb::Entry e;
  e.set_index(5);
  e.set_term(3);
  ASSERT_TRUE(s.Append({e}).ok());
  EXPECT_EQ(s.Term(5).value(), 3u);
  e.set_index(8);
  EXPECT_FALSE(s.Append({e}).ok());  // gap
}

// Found by tests/fuzz (raft_step): a snapshot claiming the last uint64 index was installed, and
// the member then stopped because its log's last term could not be read.
// Snapshots and appends at indexes no log reaches (kMaxLogIndex and beyond, up to where the
// next index would wrap to 0) come only from a broken or hostile peer: ignored, and the member
// goes on as before. Found by the raft_step fuzz target (UINT64_MAX, then UINT64_MAX - 1).
TEST(SnapshotTest, FollowerIgnoresSnapshotsAndAppendsBeyondAnyRealLog) {
  for (const uint64_t index : {UINT64_MAX, UINT64_MAX - 1, kMaxLogIndex}) {
    for (const bool append : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "index " << index << (append ? " append" : " snap"));
      Cluster c({1, 2, 3});
      c.Elect(1);
      ASSERT_TRUE(c.node(1).Propose("a").ok());
      c.Stabilize();
      const uint64_t last = c.raft(2).log().LastIndex();
      raftpb::Message m;
      m.set_from(1);
      m.set_to(2);
      m.set_term(c.raft(1).term());
      if (append) {
        m.set_type(raftpb::MSG_APPEND);
        m.set_index(index - 1);
        m.set_log_term(c.raft(1).term());
        raftpb::Entry* e = m.add_entries();
        e->set_index(index);
        e->set_term(c.raft(1).term());
      } else {
        m.set_type(raftpb::MSG_SNAPSHOT);
        m.mutable_snapshot()->mutable_metadata()->set_index(index);
        m.mutable_snapshot()->mutable_metadata()->set_term(c.raft(1).term());
        for (uint64_t id : {1, 2, 3})
          m.mutable_snapshot()->mutable_metadata()->mutable_conf_state()->add_voters(id);
      }
      ASSERT_TRUE(c.node(2).Step(m).ok());
      c.Stabilize();
      EXPECT_EQ(c.raft(2).log().LastIndex(), last);
      ASSERT_TRUE(c.node(1).Propose("b").ok());
      c.Stabilize();
      EXPECT_EQ(c.applied(2), (std::vector<std::string>{"a", "b"}));
    }
  }
}

}  // namespace
}  // namespace quorum::raft::testing
