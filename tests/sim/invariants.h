// InvariantChecker: the simulator's oracle. It sees every entry a member
// persists, every entry it applies and every role change, and reports the
// first violation of Raft's safety properties (Raft §5.2, §5.3, §5.4, Figure 3):
// election safety, log matching, leader completeness, state machine safety,
// plus ReadIndex linearizability (thesis §6.4).
#ifndef QUORUM_TESTS_SIM_INVARIANTS_H_
#define QUORUM_TESTS_SIM_INVARIANTS_H_

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "raft/raft.h"
#include "raftpb/raft.pb.h"

namespace quorum::sim {

uint64_t HashBytes(const std::string& s, uint64_t seed = 1469598103934665603ull);

class InvariantChecker {
 public:
  // The first violation found, or empty.
  const std::string& violation() const { return violation_; }
  bool ok() const { return violation_.empty(); }

  // Election safety: at most one leader per term. Called after every input.
  void ObserveRole(uint64_t id, const raft::Raft& r);
  // Log matching: an (index, term) pair names one entry with one predecessor
  // term, on every member. Called for each entry a member persists.
  void ObservePersisted(uint64_t id, const raftpb::Entry& e, uint64_t prev_term);
  // State machine safety: every member applies the same entry at an index,
  // and applies indexes in order. Returns the state hash after applying.
  uint64_t ObserveApplied(uint64_t id, uint64_t prev_applied, uint64_t state_hash,
                          const raftpb::Entry& e);
  // A snapshot carries (index, state hash); it must match what members that
  // applied up to `index` computed.
  void ObserveSnapshotInstalled(uint64_t id, uint64_t index, uint64_t state_hash);
  // Leader completeness: a leader's log holds every entry known committed.
  void CheckLeaderCompleteness(uint64_t id, const raft::Raft& r);
  // ReadIndex: the released index is at least what was committed (applied
  // anywhere) when the read was issued.
  void ObserveRead(uint64_t id, uint64_t index, uint64_t required);

  uint64_t max_applied() const { return max_applied_; }

 private:
  void Fail(std::string what);

  std::string violation_;
  std::unordered_map<uint64_t, uint64_t> leader_of_term_;
  std::map<std::pair<uint64_t, uint64_t>, std::pair<uint64_t, uint64_t>> entries_;
  // index -> (term, data hash) of the committed entry, and the state hash
  // after applying it.
  std::unordered_map<uint64_t, std::pair<uint64_t, uint64_t>> committed_;
  std::unordered_map<uint64_t, uint64_t> state_at_;
  uint64_t max_applied_ = 0;
};

}  // namespace quorum::sim

#endif  // QUORUM_TESTS_SIM_INVARIANTS_H_
