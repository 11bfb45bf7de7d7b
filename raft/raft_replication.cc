// Raft core, log replication: the leader's step function, flow control per
// follower (probe / replicate / snapshot), the commit rule, ReadIndex and
// leadership transfer; and the follower's append, heartbeat and snapshot
// handlers (Raft §5.3, §5.4, §7; thesis §3.10, §6.4).
#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "raft/conf_change.h"
#include "raft/raft.h"

namespace quorum::raft {

namespace {

uint64_t PayloadBytes(const raftpb::Entry& e) { return e.data().size(); }

}  // namespace

absl::Status Raft::StepLeader(const raftpb::Message& m) {
  switch (m.type()) {
    case raftpb::MSG_BEAT:
      BcastHeartbeat(read_queue_.PendingRound());
      return absl::OkStatus();
    case raftpb::MSG_PROPOSE:
      return LeaderPropose(m);
    case raftpb::MSG_READ_INDEX:
      return LeaderReadIndex(m);
    case raftpb::MSG_TRANSFER_LEADER:
      LeaderTransfer(m);
      return absl::OkStatus();
    default:
      break;
  }
  Progress* pr = tracker_.Get(m.from());
  if (pr == nullptr) return absl::OkStatus();  // not (or no longer) a member
  switch (m.type()) {
    case raftpb::MSG_APPEND_RESPONSE:
      LeaderAppendResponse(m, *pr);
      break;
    case raftpb::MSG_HEARTBEAT_RESPONSE:
      LeaderHeartbeatResponse(m, *pr);
      break;
    case raftpb::MSG_SNAP_STATUS:
      if (pr->state != ProgressState::kSnapshot) break;
      if (m.reject()) pr->pending_snapshot = 0;  // failed: probe from match again
      pr->BecomeProbe();
      // Wait for the follower's append response (or a heartbeat response after
      // a failure) before probing, so we do not resend the snapshot at once.
      pr->probe_sent = true;
      break;
    case raftpb::MSG_UNREACHABLE:
      // Pipelined appends are probably lost; fall back to one probe at a time.
      if (pr->state == ProgressState::kReplicate) pr->BecomeProbe();
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

absl::Status Raft::LeaderPropose(const raftpb::Message& m) {
  if (m.entries().empty()) return absl::InvalidArgumentError("empty proposal");
  if (!tracker_.IsVoter(id_)) return absl::UnavailableError("leader is being removed");
  if (lead_transferee_ != 0) {
    return absl::UnavailableError("leadership transfer in progress");
  }
  std::vector<raftpb::Entry> entries(m.entries().begin(), m.entries().end());
  uint64_t conf_index = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].type() != raftpb::ENTRY_CONF_CHANGE) continue;
    // One membership change at a time (conf_change.h).
    if (conf_index != 0 || pending_conf_index_ > log_.applied()) {
      return absl::FailedPreconditionError("a membership change is already in progress");
    }
    raftpb::ConfChange cc;
    if (!cc.ParseFromString(entries[i].data())) {
      return absl::InvalidArgumentError("malformed membership change");
    }
    if (absl::Status s = ApplyConfChangeToConfState(tracker_.ConfState(), cc).status(); !s.ok()) {
      return absl::FailedPreconditionError(s.message());
    }
    conf_index = log_.LastIndex() + 1 + i;
  }
  if (!AppendEntries(std::move(entries))) {
    return absl::ResourceExhaustedError("too many uncommitted proposals");
  }
  if (conf_index != 0) pending_conf_index_ = conf_index;
  BcastAppend();
  return absl::OkStatus();
}

bool Raft::AppendEntries(std::vector<raftpb::Entry> entries) {
  uint64_t bytes = 0;
  uint64_t index = log_.LastIndex();
  for (raftpb::Entry& e : entries) {
    e.set_term(term_);
    e.set_index(++index);
    bytes += PayloadBytes(e);
  }
  // Bounded memory: refuse rather than queue without limit. An empty log tail
  // always admits one proposal, so a single large entry is never stuck.
  if (uncommitted_bytes_ > 0 && bytes > 0 && uncommitted_bytes_ + bytes > max_uncommitted_bytes_) {
    return false;
  }
  uncommitted_bytes_ += bytes;
  const uint64_t last = log_.Append(entries);
  // The leader's own copy counts toward the quorum now: ReadyLoop persists it
  // (in this Ready) before the caller steps any follower's acknowledgement of
  // it, even though the leader sends first. tests/sim crashes leaders between
  // that send and the write to hold this.
  tracker_.Get(id_)->MaybeUpdate(last);
  if (MaybeCommit()) OnCommitAdvanced();
  return true;
}

void Raft::ReduceUncommittedSize(uint64_t applied_bytes) {
  uncommitted_bytes_ = applied_bytes > uncommitted_bytes_ ? 0 : uncommitted_bytes_ - applied_bytes;
}

bool Raft::MaybeCommit() {
  // Raft §5.4.2 (Figure 8): RaftLog::MaybeCommit advances only if the quorum
  // index holds an entry of the current term.
  return log_.MaybeCommit(tracker_.CommittedIndex(), term_);
}

void Raft::OnCommitAdvanced() {
  if (reads_awaiting_commit_.empty() || log_.TermOrZero(log_.committed()) != term_) return;
  std::vector<raftpb::Message> reads = std::exchange(reads_awaiting_commit_, {});
  for (const raftpb::Message& r : reads) (void)LeaderReadIndex(r);
}

void Raft::LeaderAppendResponse(const raftpb::Message& m, Progress& pr) {
  pr.recent_active = true;
  pr.inactive_ticks = 0;
  if (m.reject()) {
    // Fast backtracking (thesis §5.3 optimisation): jump straight to the last
    // index where our log can match the follower's, using its term hint.
    uint64_t next_probe = m.reject_hint();
    if (m.log_term() > 0) {
      next_probe = log_.FindConflictByTerm(m.reject_hint(), m.log_term()).first;
    }
    if (pr.MaybeDecrTo(m.index(), next_probe)) {
      if (pr.state == ProgressState::kReplicate) pr.BecomeProbe();
      SendAppend(m.from());
    }
    return;
  }
  const bool was_paused = pr.IsPaused();
  if (!pr.MaybeUpdate(m.index())) return;
  switch (pr.state) {
    case ProgressState::kProbe:
      pr.BecomeReplicate();
      break;
    case ProgressState::kSnapshot:
      if (pr.match >= pr.pending_snapshot) pr.BecomeProbe();
      break;
    case ProgressState::kReplicate:
      pr.inflights.FreeLE(m.index());
      break;
  }
  if (MaybeCommit()) {
    OnCommitAdvanced();
    BcastAppend();
  } else if (was_paused) {
    SendAppend(m.from());
  }
  // Fill the window: pipelining keeps a fast follower busy.
  while (MaybeSendAppend(m.from(), false)) {
  }
  if (m.from() == lead_transferee_ && pr.match == log_.LastIndex()) {
    SendTimeoutNow(m.from());
  }
}

void Raft::LeaderHeartbeatResponse(const raftpb::Message& m, Progress& pr) {
  pr.recent_active = true;
  pr.inactive_ticks = 0;
  pr.probe_sent = false;
  // A full window whose acks were lost would block forever; a heartbeat
  // response proves the follower is reachable, so free a slot.
  if (pr.state == ProgressState::kReplicate && pr.inflights.Full()) pr.inflights.FreeFirstOne();
  if (pr.match < log_.LastIndex()) SendAppend(m.from());
  if (m.context().empty()) return;
  const std::set<uint64_t>* acks = read_queue_.Ack(m.context(), m.from());
  if (acks == nullptr || !tracker_.IsQuorum(*acks)) return;
  for (const ReadIndexQueue::Request& r : read_queue_.Release(m.context())) AnswerRead(r);
}

absl::Status Raft::LeaderReadIndex(const raftpb::Message& m) {
  ReadIndexQueue::Request req{m.context(), m.from(), log_.committed(), 0};
  if (tracker_.IsQuorum({id_})) {
    AnswerRead(req);  // a single voter needs no confirmation
    return absl::OkStatus();
  }
  if (read_queue_.size() + reads_awaiting_commit_.size() >= max_outbox_msgs_) {
    return absl::ResourceExhaustedError("too many pending reads");
  }
  // Thesis §6.4: until it commits an entry of its term, a new leader's commit
  // index may lag entries committed by its predecessor.
  if (log_.TermOrZero(log_.committed()) != term_) {
    reads_awaiting_commit_.push_back(m);
    return absl::OkStatus();
  }
  read_queue_.Add(m.context(), m.from(), log_.committed());
  return absl::OkStatus();
}

void Raft::FlushReads() {
  if (role_ != Role::kLeader || !read_queue_.HasUnsent()) return;
  const std::string ctx = read_queue_.StartRound(id_);
  BcastHeartbeat(ctx);
}

void Raft::AnswerRead(const ReadIndexQueue::Request& r) {
  if (r.from == 0 || r.from == id_) {
    read_states_.push_back(ReadState{r.index, r.ctx});
    return;
  }
  raftpb::Message resp;
  resp.set_type(raftpb::MSG_READ_INDEX_RESPONSE);
  resp.set_to(r.from);
  resp.set_index(r.index);
  resp.set_context(r.ctx);
  Send(std::move(resp));
}

void Raft::LeaderTransfer(const raftpb::Message& m) {
  const uint64_t transferee = m.from();
  Progress* pr = tracker_.Get(transferee);
  if (pr == nullptr || pr->is_learner || transferee == id_) return;
  if (lead_transferee_ == transferee) return;  // already under way
  AbortTransfer();
  // The transfer must finish within one election timeout (TickHeartbeat).
  election_elapsed_ = 0;
  lead_transferee_ = transferee;
  // Thesis §3.10: bring the transferee up to date first, then TimeoutNow.
  if (pr->match == log_.LastIndex()) {
    SendTimeoutNow(transferee);
  } else {
    SendAppend(transferee);
  }
}

void Raft::SendTimeoutNow(uint64_t to) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_TIMEOUT_NOW);
  m.set_to(to);
  Send(std::move(m));
}

bool Raft::MaybeSendAppend(uint64_t to, bool send_if_empty) {
  Progress* pr = tracker_.Get(to);
  if (pr == nullptr || to == id_ || pr->IsPaused()) return false;
  absl::StatusOr<uint64_t> prev_term = log_.Term(pr->next - 1);
  absl::StatusOr<std::vector<raftpb::Entry>> entries =
      log_.EntriesFrom(pr->next, max_size_per_msg_);
  raftpb::Message m;
  m.set_to(to);
  if (prev_term.ok() && entries.ok()) {
    if (entries->empty() && !send_if_empty) return false;
    m.set_type(raftpb::MSG_APPEND);
    m.set_index(pr->next - 1);
    m.set_log_term(*prev_term);
    m.set_commit(log_.committed());
    if (!entries->empty()) {
      const uint64_t last = entries->back().index();
      if (pr->state == ProgressState::kReplicate) {
        pr->OptimisticUpdate(last);
        pr->inflights.Add(last);
      } else {
        pr->probe_sent = true;
      }
      for (raftpb::Entry& e : *entries) *m.add_entries() = std::move(e);
    }
  } else {
    const bool compacted = (!prev_term.ok() && IsCompacted(prev_term.status())) ||
                           (!entries.ok() && IsCompacted(entries.status()));
    if (!compacted) return false;
    // Raft §7: what the follower needs is gone from our log; send a snapshot,
    // but only to a member we recently heard from (it is expensive).
    if (!pr->recent_active) return false;
    absl::StatusOr<raftpb::Snapshot> snap = log_.Snapshot();
    if (!snap.ok()) {
      if (absl::IsUnavailable(snap.status())) return false;  // being produced
      Fatal(absl::StrCat("snapshot for ", to, ": ", snap.status().ToString()));
    }
    if (snap->metadata().index() == 0) Fatal("log compacted but no snapshot available");
    m.set_type(raftpb::MSG_SNAPSHOT);
    pr->BecomeSnapshot(snap->metadata().index());
    *m.mutable_snapshot() = *std::move(snap);
  }
  Send(std::move(m));
  return true;
}

void Raft::BcastAppend() {
  for (const auto& [id, pr] : tracker_.progress()) {
    if (id != id_) SendAppend(id);
  }
}

void Raft::BcastHeartbeat(const std::string& context) {
  for (const auto& [id, pr] : tracker_.progress()) {
    if (id != id_) SendHeartbeat(id, context);
  }
}

void Raft::SendHeartbeat(uint64_t to, const std::string& context) {
  const Progress* pr = tracker_.Get(to);
  raftpb::Message m;
  m.set_type(raftpb::MSG_HEARTBEAT);
  m.set_to(to);
  // Never tell a follower to commit past what it is known to hold: its log
  // beyond match may still diverge from ours.
  m.set_commit(std::min(pr->match, log_.committed()));
  m.set_context(context);
  Send(std::move(m));
}

void Raft::HandleAppend(const raftpb::Message& m) {
  // Beyond any real log (see kMaxLogIndex): ignored, unanswered.
  if (m.index() >= kMaxLogIndex ||
      (m.entries_size() > 0 && m.entries(m.entries_size() - 1).index() >= kMaxLogIndex)) {
    return;
  }
  raftpb::Message resp;
  resp.set_type(raftpb::MSG_APPEND_RESPONSE);
  resp.set_to(m.from());
  if (m.index() < log_.committed()) {
    // Everything up to our commit index is settled; tell the leader so.
    resp.set_index(log_.committed());
  } else if (std::optional<uint64_t> last =
                 log_.MaybeAppend(m.index(), m.log_term(), m.commit(), m.entries())) {
    resp.set_index(*last);
  } else {
    // Hint: the last index <= m.index() whose term is <= m.log_term(); every
    // entry after it in our log is from a term the leader cannot match there.
    const auto [hint_index, hint_term] =
        log_.FindConflictByTerm(std::min(m.index(), log_.LastIndex()), m.log_term());
    resp.set_index(m.index());
    resp.set_reject(true);
    resp.set_reject_hint(hint_index);
    resp.set_log_term(hint_term);
  }
  Send(std::move(resp));
}

void Raft::HandleHeartbeat(const raftpb::Message& m) {
  log_.CommitTo(m.commit());
  raftpb::Message resp;
  resp.set_type(raftpb::MSG_HEARTBEAT_RESPONSE);
  resp.set_to(m.from());
  resp.set_context(m.context());
  Send(std::move(resp));
}

void Raft::HandleSnapshot(const raftpb::Message& m) {
  raftpb::Message resp;
  resp.set_type(raftpb::MSG_APPEND_RESPONSE);
  resp.set_to(m.from());
  resp.set_index(Restore(m.snapshot()) ? log_.LastIndex() : log_.committed());
  Send(std::move(resp));
}

bool Raft::Restore(const raftpb::Snapshot& snap) {
  const auto& meta = snap.metadata();
  if (meta.index() <= log_.committed()) return false;
  if (meta.index() >= kMaxLogIndex) return false;  // see kMaxLogIndex
  if (log_.MatchTerm(meta.index(), meta.term())) {
    // We already hold the covered entries; only the commit index was behind.
    log_.CommitTo(meta.index());
    return false;
  }
  log_.Restore(snap);
  tracker_.progress().clear();
  tracker_.SetConfState(meta.conf_state(), log_.LastIndex() + 1);
  return true;
}

}  // namespace quorum::raft
