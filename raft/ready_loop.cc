// The production Ready order; see ready_loop.h.
#include "raft/ready_loop.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace quorum::raft {

ReadyLoop::ReadyLoop(uint64_t id, DurableLog* log, MessageSink* messages, CommitSink* commits,
                     bool sync)
    : id_(id), log_(log), messages_(messages), commits_(commits), sync_(sync) {}

absl::Status ReadyLoop::Drain(RawNode& node) {
  while (node.HasReady()) {
    if (absl::Status s = Handle(node, node.GetReady()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ReadyLoop::Handle(RawNode& node, Ready ready) {
  if (ready.hard_state.has_value()) commits_->CommitIndexKnown(ready.hard_state->commit());
  if (ready.soft_state.has_value() && ready.soft_state->lead != lead_) {
    lead_ = ready.soft_state->lead;
    commits_->LeaderChanged(lead_, node.Status().term);
  }
  if (ready.snapshot.has_value()) {
    if (absl::Status s = commits_->InstallSnapshot(*ready.snapshot); !s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("installing snapshot at ", ready.snapshot->metadata().index(),
                                 ": ", s.message()));
    }
  }
  const bool leader = lead_ == id_;
  if (leader) messages_->Send(std::move(ready.messages));
  if (absl::Status s =
          log_->Save(ready.snapshot, ready.entries, ready.hard_state, ready.must_sync && sync_);
      !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("raft log save: ", s.message()));
  }
  if (!leader) messages_->Send(std::move(ready.messages));

  if (!ready.committed_entries.empty()) {
    std::vector<CommittedEntry> committed;
    committed.reserve(ready.committed_entries.size());
    for (raftpb::Entry& entry : ready.committed_entries) {
      CommittedEntry c;
      if (entry.type() == raftpb::ENTRY_CONF_CHANGE) {
        raftpb::ConfChange change;
        if (change.ParseFromString(entry.data())) c.conf_state = node.ApplyConfChange(change);
      }
      c.entry = std::move(entry);
      committed.push_back(std::move(c));
    }
    commits_->Apply(std::move(committed));
  }
  for (const ReadState& read : ready.read_states) commits_->ReleaseRead(read);
  node.Advance();
  return absl::OkStatus();
}

}  // namespace quorum::raft
