// LogStorage: the narrow read interface through which raft/ sees the stable
// (persisted) part of the Raft log. raft/ calls it; storage/ implements it on
// RocksDB and MemoryStorage (memory_storage.h) implements it for tests.
//
// Contract:
//  - Only the thread that drives a RawNode calls these methods; raft/ starts
//    no threads and never writes through this interface. The application writes
//    (appends entries, saves hard state, installs snapshots) between taking a
//    Ready and calling Advance(), from that same thread or under its own lock.
//  - Indexes: entries (FirstIndex()-1, LastIndex()] are readable; the entry at
//    FirstIndex()-1 has been compacted but its term must still be known (it is
//    the snapshot's index/term). An empty log has FirstIndex() == LastIndex()+1.
//  - Errors: OUT_OF_RANGE (IsCompacted) for an index below FirstIndex()-1;
//    UNAVAILABLE for an index above LastIndex() or a snapshot that is being
//    produced and should be asked for again later. Any other error is treated
//    as fatal by raft/ (the log is unreadable; continuing could lose data).
#ifndef QUORUM_RAFT_LOG_STORAGE_H_
#define QUORUM_RAFT_LOG_STORAGE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "raftpb/raft.pb.h"

namespace quorum::raft {

// What a restarting member reads back: its last durable HardState and the
// membership (ConfState) as of the `applied` index it passes in Config.
struct PersistedState {
  raftpb::HardState hard_state;
  raftpb::ConfState conf_state;
};

class LogStorage {
 public:
  virtual ~LogStorage() = default;

  virtual absl::StatusOr<PersistedState> InitialState() const = 0;

  // Entries with index in [lo, hi), in order. Stops before the total byte size
  // would exceed `max_bytes`, but always returns at least one entry when lo < hi.
  virtual absl::StatusOr<std::vector<raftpb::Entry>> Entries(uint64_t lo, uint64_t hi,
                                                             uint64_t max_bytes) const = 0;

  // Term of entry `index`, for index in [FirstIndex()-1, LastIndex()].
  virtual absl::StatusOr<uint64_t> Term(uint64_t index) const = 0;

  virtual absl::StatusOr<uint64_t> FirstIndex() const = 0;
  virtual absl::StatusOr<uint64_t> LastIndex() const = 0;

  // The most recent snapshot; its metadata index is FirstIndex()-1 or later.
  virtual absl::StatusOr<raftpb::Snapshot> Snapshot() const = 0;
};

// The error values of the contract above.
absl::Status CompactedError(uint64_t index);
absl::Status UnavailableError(absl::string_view what);
inline bool IsCompacted(const absl::Status& s) { return absl::IsOutOfRange(s); }

// Encoded size of an entry as counted against byte limits.
inline uint64_t EntrySize(const raftpb::Entry& e) { return e.ByteSizeLong(); }

}  // namespace quorum::raft

#endif  // QUORUM_RAFT_LOG_STORAGE_H_
