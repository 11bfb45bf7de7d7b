#include "server/raft_driver.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/etcd_errors.h"
#include "raft/fatal.h"
#include "server/peer/transport.h"
#include "spdlog/spdlog.h"

namespace quorum::server {

RaftDriver::RaftDriver(const Options& options, raft::DurableLog* log, PeerTransport* transport,
                       Callbacks callbacks)
    : options_(options), log_(log), transport_(transport), callbacks_(std::move(callbacks)) {}

absl::StatusOr<std::unique_ptr<RaftDriver>> RaftDriver::Start(const Options& options,
                                                              raft::DurableLog* log,
                                                              PeerTransport* transport,
                                                              Callbacks callbacks) {
  std::unique_ptr<RaftDriver> driver(new RaftDriver(options, log, transport, std::move(callbacks)));
  raft::Config config;
  config.id = options.id;
  config.storage = log;
  config.applied = options.applied;
  config.election_tick = options.election_ticks;
  config.heartbeat_tick = 1;
  config.seed = options.seed;
  config.pre_vote = true;
  config.check_quorum = true;
  auto node = raft::RawNode::Create(config);
  if (!node.ok()) return node.status();
  driver->node_ = *std::move(node);
  driver->ready_loop_ = std::make_unique<raft::ReadyLoop>(options.id, log, &driver->outputs_,
                                                          &driver->outputs_, options.sync);
  driver->commit_index_ = driver->node_->Status().commit;
  if (options.campaign_at_start) driver->node_->Campaign();
  driver->PublishStatus();
  if (options.own_thread) driver->thread_ = std::thread([d = driver.get()] { d->Loop(); });
  return driver;
}

RaftDriver::~RaftDriver() { Stop(); }

void RaftDriver::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool RaftDriver::Push(Event& event, size_t bytes) {
  // Transport feedback, transfers and compactions are few and must not be lost (a lost snapshot
  // report would leave the peer waiting for a snapshot): only requests and peer messages,
  // which can be refused or resent, count against the bounds.
  const bool bounded = std::holds_alternative<ProposeEvent>(event) ||
                       std::holds_alternative<ConfChangeEvent>(event) ||
                       std::holds_alternative<ReadEvent>(event) ||
                       std::holds_alternative<StepEvent>(event);
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  if (bounded &&
      (events_.size() >= kMaxQueuedEvents ||
       (bytes > 0 && queued_bytes_ > 0 && queued_bytes_ + bytes > kMaxQueuedEventBytes))) {
    return false;
  }
  queued_bytes_ += bytes;
  events_.push_back(std::move(event));
  return true;
}

void RaftDriver::Propose(std::string data, ErrorCallback on_error) {
  const size_t bytes = data.size();
  Event event = ProposeEvent{std::move(data), std::move(on_error)};
  if (!Push(event, bytes)) std::get<ProposeEvent>(event).on_error(ErrTooManyRequests());
}
void RaftDriver::ProposeConfChange(raftpb::ConfChange change, ErrorCallback on_error) {
  Event event = ConfChangeEvent{std::move(change), std::move(on_error)};
  if (!Push(event)) std::get<ConfChangeEvent>(event).on_error(ErrTooManyRequests());
}
void RaftDriver::ReadIndex(std::string ctx, ErrorCallback on_error) {
  Event event = ReadEvent{std::move(ctx), std::move(on_error)};
  if (!Push(event)) std::get<ReadEvent>(event).on_error(ErrTooManyRequests());
}
void RaftDriver::TransferLeadership(uint64_t transferee) {
  Event event = TransferEvent{transferee};
  Push(event);
}
void RaftDriver::Step(raftpb::Message message) {
  size_t bytes = 0;
  for (const auto& entry : message.entries()) bytes += entry.data().size();
  Event event = StepEvent{std::move(message)};
  Push(event, bytes);  // dropped when full: Raft resends
}
void RaftDriver::ReportUnreachable(uint64_t peer) {
  Event event = ReportEvent{peer, false, false};
  Push(event);
}
void RaftDriver::ReportSnapshot(uint64_t peer, bool ok) {
  Event event = ReportEvent{peer, true, ok};
  Push(event);
}
void RaftDriver::Compact(uint64_t applied, raftpb::ConfState conf_state, uint64_t keep) {
  Event event = CompactEvent{applied, std::move(conf_state), keep};
  Push(event);
}

DriverStatus RaftDriver::Status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

namespace {

// Raft refuses a proposal at once when it has nobody to give it to; etcd answers "no leader".
absl::Status ProposalError(const absl::Status& status) {
  if (absl::IsUnavailable(status)) return ErrNoLeader();
  if (absl::IsResourceExhausted(status)) return ErrTooManyRequests();
  return status;
}

}  // namespace

void RaftDriver::Handle(Event& event) {
  std::visit(
      [this](auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, ProposeEvent>) {
          absl::Status s = node_->Propose(std::move(e.data));
          if (!s.ok()) e.on_error(ProposalError(s));
        } else if constexpr (std::is_same_v<T, ConfChangeEvent>) {
          absl::Status s = node_->ProposeConfChange(e.change);
          if (!s.ok()) e.on_error(absl::IsFailedPrecondition(s) ? s : ProposalError(s));
        } else if constexpr (std::is_same_v<T, ReadEvent>) {
          absl::Status s = node_->ReadIndex(std::move(e.ctx));
          if (!s.ok()) e.on_error(ProposalError(s));
        } else if constexpr (std::is_same_v<T, TransferEvent>) {
          node_->TransferLeadership(e.transferee);
        } else if constexpr (std::is_same_v<T, StepEvent>) {
          absl::Status s = node_->Step(e.message);
          if (!s.ok()) spdlog::debug("raft step: {}", s.ToString());
        } else if constexpr (std::is_same_v<T, ReportEvent>) {
          if (e.snapshot) {
            node_->ReportSnapshot(e.peer, e.ok);
          } else {
            node_->ReportUnreachable(e.peer);
          }
        } else if constexpr (std::is_same_v<T, CompactEvent>) {
          uint64_t compact_to = e.applied > e.keep ? e.applied - e.keep : 0;
          absl::Status s = log_->CreateSnapshot(e.applied, e.conf_state, compact_to);
          if (!s.ok()) spdlog::warn("raft log compaction at {}: {}", e.applied, s.ToString());
        }
      },
      event);
}

bool RaftDriver::TakeEvents(std::deque<Event>* batch) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  batch->swap(events_);
  queued_bytes_ = 0;
  return true;
}

void RaftDriver::Loop() {
  absl::Time next_tick = absl::Now() + absl::FromChrono(options_.tick);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithDeadline(absl::Condition(
                                +[](RaftDriver* d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d->mu_) {
                                  return d->stopping_ || !d->events_.empty();
                                },
                                this),
                            next_tick);
    }
    std::deque<Event> batch;
    if (!TakeEvents(&batch)) return;
    for (auto& event : batch) Handle(event);
    absl::Time now = absl::Now();
    if (now >= next_tick) {
      node_->Tick();
      next_tick += absl::FromChrono(options_.tick);
      // After a stall (a long fsync), don't fire a burst of ticks: that would start elections.
      if (next_tick < now) next_tick = now + absl::FromChrono(options_.tick);
    }
    DrainReady();
    PublishStatus();
  }
}

size_t RaftDriver::RunOnce(int ticks) {
  QUORUM_CHECK(!options_.own_thread, "RunOnce on a driver that runs its own loop thread");
  std::deque<Event> batch;
  if (!TakeEvents(&batch)) return 0;
  for (auto& event : batch) Handle(event);
  for (int i = 0; i < ticks; ++i) node_->Tick();
  DrainReady();
  PublishStatus();
  return batch.size();
}

void RaftDriver::DrainReady() {
  // A log write that failed may have been partly done, and an uninstalled snapshot leaves the
  // state behind the log: going on could acknowledge lost data.
  if (absl::Status s = ready_loop_->Drain(*node_); !s.ok()) Fatal(std::string(s.message()));
}

void RaftDriver::ReadyOutputs::Send(std::vector<raftpb::Message> messages) {
  if (!messages.empty()) driver_->transport_->Send(std::move(messages));
}

void RaftDriver::ReadyOutputs::CommitIndexKnown(uint64_t commit) {
  // Published before this Ready's messages go out: a follower that learns a commit index from
  // them applies up to it, and a leader answering for such a follower (lease renewals) relies on
  // its own CommitIndex() being at least as far.
  driver_->commit_index_.store(commit, std::memory_order_release);
}

void RaftDriver::ReadyOutputs::LeaderChanged(uint64_t lead, uint64_t term) {
  if (driver_->callbacks_.leader_changed) driver_->callbacks_.leader_changed(lead, term);
}

absl::Status RaftDriver::ReadyOutputs::InstallSnapshot(const raftpb::Snapshot& snapshot) {
  if (!driver_->callbacks_.install_snapshot) {
    return absl::FailedPreconditionError("no snapshot installer");
  }
  return driver_->callbacks_.install_snapshot(snapshot);
}

void RaftDriver::ReadyOutputs::Apply(std::vector<CommittedEntry> entries) {
  driver_->callbacks_.apply(std::move(entries));
}

void RaftDriver::ReadyOutputs::ReleaseRead(const raft::ReadState& read) {
  driver_->callbacks_.read_ready(read.index, read.request_ctx);
}

void RaftDriver::PublishStatus() {
  raft::NodeStatus s = node_->Status();
  auto last = log_->LastIndex();
  absl::MutexLock lock(&mu_);
  status_.id = s.id;
  status_.term = s.term;
  status_.lead = s.lead;
  status_.role = s.role;
  status_.commit = s.commit;
  status_.last_index = last.ok() ? *last : 0;
  status_.conf_state = s.conf_state;
  status_.progress = std::move(s.progress);
}

}  // namespace quorum::server
