// One quorumd member of a Raft-replicated cluster. It owns the data dir's state (opened by
// bootstrap.h), the member loop (RaftDriver), the peer transport, the apply thread and the
// timer thread, and serves the gRPC services through the interfaces of member_api.h. Its
// methods are cut by role, one file each, as etcd cuts its server:
//   member.cc              start, wiring and shutdown; headers and local reads
//   member_requests.cc     proposals, the read barrier, membership changes
//   member_apply.cc        the apply thread (Applier does the work), snapshot install
//   member_leases.cc       timers: lease supervision, deadlines, published attributes
//   member_maintenance.cc  status, hash, defragment, backup, leadership transfer
// The write and read paths are described in raft_driver.h and applier.h.
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
#include "absl/time/time.h"
#include "server/alarm_set.h"
#include "server/applier.h"
#include "server/bootstrap.h"
#include "server/config.h"
#include "server/corruption_check.h"
#include "server/id_generator.h"
#include "server/leader_history.h"
#include "server/lease_forwarder.h"
#include "server/lessor.h"
#include "server/member_api.h"
#include "server/member_metrics.h"
#include "server/membership.h"
#include "server/membership_peer.h"
#include "server/peer/snapshot_staging.h"
#include "server/peer/transport.h"
#include "server/raft_driver.h"
#include "server/wait_list.h"
#include "server/watch_hub.h"

namespace quorum::server {

// The etcd API version this member implements; clients gate features on it.
inline constexpr char kEtcdApiVersion[] = "3.4.0";
// quorum's own version, reported beside it.
inline constexpr char kQuorumVersion[] = "0.1.0";

// What a member runs on. quorumd uses the defaults; unit tests wire several members in one
// process over a fake transport and step their Raft loops themselves.
struct MemberEnvironment {
  // Makes the peer transport; default: the gRPC transport on --listen-peer-urls.
  std::function<absl::StatusOr<std::unique_ptr<PeerTransport>>(const PeerTransport::Options&,
                                                               PeerTransport::Callbacks)>
      transport;
  // False: the Raft loop gets no thread of its own and time passes only as StepRaft says.
  bool raft_thread = true;
};

class Member final : public MemberApi {
 public:
  // Opens (or creates and bootstraps) the data dir, starts the peer transport, the member loop
  // and the apply thread. Errors say what is wrong (bad data dir, another cluster's data dir,
  // peer port in use). `removed` runs (once, on a member thread) when this member learns it was
  // removed from the cluster: the owner must then stop it, as etcd stops a removed member.
  static absl::StatusOr<std::unique_ptr<Member>> Start(const Config& config,
                                                       absl::AnyInvocable<void()> removed = {},
                                                       MemberEnvironment environment = {});
  ~Member() override;

  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  // RaftKv.
  void Propose(internalpb::InternalRequest request, absl::Time deadline,
               ProposalDone done) override;
  void ReadBarrier(absl::Time deadline, ReadDone done) override;
  absl::StatusOr<etcdserverpb::RangeResponse> LocalRange(
      const etcdserverpb::RangeRequest& request) override;
  absl::StatusOr<etcdserverpb::TxnResponse> LocalReadTxn(
      const etcdserverpb::TxnRequest& request) override;
  WatchHub* watch_hub() override { return watch_hub_.get(); }
  void FillHeader(etcdserverpb::ResponseHeader* header) const override;
  etcdserverpb::ResponseHeader CurrentHeader() const override;
  absl::Time DefaultDeadline() const override;
  int64_t MaxTxnOps() const override { return config_.max_txn_ops; }

  // Calls `done` with OK once this member has applied every entry committed as of this call
  // (at once if it has), with "request timed out" at `deadline`, or with "server stopped".
  void WaitApplied(absl::Time deadline, ReadDone done);

  // LeaseApi.
  void LeaseGrant(etcdserverpb::LeaseGrantRequest request, absl::Time deadline,
                  ProposalDone done) override;
  void LeaseRevoke(int64_t id, const AuthInfo& caller, absl::Time deadline,
                   ProposalDone done) override;
  void LeaseRenew(int64_t id, absl::Time deadline, RenewDone done) override;
  void LeaseTimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& request, absl::Time deadline,
                       TimeToLiveDone done) override;
  std::vector<int64_t> Leases() const override { return lessor_->List(); }

  // ClusterApi.
  void AddMember(etcdserverpb::Member member, absl::Time deadline, ProposalDone done) override;
  void RemoveMember(uint64_t id, absl::Time deadline, ProposalDone done) override;
  void PromoteMember(uint64_t id, absl::Time deadline, ProposalDone done) override;
  void UpdateMember(uint64_t id, std::vector<std::string> peer_urls, absl::Time deadline,
                    ProposalDone done) override;
  std::vector<etcdserverpb::Member> Members() const override { return membership_->List(); }

  // MaintenanceApi.
  etcdserverpb::StatusResponse Status() const override;
  std::vector<etcdserverpb::AlarmMember> Alarms() const override { return alarms_.List(); }
  absl::StatusOr<etcdserverpb::HashKVResponse> HashKV(int64_t revision) const override;
  absl::Status Defragment() override;
  absl::StatusOr<std::string> WriteBackup() override;
  void RunInBackground(absl::AnyInvocable<void() &&> task) override {
    background_->Post(std::move(task));
  }
  void MoveLeader(uint64_t target, absl::Time deadline,
                  absl::AnyInvocable<void(absl::Status)> done) override;

  // AuthApi.
  AuthStore& auth() override { return auth_; }

  // Metrics: what /metrics serves (member_metrics.h). Built with the member; the HTTP face calls
  // metrics().Render() per scrape, from any thread, and must stop scraping before the member is
  // destroyed.
  MemberMetrics& metrics() { return *metrics_; }
  metrics::GrpcServerMetrics* grpc_metrics() override { return &metrics_->grpc(); }

  // With MemberEnvironment::raft_thread false: one turn of the Raft loop with `ticks` clock ticks
  // (queued events, ticks, every Ready). From one thread at a time.
  void StepRaft(int ticks = 0);

  uint64_t member_id() const { return member_id_; }
  uint64_t cluster_id() const { return cluster_id_; }
  uint64_t leader_id() const { return lead_.load(); }
  const Config& config() const { return config_; }
  // The leader changes this member saw lately (what the dashboard lists).
  const LeaderHistory& leader_history() const { return leader_history_; }

 private:
  Member(const Config& config, LocalState state, absl::AnyInvocable<void()> removed,
         MemberEnvironment environment);
  // Builds the watch hub, the lessor's view and the applier on the opened store.
  absl::Status Wire();
  absl::Status StartReplication();
  // What the metrics read from this member at each scrape.
  MemberMetrics::Sources MetricsSources();
  absl::Status StartTransport();

  // member_requests.cc
  // etcd's quota check: a write that would grow the database past the quota raises NOSPACE.
  absl::Status CheckQuota(const internalpb::InternalRequest& request);
  // etcd's "too many requests": more committed entries wait to be applied than kMaxApplyGap.
  bool TooFarBehind() const;
  void ProposeConfChange(raftpb::ConfChangeType type, etcdserverpb::Member member,
                         absl::Time deadline, ProposalDone done);
  // MemberPromote on the leader (followers forward it here); "not leader" elsewhere.
  void PromoteAsLeader(uint64_t id, absl::Time deadline, ProposalDone done);
  // The member's record; absent after answering `done` with "member not found".
  std::optional<etcdserverpb::Member> FindOrRefuse(uint64_t id, ProposalDone& done) const;

  // member_apply.cc (apply thread, and the driver thread for QueueForApply/InstallSnapshot).
  // Wires a freshly opened store to the lessor and the applier (at open and after a snapshot).
  absl::Status AttachStore(raftpb::ConfState conf_state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_);
  void QueueForApply(std::vector<CommittedEntry> entries);
  // Wakes the apply thread with nothing to apply, so that it releases waiting reads.
  void WakeApplyThread();
  void ApplyLoop();
  // Does what the applied entries asked beyond the state: peers, lessor, completions, leaving.
  void CarryOut(ApplyEffects effects);
  void MaybeCompactLog() ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  // This member was removed from the cluster: tell the owner to stop it (once).
  void Leave();
  absl::Status InstallSnapshot(const raftpb::Snapshot& snapshot);
  // Test hook: while the file named by QUORUM_TEST_APPLY_STALL_FILE exists, nothing is applied.
  void MaybeStallApply();

  // member_leases.cc (timer thread).
  void TimerLoop();
  // Promotes or demotes the lessor as leadership and the applied log say; `applied_empty_term`
  // is the term of a leader's empty entry just applied (0 when called for a leader change).
  void UpdateLessorRole(uint64_t applied_empty_term);
  // Leader only: proposes the revoke of leases whose time is up (etcd: only the leader expires
  // leases, through the log, so every member deletes their keys at the same revision).
  void ExpireLeases();
  // etcd behaviour: a member announces its name and client URLs through the log once it has a
  // leader, so every member lists them (MemberList, endpoint status --cluster).
  void PublishAttributes();
  // member_maintenance.cc: completes MoveLeader calls whose target leads or whose deadline passed.
  void FinishMoves();

  // etcd refuses proposals ("too many requests") while more than this many committed entries
  // wait to be applied (maxGapBetweenApplyAndCommitIndex).
  static constexpr uint64_t kMaxApplyGap = 5000;
  // Committed entries queued for the apply thread beyond which the driver waits for it, so a
  // stalled apply holds a bounded amount of memory (entries beyond are left in the log, and
  // peers' messages are dropped while the driver waits).
  static constexpr size_t kMaxQueuedApplyEntries = 2 * kMaxApplyGap;
  static constexpr size_t kMaxQueuedApplyBytes = 64 << 20;

  const Config config_;
  // First built and last destroyed: every thread of the member updates it.
  std::unique_ptr<MemberMetrics> metrics_;
  const std::string apply_stall_file_;
  const uint64_t member_id_;
  const uint64_t cluster_id_;
  absl::AnyInvocable<void()> removed_;
  MemberEnvironment environment_;
  std::atomic<uint64_t> lead_{0};
  std::atomic<uint64_t> term_{0};
  std::atomic<uint64_t> applied_index_{0};
  LeaderHistory leader_history_;

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
  AuthStore auth_;
  // Request, read and lease ids, unique across restarts (etcd's idutil scheme).
  IdGenerator ids_;

  // A joining member's peers, as the cluster listed them, until its first snapshot.
  std::vector<etcdserverpb::Member> joining_peers_;
  // Served on the peer server (stopped with the transport, before this goes).
  std::unique_ptr<MembershipPeerService> membership_peer_;
  std::unique_ptr<HashPeerService> hash_peer_;
  std::unique_ptr<PeerTransport> transport_;
  // The log as the driver writes it: log_ with its synced writes timed.
  std::unique_ptr<FsyncTimedLog> timed_log_;
  std::unique_ptr<RaftDriver> driver_;
  std::unique_ptr<StagingWorker> background_ = std::make_unique<StagingWorker>();

  // Apply-thread state.
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

  std::atomic<bool> publish_in_flight_{false};
  std::atomic<bool> left_{false};
  absl::Time next_publish_ = absl::InfinitePast();
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_MEMBER_H_
