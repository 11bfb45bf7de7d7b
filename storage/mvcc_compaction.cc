// MvccStore compaction and HashKV (mvcc/kvstore.go Compact/HashByRev,
// kvstore_compaction.go, key_index.go compact/keep).
//
// A compaction is made durable in two steps so a crash cannot leave it half done: first the
// intent (compact_scheduled, with the applied index) is written and readers below the new bound
// are refused; then the index is compacted and unreachable records are deleted in batches, the
// last batch recording compact_finished. Open() finishes an intent it finds unfinished.
#include <memory>

#include "absl/container/flat_hash_set.h"
#include "proto/etcd_errors.h"
#include "raft/crash_point.h"
#include "rocksdb/db.h"
#include "storage/crc32c.h"
#include "storage/mvcc_store.h"
#include "storage/write_txn.h"

namespace quorum::storage {
namespace {

// Keys compacted per hold of the index lock, so readers are never stalled for long.
constexpr size_t kCompactKeysPerLock = 1000;
// Record deletions per (unsynced) write batch.
constexpr int kDeletesPerBatch = 10000;

}  // namespace

absl::StatusOr<etcdserverpb::CompactionResponse> MvccStore::Compact(
    const etcdserverpb::CompactionRequest& req, const ApplyMeta& meta) {
  absl::MutexLock write_lock(&write_mu_);
  const int64_t rev = req.revision();
  int64_t current = 0;
  {
    absl::ReaderMutexLock lock(&index_mu_);
    if (rev <= compact_rev_) return ErrCompacted();
    if (rev > current_rev_) return ErrFutureRev();
    current = current_rev_;
  }

  rocksdb::WriteBatch batch;
  rocksdb::Status s = batch.Put(meta_, kMetaCompactScheduled, EncodeInt64(rev));
  if (s.ok()) s = batch.Put(meta_, kMetaApplied, EncodeApplied(meta.index, meta.term, current));
  if (!s.ok()) return FromRocksStatus(s, "build write batch");
  if (absl::Status status = Persist(&batch); !status.ok()) return status;
  {
    absl::MutexLock lock(&index_mu_);
    compact_rev_ = rev;
    applied_ = meta;
  }
  if (absl::Status status = CompactTo(rev); !status.ok()) return status;

  if (req.physical()) {
    std::string end = RevisionKey(Revision{rev + 1, 0});
    rocksdb::Slice end_slice(end);
    rocksdb::CompactRangeOptions options;
    options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    s = backend_->db()->CompactRange(options, kv_, nullptr, &end_slice);
    if (!s.ok()) return FromRocksStatus(s, "compact kv family");
  }

  etcdserverpb::CompactionResponse resp;
  resp.mutable_header()->set_revision(current);
  return resp;
}

absl::Status MvccStore::CompactTo(int64_t rev) {
  absl::flat_hash_set<Revision> keep;
  std::string from;
  while (true) {
    absl::MutexLock lock(&index_mu_);
    std::optional<std::string> next = index_.Compact(rev, from, kCompactKeysPerLock, &keep);
    if (!next) break;
    from = std::move(*next);
  }

  // Readers at or above `rev` only ever look up kept revisions, and readers below it are now
  // refused (or notice the missing record and answer compacted), so deleting needs no lock.
  rocksdb::DB* db = backend_->db();
  std::string upper = RevisionKey(Revision{rev + 1, 0});
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.fill_cache = false;
  read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, kv_));
  rocksdb::WriteBatch batch;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    Revision record;
    bool tombstone = false;
    if (!DecodeRevisionKey(std::string_view(it->key().data(), it->key().size()), &record,
                           &tombstone)) {
      return absl::DataLossError("storage: malformed kv record key during compaction");
    }
    if (keep.contains(record)) continue;
    rocksdb::Status s = batch.Delete(kv_, it->key());
    if (!s.ok()) return FromRocksStatus(s, "build compaction batch");
    if (batch.Count() >= kDeletesPerBatch) {
      // Unsynced: if these are lost, the unfinished intent makes Open() redo them.
      if (absl::Status status = backend_->Write(&batch, false); !status.ok()) return status;
      batch.Clear();
    }
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "scan kv family for compaction");
  it.reset();
  rocksdb::Status s = batch.Put(meta_, kMetaCompactFinished, EncodeInt64(rev));
  if (!s.ok()) return FromRocksStatus(s, "build compaction batch");
  QUORUM_CRASH_POINT("compact-before-finish");
  return Persist(&batch);
}

absl::StatusOr<HashResult> MvccStore::HashKV(int64_t revision) const {
  rocksdb::DB* db = backend_->db();
  HashResult result;
  absl::flat_hash_set<Revision> keep;
  const rocksdb::Snapshot* snapshot = nullptr;
  {
    absl::ReaderMutexLock lock(&index_mu_);
    result.compact_revision = compact_rev_;
    result.revision = current_rev_;
    // etcd HashByRev: hashing at the compacted revision itself is refused too.
    if (revision > 0 && revision <= compact_rev_) return ErrCompacted();
    if (revision > 0 && revision > current_rev_) return ErrFutureRev();
    if (revision == 0) revision = current_rev_;
    index_.Keep(revision, &keep);
    snapshot = db->GetSnapshot();
  }

  std::string upper = RevisionKey(Revision{revision + 1, 0});
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.snapshot = snapshot;
  read_options.fill_cache = false;
  read_options.iterate_upper_bound = &upper_slice;
  // etcd hashes its bucket name first.
  uint32_t crc = Crc32cExtend(0, "key");
  absl::Status status;
  // A negative revision hashes no record (etcd compares revisions signed).
  if (revision >= 0) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, kv_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view key(it->key().data(), it->key().size());
      Revision record;
      bool tombstone = false;
      if (!DecodeRevisionKey(key, &record, &tombstone)) {
        status = absl::DataLossError("storage: malformed kv record key");
        break;
      }
      // Below the compaction only what the compaction keeps counts, so members that have and
      // have not yet deleted those records agree.
      if (record.main <= result.compact_revision && !keep.empty() && !keep.contains(record)) {
        continue;
      }
      crc = Crc32cExtend(crc, key);
      crc = Crc32cExtend(crc, std::string_view(it->value().data(), it->value().size()));
    }
    if (status.ok() && !it->status().ok()) status = FromRocksStatus(it->status(), "hash kv");
  }
  db->ReleaseSnapshot(snapshot);
  if (!status.ok()) return status;
  result.hash = crc;
  return result;
}

}  // namespace quorum::storage
