// Cluster: an in-memory group of RawNodes wired by a synchronous network, for
// raft/ unit tests and the benchmark. Each member's MemoryLogStore stands in
// for its disk; Stabilize() runs every member's raft::ReadyLoop (the order
// quorumd uses) and delivers messages until the cluster is quiet. A drop filter
// scripts partitions.
#ifndef QUORUM_TESTS_RAFT_CLUSTER_H_
#define QUORUM_TESTS_RAFT_CLUSTER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/raft.h"
#include "raft/raw_node.h"
#include "raft/ready_loop.h"
#include "tests/support/memory_log_store.h"

namespace quorum::raft::testing {

// Storage for a founding member of a cluster of `voters`: the bootstrap
// snapshot at index 1, term 1 (see RawNode::Create).
std::unique_ptr<MemoryStorage> BootstrapStorage(const std::vector<uint64_t>& voters);

class Cluster {
 public:
  using Tweak = std::function<void(Config&)>;
  explicit Cluster(std::vector<uint64_t> ids, Tweak tweak = nullptr);

  RawNode& node(uint64_t id) { return *members_.at(id).node; }
  Raft& raft(uint64_t id) { return members_.at(id).node->raft(); }
  MemoryStorage& storage(uint64_t id) { return members_.at(id).log->memory(); }
  // Data of normal, non-empty entries applied by `id`, in order.
  const std::vector<std::string>& applied(uint64_t id) { return members_.at(id).applied; }
  std::vector<ReadState>& read_states(uint64_t id) { return members_.at(id).read_states; }
  const std::vector<raftpb::Message>& trace() const { return trace_; }
  void ClearTrace() { trace_.clear(); }

  // Adds a member that starts with empty storage (joins via a conf change).
  void AddEmptyMember(uint64_t id);
  // Restarts `id` from its storage, losing its volatile state.
  void Restart(uint64_t id);

  void Tick(uint64_t id, int n = 1);
  void TickAll(int n = 1);
  // Runs Ready loops and delivers messages until nothing is left to do.
  void Stabilize();
  // Elects `id` by having it campaign, then stabilizes.
  void Elect(uint64_t id);

  // Partitions: messages matching any rule are dropped.
  void Isolate(uint64_t id) { isolated_.insert(id); }
  void Cut(uint64_t a, uint64_t b) { cut_.insert({a, b}), cut_.insert({b, a}); }
  void Heal() { isolated_.clear(), cut_.clear(), drop_ = nullptr; }
  void SetDropFilter(std::function<bool(const raftpb::Message&)> f) { drop_ = std::move(f); }

  // Commit an application snapshot at `index` on `id` and compact its log.
  void SnapshotAndCompact(uint64_t id, uint64_t index);

 private:
  // The member's application: records what it applies and the reads released.
  struct Member : MessageSink, CommitSink {
    void Send(std::vector<raftpb::Message> messages) override;
    absl::Status InstallSnapshot(const raftpb::Snapshot& snapshot) override;
    void Apply(std::vector<CommittedEntry> entries) override;
    void ReleaseRead(const ReadState& read) override { read_states.push_back(read); }

    Cluster* cluster = nullptr;
    std::unique_ptr<quorum::testing::MemoryLogStore> log;
    std::unique_ptr<RawNode> node;
    std::unique_ptr<ReadyLoop> ready_loop;
    std::vector<std::string> applied;
    std::vector<ReadState> read_states;
    raftpb::ConfState conf_state;
    uint64_t applied_index = 0;
  };
  void Start(uint64_t id);
  bool ProcessReady(uint64_t id);
  bool Dropped(const raftpb::Message& m) const;

  Tweak tweak_;
  std::map<uint64_t, Member> members_;
  std::deque<raftpb::Message> in_flight_;
  std::vector<raftpb::Message> trace_;
  std::set<uint64_t> isolated_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  std::function<bool(const raftpb::Message&)> drop_;
};

}  // namespace quorum::raft::testing

#endif  // QUORUM_TESTS_RAFT_CLUSTER_H_
