// The apply step: turns each committed log entry, in log order, into its effect on the member's
// state: keyspace writes, leases, alarms, member updates and membership changes, each written
// with the entry's log position in one batch, so a restart neither loses nor repeats an entry.
// Called by the member's single apply thread. What the member must do beyond its state (answer
// the proposer, reconnect peers, promote the lessor, stop because it was removed) comes back as
// ApplyEffects; the applier itself touches no thread, transport or process.
//
// Failure policy: a request every member refuses alike (compacted, lease not found, NOSPACE)
// is an answer for the proposer and the entry counts as applied. A committed entry this member
// cannot decode or cannot record stops the process (quorum::Fatal): skipping it would leave
// this member's state different from the others' without anyone noticing.
#ifndef QUORUM_SERVER_APPLIER_H_
#define QUORUM_SERVER_APPLIER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "etcdserverpb/rpc.pb.h"
#include "internalpb/internal.pb.h"
#include "raftpb/raft.pb.h"
#include "server/alarm_set.h"
#include "server/apply_result.h"
#include "server/auth_store.h"
#include "server/lessor.h"
#include "server/membership.h"
#include "storage/mvcc_store.h"

namespace quorum::server {

// What applying a run of entries asks of the member, gathered across the run.
struct ApplyEffects {
  // Results for the proposals this member made (by request id), in log order.
  std::vector<std::pair<uint64_t, ApplyResult>> completions;
  // Peers whose address changed or who joined (urls set) or left (urls empty), in log order.
  struct PeerChange {
    uint64_t id = 0;
    std::vector<std::string> urls;
    bool removed = false;
  };
  std::vector<PeerChange> peers;
  // The term of the last leader's empty entry applied (0: none): the lessor may be promoted.
  uint64_t leader_entry_term = 0;
  // This member was removed from the cluster: it must stop serving and stop.
  bool removed_self = false;
};

class Applier {
 public:
  struct State {
    storage::MvccStore* store = nullptr;
    AlarmSet* alarms = nullptr;
    Lessor* lessor = nullptr;
    Membership* membership = nullptr;
    // Users, roles and tokens; null: no auth (every request is allowed).
    AuthStore* auth = nullptr;
  };
  // `conf_state` is the Raft membership as of the store's applied index.
  Applier(uint64_t member_id, State state, raftpb::ConfState conf_state)
      : member_id_(member_id), state_(state), conf_state_(std::move(conf_state)) {}

  // Applies one committed entry. `conf_state` is, for a membership change, the Raft membership
  // after it (the driver applied it to Raft already). Entries at or below the applied index
  // (replayed after a restart, or covered by an installed snapshot) are skipped.
  void Apply(const raftpb::Entry& entry, const std::optional<raftpb::ConfState>& conf_state,
             ApplyEffects* effects);

  // Applies one decoded request at log position `meta` and returns the proposer's answer. The
  // applied index advances either way, so a refused entry is never applied twice.
  ApplyResult ApplyRequest(const internalpb::InternalRequest& request,
                           const storage::ApplyMeta& meta);

  // The Raft membership as of the last applied entry.
  const raftpb::ConfState& conf_state() const { return conf_state_; }

 private:
  void ApplyConfChange(const raftpb::Entry& entry, const raftpb::ConfState& conf_state,
                       ApplyEffects* effects);
  ApplyResult ApplyMemberUpdate(const etcdserverpb::Member& update, const storage::ApplyMeta& meta,
                                ApplyEffects* effects);
  // etcd's capped applier: while NOSPACE is raised, only requests that free space may write.
  bool RejectedByNoSpace(const internalpb::InternalRequest& request) const;
  // etcd's corrupt applier: while CORRUPT is raised, writes, compactions and leases fail.
  bool RejectedByCorrupt(const internalpb::InternalRequest& request) const;
  ApplyResult ApplyAlarm(const etcdserverpb::AlarmRequest& alarm, const storage::ApplyMeta& meta);
  ApplyResult ApplyLeaseGrant(const etcdserverpb::LeaseGrantRequest& grant,
                              const storage::ApplyMeta& meta);
  ApplyResult ApplyLeaseRevoke(const etcdserverpb::LeaseRevokeRequest& revoke,
                               const storage::ApplyMeta& meta);
  // applier_auth.cc: etcd's auth applier. Checks the permissions of the entry's user (as its
  // proposer stamped it) against the auth state at this point of the log.
  absl::Status CheckPermissions(const internalpb::InternalRequest& request) const;
  ApplyResult ApplyAuthChange(const internalpb::InternalRequest& request,
                              const storage::ApplyMeta& meta);

  const uint64_t member_id_;
  const State state_;
  raftpb::ConfState conf_state_;
};

// The Raft entry for a membership change of `member`, carrying the proposer's waiter (`id`,
// `proposer`) as Apply expects it.
raftpb::ConfChange EncodeMemberChange(raftpb::ConfChangeType type, etcdserverpb::Member member,
                                      uint64_t id, uint64_t proposer);

// Key and value bytes of every put on any path of the txn (what it may add to the database).
int64_t TxnPutBytes(const etcdserverpb::TxnRequest& txn);
// True when the txn contains a put on any path (puts can grow the database).
bool TxnHasPut(const etcdserverpb::TxnRequest& txn);
// True for requests that may grow the database: the ones the quota and NOSPACE refuse.
bool GrowsDatabase(const internalpb::InternalRequest& request);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_APPLIER_H_
