// The Raft log as one member sees it; see raft_log.h.
#include "raft/raft_log.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace quorum::raft {

namespace {

// Storage errors other than the two the contract names mean the log cannot be
// read; raft cannot make a safe decision without it.
template <typename T>
T MustOk(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) Fatal(absl::StrCat(what, ": ", v.status().ToString()));
  return *std::move(v);
}

}  // namespace

RaftLog::RaftLog(LogStorage* storage, uint64_t max_committed_bytes_per_ready)
    : storage_(storage), max_committed_bytes_per_ready_(max_committed_bytes_per_ready) {
  const uint64_t first = MustOk(storage_->FirstIndex(), "storage FirstIndex");
  const uint64_t last = MustOk(storage_->LastIndex(), "storage LastIndex");
  unstable_offset_ = last + 1;
  committed_ = first - 1;
  applied_ = first - 1;
}

uint64_t RaftLog::FirstIndex() const {
  if (unstable_snapshot_) return unstable_snapshot_->metadata().index() + 1;
  return MustOk(storage_->FirstIndex(), "storage FirstIndex");
}

uint64_t RaftLog::LastIndex() const {
  if (!unstable_entries_.empty()) return unstable_offset_ + unstable_entries_.size() - 1;
  if (unstable_snapshot_) return unstable_snapshot_->metadata().index();
  return MustOk(storage_->LastIndex(), "storage LastIndex");
}

uint64_t RaftLog::LastTerm() const { return MustOk(Term(LastIndex()), "term of last index"); }

absl::StatusOr<uint64_t> RaftLog::Term(uint64_t index) const {
  const uint64_t dummy = FirstIndex() - 1;
  if (index < dummy) return CompactedError(index);
  if (index > LastIndex()) return UnavailableError(absl::StrCat("term of ", index));
  if (unstable_snapshot_ && index == unstable_snapshot_->metadata().index()) {
    return unstable_snapshot_->metadata().term();
  }
  if (index >= unstable_offset_ && index - unstable_offset_ < unstable_entries_.size()) {
    return unstable_entries_[index - unstable_offset_].term();
  }
  absl::StatusOr<uint64_t> t = storage_->Term(index);
  if (!t.ok() && !IsCompacted(t.status()) && !absl::IsUnavailable(t.status())) {
    Fatal(absl::StrCat("storage Term(", index, "): ", t.status().ToString()));
  }
  return t;
}

uint64_t RaftLog::TermOrZero(uint64_t index) const {
  absl::StatusOr<uint64_t> t = Term(index);
  return t.ok() ? *t : 0;
}

bool RaftLog::MatchTerm(uint64_t index, uint64_t term) const {
  absl::StatusOr<uint64_t> t = Term(index);
  return t.ok() && *t == term;
}

std::optional<uint64_t> RaftLog::MaybeAppend(
    uint64_t index, uint64_t log_term, uint64_t committed,
    const google::protobuf::RepeatedPtrField<raftpb::Entry>& entries) {
  if (!MatchTerm(index, log_term)) return std::nullopt;
  const uint64_t last_new = index + entries.size();
  // Skip the prefix we already hold; only a real conflict truncates, so a
  // delayed, duplicated append never erases entries appended after it.
  int first_conflict = entries.size();
  for (int i = 0; i < entries.size(); ++i) {
    if (!MatchTerm(entries[i].index(), entries[i].term())) {
      first_conflict = i;
      break;
    }
  }
  if (first_conflict < entries.size()) {
    const uint64_t ci = entries[first_conflict].index();
    if (ci <= committed_) {
      Fatal(absl::StrCat("entry ", ci, " conflicts with a committed entry (committed ", committed_,
                         ")"));
    }
    Append(std::vector<raftpb::Entry>(entries.begin() + first_conflict, entries.end()));
  }
  CommitTo(std::min(committed, last_new));
  return last_new;
}

uint64_t RaftLog::Append(const std::vector<raftpb::Entry>& entries) {
  if (entries.empty()) return LastIndex();
  const uint64_t after = entries.front().index() - 1;
  if (after < committed_) {
    Fatal(absl::StrCat("append after ", after, " is below committed ", committed_));
  }
  const uint64_t end = unstable_offset_ + unstable_entries_.size();
  if (after + 1 == end) {
    // Plain extension of the unstable suffix.
  } else if (after + 1 <= unstable_offset_) {
    // Replaces part of the stable log too; the application's storage truncates
    // its conflicting suffix when it persists these entries.
    unstable_offset_ = after + 1;
    unstable_entries_.clear();
  } else {
    unstable_entries_.resize(after + 1 - unstable_offset_);
  }
  unstable_entries_.insert(unstable_entries_.end(), entries.begin(), entries.end());
  return LastIndex();
}

std::pair<uint64_t, uint64_t> RaftLog::FindConflictByTerm(uint64_t index, uint64_t term) const {
  if (index > LastIndex()) return {index, 0};
  while (true) {
    absl::StatusOr<uint64_t> t = Term(index);
    if (!t.ok()) return {index, 0};
    if (*t <= term || index == 0) return {index, *t};
    --index;
  }
}

bool RaftLog::IsUpToDate(uint64_t last_index, uint64_t last_term) const {
  const uint64_t my_term = LastTerm();
  return last_term > my_term || (last_term == my_term && last_index >= LastIndex());
}

absl::StatusOr<std::vector<raftpb::Entry>> RaftLog::Slice(uint64_t lo, uint64_t hi,
                                                          uint64_t max_bytes) const {
  if (lo >= hi) return std::vector<raftpb::Entry>();
  if (lo < FirstIndex()) return CompactedError(lo);
  if (hi > LastIndex() + 1) {
    Fatal(absl::StrCat("slice [", lo, ",", hi, ") beyond last index ", LastIndex()));
  }
  std::vector<raftpb::Entry> out;
  uint64_t bytes = 0;
  if (lo < unstable_offset_) {
    absl::StatusOr<std::vector<raftpb::Entry>> stored =
        storage_->Entries(lo, std::min(hi, unstable_offset_), max_bytes);
    if (!stored.ok()) {
      if (IsCompacted(stored.status())) return stored.status();
      Fatal(absl::StrCat("storage Entries(", lo, ",", hi, "): ", stored.status().ToString()));
    }
    out = *std::move(stored);
    // Storage stopped early at the byte limit: do not append past the gap.
    if (out.size() < std::min(hi, unstable_offset_) - lo) return out;
    for (const raftpb::Entry& e : out) bytes += EntrySize(e);
  }
  for (uint64_t i = std::max(lo, unstable_offset_); i < hi; ++i) {
    const raftpb::Entry& e = unstable_entries_[i - unstable_offset_];
    bytes += EntrySize(e);
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<std::vector<raftpb::Entry>> RaftLog::EntriesFrom(uint64_t index,
                                                                uint64_t max_bytes) const {
  if (index > LastIndex()) return std::vector<raftpb::Entry>();
  return Slice(index, LastIndex() + 1, max_bytes);
}

bool RaftLog::MaybeCommit(uint64_t max_index, uint64_t term) {
  if (max_index > committed_ && TermOrZero(max_index) == term) {
    CommitTo(max_index);
    return true;
  }
  return false;
}

void RaftLog::CommitTo(uint64_t index) {
  if (index <= committed_) return;  // commit never moves backwards
  if (index > LastIndex()) {
    Fatal(
        absl::StrCat("commit ", index, " beyond last index ", LastIndex(), "; was the log lost?"));
  }
  committed_ = index;
}

void RaftLog::AppliedTo(uint64_t index) {
  if (index == 0) return;
  if (index > committed_ || index < applied_) {
    Fatal(absl::StrCat("applied ", index, " outside [", applied_, ",", committed_, "]"));
  }
  applied_ = index;
}

bool RaftLog::HasNextCommittedEntries() const {
  return committed_ + 1 > std::max(applied_ + 1, FirstIndex());
}

std::vector<raftpb::Entry> RaftLog::NextCommittedEntries() const {
  const uint64_t lo = std::max(applied_ + 1, FirstIndex());
  if (committed_ + 1 <= lo) return {};
  return MustOk(Slice(lo, committed_ + 1, max_committed_bytes_per_ready_), "committed entries");
}

void RaftLog::StableTo(uint64_t index, uint64_t term) {
  if (index < unstable_offset_ || index - unstable_offset_ >= unstable_entries_.size()) return;
  // A newer leader may have replaced the entry since the Ready was taken; then
  // the persisted one is not the one we hold and it stays unstable.
  if (unstable_entries_[index - unstable_offset_].term() != term) return;
  unstable_entries_.erase(unstable_entries_.begin(),
                          unstable_entries_.begin() + (index + 1 - unstable_offset_));
  unstable_offset_ = index + 1;
}

void RaftLog::StableSnapshotTo(uint64_t index) {
  if (unstable_snapshot_ && unstable_snapshot_->metadata().index() == index) {
    unstable_snapshot_.reset();
  }
}

absl::StatusOr<raftpb::Snapshot> RaftLog::Snapshot() const {
  if (unstable_snapshot_) return *unstable_snapshot_;
  return storage_->Snapshot();
}

void RaftLog::Restore(const raftpb::Snapshot& snap) {
  committed_ = snap.metadata().index();
  unstable_offset_ = snap.metadata().index() + 1;
  unstable_entries_.clear();
  unstable_snapshot_ = snap;
}

}  // namespace quorum::raft
