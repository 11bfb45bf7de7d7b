// quorum's state as an etcd 3.4 backend (a bbolt file with etcd's buckets) and back: the body
// of an etcd snapshot, so that etcd's tools read what quorum saves and quorum restores what
// etcd saved.
//
// The mapping, bucket by bucket (etcd's layout; quorum's family and record on the right):
//   key              revision key -> mvccpb.KeyValue   = the kv family, byte for byte
//   meta             consistent_index (u64 BE)         <- the applied index
//                    scheduledCompactRev, finishedCompactRev (revision keys)
//                                                      <- compact_scheduled, compact_finished
//   lease            lease id (i64 BE) -> leasepb.Lease (ID, TTL) = the lease family's records
//   members          member id in hex -> JSON {"id","peerURLs","isLearner","name","clientURLs"}
//   members_removed  member id in hex -> "removed"
//   alarm            etcdserverpb.AlarmMember bytes -> empty
//   auth             authEnabled (1 byte), authRevision (u64 BE) <- the auth family's switch
//                                                      and revision
//   authUsers        name -> authpb.User (bcrypt hash)  = the auth family's users
//   authRoles        name -> authpb.Role                = the auth family's roles
//   cluster          clusterVersion -> "3.4.0"
// Reading back keeps the keyspace, the compaction marks, the leases and auth; members, alarms
// and the cluster version belong to the old cluster and are left out, as etcd's restore drops
// them.
#ifndef QUORUM_STORAGE_ETCD_DB_H_
#define QUORUM_STORAGE_ETCD_DB_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "internalpb/peer.pb.h"
#include "storage/state_snapshot.h"

namespace quorum::storage {

// Writes the state `reader` pins as a bbolt file at `path` (created or truncated, fsynced).
// Memory stays around the non-keyspace records plus a page per tree level, whatever the
// keyspace's size. Returns the file's size.
absl::StatusOr<uint64_t> WriteEtcdDb(StateSnapshotReader* reader, const std::string& path);

// Reads the etcd backend at `path` (which may carry bytes after the database, such as a
// snapshot's hash) and hands its keyspace, compaction marks, leases and auth to `chunk` as quorum
// state records, a chunk of about 1 MiB at a time. Errors: INVALID_ARGUMENT for a file that is
// not bbolt, DATA_LOSS for a damaged one or one whose records are not etcd's.
absl::Status ReadEtcdDb(const std::string& path,
                        const std::function<absl::Status(const internalpb::SnapshotChunk&)>& chunk);

// What etcd's `snapshot status` says of an etcd backend: CRC-32C over every bucket's name, keys
// and values; the newest revision in the key bucket; how many keys all buckets hold.
struct EtcdDbStatus {
  uint32_t hash = 0;
  int64_t revision = 0;
  int64_t total_keys = 0;
  uint64_t size = 0;  // bytes of the database (pages), without anything appended
};
absl::StatusOr<EtcdDbStatus> ReadEtcdDbStatus(const std::string& path);

}  // namespace quorum::storage

#endif  // QUORUM_STORAGE_ETCD_DB_H_
