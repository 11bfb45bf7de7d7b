// RaftDriver on fakes: in-memory logs (MemoryLogStore), an in-process network (FakeNetwork) and
// no loop thread — each test turns the drivers with RunOnce and decides when time passes, so
// nothing sleeps and every run is the same.
#include "server/raft_driver.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "proto/etcd_errors.h"
#include "tests/support/fake_transport.h"
#include "tests/support/memory_log_store.h"

namespace quorum::server {
namespace {

using quorum::testing::FakeNetwork;
using quorum::testing::FakeTransport;
using quorum::testing::MemoryLogStore;

constexpr int kElectionTicks = 10;

// Several drivers wired by a FakeNetwork, stepped by the test.
class DriverCluster {
 public:
  struct Node {
    std::unique_ptr<MemoryLogStore> log;
    std::unique_ptr<FakeTransport> transport;
    std::unique_ptr<RaftDriver> driver;
    std::vector<std::string> applied;  // data of normal, non-empty entries, in order
    std::vector<uint64_t> applied_indexes;
    std::vector<std::pair<uint64_t, std::string>> reads;  // released (index, ctx)
    std::vector<uint64_t> leaders;                        // leader_changed calls
  };

  explicit DriverCluster(const std::vector<uint64_t>& ids) {
    for (uint64_t id : ids) {
      Node& node = nodes_[id];
      node.log = MemoryLogStore::Bootstrap(ids);
      // The bootstrap snapshot is of term 1 and so is the stored term (as etcd bootstraps): the
      // first leader is of term 2, and has committed nothing of its own term at first.
      raftpb::HardState hard_state;
      hard_state.set_term(1);
      hard_state.set_commit(1);
      node.log->memory().SetHardState(hard_state);
      PeerTransport::Callbacks callbacks;
      callbacks.deliver = [&node](raftpb::Message m) { node.driver->Step(std::move(m)); };
      callbacks.unreachable = [&node](uint64_t peer) { node.driver->ReportUnreachable(peer); };
      callbacks.snapshot_status = [&node](uint64_t peer, bool ok) {
        node.driver->ReportSnapshot(peer, ok);
      };
      node.transport = network_.Join(id, std::move(callbacks));
    }
    for (uint64_t id : ids) Start(id, /*campaign_at_start=*/false);
  }

  void Start(uint64_t id, bool campaign_at_start) {
    Node& node = nodes_.at(id);
    RaftDriver::Options options;
    options.id = id;
    options.applied = 1;
    options.election_ticks = kElectionTicks;
    options.seed = id;
    options.own_thread = false;
    options.campaign_at_start = campaign_at_start;
    RaftDriver::Callbacks callbacks;
    callbacks.apply = [&node](std::vector<CommittedEntry> entries) {
      for (const CommittedEntry& c : entries) {
        node.applied_indexes.push_back(c.entry.index());
        if (c.entry.type() == raftpb::ENTRY_NORMAL && !c.entry.data().empty()) {
          node.applied.push_back(c.entry.data());
        }
      }
    };
    callbacks.read_ready = [&node](uint64_t index, const std::string& ctx) {
      // A read point is never ahead of what this member knows committed.
      EXPECT_LE(index, node.driver->CommitIndex());
      node.reads.emplace_back(index, ctx);
    };
    callbacks.leader_changed = [&node](uint64_t lead, uint64_t) { node.leaders.push_back(lead); };
    callbacks.install_snapshot = [](const raftpb::Snapshot&) { return absl::OkStatus(); };
    auto driver = RaftDriver::Start(options, node.log.get(), node.transport.get(), callbacks);
    ASSERT_TRUE(driver.ok()) << driver.status();
    node.driver = *std::move(driver);
  }

  Node& node(uint64_t id) { return nodes_.at(id); }
  RaftDriver& driver(uint64_t id) { return *nodes_.at(id).driver; }
  FakeNetwork& network() { return network_; }

  // One turn of every driver (ticking each `ticks` times), then the network delivers.
  void Turn(int ticks = 0) {
    for (auto& [id, node] : nodes_) node.driver->RunOnce(ticks);
    network_.DeliverAll();
  }

  // Turns without ticking until no message is in flight and no driver has work left.
  void Settle() {
    for (int i = 0; i < 100; ++i) {
      size_t work = 0;
      for (auto& [id, node] : nodes_) work += node.driver->RunOnce();
      work += network_.DeliverAll();
      if (work == 0) return;
    }
    ADD_FAILURE() << "cluster did not settle";
  }

  // Ticks every driver until one becomes leader, and returns its id at once: its first
  // messages as leader are still in the network. 0 if none within `max_ticks`.
  uint64_t TickUntilLeader(int max_ticks) {
    for (int t = 0; t < max_ticks; ++t) {
      for (auto& [id, node] : nodes_) {
        node.driver->RunOnce(1);
        if (node.driver->Status().role == raft::Role::kLeader) return id;
      }
      network_.DeliverAll();
      for (auto& [id, node] : nodes_) {
        node.driver->RunOnce();
        if (node.driver->Status().role == raft::Role::kLeader) return id;
      }
      network_.DeliverAll();
    }
    return 0;
  }

  std::vector<uint64_t> Leaders() {
    std::vector<uint64_t> leaders;
    for (auto& [id, node] : nodes_) {
      if (node.driver->Status().role == raft::Role::kLeader) leaders.push_back(id);
    }
    return leaders;
  }

 private:
  FakeNetwork network_;
  std::map<uint64_t, Node> nodes_;
};

absl::Status NoError() { return absl::OkStatus(); }

TEST(RaftDriverTest, ThreeDriversElectOneLeaderUnderManualTicks) {
  DriverCluster c({1, 2, 3});
  // No time passes without ticks: nobody campaigns.
  for (int i = 0; i < 5; ++i) c.Turn(0);
  EXPECT_TRUE(c.Leaders().empty());

  const uint64_t leader = c.TickUntilLeader(4 * kElectionTicks);
  ASSERT_NE(leader, 0u);
  c.Settle();
  EXPECT_EQ(c.Leaders(), std::vector<uint64_t>{leader});
  for (uint64_t id : {1, 2, 3}) {
    EXPECT_EQ(c.driver(id).Status().lead, leader) << "member " << id;
    ASSERT_FALSE(c.node(id).leaders.empty());
    EXPECT_EQ(c.node(id).leaders.back(), leader) << "member " << id;
  }
}

TEST(RaftDriverTest, ProposalsCommitAndReachTheApplyHookInOrder) {
  DriverCluster c({1, 2, 3});
  const uint64_t leader = c.TickUntilLeader(4 * kElectionTicks);
  ASSERT_NE(leader, 0u);
  c.Settle();
  const uint64_t follower = leader == 1 ? 2 : 1;
  absl::Status refused = NoError();
  auto on_error = [&refused](absl::Status s) { refused = s; };
  c.driver(leader).Propose("a", on_error);
  c.driver(leader).Propose("b", on_error);
  c.driver(follower).Propose("c", on_error);  // forwarded to the leader
  c.Settle();
  c.driver(leader).Propose("d", on_error);
  c.Settle();
  ASSERT_TRUE(refused.ok()) << refused;
  const std::vector<std::string> expected = {"a", "b", "c", "d"};
  for (uint64_t id : {1, 2, 3}) {
    EXPECT_EQ(c.node(id).applied, expected) << "member " << id;
    const std::vector<uint64_t>& indexes = c.node(id).applied_indexes;
    for (size_t i = 1; i < indexes.size(); ++i) EXPECT_EQ(indexes[i], indexes[i - 1] + 1);
    EXPECT_EQ(c.driver(id).CommitIndex(), indexes.back());
  }
  // Every entry reached the leader's log through a synced write.
  EXPECT_GT(c.node(leader).log->synced_saves(), 0u);
}

TEST(RaftDriverTest, FullQueueRefusesRequestsWithTooManyRequests) {
  DriverCluster c({1});
  RaftDriver& driver = c.driver(1);
  // Nothing turns the loop, so the queue only fills.
  size_t refused = 0;
  absl::Status last = NoError();
  for (size_t i = 0; i < RaftDriver::kMaxQueuedEvents + 2; ++i) {
    driver.Propose("x", [&](absl::Status s) {
      ++refused;
      last = s;
    });
  }
  EXPECT_EQ(refused, 2u);
  EXPECT_EQ(last.message(), ErrTooManyRequests().message());
  EXPECT_EQ(last.code(), ErrTooManyRequests().code());
  absl::Status read = NoError();
  driver.ReadIndex("r", [&](absl::Status s) { read = s; });
  EXPECT_EQ(read.message(), ErrTooManyRequests().message());
  // Transport feedback is never refused: a lost snapshot report would stall a follower.
  driver.ReportUnreachable(2);
  // Once the loop drains the queue, requests are taken again.
  EXPECT_EQ(driver.RunOnce(), RaftDriver::kMaxQueuedEvents + 1);
  absl::Status after = NoError();
  driver.ReadIndex("r2", [&](absl::Status s) { after = s; });
  EXPECT_EQ(driver.RunOnce(), 1u);
  EXPECT_NE(after.message(), ErrTooManyRequests().message());
}

TEST(RaftDriverTest, ProposalWithoutLeaderIsRefusedAtOnce) {
  DriverCluster c({1, 2, 3});
  absl::Status refused = NoError();
  c.driver(1).Propose("x", [&](absl::Status s) { refused = s; });
  c.Turn();
  EXPECT_EQ(refused.message(), ErrNoLeader().message());
}

TEST(RaftDriverDeathTest, FailedLogSaveStopsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        DriverCluster c({1});
        c.node(1).log->SetSaveHook([] { return absl::DataLossError("disk gone"); });
        c.driver(1).Propose("x", [](absl::Status) {});
        c.Turn(2 * kElectionTicks);  // campaigns, wins, and must write its term and entry
      },
      "quorum fatal: raft log save: disk gone");
}

TEST(RaftDriverTest, ReadIndexIsReleasedOnlyOnceTheLeaderCommittedInItsTerm) {
  DriverCluster c({1, 2, 3});
  const uint64_t leader = c.TickUntilLeader(4 * kElectionTicks);
  ASSERT_NE(leader, 0u);
  // The new leader's first entry has not reached anyone: nothing of its term is committed, so
  // it cannot know the commit index yet (Raft thesis §6.4).
  c.network().Partition({leader});
  c.network().DeliverAll();
  const uint64_t commit_before = c.driver(leader).CommitIndex();
  c.driver(leader).ReadIndex("r1", [](absl::Status s) { ADD_FAILURE() << s; });
  for (int i = 0; i < kElectionTicks / 2; ++i) c.Turn(1);
  EXPECT_TRUE(c.node(leader).reads.empty());
  EXPECT_EQ(c.driver(leader).CommitIndex(), commit_before);

  c.network().Heal();
  for (int i = 0; i < 5 && c.node(leader).reads.empty(); ++i) {
    c.Turn(1);
    c.Settle();
  }
  ASSERT_EQ(c.node(leader).reads.size(), 1u);
  EXPECT_EQ(c.node(leader).reads[0].second, "r1");
  // Released at the commit index that includes the leader's own first entry.
  EXPECT_GT(c.node(leader).reads[0].first, commit_before);
  EXPECT_GE(c.driver(leader).CommitIndex(), c.node(leader).reads[0].first);
}

TEST(RaftDriverTest, PartitionedLeaderLosesItsUncommittedProposalToTheMajority) {
  DriverCluster c({1, 2, 3});
  const uint64_t old_leader = c.TickUntilLeader(4 * kElectionTicks);
  ASSERT_NE(old_leader, 0u);
  c.Settle();
  c.network().Partition({old_leader});
  c.driver(old_leader).Propose("lost", [](absl::Status) {});
  // CheckQuorum: cut off from the majority, the old leader steps down; the others elect anew.
  uint64_t new_leader = 0;
  bool stepped_down = false;
  for (int t = 0; t < 6 * kElectionTicks && (new_leader == 0 || !stepped_down); ++t) {
    c.Turn(1);
    for (uint64_t id : c.Leaders()) {
      if (id != old_leader) new_leader = id;
    }
    stepped_down = c.driver(old_leader).Status().role != raft::Role::kLeader;
  }
  ASSERT_NE(new_leader, 0u);
  EXPECT_TRUE(stepped_down);
  c.Settle();
  c.driver(new_leader).Propose("kept", [](absl::Status s) { ADD_FAILURE() << s; });
  c.Settle();

  c.network().Heal();
  for (int t = 0; t < 2 * kElectionTicks; ++t) {
    c.Turn(1);
    c.Settle();
  }
  for (uint64_t id : {1, 2, 3}) {
    EXPECT_EQ(c.node(id).applied, std::vector<std::string>{"kept"}) << "member " << id;
    EXPECT_EQ(c.driver(id).Status().lead, new_leader) << "member " << id;
  }
}

TEST(RaftDriverTest, CompactionMovesTheLogStartAndKeepsRecentEntries) {
  DriverCluster c({1});
  c.Start(1, /*campaign_at_start=*/true);
  c.Settle();
  for (int i = 0; i < 10; ++i) c.driver(1).Propose("e", [](absl::Status s) { ADD_FAILURE() << s; });
  c.Settle();
  const uint64_t applied = c.node(1).applied_indexes.back();
  c.driver(1).Compact(applied, c.driver(1).Status().conf_state, /*keep=*/3);
  c.Settle();
  EXPECT_EQ(*c.node(1).log->FirstIndex(), applied - 3);
  EXPECT_EQ(c.node(1).log->Snapshot()->metadata().index(), applied);
}

}  // namespace
}  // namespace quorum::server
