#include "raft/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace quorum {
namespace {

// Every point compiled in somewhere; a test arms one of these.
constexpr std::array<std::string_view, 9> kCrashPoints = {
    "raftlog-before-sync",      // entries and hard state built, the synced write not made
    "raftlog-after-sync",       // the synced write made, nothing sent or applied from it yet
    "apply-before-commit",      // an entry's changes and applied index built, not written
    "apply-after-commit",       // written, but readers, watchers and waiters not told yet
    "snapshot-install-chunk",   // a received snapshot half installed: old state wiped, part in
    "compact-before-finish",    // compaction's deletes written, its finish mark not
    "defrag-between-families",  // one column family compacted, the others not
    "confchange-before-apply",  // a membership change committed, not yet recorded
    "confchange-after-apply",   // recorded, peers and the Raft configuration not told yet
};

struct Armed {
  std::string name;
  int64_t pass = 1;
  bool valid = true;
};

const Armed& ArmedPoint() {
  static const Armed armed = [] {
    Armed a;
    const char* env = std::getenv("QUORUM_CRASH_POINT");
    if (env == nullptr || *env == '\0') return a;
    const ArmedSpec spec = ParseArmedSpec(env);
    a.name = std::string(spec.name);
    a.pass = spec.count.value_or(1);
    bool known = false;
    for (std::string_view point : kCrashPoints) known = known || point == a.name;
    a.valid = spec.valid && known;
    return a;
  }();
  return armed;
}

std::atomic<int64_t> passes{0};

}  // namespace

ArmedSpec ParseArmedSpec(std::string_view spec) {
  ArmedSpec out;
  const size_t colon = spec.rfind(':');
  out.name = spec.substr(0, colon);
  if (colon == std::string_view::npos) return out;
  const std::string_view digits = spec.substr(colon + 1);
  int64_t count = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
  out.valid = error == std::errc() && end == digits.data() + digits.size() && count > 0;
  if (out.valid) out.count = count;
  return out;
}

void ReachCrashPoint(std::string_view name) {
  const Armed& armed = ArmedPoint();
  if (armed.name.empty() || !armed.valid || armed.name != name) return;
  const int64_t pass = passes.fetch_add(1) + 1;
  if (pass != armed.pass) return;
  const std::string line =
      "quorum crash point: " + std::string(name) + " (pass " + std::to_string(pass) + ")\n";
  // write(2) straight to the descriptor: stdio buffers are exactly what a kill would lose.
  [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
  ::kill(::getpid(), SIGKILL);
  std::_Exit(137);  // not reached: SIGKILL cannot be caught
}

absl::Status ValidateArmedCrashPoint() {
  const Armed& armed = ArmedPoint();
  if (armed.name.empty() && armed.valid) return absl::OkStatus();
  if (armed.valid) {
#ifdef QUORUM_CRASH_POINTS
    return absl::OkStatus();
#else
    return absl::FailedPreconditionError(
        "QUORUM_CRASH_POINT is set but this build has no crash points "
        "(configure with -DQUORUM_CRASH_POINTS=ON)");
#endif
  }
  return absl::InvalidArgumentError(
      "QUORUM_CRASH_POINT=" + std::string(std::getenv("QUORUM_CRASH_POINT")) +
      ": not a known crash point, or a pass that is not a positive number");
}

}  // namespace quorum
