// Crash points: named places in the write, apply, snapshot, compaction, defragment and
// membership paths where a test build stops the process exactly as `kill -9` would, so that a
// test chooses the moment of the crash instead of hoping to hit it.
//
// They exist only in a build configured with -DQUORUM_CRASH_POINTS=ON (tests/run_all.sh does it
// for the Release build that runs the multi-process tests); elsewhere QUORUM_CRASH_POINT is
// nothing at all. A point is armed by the environment of the process:
//
//   QUORUM_CRASH_POINT=<name>        crash the first time <name> is reached
//   QUORUM_CRASH_POINT=<name>:<n>    crash the n-th time
//
// On reaching an armed point the process writes "quorum crash point: <name> (pass <n>)" to
// stderr and sends itself SIGKILL: no destructor runs and nothing is flushed that a kill would
// not have flushed. Names are listed in crash_point.cc; arming an unknown name stops quorumd at
// startup (ValidateArmedCrashPoint), so a misspelled test cannot pass by never crashing.
#ifndef QUORUM_RAFT_CRASH_POINT_H_
#define QUORUM_RAFT_CRASH_POINT_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/status.h"

namespace quorum {

// Crashes the process when `name` is the armed point and this is the armed pass.
void ReachCrashPoint(std::string_view name);

// OK when no point is armed or the armed one is known; else what is wrong with the setting.
absl::Status ValidateArmedCrashPoint();

// An armed fault as tests write it in the environment: "<name>" or "<name>:<count>".
struct ArmedSpec {
  std::string_view name;
  std::optional<int64_t> count;  // absent without ":<count>"
  bool valid = true;             // false when a count is given but is not a positive number
};
ArmedSpec ParseArmedSpec(std::string_view spec);

}  // namespace quorum

#ifdef QUORUM_CRASH_POINTS
#define QUORUM_CRASH_POINT(name) ::quorum::ReachCrashPoint(name)
#else
#define QUORUM_CRASH_POINT(name) \
  do {                           \
  } while (0)
#endif

#endif  // QUORUM_RAFT_CRASH_POINT_H_
