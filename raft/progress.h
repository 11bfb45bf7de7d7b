// Per-member replication progress as the leader tracks it, and the tracker
// that holds the membership (voters, learners), vote tallies and the quorum
// arithmetic. Used only by the Raft core (raft.h); Status() exposes a copy.
#ifndef QUORUM_RAFT_PROGRESS_H_
#define QUORUM_RAFT_PROGRESS_H_

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "raftpb/raft.pb.h"

namespace quorum::raft {

// Bounded window of in-flight MSG_APPENDs to one follower: each slot holds the
// last index of one message. When full the leader stops sending (flow
// control), so a slow follower costs at most max_inflight * max_size_per_msg.
class Inflights {
 public:
  explicit Inflights(size_t capacity) : capacity_(capacity) {}
  void Add(uint64_t last_index);
  // A follower acknowledged everything up to `index`: free those slots.
  void FreeLE(uint64_t index);
  void FreeFirstOne();
  bool Full() const { return count_ >= capacity_; }
  size_t Count() const { return count_; }
  void Reset();

 private:
  size_t capacity_;
  size_t start_ = 0;
  size_t count_ = 0;
  std::vector<uint64_t> buffer_;  // ring buffer, grown lazily up to capacity_
};

enum class ProgressState {
  kProbe,      // one append at a time until we find where the logs match
  kReplicate,  // pipelined appends, next optimistically advanced
  kSnapshot,   // a snapshot is in flight; no appends until it is reported
};

const char* ProgressStateName(ProgressState s);

struct Progress {
  explicit Progress(size_t max_inflight) : inflights(max_inflight) {}

  uint64_t match = 0;  // highest index known replicated on the member
  uint64_t next = 1;   // next index to send
  ProgressState state = ProgressState::kProbe;
  uint64_t pending_snapshot = 0;  // index of the snapshot in flight (kSnapshot)
  bool recent_active = false;     // heard from within the last election timeout
  // Leader ticks since the member last answered an append or heartbeat (CheckQuorum).
  int inactive_ticks = 0;
  bool probe_sent = false;  // kProbe: an append is outstanding, wait for reply
  bool is_learner = false;
  Inflights inflights;

  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(uint64_t snapshot_index);
  // An append response acknowledged `n`; returns whether match moved.
  bool MaybeUpdate(uint64_t n);
  // Replicate state: pretend entries up to n are delivered (pipelining).
  void OptimisticUpdate(uint64_t n) { next = n + 1; }
  // A rejection of the append after `rejected`; `match_hint` is the leader's
  // best guess (from the follower's hint) of the last matching index. Returns
  // false if the rejection is stale (out of order) and was ignored.
  bool MaybeDecrTo(uint64_t rejected, uint64_t match_hint);
  bool IsPaused() const;
};

class ProgressTracker {
 public:
  explicit ProgressTracker(size_t max_inflight) : max_inflight_(max_inflight) {}

  // Replaces the membership; keeps progress of members that stay, creates
  // progress (next = next_index) for new ones.
  void SetConfState(const raftpb::ConfState& cs, uint64_t next_index);
  raftpb::ConfState ConfState() const;

  const std::set<uint64_t>& voters() const { return voters_; }
  const std::set<uint64_t>& learners() const { return learners_; }
  bool IsVoter(uint64_t id) const { return voters_.count(id) > 0; }
  std::map<uint64_t, Progress>& progress() { return progress_; }
  const std::map<uint64_t, Progress>& progress() const { return progress_; }
  Progress* Get(uint64_t id);

  // Largest index replicated on a majority of voters (Raft §5.3).
  uint64_t CommittedIndex() const;
  // Whether a majority of voters (the leader counts itself) was recently
  // active; clears recent_active for the next interval.
  bool QuorumActive(uint64_t self);
  // One leader tick: every other member's inactive_ticks grows by one. Then whether a majority
  // of voters (the leader counts itself) answered within the last `ticks` ticks (CheckQuorum).
  bool TickQuorumHeardWithin(uint64_t self, int ticks);
  size_t QuorumSize() const { return voters_.size() / 2 + 1; }
  // Does `acks` contain a majority of voters?
  bool IsQuorum(const std::set<uint64_t>& acks) const;

  void ResetVotes() { votes_.clear(); }
  void RecordVote(uint64_t id, bool granted);
  enum class VoteResult { kPending, kWon, kLost };
  VoteResult TallyVotes() const;

 private:
  size_t max_inflight_;
  std::set<uint64_t> voters_;
  std::set<uint64_t> learners_;
  std::map<uint64_t, Progress> progress_;
  std::map<uint64_t, bool> votes_;
};

}  // namespace quorum::raft

#endif  // QUORUM_RAFT_PROGRESS_H_
