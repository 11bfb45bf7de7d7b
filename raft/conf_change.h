// Membership changes: how a committed ConfChange turns one membership into the
// next. Raft::ApplyConfChange (called via RawNode::ApplyConfChange when the
// application applies a committed ENTRY_CONF_CHANGE) uses this.
//
// Design: single-server changes (Ongaro thesis §4.1), not joint consensus.
//  Why: every operation the etcd API offers (MemberAdd, MemberRemove,
//  MemberPromote, learners) changes one member at a time, and single-server
//  changes need no intermediate two-majority configuration, so the commit and
//  election code keeps one simple quorum rule.
//  Safety argument: let C have n voters and C' differ by one voter s. Any
//  majority Q' of C' has at least floor((n+1)/2) members inside C when s was
//  added (it may contain s), or floor((n-1)/2)+1 when s was removed; a
//  majority Q of C has floor(n/2)+1. Either way |Q' ∩ C| + |Q| = n+1 > n, so
//  Q and Q' share a member, and members still on C and those already on C'
//  can never elect two leaders in one term
//  or commit conflicting entries. That holds only if at most one change is in
//  flight, which we enforce three ways:
//   1. A leader refuses a new ConfChange while a previous one is not yet
//      applied (Raft::pending_conf_index_).
//   2. A new leader sets pending_conf_index_ to its last index, so it accepts a
//      change only after an entry of its own term has committed and applied.
//      This closes the known single-server hole (Ongaro, raft-dev 2015): a
//      leader of a newer term could otherwise append a change based on a
//      configuration that an uncommitted change of an older term had already
//      left.
//   3. A member with a committed but unapplied ConfChange does not campaign,
//      since it does not know which configuration it would be leading.
//  A configuration takes effect when applied (after commit) on each member.
//  Learners never vote and are not counted for commit, so adding, removing or
//  promoting a learner changes the voter set by at most one member, and the
//  argument above covers promotion (add one voter) and demotion (remove one).
//  Two voters: removing or demoting one of two voters is refused. The change
//  commits on both, but the survivor may not learn that before the leader
//  goes; under the old configuration it then needs the departed member's vote,
//  which that member withholds whenever its log is longer (§5.4.1), and it
//  never campaigns itself: the cluster would stall. Add a third voter first.
//  A leader removed or demoted by a change steps down once it applies it; the
//  remaining voters elect a new leader after an election timeout (use
//  TransferLeadership first to avoid that gap).
#ifndef QUORUM_RAFT_CONF_CHANGE_H_
#define QUORUM_RAFT_CONF_CHANGE_H_

#include "absl/status/statusor.h"
#include "raftpb/raft.pb.h"

namespace quorum::raft {

// The membership after applying `cc` to `cs`. INVALID_ARGUMENT for a change
// that cannot apply (node id 0, removing or demoting a voter when two or fewer
// are left: see "Two voters" above); the caller then
// keeps `cs` unchanged. Changes that are already in effect (adding an existing
// voter, removing a non-member) return `cs` unchanged.
absl::StatusOr<raftpb::ConfState> ApplyConfChangeToConfState(const raftpb::ConfState& cs,
                                                             const raftpb::ConfChange& cc);

}  // namespace quorum::raft

#endif  // QUORUM_RAFT_CONF_CHANGE_H_
