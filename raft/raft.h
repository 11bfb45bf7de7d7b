// Raft: the consensus core behind RawNode. It owns the log view, the term and
// vote, the role and the leader's per-follower progress; every input goes
// through Step() or Tick(), every output is queued for the next Ready.
// Only RawNode (raw_node.h) and white-box tests use this class directly.
//
// Role behaviour lives in one step function per role (StepLeader,
// StepCandidate, StepFollower) chosen by a switch on role_; rules shared by
// all roles (term comparison, votes) are in Step() itself.
#ifndef QUORUM_RAFT_RAFT_H_
#define QUORUM_RAFT_RAFT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "raft/config.h"
#include "raft/progress.h"
#include "raft/raft_log.h"
#include "raft/read_index.h"
#include "raftpb/raft.pb.h"

namespace quorum::raft {

// Context of a MSG_VOTE sent because of a leadership transfer: voters must not
// ignore it on the grounds that they still hear from the current leader.
inline constexpr char kCampaignTransfer[] = "transfer";

class Raft {
 public:
  // `config` must be valid (Config::Validate()).
  explicit Raft(const Config& config);

  // Processes one message (local or from a peer). Errors are for the caller of
  // a local input: UNAVAILABLE when a proposal or read cannot be forwarded (no
  // leader), RESOURCE_EXHAUSTED when over a memory cap, FAILED_PRECONDITION
  // when refused (transfer in progress, conf change pending).
  absl::Status Step(const raftpb::Message& m);
  void Tick();
  // Applies a committed membership change; returns the resulting membership.
  raftpb::ConfState ApplyConfChange(const raftpb::ConfChange& cc);

  // Ready plumbing for RawNode.
  std::vector<raftpb::Message> TakeMessages();
  std::vector<ReadState> TakeReadStates();
  bool HasMessagesOrReads() const { return !msgs_.empty() || !read_states_.empty(); }
  bool HasUnsentReads() const { return read_queue_.HasUnsent(); }
  // Starts one heartbeat round for every read queued since the last round.
  void FlushReads();
  void ReduceUncommittedSize(uint64_t applied_bytes);

  uint64_t id() const { return id_; }
  uint64_t term() const { return term_; }
  uint64_t vote() const { return vote_; }
  uint64_t lead() const { return lead_; }
  Role role() const { return role_; }
  uint64_t lead_transferee() const { return lead_transferee_; }
  RaftLog& log() { return log_; }
  const RaftLog& log() const { return log_; }
  const ProgressTracker& tracker() const { return tracker_; }
  raftpb::HardState HardState() const;
  bool Promotable() const { return tracker_.IsVoter(id_); }
  int randomized_election_timeout() const { return randomized_election_timeout_; }

  // Role transitions (public for scripted tests).
  void BecomeFollower(uint64_t term, uint64_t lead);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();

 private:
  enum class CampaignKind { kPreElection, kElection, kTransfer };

  // raft.cc: elections and dispatch.
  void Reset(uint64_t term);
  void ResetRandomizedElectionTimeout();
  void TickElection();
  void TickHeartbeat();
  void Hup(CampaignKind kind);
  void Campaign(CampaignKind kind);
  void HandleVoteRequest(const raftpb::Message& m);
  absl::Status StepCandidate(const raftpb::Message& m);
  absl::Status StepFollower(const raftpb::Message& m);
  bool HasUnappliedConfChanges() const;
  void Send(raftpb::Message m);

  // raft_replication.cc: the leader's side and the follower's handlers.
  absl::Status StepLeader(const raftpb::Message& m);
  absl::Status LeaderPropose(const raftpb::Message& m);
  void LeaderAppendResponse(const raftpb::Message& m, Progress& pr);
  void LeaderHeartbeatResponse(const raftpb::Message& m, Progress& pr);
  absl::Status LeaderReadIndex(const raftpb::Message& m);
  void LeaderTransfer(const raftpb::Message& m);
  bool AppendEntries(std::vector<raftpb::Entry> entries);
  bool MaybeCommit();
  void OnCommitAdvanced();
  bool MaybeSendAppend(uint64_t to, bool send_if_empty);
  void SendAppend(uint64_t to) { MaybeSendAppend(to, true); }
  void BcastAppend();
  void BcastHeartbeat(const std::string& context);
  void SendHeartbeat(uint64_t to, const std::string& context);
  void SendTimeoutNow(uint64_t to);
  void AbortTransfer() { lead_transferee_ = 0; }
  void AnswerRead(const ReadIndexQueue::Request& r);
  void HandleAppend(const raftpb::Message& m);
  void HandleHeartbeat(const raftpb::Message& m);
  void HandleSnapshot(const raftpb::Message& m);
  bool Restore(const raftpb::Snapshot& snap);

  const uint64_t id_;
  const int election_timeout_;
  const int heartbeat_timeout_;
  const bool pre_vote_;
  const bool check_quorum_;
  const uint64_t max_size_per_msg_;
  const uint64_t max_uncommitted_bytes_;
  const size_t max_outbox_msgs_;
  uint64_t rng_state_;

  uint64_t term_ = 0;
  uint64_t vote_ = 0;
  uint64_t lead_ = 0;
  Role role_ = Role::kFollower;
  RaftLog log_;
  ProgressTracker tracker_;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;

  uint64_t lead_transferee_ = 0;
  // Index of the last conf change the leader appended; another one is refused
  // until it is applied (one single-server change at a time, conf_change.h).
  uint64_t pending_conf_index_ = 0;
  uint64_t uncommitted_bytes_ = 0;

  ReadIndexQueue read_queue_;
  // Reads that reached a new leader before it committed an entry of its term
  // (Raft thesis §6.4: until then its commit index may be stale).
  std::vector<raftpb::Message> reads_awaiting_commit_;

  std::vector<raftpb::Message> msgs_;
  std::vector<ReadState> read_states_;
};

}  // namespace quorum::raft

#endif  // QUORUM_RAFT_RAFT_H_
