// The state machine's snapshot, for a follower that fell behind the leader's compacted log:
// every record of the state families (kv, meta, lease, members, auth) at one consistent point,
// as internalpb::StateRecords. The member that sends a snapshot reads it with
// StateSnapshotReader; the member that receives one replaces its own state with StateInstaller
// and then reopens its MvccStore (which rebuilds its index from the new records).
//
// Not carried: the Raft log family (each member keeps its own log; the snapshot's metadata is
// recorded by RaftLogStore::Save) and the members-family "identity" record (each data dir
// keeps its own).
//
// Threading: each object is used by one thread at a time. A reader reads a RocksDB snapshot,
// so it never blocks writers and may run on any thread while the member keeps applying.
#ifndef QUORUM_STORAGE_STATE_SNAPSHOT_H_
#define QUORUM_STORAGE_STATE_SNAPSHOT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "internalpb/peer.pb.h"
#include "raftpb/raft.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/backend.h"
#include "storage/mvcc_store.h"

namespace quorum::storage {

// The families a snapshot carries, in the order a reader hands them out (kv, the bulk, last).
inline constexpr std::array<ColumnFamily, 5> kStateFamilies = {
    ColumnFamily::kMembers, ColumnFamily::kMeta, ColumnFamily::kLease, ColumnFamily::kAuth,
    ColumnFamily::kKv};

// The members-family record that names this data dir's member (server/membership.cc writes it).
inline constexpr std::string_view kMemberIdentityKey = "identity";

class StateSnapshotReader {
 public:
  // Pins a consistent point of `backend` (which must outlive the reader) and reads the applied
  // position and membership recorded at it.
  static absl::StatusOr<std::unique_ptr<StateSnapshotReader>> Open(Backend* backend);
  ~StateSnapshotReader();  // releases the RocksDB snapshot
  StateSnapshotReader(const StateSnapshotReader&) = delete;
  StateSnapshotReader& operator=(const StateSnapshotReader&) = delete;

  // The last entry applied into the state at this point (0/0 for a state that applied none),
  // and the MVCC revision it reached. A snapshot message for these records must name this
  // index and term: the records are the state as of it.
  uint64_t applied_index() const { return applied_.index; }
  uint64_t applied_term() const { return applied_.term; }
  int64_t revision() const { return revision_; }
  // The membership as of applied_index() (RaftLogStore::ReadConfState at this point).
  const raftpb::ConfState& conf_state() const { return conf_state_; }

  // Appends records to chunk->records until about `max_bytes` of keys and values are added
  // (always at least one record while any remain). Returns true while records remain for a
  // later call, false once this call has handed out the last one (the chunk may hold records
  // still: send it, with `last` set). Typical use:
  //   bool more = true;
  //   while (more) { chunk.Clear(); more = *reader->Next(&chunk, 1 << 20);
  //                  chunk.set_last(!more); Send(chunk); }
  absl::StatusOr<bool> Next(internalpb::SnapshotChunk* chunk, size_t max_bytes);

 private:
  explicit StateSnapshotReader(Backend* backend);

  Backend* const backend_;
  const rocksdb::Snapshot* snapshot_ = nullptr;
  ApplyMeta applied_;
  int64_t revision_ = 1;
  raftpb::ConfState conf_state_;
  size_t family_ = 0;                      // position in kStateFamilies
  std::unique_ptr<rocksdb::Iterator> it_;  // over kStateFamilies[family_], at the next record
};

// Replaces the state families of a backend with the records of a snapshot. Use in this order,
// with no MvccStore write (and no other writer to the state families) in between:
//   Begin(snapshot); Add(chunk)...; Finish(snapshot metadata);
//   then reopen MvccStore (and anything else that caches state records), then
//   RaftLogStore::Save(snapshot, ...) as usual.
// Records are written unsynced as they arrive; Finish makes all of it durable at once, the
// log's snapshot point included. A crash before Finish leaves a mix of old and new records and
// the mark Begin wrote: Interrupted() hands the snapshot back on the next start, and the
// install is done again from its staged file. The old state cannot be brought back, and the
// log may not be dropped instead: its entries were acknowledged to the leader, which counts
// them as held here.
class StateInstaller {
 public:
  explicit StateInstaller(Backend* backend);  // `backend` must outlive the installer
  ~StateInstaller();
  StateInstaller(const StateInstaller&) = delete;
  StateInstaller& operator=(const StateInstaller&) = delete;

  // Deletes every record of the state families except this member's identity, and marks the
  // data dir as being installed into with `snapshot` (its metadata and staged file's path).
  absl::Status Begin(const raftpb::Snapshot& snapshot);
  // Writes the chunk's records. INVALID_ARGUMENT for a record of a family a snapshot does not
  // carry (nothing of that chunk is written); an "identity" record is ignored.
  absl::Status Add(const internalpb::SnapshotChunk& chunk);
  // Records the metadata's conf state as the membership as of the installed applied index
  // (RaftLogStore::PutConfState; a sender derives it from the same point,
  // StateSnapshotReader::conf_state), makes the log start at the snapshot
  // (RaftLogStore::AddInstalledSnapshot), clears the mark, and makes everything durable
  // (fsynced when the backend syncs its writes).
  absl::Status Finish(const raftpb::SnapshotMetadata& metadata);

  // The applied position carried by the records added so far (the meta family's own record),
  // if one was seen. After Finish it is what MvccStore::Open will report as Applied().
  std::optional<ApplyMeta> applied() const { return applied_; }

  // The snapshot whose install began in this data dir and never finished (a crash in
  // between), or nullopt. On start, before opening RaftLogStore or MvccStore.
  static absl::StatusOr<std::optional<raftpb::Snapshot>> Interrupted(Backend* backend);

 private:
  enum class Phase { kIdle, kInstalling, kFinished };

  Backend* const backend_;
  Phase phase_ = Phase::kIdle;
  std::optional<ApplyMeta> applied_;
};

}  // namespace quorum::storage

#endif  // QUORUM_STORAGE_STATE_SNAPSHOT_H_
