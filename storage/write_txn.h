// Internal to storage/: the state of one write transaction of MvccStore while it is being built
// (the RocksDB batch, the changes for the index and the event sink, and the overlay that lets
// the txn's later reads see its earlier writes), and the meta-family record layout. Used only
// by the store's write path on the writer's thread.
#ifndef QUORUM_STORAGE_WRITE_TXN_H_
#define QUORUM_STORAGE_WRITE_TXN_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "mvccpb/kv.pb.h"
#include "rocksdb/write_batch.h"

namespace quorum::storage {

// Uncommitted changes of a write txn, all at revision `rev`; the sub revision of a change is
// its position in `events`.
struct PendingWrites {
  int64_t rev = 0;
  std::vector<mvccpb::Event> events;
  // For each PUT event, its stored record when it is to be cached in memory (else nullptr).
  std::vector<std::shared_ptr<const std::string>> records;
  // Key -> position in `events` of its latest change in this txn.
  absl::btree_map<std::string, size_t, std::less<>> latest;
};

struct WriteTxn {
  explicit WriteTxn(int64_t begin) : begin_rev(begin) { pending.rev = begin + 1; }

  // Revision a read inside the txn defaults to: etcd reads at begin+1 once the txn has written.
  int64_t ReadRevision() const { return pending.events.empty() ? begin_rev : begin_rev + 1; }

  int64_t begin_rev;
  PendingWrites pending;
  rocksdb::WriteBatch batch;
  std::string scratch;  // reused serialization buffer
};

// The branch a txn takes at each level, decided before any of its writes (etcd compareToPath):
// `nested` holds, in op order, the path of each RequestTxn op of the chosen branch.
struct TxnPath {
  bool succeeded = false;
  std::vector<TxnPath> nested;
};

// Meta-family records owned by the MVCC store.
inline constexpr std::string_view kMetaApplied = "applied";  // index, term, revision (BE u64)
inline constexpr std::string_view kMetaCompactScheduled = "compact_scheduled";  // BE i64
inline constexpr std::string_view kMetaCompactFinished = "compact_finished";    // BE i64

std::string EncodeApplied(uint64_t index, uint64_t term, int64_t revision);
bool DecodeApplied(std::string_view value, uint64_t* index, uint64_t* term, int64_t* revision);
std::string EncodeInt64(int64_t value);
bool DecodeInt64(std::string_view value, int64_t* out);

}  // namespace quorum::storage

#endif  // QUORUM_STORAGE_WRITE_TXN_H_
