// In-memory test cluster; see cluster.h.
#include "tests/raft/cluster.h"

#include <cstdlib>
#include <utility>

namespace quorum::raft::testing {

std::unique_ptr<MemoryStorage> BootstrapStorage(const std::vector<uint64_t>& voters) {
  auto storage = std::make_unique<MemoryStorage>();
  raftpb::Snapshot snap;
  snap.mutable_metadata()->set_index(1);
  snap.mutable_metadata()->set_term(1);
  for (uint64_t v : voters) snap.mutable_metadata()->mutable_conf_state()->add_voters(v);
  if (!storage->ApplySnapshot(snap).ok()) std::abort();
  return storage;
}

Cluster::Cluster(std::vector<uint64_t> ids, Tweak tweak) : tweak_(std::move(tweak)) {
  for (uint64_t id : ids) {
    members_[id].log = std::make_unique<quorum::testing::MemoryLogStore>(BootstrapStorage(ids));
    Start(id);
  }
}

void Cluster::AddEmptyMember(uint64_t id) {
  members_[id].log = std::make_unique<quorum::testing::MemoryLogStore>();
  Start(id);
}

void Cluster::Member::Send(std::vector<raftpb::Message> messages) {
  for (raftpb::Message& msg : messages) cluster->in_flight_.push_back(std::move(msg));
}

absl::Status Cluster::Member::InstallSnapshot(const raftpb::Snapshot& snapshot) {
  applied_index = snapshot.metadata().index();
  return absl::OkStatus();
}

void Cluster::Member::Apply(std::vector<CommittedEntry> entries) {
  for (const CommittedEntry& c : entries) {
    if (c.entry.type() == raftpb::ENTRY_CONF_CHANGE) {
      if (c.conf_state) conf_state = *c.conf_state;
    } else if (!c.entry.data().empty()) {
      applied.push_back(c.entry.data());
    }
    applied_index = c.entry.index();
  }
}

void Cluster::Start(uint64_t id) {
  Member& m = members_.at(id);
  m.cluster = this;
  Config c;
  c.id = id;
  c.storage = m.log.get();
  c.seed = 42;
  c.applied = 0;
  if (tweak_) tweak_(c);
  absl::StatusOr<std::unique_ptr<RawNode>> node = RawNode::Create(c);
  if (!node.ok()) std::abort();
  m.node = *std::move(node);
  m.ready_loop = std::make_unique<ReadyLoop>(id, m.log.get(), &m, &m);
  m.applied_index = m.log->FirstIndex().value() - 1;
}

void Cluster::Restart(uint64_t id) {
  Member& m = members_.at(id);
  // Volatile state goes; what was persisted stays. The application state is
  // rebuilt by re-applying the log after the snapshot.
  m.applied.clear();
  m.read_states.clear();
  in_flight_.erase(std::remove_if(in_flight_.begin(), in_flight_.end(),
                                  [&](const raftpb::Message& msg) { return msg.to() == id; }),
                   in_flight_.end());
  Start(id);
}

void Cluster::Tick(uint64_t id, int n) {
  for (int i = 0; i < n; ++i) members_.at(id).node->Tick();
}

void Cluster::TickAll(int n) {
  for (int i = 0; i < n; ++i) {
    for (auto& [id, m] : members_) m.node->Tick();
  }
}

bool Cluster::Dropped(const raftpb::Message& m) const {
  if (isolated_.count(m.from()) || isolated_.count(m.to())) return true;
  if (cut_.count({m.from(), m.to()})) return true;
  return drop_ && drop_(m);
}

bool Cluster::ProcessReady(uint64_t id) {
  Member& m = members_.at(id);
  if (!m.node->HasReady()) return false;
  if (!m.ready_loop->Drain(*m.node).ok()) std::abort();
  return true;
}

void Cluster::Stabilize() {
  for (int round = 0; round < 100000; ++round) {
    bool progressed = false;
    for (auto& [id, m] : members_) {
      while (ProcessReady(id)) progressed = true;
    }
    std::deque<raftpb::Message> batch = std::exchange(in_flight_, {});
    for (const raftpb::Message& msg : batch) {
      progressed = true;
      if (Dropped(msg) || !members_.count(msg.to())) continue;
      trace_.push_back(msg);
      (void)members_.at(msg.to()).node->Step(msg);
    }
    if (!progressed) return;
  }
  std::abort();  // livelock in a unit test
}

void Cluster::Elect(uint64_t id) {
  members_.at(id).node->Campaign();
  Stabilize();
}

void Cluster::SnapshotAndCompact(uint64_t id, uint64_t index) {
  Member& m = members_.at(id);
  raftpb::ConfState cs = m.node->Status().conf_state;
  if (!m.log->memory().CreateSnapshot(index, cs, "snap").ok()) std::abort();
  if (!m.log->memory().Compact(index).ok()) std::abort();
}

}  // namespace quorum::raft::testing
