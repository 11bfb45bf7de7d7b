// Disk faults for tests: in a build with crash points (raft/crash_point.h), the environment
// variable QUORUM_DISK_FAULT makes the database's write-ahead log fail as a failing disk would:
//
//   QUORUM_DISK_FAULT=wal-sync-error:<n>    the n-th fsync of the WAL and every later one fail
//   QUORUM_DISK_FAULT=wal-write-error:<n>   the n-th write to the WAL and every later one fail
//
// RocksDB sees an I/O error from the file system, exactly as it would from the kernel; what
// quorumd does with it (stop, never acknowledge) is what the tests check.
#ifndef QUORUM_STORAGE_DISK_FAULTS_H_
#define QUORUM_STORAGE_DISK_FAULTS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "rocksdb/env.h"

namespace quorum::storage {

// The Env the database opens with when a disk fault is armed; null when none is (or the build
// has no crash points). An armed fault that cannot be understood is an error.
absl::StatusOr<std::unique_ptr<rocksdb::Env>> ArmedDiskFaultEnv();

}  // namespace quorum::storage

#endif  // QUORUM_STORAGE_DISK_FAULTS_H_
