// The RocksDB database of one member: opens <data-dir>/db with every column family the layers
// above use, and is the one place writes go through so that durability follows one setting.
// Owned by the server; shared (by pointer) with the MVCC store, the Raft log store, the lessor.
// Thread-safe: RocksDB itself is; the Backend adds no mutable state after Open.
#ifndef QUORUM_STORAGE_BACKEND_H_
#define QUORUM_STORAGE_BACKEND_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

namespace quorum::storage {

// Column families. The order is the on-disk identity of nothing (families are opened by name),
// so new ones may be appended freely.
enum class ColumnFamily : int {
  kKv = 0,   // MVCC records keyed by revision (see revision.h)
  kMeta,     // applied index/term, revisions, compaction progress, other small records
  kRaftLog,  // Raft entries and hard state
  kLease,    // leases
  kMembers,  // cluster membership
  kAuth,     // users, roles, auth revision
};
inline constexpr int kColumnFamilyCount = 6;

// Name of a family as RocksDB knows it.
std::string_view ColumnFamilyName(ColumnFamily family);

// Converts a RocksDB status to ours. `what` says what was being done ("write batch", ...).
// A full disk becomes RESOURCE_EXHAUSTED, corruption DATA_LOSS, anything else INTERNAL.
absl::Status FromRocksStatus(const rocksdb::Status& status, std::string_view what);

class Backend {
 public:
  struct Options {
    // Directory of the database; created if missing. The server passes <data-dir>/db.
    std::string path;
    // When true every Write() is fsynced before it returns (what a durable acknowledgment needs).
    bool sync_writes = true;
    // Shared block cache for all families.
    size_t block_cache_bytes = 128 << 20;
    // Free space on the database's file system below which Write() refuses (RESOURCE_EXHAUSTED,
    // "no space left on device") instead of letting RocksDB run into a full disk: what is kept
    // is room for the memtable flushes and log files already under way, so the database is
    // never left half-written and opens again as it was once there is room.
    uint64_t reserve_bytes = uint64_t{128} << 20;
  };

  // Opens or creates the database. Errors say what is wrong in words an operator can act on:
  // PERMISSION_DENIED for a directory that cannot be created or written, FAILED_PRECONDITION
  // when another process (or another Backend in this process) holds the database lock.
  static absl::StatusOr<std::unique_ptr<Backend>> Open(const Options& options);

  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  rocksdb::DB* db() { return db_.get(); }
  rocksdb::ColumnFamilyHandle* Family(ColumnFamily which) {
    return families_[static_cast<int>(which)];
  }
  const std::string& path() const { return options_.path; }
  bool sync_writes() const { return options_.sync_writes; }

  // Applies `batch` atomically. With sync_writes it is on disk (WAL fsynced) when this returns.
  absl::Status Write(rocksdb::WriteBatch* batch);
  // Same with an explicit durability choice, for writes whose loss a later replay repairs.
  absl::Status Write(rocksdb::WriteBatch* batch, bool sync);

  // Rewrites the keyspace, meta and Raft log families in full, so that space held by deleted
  // and overwritten records goes back to the file system (etcd's defragment).
  absl::Status Defragment();

  // Bytes the database occupies: live SST files plus memtables, over all families. Cheap enough
  // to call per request (quota checks, Status.dbSize).
  uint64_t SizeBytes() const;
  // Of SizeBytes(), what live records take (RocksDB's estimate for the files, plus memtables);
  // the rest is space that compaction will give back (etcd's "in use" size of the database).
  // Never above SizeBytes().
  uint64_t LiveBytes() const;

 private:
  Backend(const Options& options, std::unique_ptr<rocksdb::Env> env,
          std::unique_ptr<rocksdb::DB> db,
          std::array<rocksdb::ColumnFamilyHandle*, kColumnFamilyCount> families,
          rocksdb::ColumnFamilyHandle* default_family);

  // Free space, looked at no more often than every 100 ms (a write can add far less than the
  // reserve in that time).
  absl::Status CheckRoom();

  const Options options_;
  std::atomic<int64_t> room_checked_ns_{0};
  std::atomic<uint64_t> free_bytes_{UINT64_MAX};
  // A test's disk faults (storage/disk_faults.h), null otherwise; outlives the database.
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<rocksdb::DB> db_;
  std::array<rocksdb::ColumnFamilyHandle*, kColumnFamilyCount> families_;
  rocksdb::ColumnFamilyHandle* default_family_;
};

}  // namespace quorum::storage

#endif  // QUORUM_STORAGE_BACKEND_H_
