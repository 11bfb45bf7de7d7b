// Replication progress and quorum arithmetic; see progress.h.
#include "raft/progress.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "raft/raft_log.h"

namespace quorum::raft {

void Inflights::Add(uint64_t last_index) {
  if (Full()) Fatal("inflights: add to a full window");
  size_t slot = start_ + count_;
  if (slot >= capacity_) slot -= capacity_;
  if (slot >= buffer_.size())
    buffer_.resize(std::min(capacity_, std::max<size_t>(slot + 1, buffer_.size() * 2)));
  buffer_[slot] = last_index;
  ++count_;
}

void Inflights::FreeLE(uint64_t index) {
  while (count_ > 0 && buffer_[start_] <= index) {
    if (++start_ >= capacity_) start_ = 0;
    --count_;
  }
  if (count_ == 0) start_ = 0;
}

void Inflights::FreeFirstOne() {
  if (count_ == 0) return;
  FreeLE(buffer_[start_]);
}

void Inflights::Reset() {
  start_ = 0;
  count_ = 0;
}

const char* ProgressStateName(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "unknown";
}

void Progress::BecomeProbe() {
  // After a snapshot, resume right after it: the follower has at least that.
  if (state == ProgressState::kSnapshot) {
    next = std::max(match + 1, pending_snapshot + 1);
  } else {
    next = match + 1;
  }
  state = ProgressState::kProbe;
  pending_snapshot = 0;
  probe_sent = false;
  inflights.Reset();
}

void Progress::BecomeReplicate() {
  state = ProgressState::kReplicate;
  pending_snapshot = 0;
  probe_sent = false;
  inflights.Reset();
  next = match + 1;
}

void Progress::BecomeSnapshot(uint64_t snapshot_index) {
  state = ProgressState::kSnapshot;
  pending_snapshot = snapshot_index;
  probe_sent = false;
  inflights.Reset();
}

bool Progress::MaybeUpdate(uint64_t n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::MaybeDecrTo(uint64_t rejected, uint64_t match_hint) {
  if (state == ProgressState::kReplicate) {
    // Appends are pipelined; only a rejection above match is news.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // In probe state only the reply to the one outstanding probe counts.
  if (next - 1 != rejected) return false;
  next = std::max<uint64_t>(std::min(rejected, match_hint + 1), 1);
  probe_sent = false;
  return true;
}

bool Progress::IsPaused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.Full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

void ProgressTracker::SetConfState(const raftpb::ConfState& cs, uint64_t next_index) {
  voters_ = std::set<uint64_t>(cs.voters().begin(), cs.voters().end());
  learners_ = std::set<uint64_t>(cs.learners().begin(), cs.learners().end());
  for (auto it = progress_.begin(); it != progress_.end();) {
    if (!voters_.count(it->first) && !learners_.count(it->first)) {
      it = progress_.erase(it);
    } else {
      ++it;
    }
  }
  auto ensure = [&](uint64_t id, bool learner) {
    auto it = progress_.find(id);
    if (it == progress_.end()) {
      it = progress_.emplace(id, Progress(max_inflight_)).first;
      it->second.next = next_index;
      // A new member counts as active so CheckQuorum does not depose the
      // leader before the member had a chance to answer.
      it->second.recent_active = true;
    }
    it->second.is_learner = learner;
  };
  for (uint64_t id : voters_) ensure(id, false);
  for (uint64_t id : learners_) ensure(id, true);
}

raftpb::ConfState ProgressTracker::ConfState() const {
  raftpb::ConfState cs;
  for (uint64_t id : voters_) cs.add_voters(id);
  for (uint64_t id : learners_) cs.add_learners(id);
  return cs;
}

Progress* ProgressTracker::Get(uint64_t id) {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

uint64_t ProgressTracker::CommittedIndex() const {
  if (voters_.empty()) return 0;
  std::vector<uint64_t> matches;
  matches.reserve(voters_.size());
  for (uint64_t id : voters_) {
    auto it = progress_.find(id);
    matches.push_back(it == progress_.end() ? 0 : it->second.match);
  }
  std::sort(matches.begin(), matches.end(), std::greater<uint64_t>());
  // The QuorumSize()-th largest match is on at least a majority.
  return matches[QuorumSize() - 1];
}

bool ProgressTracker::QuorumActive(uint64_t self) {
  std::set<uint64_t> active;
  for (auto& [id, pr] : progress_) {
    if (id == self) {
      active.insert(id);
      continue;
    }
    if (pr.recent_active) active.insert(id);
    pr.recent_active = false;
  }
  return IsQuorum(active);
}

bool ProgressTracker::TickQuorumHeardWithin(uint64_t self, int ticks) {
  std::set<uint64_t> heard;
  for (auto& [id, pr] : progress_) {
    if (id != self && ++pr.inactive_ticks >= ticks) continue;
    heard.insert(id);
  }
  return IsQuorum(heard);
}

bool ProgressTracker::IsQuorum(const std::set<uint64_t>& acks) const {
  size_t n = 0;
  for (uint64_t id : voters_) n += acks.count(id);
  return !voters_.empty() && n >= QuorumSize();
}

void ProgressTracker::RecordVote(uint64_t id, bool granted) { votes_.emplace(id, granted); }

ProgressTracker::VoteResult ProgressTracker::TallyVotes() const {
  size_t granted = 0;
  size_t rejected = 0;
  for (uint64_t id : voters_) {
    auto it = votes_.find(id);
    if (it == votes_.end()) continue;
    (it->second ? granted : rejected)++;
  }
  if (granted >= QuorumSize()) return VoteResult::kWon;
  if (rejected > voters_.size() - QuorumSize()) return VoteResult::kLost;
  return VoteResult::kPending;
}

}  // namespace quorum::raft
