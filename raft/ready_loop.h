// ReadyLoop: the one place that turns a RawNode's Ready batches into effects, in the order
// production relies on. server/'s RaftDriver runs it on its member thread; the simulator and the
// raft/ test cluster run the same code, so what they check is the order quorumd uses.
// Pure like the rest of raft/: it writes through DurableLog and hands everything else to sinks.
#ifndef QUORUM_RAFT_READY_LOOP_H_
#define QUORUM_RAFT_READY_LOOP_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "raft/log_storage.h"
#include "raft/raw_node.h"
#include "raftpb/raft.pb.h"

namespace quorum::raft {

// The stable log the loop writes to: what raft/ reads (LogStorage) plus the writes the member
// loop makes. storage::RaftLogStore is the RocksDB one; tests use an in-memory one.
class DurableLog : public LogStorage {
 public:
  // Persists one Ready: `snapshot` (replacing the log), then `entries` (an entry at an index
  // already held replaces it and every later one), then `hard_state`; durably when `sync`.
  // On error nothing may be assumed written; the caller stops.
  virtual absl::Status Save(const std::optional<raftpb::Snapshot>& snapshot,
                            const std::vector<raftpb::Entry>& entries,
                            const std::optional<raftpb::HardState>& hard_state, bool sync) = 0;
  // Records a snapshot point at `index` (the state up to it is captured elsewhere) with the
  // membership as of it, and drops entries below `compact_to` (<= index).
  virtual absl::Status CreateSnapshot(uint64_t index, const raftpb::ConfState& conf_state,
                                      uint64_t compact_to) = 0;
};

// Where a Ready's messages go. Send must not block on the receiver and must not call back into
// the RawNode synchronously except through ReportSnapshot/ReportUnreachable.
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  virtual void Send(std::vector<raftpb::Message> messages) = 0;
};

// A committed entry as the application receives it. For a conf change, `conf_state` is the
// membership after it (already applied to Raft, before Advance, as Raft requires).
struct CommittedEntry {
  raftpb::Entry entry;
  std::optional<raftpb::ConfState> conf_state;
};

// What the application learns from a Ready besides the log writes and messages.
class CommitSink {
 public:
  virtual ~CommitSink() = default;
  // The commit index of this Ready, before any of its messages leave: a follower that learns a
  // commit index from them may act on it, and this member must already know it.
  virtual void CommitIndexKnown(uint64_t commit) {}
  // Leadership changed (lead 0: none known).
  virtual void LeaderChanged(uint64_t lead, uint64_t term) {}
  // A snapshot from the leader replaces the state machine; called before its metadata is
  // saved, returns once the state is installed.
  virtual absl::Status InstallSnapshot(const raftpb::Snapshot& snapshot) = 0;
  // Committed entries, in log order, after the Ready is persisted.
  virtual void Apply(std::vector<CommittedEntry> entries) = 0;
  // A released linearizable read: serve it once `read.index` is applied.
  virtual void ReleaseRead(const ReadState& read) = 0;
};

class ReadyLoop {
 public:
  // `id` is the member's own id; `sync` false turns off fsync (unsafe, benchmarks only).
  // Borrows everything; one ReadyLoop per RawNode, recreated with it.
  ReadyLoop(uint64_t id, DurableLog* log, MessageSink* messages, CommitSink* commits,
            bool sync = true);

  // Handles every Ready `node` has, each in this order:
  //   1. publish the commit index, a leadership change, install a snapshot;
  //   2. leader only: send the messages;
  //   3. persist snapshot, entries and hard state (synced when must_sync);
  //   4. everyone else: send the messages (votes and append replies promise durability);
  //   5. apply committed entries (conf changes applied to the node first), release reads;
  //   6. Advance.
  // The leader may send before its own write (Raft thesis §10.2.1) because raft/ counts its own
  // copy when it appends: a follower's reply, the only thing that can complete a quorum with it,
  // is handled by the caller after this returns, when the write is done. A caller that
  // persisted asynchronously would break that (tests/sim checks it).
  // Returns the first failure (install or save) without calling Advance: the member must stop,
  // as a partial write may have lost what its messages promised.
  absl::Status Drain(RawNode& node);

  // The leader this loop last published (0: none).
  uint64_t lead() const { return lead_; }

 private:
  absl::Status Handle(RawNode& node, Ready ready);

  const uint64_t id_;
  DurableLog* const log_;
  MessageSink* const messages_;
  CommitSink* const commits_;
  const bool sync_;
  uint64_t lead_ = 0;
};

}  // namespace quorum::raft

#endif  // QUORUM_RAFT_READY_LOOP_H_
