// RaftDriver: the member loop. One thread owns the Raft state machine (raft::RawNode): it feeds
// it ticks, peer messages, proposals and read requests, and hands each Ready to raft::ReadyLoop
// (persist entries and hard state in one synced batch — group commit —, send messages, hand
// committed entries to the applier, release linearizable reads, Advance), the same loop the
// simulator checks.
//
// Everything reaches the loop through a bounded queue, so callers on gRPC and transport threads
// never block on Raft. Failures are reported through the callbacks given with each request; once
// the queue is full, requests are refused ("too many requests") and peer messages dropped (Raft
// resends what was lost). The apply hook may block the loop while the applier is far behind:
// that is the backpressure between commit and apply.
//
// Tests run it without its thread (Options::own_thread false) and step it with RunOnce(), on
// in-memory fakes of the log and the transport (tests/support).
#ifndef QUORUM_SERVER_RAFT_DRIVER_H_
#define QUORUM_SERVER_RAFT_DRIVER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "raft/raw_node.h"
#include "raft/ready_loop.h"
#include "raftpb/raft.pb.h"

namespace quorum::server {

class PeerTransport;

// A committed entry as the applier receives it (see raft/ready_loop.h).
using CommittedEntry = raft::CommittedEntry;

struct DriverStatus {
  uint64_t id = 0;
  uint64_t term = 0;
  uint64_t lead = 0;
  raft::Role role = raft::Role::kFollower;
  uint64_t commit = 0;
  uint64_t last_index = 0;
  raftpb::ConfState conf_state;
  std::map<uint64_t, raft::ProgressStatus> progress;  // leader only
};

class RaftDriver {
 public:
  using ErrorCallback = std::function<void(absl::Status)>;

  struct Callbacks {
    // Committed entries, in log order, on the driver thread. Queues them; may wait for room
    // while the applier is behind, but must never wait for the driver itself.
    std::function<void(std::vector<CommittedEntry>)> apply;
    // A released linearizable read: serve `ctx` once the applied index reaches `index`.
    std::function<void(uint64_t index, const std::string& ctx)> read_ready;
    // Leadership changed (lead 0: none known).
    std::function<void(uint64_t lead, uint64_t term)> leader_changed;
    // A snapshot from the leader must replace the state machine. Called on the driver thread
    // before the snapshot's metadata is saved; returns only once the state is installed.
    std::function<absl::Status(const raftpb::Snapshot&)> install_snapshot;
  };

  struct Options {
    uint64_t id = 0;
    uint64_t applied = 0;
    std::chrono::milliseconds tick{100};
    int election_ticks = 10;
    bool sync = true;
    uint64_t seed = 0;
    // Campaign at once instead of waiting out an election timeout (etcd fast-forwards a sole
    // voter's ticks the same way), so a one-member cluster serves immediately.
    bool campaign_at_start = false;
    // False: no loop thread is started, and the owner steps the driver with RunOnce(); time
    // then passes only as RunOnce is told to tick (tests, which must not sleep).
    bool own_thread = true;
  };

  // Starts the loop thread. `log` and `transport` must outlive the driver.
  static absl::StatusOr<std::unique_ptr<RaftDriver>> Start(const Options& options,
                                                           raft::DurableLog* log,
                                                           PeerTransport* transport,
                                                           Callbacks callbacks);
  ~RaftDriver();

  // Proposes `data` as a log entry. `on_error` runs (on the driver thread) only if Raft refuses
  // the proposal at once (no leader, overloaded); a proposal accepted but later lost is noticed
  // by the caller's deadline.
  void Propose(std::string data, ErrorCallback on_error);
  void ProposeConfChange(raftpb::ConfChange change, ErrorCallback on_error);
  // Asks for a linearizable read point for `ctx`; callbacks.read_ready fires when it is known.
  void ReadIndex(std::string ctx, ErrorCallback on_error);
  void TransferLeadership(uint64_t transferee);
  // A message from a peer, or transport feedback.
  void Step(raftpb::Message message);
  void ReportUnreachable(uint64_t peer);
  void ReportSnapshot(uint64_t peer, bool ok);
  // Records a snapshot point at the applied index and compacts the log below it, keeping
  // `keep` entries for slow followers. Runs on the driver thread.
  void Compact(uint64_t applied, raftpb::ConfState conf_state, uint64_t keep);

  DriverStatus Status() const;
  // The commit index as this member knows it. It is published before any message that carries
  // it leaves, so no member can have applied an entry above the leader's CommitIndex().
  uint64_t CommitIndex() const { return commit_index_.load(std::memory_order_acquire); }

  // Most events, and bytes of entry data in them, waiting for the loop; past either,
  // proposals are refused and peer messages dropped.
  static constexpr size_t kMaxQueuedEvents = 16384;
  static constexpr size_t kMaxQueuedEventBytes = 64 << 20;

  // Stops the loop; pending callbacks are not run afterwards.
  void Stop();

  // For a driver started with own_thread false, from one thread at a time: handles every queued
  // event, ticks the node `ticks` times, and processes the resulting Readies, as one turn of
  // the loop does. Returns the number of events handled.
  size_t RunOnce(int ticks = 0);

 private:
  struct ProposeEvent {
    std::string data;
    ErrorCallback on_error;
  };
  struct ConfChangeEvent {
    raftpb::ConfChange change;
    ErrorCallback on_error;
  };
  struct ReadEvent {
    std::string ctx;
    ErrorCallback on_error;
  };
  struct TransferEvent {
    uint64_t transferee;
  };
  struct StepEvent {
    raftpb::Message message;
  };
  struct ReportEvent {
    uint64_t peer;
    bool snapshot;
    bool ok;
  };
  struct CompactEvent {
    uint64_t applied;
    raftpb::ConfState conf_state;
    uint64_t keep;
  };
  using Event = std::variant<ProposeEvent, ConfChangeEvent, ReadEvent, TransferEvent, StepEvent,
                             ReportEvent, CompactEvent>;

  // Turns the loop's outputs into the transport's sends and the callbacks.
  class ReadyOutputs : public raft::MessageSink, public raft::CommitSink {
   public:
    explicit ReadyOutputs(RaftDriver* driver) : driver_(driver) {}
    void Send(std::vector<raftpb::Message> messages) override;
    void CommitIndexKnown(uint64_t commit) override;
    void LeaderChanged(uint64_t lead, uint64_t term) override;
    absl::Status InstallSnapshot(const raftpb::Snapshot& snapshot) override;
    void Apply(std::vector<CommittedEntry> entries) override;
    void ReleaseRead(const raft::ReadState& read) override;

   private:
    RaftDriver* const driver_;
  };

  RaftDriver(const Options& options, raft::DurableLog* log, PeerTransport* transport,
             Callbacks callbacks);
  // Queues `event` (moved from only when queued), which carries `bytes` of entry data; false
  // when the queue is full or the driver is stopping, and the caller still holds the event.
  bool Push(Event& event, size_t bytes = 0);
  void Loop();
  // Takes every queued event; false once stopping.
  bool TakeEvents(std::deque<Event>* batch);
  void Handle(Event& event);
  // Processes every Ready the node has; stops the process (Fatal) if the log cannot be written.
  void DrainReady();
  void PublishStatus();

  const Options options_;
  raft::DurableLog* const log_;
  PeerTransport* const transport_;
  Callbacks callbacks_;
  ReadyOutputs outputs_{this};
  std::unique_ptr<raft::RawNode> node_;          // driver thread only
  std::unique_ptr<raft::ReadyLoop> ready_loop_;  // driver thread only

  mutable absl::Mutex mu_;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  DriverStatus status_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> commit_index_{0};
  std::thread thread_;
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_RAFT_DRIVER_H_
