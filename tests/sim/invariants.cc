// Safety oracle for the simulator; see invariants.h.
#include "tests/sim/invariants.h"

#include "absl/strings/str_cat.h"

namespace quorum::sim {

uint64_t HashBytes(const std::string& s, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

void InvariantChecker::Fail(std::string what) {
  if (violation_.empty()) violation_ = std::move(what);
}

void InvariantChecker::ObserveRole(uint64_t id, const raft::Raft& r) {
  if (r.role() != raft::Role::kLeader) return;
  auto [it, inserted] = leader_of_term_.emplace(r.term(), id);
  if (!inserted && it->second != id) {
    Fail(absl::StrCat("election safety: members ", it->second, " and ", id,
                      " both leaders in term ", r.term()));
  }
}

void InvariantChecker::ObservePersisted(uint64_t id, const raftpb::Entry& e, uint64_t prev_term) {
  const std::pair<uint64_t, uint64_t> v{HashBytes(e.data()) ^ e.type(), prev_term};
  auto [it, inserted] = entries_.emplace(std::make_pair(e.index(), e.term()), v);
  if (!inserted && it->second != v) {
    Fail(absl::StrCat("log matching: member ", id,
                      " holds a different entry or predecessor at (index ", e.index(), ", term ",
                      e.term(), ")"));
  }
}

uint64_t InvariantChecker::ObserveApplied(uint64_t id, uint64_t prev_applied, uint64_t state_hash,
                                          const raftpb::Entry& e) {
  if (e.index() != prev_applied + 1) {
    Fail(absl::StrCat("state machine safety: member ", id, " applied index ", e.index(), " after ",
                      prev_applied));
  }
  const std::pair<uint64_t, uint64_t> v{e.term(), HashBytes(e.data()) ^ e.type()};
  auto [it, inserted] = committed_.emplace(e.index(), v);
  if (!inserted && it->second != v) {
    Fail(absl::StrCat("state machine safety: member ", id, " applied (term ", e.term(),
                      ") at index ", e.index(), " where another applied term ", it->second.first));
  }
  const uint64_t next = HashBytes(e.data(), state_hash * 31 + e.term());
  auto [st, fresh] = state_at_.emplace(e.index(), next);
  if (!fresh && st->second != next) {
    Fail(absl::StrCat("state machine safety: member ", id, " state diverged at index ", e.index()));
  }
  if (e.index() > max_applied_) max_applied_ = e.index();
  return next;
}

void InvariantChecker::ObserveSnapshotInstalled(uint64_t id, uint64_t index, uint64_t state_hash) {
  auto it = state_at_.find(index);
  if (it != state_at_.end() && it->second != state_hash) {
    Fail(absl::StrCat("state machine safety: member ", id, " installed a snapshot at ", index,
                      " that differs from applied state"));
  }
}

void InvariantChecker::CheckLeaderCompleteness(uint64_t id, const raft::Raft& r) {
  if (r.role() != raft::Role::kLeader) return;
  const raft::RaftLog& log = r.log();
  if (log.LastIndex() < max_applied_) {
    Fail(absl::StrCat("leader completeness: leader ", id, " of term ", r.term(), " ends at ",
                      log.LastIndex(), " but index ", max_applied_, " is committed"));
    return;
  }
  for (uint64_t i = log.FirstIndex(); i <= max_applied_; ++i) {
    auto it = committed_.find(i);
    if (it == committed_.end()) continue;
    if (log.TermOrZero(i) != it->second.first) {
      Fail(absl::StrCat("leader completeness: leader ", id, " of term ", r.term(),
                        " lacks committed entry ", i, " (term ", it->second.first, ")"));
      return;
    }
  }
}

void InvariantChecker::ObserveRead(uint64_t id, uint64_t index, uint64_t required) {
  if (index < required) {
    Fail(absl::StrCat("read index: member ", id, " released read at ", index, " but ", required,
                      " was committed when it was issued"));
  }
}

}  // namespace quorum::sim
