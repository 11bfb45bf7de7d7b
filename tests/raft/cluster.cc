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
    members_[id].storage = BootstrapStorage(ids);
    Start(id);
  }
}

void Cluster::AddEmptyMember(uint64_t id) {
  members_[id].storage = std::make_unique<MemoryStorage>();
  Start(id);
}

void Cluster::Start(uint64_t id) {
  Member& m = members_.at(id);
  Config c;
  c.id = id;
  c.storage = m.storage.get();
  c.seed = 42;
  c.applied = 0;
  if (tweak_) tweak_(c);
  absl::StatusOr<std::unique_ptr<RawNode>> node = RawNode::Create(c);
  if (!node.ok()) std::abort();
  m.node = *std::move(node);
  m.applied_index = m.storage->FirstIndex().value() - 1;
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
  Ready rd = m.node->GetReady();
  if (rd.snapshot) {
    if (!m.storage->ApplySnapshot(*rd.snapshot).ok()) std::abort();
    m.applied_index = rd.snapshot->metadata().index();
  }
  if (!m.storage->Append(rd.entries).ok()) std::abort();
  if (rd.hard_state) m.storage->SetHardState(*rd.hard_state);
  for (raftpb::Message& msg : rd.messages) in_flight_.push_back(std::move(msg));
  for (const raftpb::Entry& e : rd.committed_entries) {
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
      raftpb::ConfChange cc;
      cc.ParseFromString(e.data());
      m.conf_state = m.node->ApplyConfChange(cc);
    } else if (!e.data().empty()) {
      m.applied.push_back(e.data());
    }
    m.applied_index = e.index();
  }
  for (ReadState& rs : rd.read_states) m.read_states.push_back(std::move(rs));
  m.node->Advance();
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
  if (!m.storage->CreateSnapshot(index, cs, "snap").ok()) std::abort();
  if (!m.storage->Compact(index).ok()) std::abort();
}

}  // namespace quorum::raft::testing
