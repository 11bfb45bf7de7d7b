// RaftLogStore: the Raft log, hard state and snapshot metadata of one member, kept in the
// Backend's raft_log family. It is the RocksDB implementation of raft::DurableLog: raft/ reads
// the stable log through it, and the member loop persists each Ready through Save() in one
// write batch (group commit: one fsync covers every entry that arrived meanwhile).
//
// Threading: the member loop is the only caller of the raft::LogStorage methods, Save() and
// CreateSnapshot(). FirstIndex() and LastIndex() may also be called from any other thread
// (status reporting); they read atomics and never touch RocksDB. The applier writes the
// membership record (PutConfState) into the same family through its own batches; nothing here
// caches it.
//
// Layout of the raft_log family:
//   <8-byte big-endian index>  raftpb::Entry (the log; every other key starts with a letter,
//                              so entries sort first and indexes stay below 2^56)
//   "hard_state"               raftpb::HardState
//   "log_start"                index and term of the entry before the first stored one
//                              (FirstIndex()-1): compacted, but its term must stay known
//   "snapshot"                 raftpb::SnapshotMetadata of the latest snapshot point
//   "conf_state"               raftpb::ConfState as of the applied index (PutConfState)
#ifndef QUORUM_STORAGE_RAFT_LOG_STORE_H_
#define QUORUM_STORAGE_RAFT_LOG_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/log_storage.h"
#include "raft/ready_loop.h"
#include "raftpb/raft.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/backend.h"

namespace quorum::storage {

class RaftLogStore : public raft::DurableLog {
 public:
  struct Options {
    // Memory for the newest entries, so that committed entries and appends to followers that
    // keep up are served without reading RocksDB. Older entries are read from disk.
    size_t entry_cache_bytes = 16 << 20;
  };

  // Opens the log kept in `backend` (which must outlive the store). A new data dir has an empty
  // log: FirstIndex() 1, LastIndex() 0, no snapshot, an empty hard state. DATA_LOSS when the
  // stored log has a hole or an unreadable record.
  static absl::StatusOr<std::unique_ptr<RaftLogStore>> Open(Backend* backend);
  static absl::StatusOr<std::unique_ptr<RaftLogStore>> Open(Backend* backend,
                                                            const Options& options);
  ~RaftLogStore() override;

  // raft::LogStorage. InitialState's conf state is the PutConfState record when there is one,
  // else the snapshot metadata's (a member bootstrapped from a snapshot that has applied no
  // membership change yet).
  absl::StatusOr<raft::PersistedState> InitialState() const override;
  absl::StatusOr<std::vector<raftpb::Entry>> Entries(uint64_t lo, uint64_t hi,
                                                     uint64_t max_bytes) const override;
  absl::StatusOr<uint64_t> Term(uint64_t index) const override;
  absl::StatusOr<uint64_t> FirstIndex() const override;
  absl::StatusOr<uint64_t> LastIndex() const override;
  // Metadata only: the state itself is read from the state families (StateSnapshotReader).
  absl::StatusOr<raftpb::Snapshot> Snapshot() const override;

  // Persists one Ready in ONE RocksDB write batch, fsynced when `sync`:
  //  - `snapshot` (if any): records its metadata and replaces the whole log with it: every
  //    stored entry goes, including any above its index (Raft §7: a follower that is sent a
  //    snapshot does not hold its index with the same term, so nothing it holds can be kept).
  //    The state itself is installed by the caller into the state families beforehand
  //    (StateInstaller). FAILED_PRECONDITION if older than the snapshot already recorded.
  //  - `entries`: appended; an entry at an index already present replaces it and every later
  //    entry is deleted (a new leader overwrote a suffix). Entries at or below FirstIndex()-1
  //    are ignored; a gap after LastIndex() is FAILED_PRECONDITION.
  //  - `hard_state` (if any).
  // Nothing to write: returns at once. On error nothing was written and the store is unchanged.
  absl::Status Save(const std::optional<raftpb::Snapshot>& snapshot,
                    const std::vector<raftpb::Entry>& entries,
                    const std::optional<raftpb::HardState>& hard_state, bool sync) override;

  // Records a snapshot point at `index` (<= LastIndex(); its term is read from the log) with the
  // membership as of that index, and deletes entries below `compact_to` (which must be
  // <= index), so FirstIndex() becomes `compact_to`. Raft then serves followers behind
  // `compact_to` with a snapshot. A `compact_to` at or below FirstIndex() compacts nothing.
  // Errors: FAILED_PRECONDITION for an index older than the recorded snapshot or beyond
  // LastIndex(); OUT_OF_RANGE (compacted) for an index whose term is gone; INVALID_ARGUMENT
  // for compact_to > index. Not fsynced: a crash may forget it, which is harmless (the log
  // and the older snapshot point stay consistent, as both change in one batch).
  absl::Status CreateSnapshot(uint64_t index, const raftpb::ConfState& conf_state,
                              uint64_t compact_to) override;

  // The membership as of the applied index, written by the applier in the same batch as the
  // applied position (MvccStore::MarkApplied with extra records); read back by InitialState().
  static void PutConfState(const raftpb::ConfState& conf_state, rocksdb::WriteBatch* batch,
                           rocksdb::ColumnFamilyHandle* raft_family);

  // The membership InitialState() would report, read at `at` (nullptr: the latest state). Used
  // by StateSnapshotReader to pair the conf state with the applied index of its snapshot.
  static absl::StatusOr<raftpb::ConfState> ReadConfState(Backend* backend,
                                                         const rocksdb::Snapshot* at);

  // Adds to `batch` what makes the log start at a snapshot just installed into the state
  // families (StateInstaller::Finish): the snapshot point, every entry gone (a follower that
  // takes a leader's snapshot drops its whole log, as Save(snapshot) does), and the hard
  // state's commit raised to the snapshot's index (it is committed); term and vote stay. So
  // the state and the log agree whatever moment a crash picks after it. A RaftLogStore open on
  // `backend` keeps its cached view until its own Save(snapshot), which writes the same.
  static absl::Status AddInstalledSnapshot(Backend* backend, const raftpb::SnapshotMetadata& meta,
                                           rocksdb::WriteBatch* batch);

 private:
  RaftLogStore(Backend* backend, const Options& options);
  absl::Status Load();

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quorum::storage

#endif  // QUORUM_STORAGE_RAFT_LOG_STORE_H_
