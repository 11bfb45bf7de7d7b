// The apply step: turns one committed internal request into its effect on the member's state
// (MVCC store, alarms) and the response for the proposer. Called by the single apply thread, in
// log order, with the entry's position so that the change and the applied index land together.
#ifndef QUORUM_SERVER_APPLIER_H_
#define QUORUM_SERVER_APPLIER_H_

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.pb.h"
#include "google/protobuf/message.h"
#include "internalpb/internal.pb.h"
#include "server/lessor.h"
#include "storage/mvcc_store.h"

namespace quorum::server {

struct ApplyResult {
  absl::Status status;
  // The typed response (PutResponse, TxnResponse, ...) matching the request; null on error.
  std::unique_ptr<google::protobuf::Message> response;
};

// Alarms raised in the cluster, per member as etcd keeps them. Readable from any thread. They
// are state like any other: applied from the log, kept in the members family (so they survive
// a restart and travel in snapshots).
class AlarmSet {
 public:
  // Replaces the set with what `backend` holds.
  absl::Status Load(storage::Backend* backend);
  // The record that stores `alarm` (for the applier's batch).
  static std::string Key(const etcdserverpb::AlarmMember& alarm);

  bool Has(etcdserverpb::AlarmType type) const;
  std::vector<etcdserverpb::AlarmMember> List() const;
  // Returns true when the set changed.
  bool Activate(uint64_t member_id, etcdserverpb::AlarmType type);
  bool Deactivate(uint64_t member_id, etcdserverpb::AlarmType type);

 private:
  mutable absl::Mutex mu_;
  std::vector<etcdserverpb::AlarmMember> alarms_ ABSL_GUARDED_BY(mu_);
};

class Applier {
 public:
  struct Families {
    rocksdb::ColumnFamilyHandle* alarms = nullptr;
    rocksdb::ColumnFamilyHandle* leases = nullptr;
  };
  Applier(storage::MvccStore* store, AlarmSet* alarms, Lessor* lessor, Families families)
      : store_(store), alarms_(alarms), lessor_(lessor), families_(families) {}

  // Applies `request` at log position `meta`. Errors that etcd returns from apply (compacted,
  // lease not found, NOSPACE while the alarm is raised) come back in the result; the applied
  // index advances either way, so a rejected entry is never applied twice.
  ApplyResult Apply(const internalpb::InternalRequest& request, const storage::ApplyMeta& meta);

 private:
  // etcd's capped applier: while NOSPACE is raised, only requests that free space may write.
  bool RejectedByNoSpace(const internalpb::InternalRequest& request) const;
  ApplyResult ApplyAlarm(const etcdserverpb::AlarmRequest& alarm, const storage::ApplyMeta& meta);
  ApplyResult ApplyLeaseGrant(const etcdserverpb::LeaseGrantRequest& grant,
                              const storage::ApplyMeta& meta);
  ApplyResult ApplyLeaseRevoke(const etcdserverpb::LeaseRevokeRequest& revoke,
                               const storage::ApplyMeta& meta);

  storage::MvccStore* store_;
  AlarmSet* alarms_;
  Lessor* lessor_;
  Families families_;
};

// Key and value bytes of every put on any path of the txn (what it may add to the database).
int64_t TxnPutBytes(const etcdserverpb::TxnRequest& txn);
// True when the txn contains a put on any path (puts can grow the database).
bool TxnHasPut(const etcdserverpb::TxnRequest& txn);
// True for requests that may grow the database: the ones the quota and NOSPACE refuse.
bool GrowsDatabase(const internalpb::InternalRequest& request);

// True when `status`, returned for a committed entry, is not the request's refusal (which every
// member gives alike) but this member failing to apply it: its storage failed ("storage: ..."),
// or it does not know the request type. Such an entry must not be skipped.
bool CannotApplyHere(const absl::Status& status);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_APPLIER_H_
