// MemoryLogStore: an in-memory raft::DurableLog, the fake of storage::RaftLogStore. RaftDriver
// tests, the raft/ test cluster and the simulator write each Ready through it; what it holds is
// what a member saved, so dropping the RawNode, calling Crash() and restarting on it is a crash:
// writes not yet synced are forgotten, as a disk forgets what was not fsynced.
// Not thread-safe: one thread (the one driving the RawNode) uses it.
#ifndef QUORUM_TESTS_SUPPORT_MEMORY_LOG_STORE_H_
#define QUORUM_TESTS_SUPPORT_MEMORY_LOG_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "raft/memory_storage.h"
#include "raft/ready_loop.h"

namespace quorum::testing {

class MemoryLogStore : public raft::DurableLog {
 public:
  // An empty log (a member that joins and waits for a snapshot).
  MemoryLogStore();
  explicit MemoryLogStore(std::unique_ptr<raft::MemoryStorage> storage);
  // A founding member of a cluster of `voters`: the bootstrap snapshot at index 1, term 1,
  // holding `data` (see raft::RawNode::Create).
  static std::unique_ptr<MemoryLogStore> Bootstrap(const std::vector<uint64_t>& voters,
                                                   std::string data = "");

  absl::StatusOr<raft::PersistedState> InitialState() const override;
  absl::StatusOr<std::vector<raftpb::Entry>> Entries(uint64_t lo, uint64_t hi,
                                                     uint64_t max_bytes) const override;
  absl::StatusOr<uint64_t> Term(uint64_t index) const override;
  absl::StatusOr<uint64_t> FirstIndex() const override;
  absl::StatusOr<uint64_t> LastIndex() const override;
  absl::StatusOr<raftpb::Snapshot> Snapshot() const override;

  // As RaftLogStore::Save. The save hook, when set, runs first; a non-OK answer fails the
  // Save with nothing written (a disk error, or a crash before the write).
  absl::Status Save(const std::optional<raftpb::Snapshot>& snapshot,
                    const std::vector<raftpb::Entry>& entries,
                    const std::optional<raftpb::HardState>& hard_state, bool sync) override;
  // As RaftLogStore::CreateSnapshot; the snapshot carries no state bytes.
  absl::Status CreateSnapshot(uint64_t index, const raftpb::ConfState& conf_state,
                              uint64_t compact_to) override;

  void SetSaveHook(std::function<absl::Status()> hook) { save_hook_ = std::move(hook); }

  // Forgets every write since the last synced Save (a synced Save makes all earlier writes
  // durable too, as a write-ahead log's sync does). The caller drops its RawNode with it.
  void Crash();

  // The stored log, for assertions and for callers that keep state bytes in snapshots.
  raft::MemoryStorage& memory() { return *storage_; }
  const raftpb::HardState& hard_state() const { return storage_->hard_state(); }
  uint64_t saves() const { return saves_; }                // Save calls that wrote
  uint64_t synced_saves() const { return synced_saves_; }  // ... with sync

 private:
  // Before a write that is not durable yet, keeps what is (once per run of unsynced writes).
  void KeepDurableState();

  std::unique_ptr<raft::MemoryStorage> storage_;
  // The log as of the last sync, while unsynced writes are on top of it.
  std::unique_ptr<raft::MemoryStorage> durable_;
  std::function<absl::Status()> save_hook_;
  uint64_t saves_ = 0;
  uint64_t synced_saves_ = 0;
};

}  // namespace quorum::testing

#endif  // QUORUM_TESTS_SUPPORT_MEMORY_LOG_STORE_H_
