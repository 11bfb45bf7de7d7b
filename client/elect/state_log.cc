#include "client/elect/state_log.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace quorum::elect {

std::string FormatWallTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
}

void StateLog::Line(absl::string_view text) {
  // The time is taken under the lock so that lines appear in time order.
  std::lock_guard<std::mutex> lock(mu_);
  std::string line =
      absl::StrCat(FormatWallTime(absl::Now()), " quorum-elect[", id_, "] ", text, "\n");
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

}  // namespace quorum::elect
