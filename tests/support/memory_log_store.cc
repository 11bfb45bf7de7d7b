// In-memory durable log; see memory_log_store.h.
#include "tests/support/memory_log_store.h"

#include <utility>

namespace quorum::testing {

MemoryLogStore::MemoryLogStore() : MemoryLogStore(std::make_unique<raft::MemoryStorage>()) {}

MemoryLogStore::MemoryLogStore(std::unique_ptr<raft::MemoryStorage> storage)
    : storage_(std::move(storage)) {}

std::unique_ptr<MemoryLogStore> MemoryLogStore::Bootstrap(const std::vector<uint64_t>& voters,
                                                          std::string data) {
  auto log = std::make_unique<MemoryLogStore>();
  raftpb::Snapshot snap;
  snap.mutable_metadata()->set_index(1);
  snap.mutable_metadata()->set_term(1);
  for (uint64_t v : voters) snap.mutable_metadata()->mutable_conf_state()->add_voters(v);
  snap.set_data(std::move(data));
  if (!log->storage_->ApplySnapshot(snap).ok()) std::abort();
  return log;
}

absl::StatusOr<raft::PersistedState> MemoryLogStore::InitialState() const {
  return storage_->InitialState();
}
absl::StatusOr<std::vector<raftpb::Entry>> MemoryLogStore::Entries(uint64_t lo, uint64_t hi,
                                                                   uint64_t max_bytes) const {
  return storage_->Entries(lo, hi, max_bytes);
}
absl::StatusOr<uint64_t> MemoryLogStore::Term(uint64_t index) const {
  return storage_->Term(index);
}
absl::StatusOr<uint64_t> MemoryLogStore::FirstIndex() const { return storage_->FirstIndex(); }
absl::StatusOr<uint64_t> MemoryLogStore::LastIndex() const { return storage_->LastIndex(); }
absl::StatusOr<raftpb::Snapshot> MemoryLogStore::Snapshot() const { return storage_->Snapshot(); }

absl::Status MemoryLogStore::Save(const std::optional<raftpb::Snapshot>& snapshot,
                                  const std::vector<raftpb::Entry>& entries,
                                  const std::optional<raftpb::HardState>& hard_state, bool sync) {
  if (save_hook_) {
    if (absl::Status s = save_hook_(); !s.ok()) return s;
  }
  if (!snapshot && entries.empty() && !hard_state) return absl::OkStatus();
  // Check before writing, so that a refused Save leaves the store unchanged, as RocksDB's
  // single batch does.
  if (!entries.empty()) {
    const uint64_t last =
        snapshot ? snapshot->metadata().index() : storage_->LastIndex().value_or(0);
    if (entries.front().index() > last + 1) {
      return absl::FailedPreconditionError("entries leave a gap after the last index");
    }
  }
  if (!sync) KeepDurableState();
  if (snapshot) {
    if (absl::Status s = storage_->ApplySnapshot(*snapshot); !s.ok()) return s;
  }
  if (absl::Status s = storage_->Append(entries); !s.ok()) return s;
  if (hard_state) storage_->SetHardState(*hard_state);
  ++saves_;
  if (sync) {
    ++synced_saves_;
    durable_.reset();
  }
  return absl::OkStatus();
}

void MemoryLogStore::KeepDurableState() {
  if (!durable_) durable_ = std::make_unique<raft::MemoryStorage>(*storage_);
}

void MemoryLogStore::Crash() {
  if (durable_) *storage_ = *std::exchange(durable_, nullptr);
}

absl::Status MemoryLogStore::CreateSnapshot(uint64_t index, const raftpb::ConfState& conf_state,
                                            uint64_t compact_to) {
  if (compact_to > index) return absl::InvalidArgumentError("compact_to above the snapshot");
  KeepDurableState();  // not synced, as in RaftLogStore
  if (absl::Status s = storage_->CreateSnapshot(index, conf_state, "").status(); !s.ok()) {
    return s;
  }
  // MemoryStorage keeps the entry it compacts to as the placeholder; FirstIndex() must become
  // compact_to, as in RaftLogStore.
  if (compact_to > storage_->FirstIndex().value_or(0)) return storage_->Compact(compact_to - 1);
  return absl::OkStatus();
}

}  // namespace quorum::testing
