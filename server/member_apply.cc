// Member: the apply thread. The driver queues committed entries (waiting while the queue is
// full, which is the backpressure between commit and apply); the apply thread hands them to the
// Applier in log order under the state lock, then does what they asked beyond the state:
// completes proposals, releases reads, reconnects peers, promotes the lessor, and stops the
// member once it was removed. A leader's snapshot replaces the whole state on the driver thread.
#include <chrono>
#include <filesystem>
#include <system_error>

#include "proto/etcd_errors.h"
#include "server/member.h"
#include "server/peer/peer_channel.h"
#include "server/peer/transport.h"
#include "server/snapshot_bridge.h"
#include "spdlog/spdlog.h"

namespace quorum::server {
namespace {

size_t EntryBytes(const std::vector<CommittedEntry>& entries) {
  size_t bytes = 0;
  for (const auto& c : entries) bytes += c.entry.data().size();
  return bytes;
}

}  // namespace

absl::Status Member::AttachStore(raftpb::ConfState conf_state) {
  if (auto s = lessor_->Load(backend_.get(), store_->LeasedKeys()); !s.ok()) return s;
  store_->SetLeaseChecker([this](int64_t id) { return lessor_->Exists(id); });
  store_->SetEventSink(
      [this, store = store_.get()](int64_t revision, const std::vector<mvccpb::Event>& events) {
        lessor_->OnEvents(events);
        watch_hub_->OnCommit(revision, events, *store);
      });
  applier_ = std::make_unique<Applier>(member_id_,
                                       Applier::State{.store = store_.get(),
                                                      .alarms = &alarms_,
                                                      .lessor = lessor_.get(),
                                                      .membership = membership_.get(),
                                                      .auth = &auth_},
                                       std::move(conf_state));
  return absl::OkStatus();
}

void Member::QueueForApply(std::vector<CommittedEntry> entries) {
  const size_t count = entries.size();
  const size_t bytes = EntryBytes(entries);
  absl::MutexLock lock(&apply_mu_);
  // An empty queue takes any batch, so one batch larger than the bounds still goes through.
  apply_mu_.Await(absl::Condition(
      +[](Member* m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m->apply_mu_) {
        return m->stopping_ || m->queued_entries_ == 0 ||
               (m->queued_entries_ < kMaxQueuedApplyEntries &&
                m->queued_bytes_ < kMaxQueuedApplyBytes);
      },
      this));
  if (stopping_) return;
  queued_entries_ += count;
  queued_bytes_ += bytes;
  apply_queue_.push_back(std::move(entries));
}

void Member::WakeApplyThread() {
  absl::MutexLock lock(&apply_mu_);
  apply_queue_.emplace_back();
}

void Member::MaybeStallApply() {
  if (apply_stall_file_.empty()) return;
  bool logged = false;
  std::error_code ec;
  while (std::filesystem::exists(apply_stall_file_, ec)) {
    if (!logged) spdlog::warn("apply stalled while {} exists (test hook)", apply_stall_file_);
    logged = true;
    absl::MutexLock lock(&apply_mu_);
    if (apply_mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(20))) return;
  }
}

void Member::ApplyLoop() {
  while (true) {
    MaybeStallApply();
    std::deque<std::vector<CommittedEntry>> batches;
    size_t entries = 0;
    size_t bytes = 0;
    {
      absl::MutexLock lock(&apply_mu_);
      apply_mu_.Await(absl::Condition(
          +[](Member* m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m->apply_mu_) {
            return m->stopping_ || !m->apply_queue_.empty();
          },
          this));
      if (stopping_) return;
      batches.swap(apply_queue_);
      // Still counted while they are applied, so the bound covers them too.
      entries = queued_entries_;
      bytes = queued_bytes_;
    }
    ApplyEffects effects;
    const auto apply_start = std::chrono::steady_clock::now();
    {
      absl::ReaderMutexLock lock(&state_mu_);
      for (const auto& batch : batches) {
        for (const auto& committed : batch) {
          applier_->Apply(committed.entry, committed.conf_state, &effects);
        }
      }
      applied_index_ = store_->Applied().index;
      MaybeCompactLog();
    }
    // etcd times the commit of its backend's batch of applied entries; ours is the store's
    // writes of this batch (each entry's write batch, fsynced as the store is configured).
    if (entries > 0) {
      metrics_->backend_commit().Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - apply_start).count());
    }
    {
      absl::MutexLock lock(&apply_mu_);
      queued_entries_ -= entries;
      queued_bytes_ -= bytes;
    }
    // Outside state_mu_: a completion may read the member (headers, member lists).
    CarryOut(std::move(effects));
  }
}

void Member::CarryOut(ApplyEffects effects) {
  for (const auto& peer : effects.peers) {
    if (peer.removed) {
      transport_->RemovePeer(peer.id);
    } else {
      transport_->SetPeer(peer.id, peer.urls);
    }
  }
  if (effects.leader_entry_term != 0) UpdateLessorRole(effects.leader_entry_term);
  for (auto& [id, result] : effects.completions) waits_.CompleteWrite(id, std::move(result));
  waits_.ReleaseReads(applied_index_.load());
  if (effects.removed_self) Leave();
}

void Member::Leave() {
  if (left_.exchange(true)) return;
  // etcd behaviour: a removed member stops; it may not serve or vote any more. Its owner stops
  // it (quorumd shuts down as on a signal).
  spdlog::warn("{}; shutting down", kPeerRemovedMessage);
  if (removed_) removed_();
}

void Member::MaybeCompactLog() {
  uint64_t applied = store_->Applied().index;
  if (applied - last_snapshot_index_ < config_.snapshot_count) return;
  last_snapshot_index_ = applied;
  driver_->Compact(applied, applier_->conf_state(), config_.snapshot_catchup_entries);
}

absl::Status Member::InstallSnapshot(const raftpb::Snapshot& snapshot) {
  // Exclusive: no read or apply sees the state while it is replaced.
  absl::MutexLock lock(&state_mu_);
  if (auto s = InstallStagedSnapshot(backend_.get(), snapshot); !s.ok()) return s;
  applier_.reset();
  store_.reset();
  auto store = OpenStore(backend_.get());
  if (!store.ok()) return store.status();
  store_ = *std::move(store);
  if (auto s = AttachStore(snapshot.metadata().conf_state()); !s.ok()) return s;
  watch_hub_->Reset(store_->CurrentRevision());
  if (auto s = membership_->Reload(); !s.ok()) return s;
  if (auto s = alarms_.Load(backend_.get()); !s.ok()) return s;
  if (auto s = auth_.Load(backend_.get()); !s.ok()) return s;
  for (const auto& m : membership_->List()) {
    if (m.id() != member_id_) transport_->SetPeer(m.id(), PeerUrls(m));
  }
  last_snapshot_index_ = snapshot.metadata().index();
  applied_index_ = store_->Applied().index;
  // Reads waiting for an index the snapshot covers are released by the apply thread.
  WakeApplyThread();
  spdlog::info("installed snapshot at index {} (revision {})", snapshot.metadata().index(),
               store_->CurrentRevision());
  return absl::OkStatus();
}

}  // namespace quorum::server
