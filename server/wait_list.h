// WaitList: the requests a member has proposed or is reading for, each with its deadline, until
// the apply thread (or a read point) completes them. Registered by gRPC handlers, completed by
// the applier, and swept by the member's timer so that nothing waits past its deadline: an
// expired write answers etcd's "request timed out", as etcd does. Thread-safe.
#ifndef QUORUM_SERVER_WAIT_LIST_H_
#define QUORUM_SERVER_WAIT_LIST_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/apply_result.h"

namespace quorum::server {

class WaitList {
 public:
  using Done = ProposalDone;
  using Ready = ReadDone;

  // A write waiting for its entry to be applied.
  void AddWrite(uint64_t id, absl::Time deadline, Done done);
  // Completes the write `id` with `result`; false when nobody waits (another member proposed
  // it, or it already timed out).
  bool CompleteWrite(uint64_t id, ApplyResult result);
  // Fails the write `id` at once (Raft refused the proposal).
  void FailWrite(uint64_t id, absl::Status status);

  // A linearizable read waiting for its read point, then for the applied index to reach it.
  void AddRead(const std::string& ctx, absl::Time deadline, Ready ready);
  // The read point of `ctx` is `index`.
  void ReadPointKnown(const std::string& ctx, uint64_t index);
  void FailRead(const std::string& ctx, absl::Status status);
  // Runs every read whose read point is at or below `applied`.
  void ReleaseReads(uint64_t applied);

  // Fails everything whose deadline is before `now` with `timeout`. Returns how many writes
  // it failed.
  size_t Expire(absl::Time now, const absl::Status& timeout);
  // Fails everything (the member is stopping).
  void FailAll(const absl::Status& status);

  size_t size() const;
  // Writes waiting (etcd's pending proposals).
  size_t PendingWrites() const;

 private:
  struct Write {
    absl::Time deadline;
    Done done;
  };
  struct Read {
    absl::Time deadline;
    Ready ready;
    uint64_t index = 0;  // 0 until the read point is known
  };

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, Write> writes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Read> reads_ ABSL_GUARDED_BY(mu_);
  std::multimap<uint64_t, std::string> reads_by_index_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_WAIT_LIST_H_
