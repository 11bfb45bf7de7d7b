// The backup file behind Maintenance.Snapshot (`etcdctl snapshot save`): every record of the
// state machine at one consistent point, in a file whose size is a multiple of 512 plus a
// trailing SHA-256 of everything before it — the framing etcd's clients check
// (hasChecksum: size % 512 == 32). Layout:
//   "QRMSNAP1" | payload length (8 bytes, big-endian) | payload | zero padding | sha256
// where the payload is length-delimited internalpb::SnapshotChunk frames.
#ifndef QUORUM_SERVER_DB_SNAPSHOT_H_
#define QUORUM_SERVER_DB_SNAPSHOT_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "internalpb/peer.pb.h"
#include "storage/backend.h"

namespace quorum::server {

inline constexpr char kDbSnapshotMagic[] = "QRMSNAP1";

// Writes the state of `backend` now to `path` (fsynced). Returns the file size.
absl::StatusOr<uint64_t> WriteDbSnapshot(storage::Backend* backend, const std::string& path);

// Checks the checksum of a snapshot file and hands each chunk to `chunk`, in order.
absl::Status ReadDbSnapshot(
    const std::string& path,
    const std::function<absl::Status(const internalpb::SnapshotChunk&)>& chunk);

// `etcdctl snapshot restore`: writes the keyspace, leases and compaction state of a snapshot
// file into a new data dir (refused if `data_dir` exists). Membership, alarms and the Raft log
// are left out: the first quorumd started on it bootstraps a new cluster from its
// --initial-cluster flags with that state, as a restored etcd member does, so every member of
// the new cluster restores the same file.
absl::Status RestoreDbSnapshot(const std::string& snapshot_path, const std::string& data_dir);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_DB_SNAPSHOT_H_
