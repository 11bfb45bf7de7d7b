#include "raft/fatal.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace quorum {
namespace {

std::atomic<void (*)(std::string_view)> fatal_observer{nullptr};

}  // namespace

void SetFatalObserver(void (*observer)(std::string_view what)) { fatal_observer.store(observer); }

void Fatal(std::string_view what) {
  std::fprintf(stderr, "quorum fatal: %.*s\n", static_cast<int>(what.size()), what.data());
  std::fflush(stderr);
  if (auto* observer = fatal_observer.load()) observer(what);
  std::abort();
}

}  // namespace quorum
