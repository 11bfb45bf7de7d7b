// Auto-compaction as etcd 3.4 does it (--auto-compaction-mode, --auto-compaction-retention).
// Only the leader compacts; the compaction goes through the log like a client's Compact.
//   periodic, period P: every P/10 (P capped at an hour for this) the current revision is
//     noted, the last P/step + 1 notes kept; once P has passed since the start (then every
//     min(P, 1h)) the store is compacted at the oldest note, a period and a step old, so at
//     least P of history is always kept.
//   revision, R revisions: every 5 minutes the store is compacted at current - R.
// A failed compaction is tried again at the next step. Step() is the whole policy and takes the
// time as an argument, so tests can drive it; Start() runs it on a thread of its own.
#ifndef QUORUM_SERVER_AUTO_COMPACTOR_H_
#define QUORUM_SERVER_AUTO_COMPACTOR_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace quorum::server {

class AutoCompactor {
 public:
  enum class Mode { kPeriodic, kRevision };
  struct Hooks {
    std::function<int64_t()> revision;  // the store's current revision
    std::function<bool()> is_leader;
    // Compacts at `revision` through the log; OK also when it was compacted already.
    std::function<absl::Status(int64_t revision)> compact;
  };

  // `period` for kPeriodic, `revisions` for kRevision; `start` is when history begins to count.
  AutoCompactor(Mode mode, absl::Duration period, int64_t revisions, Hooks hooks, absl::Time start);
  ~AutoCompactor();  // Stop()s

  // The time between two steps.
  absl::Duration StepInterval() const;
  // One step at `now`.
  void Step(absl::Time now);

  void Start();
  void Stop();

 private:
  const Mode mode_;
  const absl::Duration period_;
  const int64_t revisions_;
  const Hooks hooks_;
  // Periodic: revisions noted one step apart, oldest first (the front is about a period old).
  std::deque<int64_t> noted_;
  absl::Time last_success_;
  absl::Duration wait_;  // the period before the first compaction, then min(period, 1h)
  // Revision: the last revision compacted at.
  int64_t last_compacted_ = 0;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

class MemberApi;
struct Config;

// The compactor `config` asks for, started over `member` (null when auto-compaction is off).
std::unique_ptr<AutoCompactor> StartAutoCompactor(const Config& config, MemberApi* member);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_AUTO_COMPACTOR_H_
