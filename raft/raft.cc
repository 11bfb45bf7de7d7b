// Raft core: construction, terms, elections (Raft §5.2, PreVote, CheckQuorum)
// and dispatch to the per-role step functions. Replication is in
// raft_replication.cc, membership in raft_membership.cc.
#include "raft/raft.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace quorum::raft {

const char* RoleName(Role r) {
  switch (r) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "unknown";
}

absl::Status Config::Validate() const {
  if (id == 0) return absl::InvalidArgumentError("raft config: id must not be 0");
  if (storage == nullptr) return absl::InvalidArgumentError("raft config: storage is required");
  if (heartbeat_tick <= 0) return absl::InvalidArgumentError("raft config: heartbeat_tick <= 0");
  if (election_tick <= heartbeat_tick) {
    return absl::InvalidArgumentError("raft config: election_tick must exceed heartbeat_tick");
  }
  if (max_inflight_msgs == 0) return absl::InvalidArgumentError("raft config: max_inflight_msgs");
  if (max_outbox_msgs == 0) return absl::InvalidArgumentError("raft config: max_outbox_msgs");
  return absl::OkStatus();
}

Raft::Raft(const Config& c)
    : id_(c.id),
      election_timeout_(c.election_tick),
      heartbeat_timeout_(c.heartbeat_tick),
      pre_vote_(c.pre_vote),
      check_quorum_(c.check_quorum),
      max_size_per_msg_(c.max_size_per_msg),
      max_uncommitted_bytes_(c.max_uncommitted_bytes),
      max_outbox_msgs_(c.max_outbox_msgs),
      rng_state_(c.seed ^ (c.id * 0x9E3779B97F4A7C15ull)),
      log_(c.storage, c.max_committed_bytes_per_ready),
      tracker_(c.max_inflight_msgs) {
  absl::StatusOr<PersistedState> st = c.storage->InitialState();
  if (!st.ok()) Fatal(absl::StrCat("storage InitialState: ", st.status().ToString()));
  tracker_.SetConfState(st->conf_state, log_.LastIndex() + 1);
  const raftpb::HardState& hs = st->hard_state;
  if (hs.term() != 0 || hs.vote() != 0 || hs.commit() != 0) {
    if (hs.commit() < log_.committed() || hs.commit() > log_.LastIndex()) {
      Fatal(absl::StrCat("hard state commit ", hs.commit(), " outside [", log_.committed(), ",",
                         log_.LastIndex(), "]"));
    }
    log_.CommitTo(hs.commit());
    term_ = hs.term();
    vote_ = hs.vote();
  }
  if (c.applied > 0) log_.AppliedTo(c.applied);
  BecomeFollower(term_, 0);
}

raftpb::HardState Raft::HardState() const {
  raftpb::HardState hs;
  hs.set_term(term_);
  hs.set_vote(vote_);
  hs.set_commit(log_.committed());
  return hs;
}

std::vector<raftpb::Message> Raft::TakeMessages() { return std::exchange(msgs_, {}); }
std::vector<ReadState> Raft::TakeReadStates() { return std::exchange(read_states_, {}); }

void Raft::Send(raftpb::Message m) {
  if (m.from() == 0) m.set_from(id_);
  const auto t = m.type();
  const bool carries_own_term = t == raftpb::MSG_VOTE || t == raftpb::MSG_VOTE_RESPONSE ||
                                t == raftpb::MSG_PRE_VOTE || t == raftpb::MSG_PRE_VOTE_RESPONSE;
  // Forwarded proposals and reads travel without a term: the leader treats
  // them like local requests, whatever term the forwarder is in.
  if (!carries_own_term && t != raftpb::MSG_PROPOSE && t != raftpb::MSG_READ_INDEX) {
    m.set_term(term_);
  }
  // Bounded outbox: dropping a message is indistinguishable from network loss,
  // which Raft tolerates; running out of memory is not.
  if (msgs_.size() >= max_outbox_msgs_) return;
  msgs_.push_back(std::move(m));
}

void Raft::Reset(uint64_t term) {
  if (term != term_) {
    term_ = term;
    vote_ = 0;
  }
  lead_ = 0;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetRandomizedElectionTimeout();
  AbortTransfer();
  tracker_.ResetVotes();
  const uint64_t last = log_.LastIndex();
  // Rebuild progress with fresh windows; match is only known for ourselves.
  raftpb::ConfState cs = tracker_.ConfState();
  tracker_.progress().clear();
  tracker_.SetConfState(cs, last + 1);
  for (auto& [id, pr] : tracker_.progress()) {
    pr.recent_active = false;
    if (id == id_) pr.match = last;
  }
  pending_conf_index_ = 0;
  uncommitted_bytes_ = 0;
  read_queue_.Reset();
  reads_awaiting_commit_.clear();
}

void Raft::ResetRandomizedElectionTimeout() {
  // splitmix64: tiny, portable and reproducible from the seed.
  uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  randomized_election_timeout_ = election_timeout_ + static_cast<int>(z % election_timeout_);
}

void Raft::BecomeFollower(uint64_t term, uint64_t lead) {
  Reset(term);
  lead_ = lead;
  role_ = Role::kFollower;
}

void Raft::BecomePreCandidate() {
  if (role_ == Role::kLeader) Fatal("leader cannot become pre-candidate");
  // A pre-election changes neither term nor vote (thesis §9.6): a member that
  // cannot win must not force the cluster into a new term.
  tracker_.ResetVotes();
  role_ = Role::kPreCandidate;
  lead_ = 0;
}

void Raft::BecomeCandidate() {
  if (role_ == Role::kLeader) Fatal("leader cannot become candidate");
  Reset(term_ + 1);
  vote_ = id_;
  role_ = Role::kCandidate;
}

void Raft::BecomeLeader() {
  if (role_ == Role::kFollower) Fatal("follower cannot become leader without an election");
  Reset(term_);
  lead_ = id_;
  role_ = Role::kLeader;
  if (Progress* self = tracker_.Get(id_)) self->BecomeReplicate();
  // Raft §5.4.2/§8: commit an entry of our own term so earlier entries commit
  // and ReadIndex learns a current commit index.
  AppendEntries({raftpb::Entry()});
  // Conf changes in our uncommitted tail may be pending; refuse new ones until
  // everything up to and including our first entry is applied (conf_change.h).
  pending_conf_index_ = log_.LastIndex();
}

void Raft::Tick() {
  if (role_ == Role::kLeader) {
    TickHeartbeat();
  } else {
    TickElection();
  }
}

void Raft::TickElection() {
  ++election_elapsed_;
  if (Promotable() && election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    raftpb::Message m;
    m.set_type(raftpb::MSG_HUP);
    (void)Step(m);
  }
}

void Raft::TickHeartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  // CheckQuorum: a leader cut off from a majority steps down, so clients on its side fail fast
  // instead of waiting on a leader that cannot commit. Checked every tick against when each
  // member last answered, so it happens an election timeout after the cut (plus at most a
  // heartbeat: the last answers came up to one before it), not up to two timeouts as a check
  // once per timeout would take.
  if (check_quorum_ && !tracker_.TickQuorumHeardWithin(id_, election_timeout_)) {
    BecomeFollower(term_, 0);
    return;
  }
  if (election_elapsed_ >= election_timeout_) {
    election_elapsed_ = 0;
    tracker_.QuorumActive(id_);  // starts the next interval of recent_active
    // A transfer that did not finish within an election timeout is abandoned.
    AbortTransfer();
  }
  if (heartbeat_elapsed_ >= heartbeat_timeout_) {
    heartbeat_elapsed_ = 0;
    BcastHeartbeat(read_queue_.PendingRound());
  }
}

bool Raft::HasUnappliedConfChanges() const {
  const uint64_t lo = std::max(log_.applied() + 1, log_.FirstIndex());
  if (log_.committed() < lo) return false;
  absl::StatusOr<std::vector<raftpb::Entry>> ents =
      log_.Slice(lo, log_.committed() + 1, UINT64_MAX);
  if (!ents.ok()) return false;
  for (const raftpb::Entry& e : *ents) {
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) return true;
  }
  return false;
}

void Raft::Hup(CampaignKind kind) {
  if (role_ == Role::kLeader || !Promotable()) return;
  // A member that has not applied a committed membership change does not know
  // the configuration it would lead; campaigning could split the cluster.
  if (HasUnappliedConfChanges()) return;
  Campaign(kind);
}

void Raft::Campaign(CampaignKind kind) {
  raftpb::MessageType type;
  uint64_t term;
  if (kind == CampaignKind::kPreElection) {
    BecomePreCandidate();
    type = raftpb::MSG_PRE_VOTE;
    term = term_ + 1;  // the term we would campaign in; not adopted yet
  } else {
    BecomeCandidate();
    type = raftpb::MSG_VOTE;
    term = term_;
  }
  tracker_.RecordVote(id_, true);
  if (tracker_.TallyVotes() == ProgressTracker::VoteResult::kWon) {
    // Single voter: no one to ask.
    if (kind == CampaignKind::kPreElection) {
      Campaign(CampaignKind::kElection);
    } else {
      BecomeLeader();
    }
    return;
  }
  for (uint64_t id : tracker_.voters()) {
    if (id == id_) continue;
    raftpb::Message m;
    m.set_type(type);
    m.set_to(id);
    m.set_term(term);
    m.set_index(log_.LastIndex());
    m.set_log_term(log_.LastTerm());
    if (kind == CampaignKind::kTransfer) m.set_context(kCampaignTransfer);
    Send(std::move(m));
  }
}

absl::Status Raft::Step(const raftpb::Message& m) {
  const auto t = m.type();
  const bool vote_request = t == raftpb::MSG_VOTE || t == raftpb::MSG_PRE_VOTE;
  if (m.term() == 0) {
    // Local input or forwarded request.
  } else if (m.term() > term_) {
    if (vote_request) {
      const bool forced = m.context() == kCampaignTransfer;
      // Leader stickiness (thesis §4.2.3): while we hear from a leader, a
      // candidate with a higher term is a removed or partitioned member.
      const bool in_lease = check_quorum_ && lead_ != 0 && election_elapsed_ < election_timeout_;
      if (!forced && in_lease) return absl::OkStatus();
    }
    if (t == raftpb::MSG_PRE_VOTE) {
      // A pre-vote never changes our term.
    } else if (t == raftpb::MSG_PRE_VOTE_RESPONSE && !m.reject()) {
      // Granted pre-votes carry the future term; we adopt it when we campaign.
    } else if (t == raftpb::MSG_APPEND || t == raftpb::MSG_HEARTBEAT || t == raftpb::MSG_SNAPSHOT) {
      BecomeFollower(m.term(), m.from());
    } else {
      BecomeFollower(m.term(), 0);
    }
  } else if (m.term() < term_) {
    if ((check_quorum_ || pre_vote_) && (t == raftpb::MSG_HEARTBEAT || t == raftpb::MSG_APPEND)) {
      // A stale leader (e.g. healed from a partition) learns our term from the
      // response and steps down; without this, PreVote could leave it and a
      // follower stuck, neither able to advance.
      raftpb::Message resp;
      resp.set_type(raftpb::MSG_APPEND_RESPONSE);
      resp.set_to(m.from());
      Send(std::move(resp));
    } else if (t == raftpb::MSG_PRE_VOTE) {
      raftpb::Message resp;
      resp.set_type(raftpb::MSG_PRE_VOTE_RESPONSE);
      resp.set_to(m.from());
      resp.set_term(term_);
      resp.set_reject(true);
      Send(std::move(resp));
    }
    return absl::OkStatus();
  }

  switch (t) {
    case raftpb::MSG_HUP:
      Hup(pre_vote_ ? CampaignKind::kPreElection : CampaignKind::kElection);
      return absl::OkStatus();
    case raftpb::MSG_VOTE:
    case raftpb::MSG_PRE_VOTE:
      HandleVoteRequest(m);
      return absl::OkStatus();
    default:
      break;
  }
  switch (role_) {
    case Role::kLeader:
      return StepLeader(m);
    case Role::kCandidate:
    case Role::kPreCandidate:
      return StepCandidate(m);
    case Role::kFollower:
      return StepFollower(m);
  }
  return absl::OkStatus();
}

void Raft::HandleVoteRequest(const raftpb::Message& m) {
  const bool pre = m.type() == raftpb::MSG_PRE_VOTE;
  // Raft §5.2: at most one vote per term. A repeated request from the member
  // we voted for is answered again (the first answer may have been lost).
  const bool can_vote =
      vote_ == m.from() || (vote_ == 0 && lead_ == 0) || (pre && m.term() > term_);
  raftpb::Message resp;
  resp.set_type(pre ? raftpb::MSG_PRE_VOTE_RESPONSE : raftpb::MSG_VOTE_RESPONSE);
  resp.set_to(m.from());
  // Raft §5.4.1: only a candidate whose log is at least as up-to-date as ours
  // can hold every committed entry.
  if (can_vote && log_.IsUpToDate(m.index(), m.log_term())) {
    // Answer with the request's term: for a pre-vote ours is lower, and the
    // candidate must be able to count the grant.
    resp.set_term(m.term());
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from();
    }
  } else {
    resp.set_term(term_);
    resp.set_reject(true);
  }
  Send(std::move(resp));
}

absl::Status Raft::StepCandidate(const raftpb::Message& m) {
  const auto my_response =
      role_ == Role::kPreCandidate ? raftpb::MSG_PRE_VOTE_RESPONSE : raftpb::MSG_VOTE_RESPONSE;
  switch (m.type()) {
    case raftpb::MSG_PROPOSE:
    case raftpb::MSG_READ_INDEX:
      return absl::UnavailableError("no leader");
    case raftpb::MSG_APPEND:
      BecomeFollower(m.term(), m.from());
      HandleAppend(m);
      return absl::OkStatus();
    case raftpb::MSG_HEARTBEAT:
      BecomeFollower(m.term(), m.from());
      HandleHeartbeat(m);
      return absl::OkStatus();
    case raftpb::MSG_SNAPSHOT:
      BecomeFollower(m.term(), m.from());
      HandleSnapshot(m);
      return absl::OkStatus();
    case raftpb::MSG_TRANSFER_LEADER:
      return absl::UnavailableError("no leader");
    default:
      break;
  }
  if (m.type() != my_response) return absl::OkStatus();
  tracker_.RecordVote(m.from(), !m.reject());
  switch (tracker_.TallyVotes()) {
    case ProgressTracker::VoteResult::kWon:
      if (role_ == Role::kPreCandidate) {
        Campaign(CampaignKind::kElection);
      } else {
        BecomeLeader();
        BcastAppend();
      }
      break;
    case ProgressTracker::VoteResult::kLost:
      BecomeFollower(term_, 0);
      break;
    case ProgressTracker::VoteResult::kPending:
      break;
  }
  return absl::OkStatus();
}

absl::Status Raft::StepFollower(const raftpb::Message& m) {
  switch (m.type()) {
    case raftpb::MSG_PROPOSE:
    case raftpb::MSG_READ_INDEX:
    case raftpb::MSG_TRANSFER_LEADER: {
      if (lead_ == 0) return absl::UnavailableError("no leader");
      if (msgs_.size() >= max_outbox_msgs_) {
        return absl::ResourceExhaustedError("raft outbox full");
      }
      raftpb::Message fwd = m;
      fwd.set_to(lead_);
      Send(std::move(fwd));
      return absl::OkStatus();
    }
    case raftpb::MSG_APPEND:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleAppend(m);
      return absl::OkStatus();
    case raftpb::MSG_HEARTBEAT:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleHeartbeat(m);
      return absl::OkStatus();
    case raftpb::MSG_SNAPSHOT:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleSnapshot(m);
      return absl::OkStatus();
    case raftpb::MSG_TIMEOUT_NOW:
      // The leader hands over: campaign now, skipping PreVote, and tell voters
      // to ignore their leader lease (thesis §3.10).
      Hup(CampaignKind::kTransfer);
      return absl::OkStatus();
    case raftpb::MSG_READ_INDEX_RESPONSE:
      read_states_.push_back(ReadState{m.index(), m.context()});
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

}  // namespace quorum::raft
