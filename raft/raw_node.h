// RawNode: the public face of quorum's Raft consensus, a pure, deterministic
// state machine (no threads, I/O or clock). server/'s member loop owns one per
// member and is its only caller: it feeds ticks, peer messages and requests in,
// and drains Ready batches out.
//
// The loop, for each Ready in order (HasReady() -> GetReady()); raft::ReadyLoop
// (ready_loop.h) is the one implementation every caller uses:
//   1. persist `snapshot` (if any), then `entries` and `hard_state` (if any),
//      durably when `must_sync` (one synced write batch);
//   2. send `messages` (only after step 1: votes and append acknowledgements
//      promise durability; the leader alone may send before step 1, see
//      ReadyLoop::Drain);
//   3. apply `committed_entries` in order; for an ENTRY_CONF_CHANGE call
//      ApplyConfChange() before Advance(); hand `read_states` to waiting reads
//      (serve each once `index` is applied);
//   4. call Advance().
// Step/Tick/Propose may be called between GetReady() and Advance(), but not
// GetReady() again. Not thread-safe: one thread drives it.
#ifndef QUORUM_RAFT_RAW_NODE_H_
#define QUORUM_RAFT_RAW_NODE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/config.h"
#include "raft/log_storage.h"
#include "raft/progress.h"
#include "raft/read_index.h"
#include "raftpb/raft.pb.h"

namespace quorum::raft {

class Raft;

// Volatile state worth reporting (who leads); never persisted.
struct SoftState {
  uint64_t lead = 0;  // 0 = no known leader
  Role role = Role::kFollower;
  bool operator==(const SoftState&) const = default;
};

struct Ready {
  std::optional<SoftState> soft_state;           // set when it changed
  std::optional<raftpb::HardState> hard_state;   // set when it changed; persist
  std::vector<raftpb::Entry> entries;            // persist (may overwrite a suffix)
  std::optional<raftpb::Snapshot> snapshot;      // install and persist
  std::vector<raftpb::Entry> committed_entries;  // apply in order
  std::vector<raftpb::Message> messages;         // send after persisting
  std::vector<ReadState> read_states;            // released linearizable reads
  bool must_sync = false;  // term/vote changed, entries or a snapshot to persist: fsync
};

struct ProgressStatus {
  uint64_t match = 0;
  uint64_t next = 0;
  ProgressState state = ProgressState::kProbe;
  bool is_learner = false;
  bool recent_active = false;
  size_t inflight = 0;
};

struct NodeStatus {
  uint64_t id = 0;
  uint64_t term = 0;
  uint64_t vote = 0;
  uint64_t lead = 0;
  Role role = Role::kFollower;
  uint64_t commit = 0;
  uint64_t applied = 0;
  uint64_t lead_transferee = 0;
  raftpb::ConfState conf_state;
  std::map<uint64_t, ProgressStatus> progress;  // filled on the leader only
};

class RawNode {
 public:
  // Restores from config.storage (InitialState, entries, snapshot). A brand
  // new cluster is bootstrapped by giving every founding member a storage
  // that holds the same snapshot at index 1 whose ConfState lists them.
  static absl::StatusOr<std::unique_ptr<RawNode>> Create(const Config& config);
  ~RawNode();
  RawNode(const RawNode&) = delete;
  RawNode& operator=(const RawNode&) = delete;

  // Advances the logical clock by one tick (election and heartbeat timers).
  void Tick();

  // Proposes `data` for the log. OK means accepted for replication, not
  // committed: watch committed_entries. UNAVAILABLE when there is no leader to
  // take it (answer "no leader" at once) or a leadership transfer is under
  // way; RESOURCE_EXHAUSTED when over the uncommitted-bytes or outbox cap.
  // On a follower OK means forwarded; the leader may still drop it.
  absl::Status Propose(std::string data);
  // Proposes a membership change; as Propose, plus FAILED_PRECONDITION when
  // another change is not yet applied.
  absl::Status ProposeConfChange(const raftpb::ConfChange& cc);
  // Applies a committed ENTRY_CONF_CHANGE; returns the resulting membership,
  // which the application persists with its applied index.
  raftpb::ConfState ApplyConfChange(const raftpb::ConfChange& cc);

  // Feeds a message received from a peer. INVALID_ARGUMENT for local-only
  // message types.
  absl::Status Step(const raftpb::Message& m);

  // Requests a linearizable read point; a ReadState with the same ctx appears
  // in a later Ready. UNAVAILABLE without a leader. Reads arriving between two
  // Readies share one heartbeat round.
  absl::Status ReadIndex(std::string request_ctx);

  // Asks the leader to hand leadership to `transferee` (MoveLeader, graceful
  // shutdown). Best effort: watch soft_state for the outcome.
  void TransferLeadership(uint64_t transferee);
  // Starts an election now (tests, and a member asked to campaign).
  void Campaign();

  // Transport feedback on the leader: `id` could not be reached / a snapshot
  // to `id` finished (ok) or failed.
  void ReportUnreachable(uint64_t id);
  void ReportSnapshot(uint64_t id, bool ok);

  bool HasReady() const;
  Ready GetReady();
  // Acknowledges the last Ready: its entries and snapshot are persisted and its
  // committed entries applied (or handed to the applier in order).
  void Advance();

  NodeStatus Status() const;

  // The consensus core, for white-box tests.
  Raft& raft() { return *raft_; }

 private:
  explicit RawNode(std::unique_ptr<Raft> raft);

  struct Acknowledgement {
    std::optional<raftpb::HardState> hard_state;
    uint64_t last_entry_index = 0;
    uint64_t last_entry_term = 0;
    uint64_t snapshot_index = 0;
    uint64_t applied_to = 0;
    uint64_t applied_bytes = 0;
  };

  std::unique_ptr<Raft> raft_;
  SoftState prev_soft_;
  raftpb::HardState prev_hard_;
  std::optional<Acknowledgement> pending_ack_;
};

}  // namespace quorum::raft

#endif  // QUORUM_RAFT_RAW_NODE_H_
