// One quorumd member of a Raft-replicated cluster: owns the data directory (RocksDB backend with
// the MVCC store, the Raft log and the membership), the member loop (RaftDriver), the peer
// transport and the apply thread, and answers what the gRPC services ask of it. Services call it
// from gRPC threads; completions run on the apply thread (or at once on refusal) and must not
// block.
//
// Write path: Propose() registers a waiter and hands the request to Raft; on any member Raft
// forwards it to the leader. The entry is committed once a majority has it durably; the apply
// thread applies entries strictly in log order, each entry's change and its log position in one
// RocksDB batch, and completes the proposer's waiter. Without a leader the proposal fails at
// once ("etcdserver: no leader"); otherwise it fails at its deadline ("request timed out").
//
// Read path: a linearizable read asks Raft for a read point (ReadIndex), waits until the apply
// thread has applied it, then reads the local store. A serializable read reads at once.
#ifndef QUORUM_SERVER_MEMBER_H_
#define QUORUM_SERVER_MEMBER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.pb.h"
#include "internalpb/internal.pb.h"
#include "server/applier.h"
#include "server/config.h"
#include "server/id_generator.h"
#include "server/lease_forwarder.h"
#include "server/lessor.h"
#include "server/membership.h"
#include "server/membership_peer.h"
#include "server/peer/snapshot_staging.h"
#include "server/raft_driver.h"
#include "server/wait_list.h"
#include "server/watch_hub.h"
#include "storage/backend.h"
#include "storage/mvcc_store.h"
#include "storage/raft_log_store.h"

namespace quorum::server {

class PeerTransport;

// The etcd API version this member implements; clients gate features on it.
inline constexpr char kEtcdApiVersion[] = "3.4.0";
// quorum's own version, reported beside it.
inline constexpr char kQuorumVersion[] = "0.1.0";

class Member {
 public:
  using Done = WaitList::Done;
  using Ready = WaitList::Ready;

  // Opens (or creates and bootstraps) the data dir, starts the peer transport, the member loop
  // and the apply thread. Errors say what is wrong (bad data dir, another cluster's data dir,
  // peer port in use).
  static absl::StatusOr<std::unique_ptr<Member>> Start(const Config& config);
  ~Member();

  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  // Proposes a write. `done` runs exactly once: with the applied result, or with etcd's error
  // (too large, NOSPACE, no leader, request timed out at `deadline`).
  void Propose(internalpb::InternalRequest request, absl::Time deadline, Done done);

  // Calls `ready` with OK once every write committed before this call is applied locally (a
  // linearizable read point), or with etcd's error (no leader, timed out at `deadline`). The
  // caller then reads the local store.
  void ReadBarrier(absl::Time deadline, Ready ready);

  // Calls `ready` with OK once this member has applied every entry committed as of this call (at
  // once if it has), with "request timed out" at `deadline`, or with "server stopped".
  void WaitApplied(absl::Time deadline, Ready ready);

  // Reads the local MVCC store at once (serializable; after ReadBarrier, linearizable).
  absl::StatusOr<etcdserverpb::RangeResponse> LocalRange(const etcdserverpb::RangeRequest& request);
  // A txn whose operations are all reads (MvccStore::IsReadOnlyTxn), from the local store.
  absl::StatusOr<etcdserverpb::TxnResponse> LocalReadTxn(const etcdserverpb::TxnRequest& request);

  // Membership changes through the log (MemberAdd/Remove/Promote/Update). `done` gets an OK
  // result once the change is applied here.
  void AddMember(etcdserverpb::Member member, absl::Time deadline, Done done);
  void RemoveMember(uint64_t id, absl::Time deadline, Done done);
  void PromoteMember(uint64_t id, absl::Time deadline, Done done);
  void UpdateMember(uint64_t id, std::vector<std::string> peer_urls, absl::Time deadline,
                    Done done);
  std::vector<etcdserverpb::Member> Members() const { return membership_->List(); }

  // Leases. Grant and revoke go through the log (a grant without an id gets one here);
  // renewals and time-to-live are answered by the leader, forwarded to it from any member.
  void LeaseGrant(etcdserverpb::LeaseGrantRequest request, absl::Time deadline, Done done);
  void LeaseRevoke(int64_t id, absl::Time deadline, Done done);
  void LeaseRenew(int64_t id, absl::Time deadline, LeaseForwarder::RenewDone done);
  void LeaseTimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& request, absl::Time deadline,
                       LeaseForwarder::TimeToLiveDone done);
  std::vector<int64_t> Leases() const { return lessor_->List(); }

  // Every watcher on this member; the Watch service and the Election/Lock waits use it.
  WatchHub* watch_hub() { return watch_hub_.get(); }

  // Hands leadership to `target` (MoveLeader). Only the leader may; `done` runs when `target`
  // leads or at the deadline.
  void MoveLeader(uint64_t target, absl::Time deadline,
                  absl::AnyInvocable<void(absl::Status)> done);

  // Sets cluster_id, member_id and raft_term; the revision comes from the store's answer.
  void FillHeader(etcdserverpb::ResponseHeader* header) const;
  // A header for answers that carry no store result (the current revision).
  etcdserverpb::ResponseHeader CurrentHeader() const;

  etcdserverpb::StatusResponse Status() const;
  absl::StatusOr<etcdserverpb::HashKVResponse> HashKV(int64_t revision) const;
  absl::Status Defragment();
  // Writes a backup of the whole state (Maintenance.Snapshot) to a new file in the data dir and
  // returns its path; the caller removes it when done.
  absl::StatusOr<std::string> WriteBackup();
  std::vector<etcdserverpb::AlarmMember> Alarms() const { return alarms_.List(); }
  // Runs `task` on the member's background thread (long jobs such as writing a backup), which
  // the member joins before it releases anything a task may use.
  void RunInBackground(absl::AnyInvocable<void() &&> task) { background_->Post(std::move(task)); }

  uint64_t member_id() const { return member_id_; }
  uint64_t cluster_id() const { return cluster_id_; }
  uint64_t leader_id() const { return lead_.load(); }
  const Config& config() const { return config_; }
  // The deadline a request gets when its client set none (etcd: 5 s + 2 election timeouts).
  absl::Time DefaultDeadline() const;

 private:
  explicit Member(const Config& config);
  absl::Status Open();
  absl::Status BootstrapOrCheckIdentity();
  // The peer URLs of --initial-cluster's other members, which a joining member asks.
  std::vector<std::string> JoinPeerUrls() const;
  // MemberPromote on the leader (followers forward it here); "not leader" elsewhere.
  void PromoteAsLeader(uint64_t id, absl::Time deadline, Done done);
  absl::Status StartReplication();

  // etcd's quota check: a write that would grow the database past the quota raises NOSPACE.
  absl::Status CheckQuota(const internalpb::InternalRequest& request);
  void ProposeConfChange(raftpb::ConfChangeType type, etcdserverpb::Member member,
                         absl::Time deadline, Done done);

  // Wires a freshly opened store to the lessor and the applier (at open and after a snapshot).
  absl::Status AttachStore() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_);
  // Promotes or demotes the lessor as leadership and the applied log say; `applied_empty_term`
  // is the term of a leader's empty entry just applied (0 when called for a leader change).
  void UpdateLessorRole(uint64_t applied_empty_term);
  // Leader only: proposes the revoke of leases whose time is up (etcd: only the leader expires
  // leases, through the log, so every member deletes their keys at the same revision).
  void ExpireLeases();

  // Apply thread.
  void ApplyLoop();
  void ApplyEntry(const CommittedEntry& committed) ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  void ApplyConfChange(const raftpb::Entry& entry, const raftpb::ConfState& conf_state)
      ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  void MaybeCompactLog() ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  // This member was removed from the cluster: stop the process (once).
  void Leave();
  // Driver thread: replaces the state machine with a leader's snapshot.
  absl::Status InstallSnapshot(const raftpb::Snapshot& snapshot);
  // Sweeps expired waiters, and publishes this member's client URLs.
  void TimerLoop();
  // Completes MoveLeader calls whose target now leads or whose deadline passed.
  void FinishMoves();
  // etcd behaviour: a member announces its name and client URLs through the log once it has a
  // leader, so every member lists them (MemberList, endpoint status --cluster).
  void PublishAttributes();

  // etcd refuses proposals ("too many requests") while more than this many committed entries
  // wait to be applied (maxGapBetweenApplyAndCommitIndex).
  static constexpr uint64_t kMaxApplyGap = 5000;
  // Committed entries queued for the apply thread beyond which the driver waits for it, so a
  // stalled apply holds a bounded amount of memory (entries beyond are left in the log, and
  // peers' messages are dropped while the driver waits).
  static constexpr size_t kMaxQueuedApplyEntries = 2 * kMaxApplyGap;
  static constexpr size_t kMaxQueuedApplyBytes = 64 << 20;

  // Queues committed entries for the apply thread, waiting while the queue is full.
  void QueueForApply(std::vector<CommittedEntry> entries);
  // Test hook: while the file named by QUORUM_TEST_APPLY_STALL_FILE exists, nothing is applied.
  void MaybeStallApply();

  const Config config_;
  const std::string apply_stall_file_;
  uint64_t member_id_ = 0;
  uint64_t cluster_id_ = 0;
  std::atomic<uint64_t> lead_{0};
  std::atomic<uint64_t> term_{0};
  std::atomic<uint64_t> applied_index_{0};

  std::unique_ptr<storage::Backend> backend_;
  // Guards the store and applier objects: shared by readers and the apply thread, exclusive
  // while a snapshot replaces them.
  mutable absl::Mutex state_mu_;
  std::unique_ptr<storage::MvccStore> store_ ABSL_GUARDED_BY(state_mu_);
  std::unique_ptr<Applier> applier_ ABSL_GUARDED_BY(state_mu_);
  std::unique_ptr<storage::RaftLogStore> log_;
  std::unique_ptr<Membership> membership_;
  AlarmSet alarms_;
  std::unique_ptr<Lessor> lessor_;
  absl::Mutex lessor_role_mu_;
  uint64_t empty_entry_term_ ABSL_GUARDED_BY(lessor_role_mu_) = 0;
  uint64_t promoted_term_ ABSL_GUARDED_BY(lessor_role_mu_) = 0;
  // Destroyed before the store (its thread reads it): see ~Member.
  std::unique_ptr<WatchHub> watch_hub_;
  WaitList waits_;
  std::unique_ptr<LeaseForwarder> lease_forwarder_;

  // A joining member's peers, as the cluster listed them, until its first snapshot.
  std::vector<etcdserverpb::Member> joining_peers_;
  // Served on the peer server (stopped with the transport, before this goes).
  std::unique_ptr<MembershipPeerService> membership_peer_;
  std::unique_ptr<PeerTransport> transport_;
  std::unique_ptr<RaftDriver> driver_;
  std::unique_ptr<StagingWorker> background_ = std::make_unique<StagingWorker>();

  // Apply-thread state.
  raftpb::ConfState conf_state_;
  // Waiters completed by the entries being applied; run once state_mu_ is released, since a
  // completion may read the member (headers, member lists).
  std::vector<std::pair<uint64_t, ApplyResult>> completions_;
  uint64_t last_snapshot_index_ = 0;

  absl::Mutex apply_mu_;
  std::deque<std::vector<CommittedEntry>> apply_queue_ ABSL_GUARDED_BY(apply_mu_);
  size_t queued_entries_ ABSL_GUARDED_BY(apply_mu_) = 0;
  size_t queued_bytes_ ABSL_GUARDED_BY(apply_mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(apply_mu_) = false;
  std::thread apply_thread_;
  std::thread timer_thread_;

  struct PendingMove {
    uint64_t target;
    absl::Time deadline;
    absl::AnyInvocable<void(absl::Status)> done;
  };
  absl::Mutex moves_mu_;
  std::vector<PendingMove> moves_ ABSL_GUARDED_BY(moves_mu_);

  // Request, read and lease ids; made once the member id is known (BootstrapOrCheckIdentity).
  std::unique_ptr<IdGenerator> ids_;
  std::atomic<bool> publish_in_flight_{false};
  std::atomic<bool> left_{false};
  absl::Time next_publish_ = absl::InfinitePast();
};

// The typed response an applied proposal produced (PutResponse, TxnResponse, ...), its header
// filled by `member`; or the proposal's error.
template <typename Response>
absl::StatusOr<Response> TakeResponse(const Member& member, ApplyResult result) {
  if (!result.status.ok()) return result.status;
  Response response;
  response.Swap(static_cast<Response*>(result.response.get()));
  member.FillHeader(response.mutable_header());
  return response;
}

}  // namespace quorum::server

#endif  // QUORUM_SERVER_MEMBER_H_
