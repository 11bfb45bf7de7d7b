// The backup file behind Maintenance.Snapshot (`etcdctl snapshot save`) and the offline tools
// that read it (`quorumutl snapshot restore|status`, `quorumctl snapshot restore`). quorumd's
// Member writes it; nothing here needs a running member.
//
// A backup holds every record of the state machine at one consistent point. Its size is a
// multiple of 512 plus a trailing SHA-256 of everything before it: the framing etcd's clients
// check after `snapshot save` (size % 512 == 32). Layout:
//   "QRMSNAP1" | payload length (8 bytes, big-endian) | payload | zero padding | sha256
// The payload is a sequence of internalpb::SnapshotChunk frames, each preceded by its length
// as a varint. The first frame's message names the applied index, term and membership; the
// last frame has `last` set.
//
// The backup's hash (`snapshot status`, HASH column) is the CRC-32C (Castagnoli, as etcd's
// status hash) of the payload bytes exactly as stored, header, padding and SHA-256 excluded.
// Backups taken at the same applied entry have the same hash.
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

// Writes the state of `backend` now to `path` (created or truncated, fsynced). Memory stays
// around one chunk (about 1 MiB) whatever the size of the state. Returns the file size.
absl::StatusOr<uint64_t> WriteBackup(Backend* backend, const std::string& path);

struct BackupReadOptions {
  // When false, the trailing SHA-256 is not compared (etcd's --skip-hash-check). The header,
  // the length and every frame are still checked.
  bool verify_checksum = true;
};

// Checks a backup file and hands each chunk to `chunk`, in order. The checksum is verified over
// the whole file before the first chunk is handed out. Errors name the file and say what is
// wrong with it: NOT_FOUND (cannot open), INVALID_ARGUMENT (not a backup: wrong magic or too
// short), DATA_LOSS (truncated, trailing bytes, checksum mismatch, corrupt frame), or the
// callback's own error.
absl::Status ReadBackup(const std::string& path,
                        const std::function<absl::Status(const internalpb::SnapshotChunk&)>& chunk,
                        const BackupReadOptions& options = {});

// What `snapshot status` reports of a backup, in the words of etcd's snapshot.Status.
struct BackupStatus {
  uint32_t hash = 0;       // CRC-32C of the payload (see the top of this file)
  int64_t revision = 0;    // the MVCC revision of the state (its latest write)
  int64_t total_keys = 0;  // records of every family in the backup, as etcd counts bucket keys
  int64_t total_size = 0;  // bytes of the file
};

// Reads and checks a whole backup (checksum included) and summarizes it. Errors as ReadBackup.
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
