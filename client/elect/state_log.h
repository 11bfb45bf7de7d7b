// quorum-elect's log: one line per state change on stdout, each starting with a UTC wall-clock
// timestamp in milliseconds and the member's id, so that tests and operators can line up the
// logs of several members:
//   2026-11-21T10:00:00.123Z quorum-elect[a] active key=jobs/694d7a1b2c3d4e5f rev=12
// Called from any thread of quorum-elect; lines never interleave.
#ifndef QUORUM_CLIENT_ELECT_STATE_LOG_H_
#define QUORUM_CLIENT_ELECT_STATE_LOG_H_

#include <mutex>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace quorum::elect {

class StateLog {
 public:
  explicit StateLog(std::string id) : id_(std::move(id)) {}
  // Writes "<now> quorum-elect[<id>] <text>" and flushes.
  void Line(absl::string_view text);

 private:
  std::mutex mu_;
  std::string id_;
};

// The timestamp format of the log: "2026-11-21T10:00:00.123Z".
std::string FormatWallTime(absl::Time time);

}  // namespace quorum::elect

#endif  // QUORUM_CLIENT_ELECT_STATE_LOG_H_
