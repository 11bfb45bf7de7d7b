// In-memory LogStorage; see memory_storage.h.
#include "raft/memory_storage.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace quorum::raft {

absl::Status CompactedError(uint64_t index) {
  return absl::OutOfRangeError(absl::StrCat("raft log index ", index, " is compacted"));
}

absl::Status UnavailableError(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat("raft log: ", what, " unavailable"));
}

MemoryStorage::MemoryStorage() : entries_(1) {}

absl::StatusOr<PersistedState> MemoryStorage::InitialState() const {
  return PersistedState{hard_state_, snapshot_.metadata().conf_state()};
}

absl::StatusOr<std::vector<raftpb::Entry>> MemoryStorage::Entries(uint64_t lo, uint64_t hi,
                                                                  uint64_t max_bytes) const {
  const uint64_t offset = Offset();
  if (lo <= offset) return CompactedError(lo);
  if (hi > offset + entries_.size()) {
    return UnavailableError(absl::StrCat("entries up to ", hi));
  }
  std::vector<raftpb::Entry> out;
  uint64_t bytes = 0;
  for (uint64_t i = lo; i < hi; ++i) {
    const raftpb::Entry& e = entries_[i - offset];
    bytes += EntrySize(e);
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<uint64_t> MemoryStorage::Term(uint64_t index) const {
  const uint64_t offset = Offset();
  if (index < offset) return CompactedError(index);
  if (index - offset >= entries_.size()) {
    return UnavailableError(absl::StrCat("term of ", index));
  }
  return entries_[index - offset].term();
}

absl::StatusOr<uint64_t> MemoryStorage::FirstIndex() const { return Offset() + 1; }

absl::StatusOr<uint64_t> MemoryStorage::LastIndex() const { return Offset() + entries_.size() - 1; }

absl::StatusOr<raftpb::Snapshot> MemoryStorage::Snapshot() const { return snapshot_; }

absl::Status MemoryStorage::Append(const std::vector<raftpb::Entry>& entries) {
  if (entries.empty()) return absl::OkStatus();
  const uint64_t first = Offset() + 1;
  const uint64_t last = entries.back().index();
  if (last < first) return absl::OkStatus();  // all compacted already
  size_t skip = 0;
  if (entries.front().index() < first) skip = first - entries.front().index();
  const uint64_t start = entries[skip].index();
  const uint64_t next = Offset() + entries_.size();
  if (start > next) {
    return absl::InternalError(
        absl::StrCat("append would leave a gap: next index ", next, ", got ", start));
  }
  entries_.resize(start - Offset());  // drop the conflicting suffix, if any
  entries_.insert(entries_.end(), entries.begin() + skip, entries.end());
  return absl::OkStatus();
}

absl::Status MemoryStorage::ApplySnapshot(const raftpb::Snapshot& snap) {
  if (snap.metadata().index() < snapshot_.metadata().index()) {
    return absl::FailedPreconditionError(absl::StrCat("snapshot at ", snap.metadata().index(),
                                                      " is older than the one held at ",
                                                      snapshot_.metadata().index()));
  }
  snapshot_ = snap;
  entries_.assign(1, raftpb::Entry());
  entries_[0].set_index(snap.metadata().index());
  entries_[0].set_term(snap.metadata().term());
  return absl::OkStatus();
}

absl::StatusOr<raftpb::Snapshot> MemoryStorage::CreateSnapshot(uint64_t index,
                                                               const raftpb::ConfState& cs,
                                                               std::string data) {
  if (index <= snapshot_.metadata().index()) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot at ", index, " is not newer than ", snapshot_.metadata().index()));
  }
  const uint64_t last = Offset() + entries_.size() - 1;
  if (index > last) {
    return absl::OutOfRangeError(absl::StrCat("snapshot index ", index, " > last index ", last));
  }
  snapshot_.mutable_metadata()->set_index(index);
  snapshot_.mutable_metadata()->set_term(entries_[index - Offset()].term());
  *snapshot_.mutable_metadata()->mutable_conf_state() = cs;
  snapshot_.set_data(std::move(data));
  return snapshot_;
}

absl::Status MemoryStorage::Compact(uint64_t index) {
  const uint64_t offset = Offset();
  if (index <= offset) return CompactedError(index);
  const uint64_t last = offset + entries_.size() - 1;
  if (index > last) {
    return absl::OutOfRangeError(absl::StrCat("compact index ", index, " > last index ", last));
  }
  const size_t cut = index - offset;
  raftpb::Entry placeholder;
  placeholder.set_index(index);
  placeholder.set_term(entries_[cut].term());
  std::vector<raftpb::Entry> rest;
  rest.reserve(entries_.size() - cut);
  rest.push_back(std::move(placeholder));
  for (size_t i = cut + 1; i < entries_.size(); ++i) rest.push_back(std::move(entries_[i]));
  entries_ = std::move(rest);
  return absl::OkStatus();
}

}  // namespace quorum::raft
