// The MVCC key-value store: etcd 3.4's data model and KV semantics (Range, Put, DeleteRange,
// Txn, Compact, HashKV) on the Backend's kv and meta column families, with an in-memory key
// index rebuilt from disk on Open. The applier calls the write methods in log order; gRPC
// handlers call the read methods directly (serializable reads, and linearizable ones once the
// ReadIndex is applied).
//
// Threading: one writer at a time (the write methods serialize on an internal mutex; the
// applier is expected to be the only caller) and any number of concurrent readers. A reader
// never waits for a RocksDB write; it holds the index lock only while looking revisions up.
// Each write method commits one RocksDB write batch holding every kv change of the request and
// the ApplyMeta, so a restart neither loses nor repeats an applied entry; the in-memory state
// changes only after that batch is durable.
//
// Errors carry etcd's gRPC code and exact message (proto/etcd_errors.h). A write method that
// returns an error has changed nothing, not even the applied index: the applier then calls
// MarkApplied for that entry.
#ifndef QUORUM_STORAGE_MVCC_STORE_H_
#define QUORUM_STORAGE_MVCC_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvccpb/kv.pb.h"
#include "storage/backend.h"
#include "storage/key_index.h"
#include "storage/schema.h"

namespace quorum::storage {

// Position in the Raft log of the entry being applied; persisted with the change it makes.
struct ApplyMeta {
  uint64_t index = 0;
  uint64_t term = 0;
  friend bool operator==(const ApplyMeta&, const ApplyMeta&) = default;
};

struct HashResult {
  uint32_t hash = 0;
  int64_t compact_revision = 0;  // -1 when the store was never compacted (as etcd)
  int64_t revision = 0;          // current revision when hashing started
};

// A live key with a lease attached.
struct LeasedKey {
  std::string key;
  int64_t lease = 0;
};

struct PendingWrites;
struct WriteTxn;
struct TxnPath;

class MvccStore {
 public:
  // Receives the changes of each committed write revision, in revision order, on the writer's
  // thread after the change is durable and visible to readers. PUT events carry the stored
  // KeyValue; DELETE events carry the key and the deleting revision as mod_revision (etcd watch
  // semantics; prev_kv is left for the watch layer to read at mod_revision - 1). The sink must
  // not call back into a write method of this store (it would deadlock); reads are fine.
  using EventSink = std::function<void(int64_t revision, const std::vector<mvccpb::Event>&)>;
  // Answers whether a lease exists; Put/Txn with an unknown lease fail with NOT_FOUND
  // "etcdserver: requested lease not found". Without a checker every lease is accepted.
  using LeaseChecker = std::function<bool(int64_t lease_id)>;

  struct Options {
    // Memory for the latest record of each live key, so reads at the current revision do not
    // touch RocksDB. Beyond it, newly written keys are read from RocksDB.
    size_t value_cache_bytes = size_t{1} << 30;
    // When false, the store's batches are not fsynced even if the Backend syncs by default.
    // Safe only when every applied entry is also in a durable log that is replayed from
    // Applied() after a crash (the Raft log in the same Backend: its synced appends also make
    // the store's earlier writes durable, as both share one RocksDB WAL).
    bool sync_writes = true;
  };

  // Opens the store on `backend` (which must outlive it), rebuilding the key index from the kv
  // family and finishing a compaction a crash interrupted.
  static absl::StatusOr<std::unique_ptr<MvccStore>> Open(Backend* backend);
  static absl::StatusOr<std::unique_ptr<MvccStore>> Open(Backend* backend, const Options& options);
  ~MvccStore();
  MvccStore(const MvccStore&) = delete;
  MvccStore& operator=(const MvccStore&) = delete;

  // The revision of the latest committed write (1 for an empty store, as etcd).
  int64_t CurrentRevision() const;
  // The revision of the latest compaction, -1 if none.
  int64_t CompactedRevision() const;
  // The log position of the last applied entry (persisted, survives restart).
  ApplyMeta Applied() const;
  // Keys that exist at the current revision.
  size_t KeyCount() const;

  // etcd Range. Reads at req.revision (<= 0: the current revision). header.revision is the
  // current revision the read saw, whatever revision it read at; only the revision field of
  // the header is set (the server fills the rest).
  absl::StatusOr<etcdserverpb::RangeResponse> Range(const etcdserverpb::RangeRequest& req) const;

  // etcd Put: one new revision. Checks value/lease provided with ignore_*, key existence for
  // ignore_*, lease existence.
  absl::StatusOr<etcdserverpb::PutResponse> Put(const etcdserverpb::PutRequest& req,
                                                const ApplyMeta& meta);
  // etcd DeleteRange: one new revision if anything was deleted, else none.
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteRange(
      const etcdserverpb::DeleteRangeRequest& req, const ApplyMeta& meta);
  // Deletes every listed key that is live, all in one revision (none if none was live), and
  // writes `records` in the same batch (a lease revoke: the keys and the lease record go
  // together).
  absl::Status DeleteKeys(const std::vector<std::string>& keys, const ApplyMeta& meta,
                          const RecordChanges& records);
  // etcd Txn: compares (nested ones included) are evaluated against the state before the txn;
  // all writes of the chosen branches form one revision (none if nothing was written); a read
  // after a write in the same txn sees that write.
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(const etcdserverpb::TxnRequest& req,
                                                const ApplyMeta& meta);
  // A txn whose top-level ops are all ranges (IsReadOnlyTxn), served without going through
  // Raft: same answers as Txn, nothing written. INVALID_ARGUMENT for any other txn.
  absl::StatusOr<etcdserverpb::TxnResponse> ReadTxn(const etcdserverpb::TxnRequest& req) const;
  // etcd's rule for which txns need no consensus: every success and failure op is a range.
  static bool IsReadOnlyTxn(const etcdserverpb::TxnRequest& req);

  // etcd Compact: removes every revision below req.revision that no read at or above it can
  // see (the latest put of each key at or below it stays; a key deleted at or below it goes
  // entirely). Returns when the records are deleted; with req.physical also after RocksDB has
  // reclaimed their space.
  absl::StatusOr<etcdserverpb::CompactionResponse> Compact(
      const etcdserverpb::CompactionRequest& req, const ApplyMeta& meta);

  // Records that the entry at `meta` was applied without changing any key.
  absl::Status MarkApplied(const ApplyMeta& meta);
  // The same, with state records (membership, alarms, leases, the Raft conf state) written
  // atomically with the applied position, so a restart sees both or neither.
  absl::Status MarkApplied(const ApplyMeta& meta, const RecordChanges& records);

  // etcd HashKV: crc32c over the kv records up to `revision` (0: current) that a compaction at
  // or below it keeps; equal histories give equal hashes (and etcd's own hash).
  absl::StatusOr<HashResult> HashKV(int64_t revision) const;

  // Every change with revision in [from_rev, to_rev] as watch events, in revision order (for
  // watchers catching up). OUT_OF_RANGE compacted if from_rev is below the compacted revision.
  absl::StatusOr<std::vector<mvccpb::Event>> ReadEvents(int64_t from_rev, int64_t to_rev) const;

  void SetEventSink(EventSink sink);
  void SetLeaseChecker(LeaseChecker exists);

  // For the lessor: every live key with a lease, in key order.
  std::vector<LeasedKey> LeasedKeys() const;
  // The lease attached to live `key`, 0 if none or if the key does not exist.
  int64_t LeaseOf(std::string_view key) const;

 private:
  // Where a read looks: `rev` is the revision reads default to and report; `pending` are the
  // uncommitted writes of the txn in progress, visible to reads at `rev`.
  struct ReadView {
    int64_t rev = 0;
    const PendingWrites* pending = nullptr;
  };
  // One key found by an index lookup.
  struct Hit {
    Revision rev;
    int64_t created = 0;
    int64_t version = 0;
    const mvccpb::KeyValue* pending = nullptr;  // set when the key was written by this txn
    std::shared_ptr<const std::string> record;  // set when the record is cached in memory
  };

  MvccStore(Backend* backend, const Options& options);
  absl::Status Restore();

  // Read path (mvcc_read.cc).
  absl::StatusOr<etcdserverpb::RangeResponse> RangeAt(const etcdserverpb::RangeRequest& req,
                                                      const ReadView& view) const;
  void CollectHits(const KeyRange& range, int64_t at_rev, const PendingWrites* pending,
                   size_t store_limit, std::vector<Hit>* hits, int64_t* count,
                   std::vector<std::string>* keys) const ABSL_SHARED_LOCKS_REQUIRED(index_mu_);
  static Hit CommittedHit(const KeyAt& at, const KeyHistory& history);
  absl::Status FetchKeyValues(const std::vector<Hit>& hits, int64_t read_rev,
                              google::protobuf::RepeatedPtrField<mvccpb::KeyValue>* out) const;

  // Write path (mvcc_write.cc).
  absl::Status CheckLease(int64_t lease) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<std::optional<mvccpb::KeyValue>> LatestInTxn(const WriteTxn& txn,
                                                              std::string_view key) const;
  absl::StatusOr<etcdserverpb::PutResponse> PutInTxn(WriteTxn& txn,
                                                     const etcdserverpb::PutRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteInTxn(
      WriteTxn& txn, const etcdserverpb::DeleteRangeRequest& req)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status Commit(WriteTxn& txn, const ApplyMeta& meta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // Txn (mvcc_txn.cc).
  absl::StatusOr<TxnPath> EvaluatePath(const etcdserverpb::TxnRequest& req, int64_t at_rev) const;
  absl::StatusOr<bool> CompareHolds(const etcdserverpb::Compare& compare, int64_t at_rev) const;
  absl::Status CheckPuts(const etcdserverpb::TxnRequest& req, const TxnPath& path,
                         int64_t at_rev) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status CheckRanges(const etcdserverpb::TxnRequest& req, const TxnPath& path, int64_t rev,
                           int64_t compacted) const;
  absl::Status ApplyReadOps(const etcdserverpb::TxnRequest& req, const TxnPath& path,
                            int64_t read_rev, etcdserverpb::TxnResponse* resp) const;
  absl::Status ApplyWriteOps(const etcdserverpb::TxnRequest& req, const TxnPath& path,
                             WriteTxn& txn, etcdserverpb::TxnResponse* resp)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // Compaction (mvcc_compaction.cc): index and record removal at `rev`.
  absl::Status CompactTo(int64_t rev) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // Writes a batch with the durability the options ask for.
  absl::Status Persist(rocksdb::WriteBatch* batch);

  const Options options_;
  Backend* const backend_;
  rocksdb::ColumnFamilyHandle* const kv_;
  rocksdb::ColumnFamilyHandle* const meta_;

  // Serializes writers. Lock order: write_mu_ before index_mu_.
  mutable absl::Mutex write_mu_;
  EventSink sink_ ABSL_GUARDED_BY(write_mu_);
  LeaseChecker lease_exists_ ABSL_GUARDED_BY(write_mu_);
  size_t cached_bytes_ ABSL_GUARDED_BY(write_mu_) = 0;  // index_.cached_bytes() after each write

  // Guards what readers see; held exclusively only to publish a committed change.
  mutable absl::Mutex index_mu_ ABSL_ACQUIRED_AFTER(write_mu_);
  KeyIndex index_ ABSL_GUARDED_BY(index_mu_);
  int64_t current_rev_ ABSL_GUARDED_BY(index_mu_) = 1;
  int64_t compact_rev_ ABSL_GUARDED_BY(index_mu_) = -1;
  ApplyMeta applied_ ABSL_GUARDED_BY(index_mu_);
};

}  // namespace quorum::storage

#endif  // QUORUM_STORAGE_MVCC_STORE_H_
