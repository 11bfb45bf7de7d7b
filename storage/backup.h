// The backup file behind Maintenance.Snapshot (`etcdctl snapshot save`) and the offline tools
// that read it (`quorumutl snapshot restore|status`, `quorumctl snapshot restore`). quorumd's
// Member writes it; nothing here needs a running member.
//
// A backup holds every record of the state machine at one consistent point, in one of two
// formats; readers tell them apart by their first bytes and take either:
//
// - etcd's (what Maintenance.Snapshot streams): an etcd 3.4 backend, i.e. a bbolt file with
//   etcd's buckets (storage/etcd_db.h), followed by the SHA-256 of it. etcd's own tools read it
//   (`etcdctl snapshot status|restore`), and a snapshot saved from etcd restores into quorum.
//   Its hash (`snapshot status`) is etcd's: CRC-32C over every bucket's name, keys and values.
//
// - quorum's own, as older quorum versions wrote it: a multiple of 512 bytes plus a trailing
//   SHA-256 of everything before it (size % 512 == 32, the framing etcd's clients check):
//     "QRMSNAP1" | payload length (8 bytes, big-endian) | payload | zero padding | sha256
//   The payload is a sequence of internalpb::SnapshotChunk frames, each preceded by its length
//   as a varint; the first frame's message names the applied index, term and membership; the
//   last frame has `last` set. Its hash is the CRC-32C of the payload bytes as stored.
//
// Backups taken at the same applied entry have the same bytes, so the same hash.
#ifndef QUORUM_STORAGE_BACKUP_H_
#define QUORUM_STORAGE_BACKUP_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "internalpb/peer.pb.h"
#include "storage/backend.h"

namespace quorum::storage {

inline constexpr char kBackupMagic[] = "QRMSNAP1";

enum class BackupFormat { kEtcd, kQuorum };
struct BackupWriteOptions {
  BackupFormat format = BackupFormat::kEtcd;
};

// Writes the state of `backend` now to `path` (created or truncated, fsynced). Memory stays
// around one chunk (about 1 MiB) and the records beside the keyspace, whatever the size of the
// state. Returns the file size.
absl::StatusOr<uint64_t> WriteBackup(Backend* backend, const std::string& path,
                                     const BackupWriteOptions& options = {});

struct BackupReadOptions {
  // When false, the trailing SHA-256 is not compared (etcd's --skip-hash-check; then an etcd
  // backend copied without a hash is accepted too). The structure is still checked in full.
  bool verify_checksum = true;
};

// Checks a backup file and hands its records to `chunk`, in order. The checksum is verified
// over the whole file before the first chunk is handed out. Errors name the file and say what
// is wrong with it: NOT_FOUND (cannot open), INVALID_ARGUMENT (neither format: wrong magic or
// too short), DATA_LOSS (truncated, trailing bytes, checksum mismatch, corrupt frame or page),
// or the callback's own error. From an etcd backend come the keyspace, the compaction marks and
// the leases (storage/etcd_db.h).
absl::Status ReadBackup(const std::string& path,
                        const std::function<absl::Status(const internalpb::SnapshotChunk&)>& chunk,
                        const BackupReadOptions& options = {});

// What `snapshot status` reports of a backup, in the words of etcd's snapshot.Status.
struct BackupStatus {
  uint32_t hash = 0;       // see the top of this file
  int64_t revision = 0;    // the MVCC revision of the state (its latest write)
  int64_t total_keys = 0;  // records of every family (etcd: keys of every bucket)
  int64_t total_size = 0;  // bytes of the file (etcd: of the database, without its hash)
};

// Reads and checks a whole backup and summarizes it. Errors as ReadBackup. As etcd's status,
// an etcd backend's SHA-256 is not compared here (its pages are checked).
absl::StatusOr<BackupStatus> ReadBackupStatus(const std::string& path);

struct RestoreOptions {
  bool skip_hash_check = false;  // see BackupReadOptions::verify_checksum
};

// `snapshot restore`: writes the keyspace, leases and compaction state of a backup into a new
// data dir (ALREADY_EXISTS if `data_dir` exists). Membership, alarms and the Raft log are left
// out: the first quorumd started on it bootstraps a new cluster from its --initial-cluster
// flags with that state, as a restored etcd member does, so every member of the new cluster
// restores the same file. The file is checked in full before the dir is created, and a failure
// part way removes the dir again.
absl::Status RestoreBackup(const std::string& backup_path, const std::string& data_dir,
                           const RestoreOptions& options = {});

}  // namespace quorum::storage

#endif  // QUORUM_STORAGE_BACKUP_H_
