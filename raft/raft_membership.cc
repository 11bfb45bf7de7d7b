// Membership changes: the pure ConfState transition (conf_change.h) and the
// Raft core's reaction to an applied change.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "raft/conf_change.h"
#include "raft/raft.h"

namespace quorum::raft {

absl::StatusOr<raftpb::ConfState> ApplyConfChangeToConfState(const raftpb::ConfState& cs,
                                                             const raftpb::ConfChange& cc) {
  const uint64_t id = cc.node_id();
  if (id == 0) return absl::InvalidArgumentError("conf change: node id 0");
  std::set<uint64_t> voters(cs.voters().begin(), cs.voters().end());
  std::set<uint64_t> learners(cs.learners().begin(), cs.learners().end());
  switch (cc.type()) {
    case raftpb::CONF_CHANGE_ADD_VOTER:
      learners.erase(id);  // promotion
      voters.insert(id);
      break;
    case raftpb::CONF_CHANGE_ADD_LEARNER:
      if (voters.count(id) && voters.size() <= 2) {
        return absl::InvalidArgumentError(
            "conf change: cannot demote a voter of a cluster with two or fewer voters");
      }
      voters.erase(id);  // demotion
      learners.insert(id);
      break;
    case raftpb::CONF_CHANGE_REMOVE:
      if (voters.count(id) && voters.size() <= 2) {
        return absl::InvalidArgumentError(
            "conf change: cannot remove a voter of a cluster with two or fewer voters");
      }
      voters.erase(id);
      learners.erase(id);
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("conf change: unknown type ", cc.type()));
  }
  raftpb::ConfState out;
  for (uint64_t v : voters) out.add_voters(v);
  for (uint64_t l : learners) out.add_learners(l);
  return out;
}

raftpb::ConfState Raft::ApplyConfChange(const raftpb::ConfChange& cc) {
  absl::StatusOr<raftpb::ConfState> next = ApplyConfChangeToConfState(tracker_.ConfState(), cc);
  if (!next.ok()) return tracker_.ConfState();
  tracker_.SetConfState(*next, log_.LastIndex() + 1);
  if (role_ != Role::kLeader) return *next;
  if (!tracker_.IsVoter(id_)) {
    // Removed or demoted: a leader must be a voter. Tell the others the
    // commit index first so they apply the change too, then step down without
    // changing the term; the remaining voters elect a successor.
    BcastAppend();
    BecomeFollower(term_, 0);
    return *next;
  }
  if (lead_transferee_ != 0 && !tracker_.IsVoter(lead_transferee_)) AbortTransfer();
  // Removing a voter can shrink the quorum enough to commit pending entries;
  // new members need a first probe.
  if (MaybeCommit()) OnCommitAdvanced();
  BcastAppend();
  return *next;
}

}  // namespace quorum::raft
