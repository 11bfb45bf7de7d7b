// The last leader changes this member saw, with the wall-clock time it saw them: what the
// dashboard lists so that a page opened after an election still shows it. The member's Raft
// loop records each change; HTTP handlers read the list from any thread. Thread-safe.
#ifndef QUORUM_SERVER_LEADER_HISTORY_H_
#define QUORUM_SERVER_LEADER_HISTORY_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace quorum::server {

class LeaderHistory {
 public:
  struct Change {
    absl::Time time;
    uint64_t leader = 0;  // 0: the member lost its leader (an election is under way)
    uint64_t term = 0;
  };

  // Keeps the last `capacity` changes; older ones are forgotten.
  explicit LeaderHistory(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  void Record(uint64_t leader, uint64_t term, absl::Time time = absl::Now());
  // Oldest first.
  std::vector<Change> List() const;

  static constexpr size_t kDefaultCapacity = 64;

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<Change> changes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_LEADER_HISTORY_H_
