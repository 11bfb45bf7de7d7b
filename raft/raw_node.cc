// RawNode: Ready/Advance bookkeeping around the Raft core; see raw_node.h.
#include "raft/raw_node.h"

#include <utility>

#include "raft/raft.h"

namespace quorum::raft {

namespace {

bool SameHardState(const raftpb::HardState& a, const raftpb::HardState& b) {
  return a.term() == b.term() && a.vote() == b.vote() && a.commit() == b.commit();
}

bool IsLocalOnly(raftpb::MessageType t) {
  return t == raftpb::MSG_HUP || t == raftpb::MSG_BEAT || t == raftpb::MSG_UNREACHABLE ||
         t == raftpb::MSG_SNAP_STATUS || t == raftpb::MSG_UNSPECIFIED;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RawNode>> RawNode::Create(const Config& config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  return std::unique_ptr<RawNode>(new RawNode(std::make_unique<Raft>(config)));
}

RawNode::RawNode(std::unique_ptr<Raft> raft) : raft_(std::move(raft)) {
  prev_soft_ = SoftState{raft_->lead(), raft_->role()};
  prev_hard_ = raft_->HardState();
}

RawNode::~RawNode() = default;

void RawNode::Tick() { raft_->Tick(); }

absl::Status RawNode::Propose(std::string data) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_PROPOSE);
  m.add_entries()->set_data(std::move(data));
  return raft_->Step(m);
}

absl::Status RawNode::ProposeConfChange(const raftpb::ConfChange& cc) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_PROPOSE);
  raftpb::Entry* e = m.add_entries();
  e->set_type(raftpb::ENTRY_CONF_CHANGE);
  e->set_data(cc.SerializeAsString());
  return raft_->Step(m);
}

raftpb::ConfState RawNode::ApplyConfChange(const raftpb::ConfChange& cc) {
  return raft_->ApplyConfChange(cc);
}

absl::Status RawNode::Step(const raftpb::Message& m) {
  if (IsLocalOnly(m.type())) {
    return absl::InvalidArgumentError("raft: local message type received from a peer");
  }
  return raft_->Step(m);
}

absl::Status RawNode::ReadIndex(std::string request_ctx) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_READ_INDEX);
  m.set_context(std::move(request_ctx));
  return raft_->Step(m);
}

void RawNode::TransferLeadership(uint64_t transferee) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_TRANSFER_LEADER);
  m.set_from(transferee);
  (void)raft_->Step(m);
}

void RawNode::Campaign() {
  raftpb::Message m;
  m.set_type(raftpb::MSG_HUP);
  (void)raft_->Step(m);
}

void RawNode::ReportUnreachable(uint64_t id) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_UNREACHABLE);
  m.set_from(id);
  (void)raft_->Step(m);
}

void RawNode::ReportSnapshot(uint64_t id, bool ok) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_SNAP_STATUS);
  m.set_from(id);
  m.set_reject(!ok);
  (void)raft_->Step(m);
}

bool RawNode::HasReady() const {
  const Raft& r = *raft_;
  if (SoftState{r.lead(), r.role()} != prev_soft_) return true;
  if (!SameHardState(r.HardState(), prev_hard_)) return true;
  const RaftLog& log = r.log();
  return log.UnstableSnapshot().has_value() || !log.UnstableEntries().empty() ||
         log.HasNextCommittedEntries() || r.HasMessagesOrReads() || r.HasUnsentReads();
}

Ready RawNode::GetReady() {
  if (pending_ack_) Fatal("GetReady called again before Advance");
  raft_->FlushReads();
  Ready rd;
  Acknowledgement ack;
  const SoftState soft{raft_->lead(), raft_->role()};
  if (soft != prev_soft_) {
    rd.soft_state = soft;
    prev_soft_ = soft;
  }
  const raftpb::HardState hs = raft_->HardState();
  if (!SameHardState(hs, prev_hard_)) {
    rd.must_sync = hs.term() != prev_hard_.term() || hs.vote() != prev_hard_.vote();
    rd.hard_state = hs;
    ack.hard_state = hs;
  }
  RaftLog& log = raft_->log();
  rd.entries = log.UnstableEntries();
  if (!rd.entries.empty()) {
    rd.must_sync = true;
    ack.last_entry_index = rd.entries.back().index();
    ack.last_entry_term = rd.entries.back().term();
  }
  if (log.UnstableSnapshot()) {
    rd.snapshot = *log.UnstableSnapshot();
    // The member acknowledges the snapshot's index once this Ready is saved, and the leader then
    // counts on it (commit index in heartbeats): an unsynced write lost in a crash would leave a
    // follower told to commit beyond its log. etcd's server syncs the snapshot's WAL record too.
    rd.must_sync = true;
    ack.snapshot_index = rd.snapshot->metadata().index();
    ack.applied_to = ack.snapshot_index;
  }
  rd.committed_entries = log.NextCommittedEntries();
  if (!rd.committed_entries.empty()) {
    ack.applied_to = rd.committed_entries.back().index();
    for (const raftpb::Entry& e : rd.committed_entries) ack.applied_bytes += e.data().size();
  }
  rd.messages = raft_->TakeMessages();
  rd.read_states = raft_->TakeReadStates();
  pending_ack_ = std::move(ack);
  return rd;
}

void RawNode::Advance() {
  if (!pending_ack_) return;
  Acknowledgement ack = *std::move(pending_ack_);
  pending_ack_.reset();
  RaftLog& log = raft_->log();
  if (ack.hard_state) prev_hard_ = *ack.hard_state;
  if (ack.last_entry_index != 0) log.StableTo(ack.last_entry_index, ack.last_entry_term);
  if (ack.snapshot_index != 0) log.StableSnapshotTo(ack.snapshot_index);
  if (ack.applied_to != 0) log.AppliedTo(ack.applied_to);
  raft_->ReduceUncommittedSize(ack.applied_bytes);
}

NodeStatus RawNode::Status() const {
  const Raft& r = *raft_;
  NodeStatus st;
  st.id = r.id();
  st.term = r.term();
  st.vote = r.vote();
  st.lead = r.lead();
  st.role = r.role();
  st.commit = r.log().committed();
  st.applied = r.log().applied();
  st.lead_transferee = r.lead_transferee();
  st.conf_state = r.tracker().ConfState();
  if (r.role() == Role::kLeader) {
    for (const auto& [id, pr] : r.tracker().progress()) {
      st.progress[id] = ProgressStatus{pr.match,      pr.next,          pr.state,
                                       pr.is_learner, pr.recent_active, pr.inflights.Count()};
    }
  }
  return st;
}

}  // namespace quorum::raft
