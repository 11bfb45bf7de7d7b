// One seeded cluster scenario; see simulation.h.
#include "tests/sim/simulation.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "raft/raft.h"

namespace quorum::sim {

namespace {

constexpr int kStepsPerTick = 4;
constexpr int kElectionTick = 10;
constexpr uint64_t kLivenessTicks = 300;

std::string EncodeState(uint64_t index, uint64_t hash) {
  std::string s(16, '\0');
  std::memcpy(s.data(), &index, 8);
  std::memcpy(s.data() + 8, &hash, 8);
  return s;
}

std::pair<uint64_t, uint64_t> DecodeState(const std::string& s) {
  uint64_t index = 0, hash = 0;
  if (s.size() == 16) {
    std::memcpy(&index, s.data(), 8);
    std::memcpy(&hash, s.data() + 8, 8);
  }
  return {index, hash};
}

bool HeapLater(const auto& a, const auto& b) {
  return a.deliver_at != b.deliver_at ? a.deliver_at > b.deliver_at : a.seq > b.seq;
}

}  // namespace

uint64_t Rng::Next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A member's disk: what it saved survives a crash. It is also where a member can crash in the
// middle of a Ready: before its write (for a leader, after its messages left) or after it (for
// the others, before their messages leave).
class Simulation::Disk : public testing::MemoryLogStore {
 public:
  Disk(Simulation* sim, uint64_t id) : sim_(sim), id_(id) {}

  absl::Status Save(const std::optional<raftpb::Snapshot>& snapshot,
                    const std::vector<raftpb::Entry>& entries,
                    const std::optional<raftpb::HardState>& hard_state, bool sync) override {
    const CrashPoint crash = sim_->MidReadyCrash(id_, !entries.empty());
    if (crash == CrashPoint::kBeforeWrite) return absl::AbortedError(kCrashed);
    if (absl::Status s = MemoryLogStore::Save(snapshot, entries, hard_state, sync); !s.ok()) {
      return s;
    }
    for (const raftpb::Entry& e : entries) {
      absl::StatusOr<uint64_t> prev = memory().Term(e.index() - 1);
      sim_->checker_.ObservePersisted(id_, e, prev.ok() ? *prev : 0);
    }
    if (crash == CrashPoint::kAfterWrite) return absl::AbortedError(kCrashed);
    return absl::OkStatus();
  }

  static constexpr char kCrashed[] = "member crashed";

 private:
  Simulation* const sim_;
  const uint64_t id_;
};

// A member: its disk (survives crashes) and its volatile part (the RawNode, its Ready loop and
// the application state), lost on a crash. It is the application its Ready loop reports to.
struct Simulation::Member : raft::MessageSink, raft::CommitSink {
  Member(Simulation* sim, uint64_t id) : sim(sim), id(id) {}

  void Send(std::vector<raftpb::Message> messages) override {
    for (raftpb::Message& msg : messages) sim->Send(std::move(msg));
  }
  absl::Status InstallSnapshot(const raftpb::Snapshot& snapshot) override {
    auto [index, hash] = DecodeState(snapshot.data());
    sim->checker_.ObserveSnapshotInstalled(id, index, hash);
    applied = index;
    state_hash = hash;
    return absl::OkStatus();
  }
  void Apply(std::vector<raft::CommittedEntry> entries) override {
    for (const raft::CommittedEntry& c : entries) {
      const raftpb::Entry& e = c.entry;
      state_hash = sim->checker_.ObserveApplied(id, applied, state_hash, e);
      applied = e.index();
      if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
        sim->conf_change_indexes_.insert(e.index());
      } else if (!sim->liveness_marker_.empty() && e.data() == sim->liveness_marker_) {
        saw_marker = true;
      }
    }
  }
  void ReleaseRead(const raft::ReadState& read) override {
    auto it = reads.find(read.request_ctx);
    if (it != reads.end()) {
      sim->checker_.ObserveRead(id, read.index, it->second);
      reads.erase(it);
    }
  }

  Simulation* const sim;
  const uint64_t id;
  std::unique_ptr<Disk> disk;
  std::unique_ptr<raft::RawNode> node;  // null while crashed
  std::unique_ptr<raft::ReadyLoop> ready_loop;
  uint64_t applied = 0;
  uint64_t state_hash = 0;
  uint64_t restart_at = 0;  // tick at which a crashed member comes back
  bool saw_marker = false;
  uint64_t leader_term_checked = 0;
  std::map<std::string, uint64_t> reads;  // ctx -> index committed at issue
};

Simulation::Simulation(uint64_t seed) : seed_(seed), rng_(seed) {
  const int sizes[] = {3, 5, 7};
  const int n = sizes[rng_.Uniform(3)];
  for (int i = 1; i <= n; ++i) ids_.push_back(i);
  result_.members = n;
  // Each scenario gets its own fault profile, from benign to hostile.
  loss_ppm_ = rng_.Chance(200000) ? 0 : rng_.Uniform(300000);
  dup_ppm_ = rng_.Uniform(100000);
  max_delay_ = rng_.Uniform(8 * kStepsPerTick);
  partition_ppm_ = rng_.Uniform(200000);
  crash_ppm_ = rng_.Uniform(20000);
  compact_ppm_ = rng_.Uniform(50000);
  transfer_ppm_ = rng_.Uniform(10000);
  pre_vote_ = rng_.Chance(500000);
  check_quorum_ = rng_.Chance(500000);
  leader_crash_ppm_ = rng_.Uniform(150000);
  // A member removed while cut off never learns it and, without PreVote and
  // CheckQuorum, keeps forcing elections (thesis §4.2.3); membership churn is
  // exercised in the configuration that guards against that.
  conf_change_ppm_ = (pre_vote_ && check_quorum_) ? rng_.Uniform(150000) : 0;
  proposals_per_tick_ = 1 + rng_.Uniform(4);
  // Crashes inside a Ready: a leader with new entries between sending them and writing them
  // (the order quorumd uses), and anyone before or after its write.
  leader_mid_ready_crash_ppm_ = rng_.Chance(300000) ? 0 : rng_.Uniform(30000);
  mid_ready_crash_ppm_ = rng_.Uniform(2000);
  raftpb::Snapshot boot;
  boot.mutable_metadata()->set_index(1);
  boot.mutable_metadata()->set_term(1);
  for (uint64_t id : ids_) boot.mutable_metadata()->mutable_conf_state()->add_voters(id);
  boot.set_data(EncodeState(1, 0));
  for (uint64_t id : ids_) {
    auto m = std::make_unique<Member>(this, id);
    m->disk = std::make_unique<Disk>(this, id);
    if (!m->disk->memory().ApplySnapshot(boot).ok()) std::abort();
    members_[id] = std::move(m);
    Start(id);
  }
}

Simulation::~Simulation() = default;

bool Simulation::Alive(uint64_t id) const { return members_.at(id)->node != nullptr; }

void Simulation::Start(uint64_t id) {
  Member& m = *members_.at(id);
  raft::Config c;
  c.id = id;
  c.storage = m.disk.get();
  c.election_tick = kElectionTick;
  c.heartbeat_tick = 1;
  c.seed = seed_;
  c.max_size_per_msg = rng_.Chance(500000) ? 1 : 1 + rng_.Uniform(2048);
  c.max_inflight_msgs = 1 + rng_.Uniform(16);
  c.pre_vote = pre_vote_;
  c.check_quorum = check_quorum_;
  // The application state is volatile: it restarts from the last snapshot.
  auto [index, hash] = DecodeState(m.disk->Snapshot()->data());
  c.applied = index;
  absl::StatusOr<std::unique_ptr<raft::RawNode>> node = raft::RawNode::Create(c);
  if (!node.ok()) std::abort();
  m.node = *std::move(node);
  m.ready_loop = std::make_unique<raft::ReadyLoop>(id, m.disk.get(), &m, &m);
  m.applied = index;
  m.state_hash = hash;
  m.reads.clear();
}

void Simulation::Crash(uint64_t id) {
  Member& m = *members_.at(id);
  m.ready_loop.reset();
  m.node.reset();
  m.disk->Crash();
  result_.crashes++;
}

Simulation::CrashPoint Simulation::MidReadyCrash(uint64_t id, bool has_entries) {
  const Member& m = *members_.at(id);
  if (healed_) return CrashPoint::kNone;
  if (has_entries && m.ready_loop->lead() == id && rng_.Chance(leader_mid_ready_crash_ppm_)) {
    result_.mid_ready_crashes++;
    return CrashPoint::kBeforeWrite;
  }
  if (rng_.Chance(mid_ready_crash_ppm_)) {
    result_.mid_ready_crashes++;
    return rng_.Uniform(2) ? CrashPoint::kBeforeWrite : CrashPoint::kAfterWrite;
  }
  return CrashPoint::kNone;
}

uint64_t Simulation::Leader() const {
  uint64_t leader = 0, term = 0;
  for (const auto& [id, m] : members_) {
    if (!m->node) continue;
    raft::Raft& r = m->node->raft();
    if (r.role() == raft::Role::kLeader && r.term() >= term) {
      leader = id;
      term = r.term();
    }
  }
  return leader;
}

void Simulation::Observe(uint64_t id) {
  Member& m = *members_.at(id);
  if (!m.node) return;
  raft::Raft& r = m.node->raft();
  checker_.ObserveRole(id, r);
  // Leader completeness, checked the moment a member wins a term: nothing can
  // have committed in that term yet, so every entry applied anywhere so far
  // was committed in an earlier term and must be in the new leader's log.
  if (r.role() == raft::Role::kLeader && r.term() != m.leader_term_checked) {
    m.leader_term_checked = r.term();
    checker_.CheckLeaderCompleteness(id, r);
  }
}

void Simulation::Send(raftpb::Message m) {
  if (!healed_ && rng_.Chance(loss_ppm_)) {
    if (m.type() == raftpb::MSG_SNAPSHOT && Alive(m.from())) {
      members_.at(m.from())->node->ReportSnapshot(m.to(), false);
    }
    return;
  }
  const uint64_t copies = (!healed_ && rng_.Chance(dup_ppm_)) ? 2 : 1;
  for (uint64_t i = 0; i < copies; ++i) {
    const uint64_t delay = healed_ ? rng_.Uniform(2) : rng_.Uniform(max_delay_ + 1);
    network_.push_back(InFlight{now_ + delay, seq_++, m});
    std::push_heap(network_.begin(), network_.end(),
                   [](const InFlight& a, const InFlight& b) { return HeapLater(a, b); });
  }
}

void Simulation::Deliver(const raftpb::Message& m) {
  const bool blocked = blocked_.count({m.from(), m.to()}) > 0;
  const bool is_snap = m.type() == raftpb::MSG_SNAPSHOT;
  if (blocked || !Alive(m.to())) {
    if (Alive(m.from())) {
      if (is_snap) members_.at(m.from())->node->ReportSnapshot(m.to(), false);
      if (rng_.Chance(500000)) members_.at(m.from())->node->ReportUnreachable(m.to());
      Observe(m.from());
    }
    return;
  }
  (void)members_.at(m.to())->node->Step(m);
  Observe(m.to());
  if (is_snap) {
    result_.snapshots_sent++;
    if (Alive(m.from())) {
      members_.at(m.from())->node->ReportSnapshot(m.to(), true);
      Observe(m.from());
    }
  }
}

void Simulation::ProcessReady(uint64_t id) {
  Member& m = *members_.at(id);
  if (!m.node || !m.node->HasReady()) return;
  if (absl::Status s = m.ready_loop->Drain(*m.node); !s.ok()) {
    if (s.message() != absl::StrCat("raft log save: ", Disk::kCrashed)) {
      checker_.ObserveRead(id, 0, 1);  // unreachable in a correct run; forces a failure
      result_.failure = absl::StrCat("member ", id, ": ", s.ToString());
      return;
    }
    Crash(id);
    m.restart_at = now_ / kStepsPerTick + 1 + rng_.Uniform(5 * kElectionTick);
    return;
  }
  Observe(id);
}

void Simulation::Step() {
  for (uint64_t id : ids_) ProcessReady(id);
  while (!network_.empty() && network_.front().deliver_at <= now_) {
    std::pop_heap(network_.begin(), network_.end(),
                  [](const InFlight& a, const InFlight& b) { return HeapLater(a, b); });
    InFlight f = std::move(network_.back());
    network_.pop_back();
    Deliver(f.msg);
    if (!checker_.ok()) return;
  }
  for (uint64_t id : ids_) ProcessReady(id);
  ++now_;
}

void Simulation::MaybeInjectFaults() {
  if (rng_.Chance(partition_ppm_)) {
    blocked_.clear();
    switch (rng_.Uniform(3)) {
      case 0: {  // symmetric split into two sides
        std::vector<bool> side(ids_.size() + 1);
        for (uint64_t id : ids_) side[id] = rng_.Uniform(2);
        for (uint64_t a : ids_) {
          for (uint64_t b : ids_) {
            if (side[a] != side[b]) blocked_[{a, b}] = true;
          }
        }
        break;
      }
      case 1: {  // asymmetric: some one-way links fail
        const uint64_t cuts = 1 + rng_.Uniform(ids_.size());
        for (uint64_t i = 0; i < cuts; ++i) {
          blocked_[{ids_[rng_.Uniform(ids_.size())], ids_[rng_.Uniform(ids_.size())]}] = true;
        }
        break;
      }
      default:  // heal
        break;
    }
  }
  const uint64_t leader = Leader();
  for (uint64_t id : ids_) {
    Member& m = *members_.at(id);
    if (m.node && (rng_.Chance(crash_ppm_) || (id == leader && rng_.Chance(leader_crash_ppm_)))) {
      Crash(id);
      m.restart_at = now_ / kStepsPerTick + 1 + rng_.Uniform(5 * kElectionTick);
    } else if (!m.node && now_ / kStepsPerTick >= m.restart_at) {
      Start(id);
    }
  }
}

void Simulation::ClientActivity() {
  const uint64_t id = ids_[rng_.Uniform(ids_.size())];
  Member& m = *members_.at(id);
  if (!m.node) return;
  for (uint64_t i = 0; i < proposals_per_tick_; ++i) {
    const uint64_t target = ids_[rng_.Uniform(ids_.size())];
    if (Alive(target) && rng_.Chance(300000)) {
      (void)members_.at(target)->node->Propose(absl::StrCat("p", next_proposal_++));
      Observe(target);
    }
  }
  if (rng_.Chance(100000)) {
    std::string ctx = absl::StrCat("r", next_proposal_++);
    if (m.node->ReadIndex(ctx).ok()) m.reads[ctx] = checker_.max_applied();
  }
  if (rng_.Chance(compact_ppm_)) {
    raft::MemoryStorage& disk = m.disk->memory();
    const uint64_t snap_index = disk.Snapshot()->metadata().index();
    if (m.applied > snap_index + 2) {
      raftpb::ConfState cs = m.node->Status().conf_state;
      if (disk.CreateSnapshot(m.applied, cs, EncodeState(m.applied, m.state_hash)).ok()) {
        const uint64_t first = *disk.FirstIndex();
        const uint64_t keep = rng_.Uniform(4);
        const uint64_t upto = m.applied > first + keep ? m.applied - keep : m.applied;
        if (upto >= first) (void)disk.Compact(upto);
      }
    }
  }
  if (rng_.Chance(conf_change_ppm_)) ProposeMembershipChange();
  if (rng_.Chance(transfer_ppm_)) {
    m.node->TransferLeadership(ids_[rng_.Uniform(ids_.size())]);
  }
  Observe(id);
}

// Single-server changes at random: a voter is removed or demoted, a learner
// promoted, a non-member added back as a learner.
void Simulation::ProposeMembershipChange() {
  const uint64_t leader = Leader();
  if (leader == 0) return;
  raft::RawNode& node = *members_.at(leader)->node;
  const raftpb::ConfState cs = node.Status().conf_state;
  const uint64_t id = ids_[rng_.Uniform(ids_.size())];
  const auto has = [](const auto& list, uint64_t v) {
    return std::find(list.begin(), list.end(), v) != list.end();
  };
  raftpb::ConfChange cc;
  cc.set_node_id(id);
  if (has(cs.voters(), id)) {
    cc.set_type(rng_.Uniform(2) ? raftpb::CONF_CHANGE_REMOVE : raftpb::CONF_CHANGE_ADD_LEARNER);
  } else if (has(cs.learners(), id)) {
    cc.set_type(raftpb::CONF_CHANGE_ADD_VOTER);
  } else {
    cc.set_type(raftpb::CONF_CHANGE_ADD_LEARNER);
  }
  (void)node.ProposeConfChange(cc);
  Observe(leader);
}

void Simulation::Tick() {
  for (uint64_t id : ids_) {
    if (Alive(id)) {
      members_.at(id)->node->Tick();
      Observe(id);
    }
  }
  for (int s = 0; s < kStepsPerTick && checker_.ok(); ++s) Step();
}

void Simulation::Heal() {
  healed_ = true;
  blocked_.clear();
  for (uint64_t id : ids_) {
    if (!Alive(id)) Start(id);
  }
}

ScenarioResult Simulation::Run() {
  const uint64_t fault_ticks = 100 + rng_.Uniform(200);
  uint64_t tick = 0;
  for (; tick < fault_ticks && checker_.ok(); ++tick) {
    MaybeInjectFaults();
    ClientActivity();
    Tick();
  }
  Heal();
  // Liveness: with every member up and the network healed, a leader must
  // emerge and a new proposal must be applied everywhere within the bound.
  liveness_marker_ = absl::StrCat("liveness-", seed_);
  bool proposed = false;
  bool live = false;
  const uint64_t deadline = tick + kLivenessTicks;
  for (; tick < deadline && checker_.ok(); ++tick) {
    if (!proposed || tick % (2 * kElectionTick) == 0) {
      if (uint64_t leader = Leader()) {
        proposed |= members_.at(leader)->node->Propose(liveness_marker_).ok();
      }
    }
    Tick();
    // Every member of the current configuration must have applied it.
    if (uint64_t leader = Leader()) {
      const raftpb::ConfState cs = members_.at(leader)->node->Status().conf_state;
      live = members_.at(leader)->saw_marker;
      for (uint64_t id : cs.voters()) live = live && members_.at(id)->saw_marker;
      for (uint64_t id : cs.learners()) live = live && members_.at(id)->saw_marker;
    }
    if (live) break;
  }
  result_.ticks = tick;
  result_.committed = checker_.max_applied();
  result_.conf_changes = conf_change_indexes_.size();
  if (!checker_.ok()) {
    result_.ok = false;
    result_.failure = checker_.violation();
  } else if (!result_.failure.empty()) {
    result_.ok = false;
  } else if (!live) {
    result_.ok = false;
    std::string state;
    for (uint64_t id : ids_) {
      raft::NodeStatus st = members_.at(id)->node->Status();
      absl::StrAppend(&state, " [", id, " ", raft::RoleName(st.role), " term ", st.term, " lead ",
                      st.lead, " commit ", st.commit, " applied ", st.applied, " voters ",
                      absl::StrJoin(st.conf_state.voters(), ","), " learners ",
                      absl::StrJoin(st.conf_state.learners(), ","), "]");
    }
    result_.failure =
        absl::StrCat("liveness: no commit within ", kLivenessTicks, " ticks after healing;", state);
  }
  return result_;
}

}  // namespace quorum::sim
