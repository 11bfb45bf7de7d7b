// RaftLog: the Raft log as one member sees it — the stable prefix read through
// LogStorage plus the unstable suffix (entries and possibly a snapshot) that
// the application has not persisted yet — with the commit and applied cursors.
// Used only by the Raft core (raft.h); not part of the public API.
#ifndef QUORUM_RAFT_RAFT_LOG_H_
#define QUORUM_RAFT_RAFT_LOG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "raft/fatal.h"
#include "raft/log_storage.h"

namespace quorum::raft {

// No log index reaches this: at 2^56 a cluster writing a million entries a second takes over two
// thousand years to get there. A snapshot or an append from a peer at or beyond it comes from a
// broken or hostile peer and is ignored; near 2^64 the next index would wrap to 0 and leave a
// log whose last term cannot be read. The log store refuses such indexes too.
inline constexpr uint64_t kMaxLogIndex = uint64_t{1} << 56;

class RaftLog {
 public:
  // `storage` is borrowed and must outlive the log. The log starts with
  // committed = applied = the storage's snapshot index.
  RaftLog(LogStorage* storage, uint64_t max_committed_bytes_per_ready);

  uint64_t committed() const { return committed_; }
  uint64_t applied() const { return applied_; }

  uint64_t FirstIndex() const;
  uint64_t LastIndex() const;
  uint64_t LastTerm() const;
  // Term of `index`, or an error per the LogStorage contract.
  absl::StatusOr<uint64_t> Term(uint64_t index) const;
  // Term of `index`, or 0 if it is unknown (compacted or beyond the log).
  uint64_t TermOrZero(uint64_t index) const;
  bool MatchTerm(uint64_t index, uint64_t term) const;

  // Raft §5.3 AppendEntries receiver: if the log has (index, log_term), append
  // `entries` after it (truncating at the first conflict), advance commit to
  // min(committed, last new index) and return the last new index.
  std::optional<uint64_t> MaybeAppend(
      uint64_t index, uint64_t log_term, uint64_t committed,
      const google::protobuf::RepeatedPtrField<raftpb::Entry>& entries);
  // Appends entries that follow or overwrite the log; returns the last index.
  uint64_t Append(const std::vector<raftpb::Entry>& entries);

  // The largest index <= `index` whose term is <= `term`, with that term.
  // Used for conflict hints so one round trip skips a whole term.
  std::pair<uint64_t, uint64_t> FindConflictByTerm(uint64_t index, uint64_t term) const;

  // Raft §5.4.1: is a log ending at (last_index, last_term) at least as
  // up-to-date as ours?
  bool IsUpToDate(uint64_t last_index, uint64_t last_term) const;

  // Entries [lo, hi) limited to about `max_bytes` (at least one entry).
  absl::StatusOr<std::vector<raftpb::Entry>> Slice(uint64_t lo, uint64_t hi,
                                                   uint64_t max_bytes) const;
  absl::StatusOr<std::vector<raftpb::Entry>> EntriesFrom(uint64_t index, uint64_t max_bytes) const;

  // Raft §5.4.2: commit `max_index` only if its entry is of `term` (the
  // leader's current term); older entries commit indirectly.
  bool MaybeCommit(uint64_t max_index, uint64_t term);
  void CommitTo(uint64_t index);
  void AppliedTo(uint64_t index);

  // Ready plumbing.
  const std::vector<raftpb::Entry>& UnstableEntries() const { return unstable_entries_; }
  const std::optional<raftpb::Snapshot>& UnstableSnapshot() const { return unstable_snapshot_; }
  bool HasNextCommittedEntries() const;
  std::vector<raftpb::Entry> NextCommittedEntries() const;
  // The application has persisted entries up to (index, term).
  void StableTo(uint64_t index, uint64_t term);
  void StableSnapshotTo(uint64_t index);

  // The newest snapshot: the unstable one if any, else the storage's.
  absl::StatusOr<raftpb::Snapshot> Snapshot() const;
  // Replaces the log with `snap` (follower installing a leader's snapshot).
  void Restore(const raftpb::Snapshot& snap);

 private:
  uint64_t UnstableOffset() const { return unstable_offset_; }

  LogStorage* storage_;
  const uint64_t max_committed_bytes_per_ready_;
  // Entries at index >= unstable_offset_ not yet persisted by the application.
  std::vector<raftpb::Entry> unstable_entries_;
  uint64_t unstable_offset_ = 0;
  std::optional<raftpb::Snapshot> unstable_snapshot_;
  uint64_t committed_ = 0;
  uint64_t applied_ = 0;
};

}  // namespace quorum::raft

#endif  // QUORUM_RAFT_RAFT_LOG_H_
