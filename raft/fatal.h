// The one way any layer of quorum stops on a broken invariant or an unrecoverable failure: a
// Raft safety rule broken, a storage record that cannot be what the index says, a committed
// entry that cannot be applied, a log write that failed. Going on would corrupt data or
// acknowledge what is lost, so the process stops at once with the state that broke it.
// It lives in raft/, the lowest layer, so that raft/, storage/ and server/ share it; callable
// from any thread.
#ifndef QUORUM_RAFT_FATAL_H_
#define QUORUM_RAFT_FATAL_H_

#include <string_view>

#include "absl/strings/str_cat.h"

namespace quorum {

// Writes "quorum fatal: <what>" to stderr, runs the observer (if any), and aborts.
[[noreturn]] void Fatal(std::string_view what);

// Lets the process flush its own log first (quorumd's spdlog sink). Set once at startup; the
// observer must not call Fatal.
void SetFatalObserver(void (*observer)(std::string_view what));

}  // namespace quorum

// Stops the process when `cond` is false; the remaining arguments (absl::StrCat pieces) say
// what state broke it.
#define QUORUM_CHECK(cond, ...)                                                             \
  do {                                                                                      \
    if (!(cond)) ::quorum::Fatal(::absl::StrCat("check failed: " #cond ": ", __VA_ARGS__)); \
  } while (0)

#endif  // QUORUM_RAFT_FATAL_H_
