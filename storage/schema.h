// The layouts of the state records that live beside the keyspace: cluster members, removed
// member ids and this member's identity (members family), alarms (members family), leases
// (lease family), users, roles, the auth switch and the auth revision (auth family) and the Raft
// membership as of the applied index (raft-log family). The server
// reads them at startup and after a snapshot, and changes them only through RecordChanges,
// which the MVCC store writes in the same batch as the applied position of the entry that
// caused them, so a restart sees both or neither. server/ never sees a RocksDB type.
#ifndef QUORUM_STORAGE_SCHEMA_H_
#define QUORUM_STORAGE_SCHEMA_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "authpb/auth.pb.h"
#include "etcdserverpb/rpc.pb.h"
#include "internalpb/internal.pb.h"
#include "raftpb/raft.pb.h"

namespace rocksdb {
class WriteBatch;
}  // namespace rocksdb

namespace quorum::storage {

class Backend;

struct MembershipRecords {
  std::vector<etcdserverpb::Member> members;  // by id
  std::vector<uint64_t> removed;              // ids removed from the cluster, ascending
  // Absent until the data dir is bootstrapped or joined. Per data dir: a snapshot from the
  // leader never carries it (the installer keeps it).
  std::optional<internalpb::MemberIdentity> identity;
};

absl::StatusOr<MembershipRecords> LoadMembership(Backend* backend);
absl::StatusOr<std::vector<etcdserverpb::AlarmMember>> LoadAlarms(Backend* backend);
absl::StatusOr<std::vector<internalpb::LeaseRecord>> LoadLeases(Backend* backend);

// The auth family: etcd's auth, authUsers and authRoles buckets.
struct AuthRecords {
  bool enabled = false;
  uint64_t revision = 0;
  std::vector<authpb::User> users;  // by name
  std::vector<authpb::Role> roles;  // by name
};
absl::StatusOr<AuthRecords> LoadAuth(Backend* backend);

// Records this member's identity, and with it the founding members of a new cluster (none for a
// member joining an existing one, which learns them from the leader's snapshot), in one synced
// write.
absl::Status SaveIdentity(Backend* backend, const internalpb::MemberIdentity& identity,
                          const std::vector<etcdserverpb::Member>& founders);

// Changes to the records above made by one applied entry. Cheap to build; nothing is written
// until the store commits them with the entry's applied position (MvccStore::MarkApplied,
// MvccStore::DeleteKeys).
class RecordChanges {
 public:
  void PutMember(const etcdserverpb::Member& member);
  // Deletes the member's record and remembers the id as removed (a removed id never returns).
  void RemoveMember(uint64_t id);
  void PutAlarm(const etcdserverpb::AlarmMember& alarm);
  void DeleteAlarm(const etcdserverpb::AlarmMember& alarm);
  void PutLease(int64_t id, int64_t ttl);
  void DeleteLease(int64_t id);
  void PutAuthEnabled(bool enabled);
  void PutAuthRevision(uint64_t revision);
  void PutUser(const authpb::User& user);
  void DeleteUser(const std::string& name);
  void PutRole(const authpb::Role& role);
  void DeleteRole(const std::string& name);
  // The Raft membership after the entry (read back by RaftLogStore::InitialState).
  void PutConfState(const raftpb::ConfState& conf_state);

  bool empty() const { return changes_.empty() && !conf_state_.has_value(); }

  // Storage-internal: adds every change to `batch`.
  void AddTo(Backend* backend, rocksdb::WriteBatch* batch) const;

 private:
  enum class Family { kMembers, kLease, kAuth };
  struct Change {
    Family family;
    std::string key;
    std::optional<std::string> value;  // absent: delete
  };
  std::vector<Change> changes_;
  std::optional<raftpb::ConfState> conf_state_;
};

}  // namespace quorum::storage

#endif  // QUORUM_STORAGE_SCHEMA_H_
