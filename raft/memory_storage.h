// MemoryStorage: an in-memory LogStorage used by raft/ tests, the simulator and
// the benchmark. The caller plays the role of the durable store: it appends
// Ready entries and hard state here before sending the Ready's messages.
// Not thread-safe: one thread owns it (the one driving the RawNode).
#ifndef QUORUM_RAFT_MEMORY_STORAGE_H_
#define QUORUM_RAFT_MEMORY_STORAGE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "raft/log_storage.h"

namespace quorum::raft {

class MemoryStorage : public LogStorage {
 public:
  MemoryStorage();

  absl::StatusOr<PersistedState> InitialState() const override;
  absl::StatusOr<std::vector<raftpb::Entry>> Entries(uint64_t lo, uint64_t hi,
                                                     uint64_t max_bytes) const override;
  absl::StatusOr<uint64_t> Term(uint64_t index) const override;
  absl::StatusOr<uint64_t> FirstIndex() const override;
  absl::StatusOr<uint64_t> LastIndex() const override;
  absl::StatusOr<raftpb::Snapshot> Snapshot() const override;

  void SetHardState(const raftpb::HardState& hs) { hard_state_ = hs; }
  const raftpb::HardState& hard_state() const { return hard_state_; }

  // Appends entries, replacing any stored suffix they conflict with (a new
  // leader may overwrite uncommitted entries, Raft §5.3). Entries wholly below
  // the compaction point are ignored. A gap after LastIndex() is an error.
  absl::Status Append(const std::vector<raftpb::Entry>& entries);

  // Replaces the whole log with `snap`. FAILED_PRECONDITION if it is older than
  // the snapshot already held.
  absl::Status ApplySnapshot(const raftpb::Snapshot& snap);

  // Records a snapshot of the application state at `index` (<= LastIndex()),
  // with membership `cs` and application bytes `data`. Does not compact.
  absl::StatusOr<raftpb::Snapshot> CreateSnapshot(uint64_t index, const raftpb::ConfState& cs,
                                                  std::string data);

  // Discards entries before `index`; the term of `index` stays known. The
  // application calls this once the state up to `index` is captured by a
  // snapshot. OUT_OF_RANGE if already compacted past `index`.
  absl::Status Compact(uint64_t index);

 private:
  uint64_t Offset() const { return entries_[0].index(); }

  raftpb::HardState hard_state_;
  raftpb::Snapshot snapshot_;
  // entries_[0] is a placeholder holding the index and term of the last
  // compacted entry, so Term(FirstIndex()-1) is always answerable.
  std::vector<raftpb::Entry> entries_;
};

}  // namespace quorum::raft

#endif  // QUORUM_RAFT_MEMORY_STORAGE_H_
