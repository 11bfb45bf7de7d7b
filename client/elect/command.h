// The command quorum-elect runs while its member is active: started on election, stopped
// (SIGTERM to its process group, SIGKILL after a grace period) on step-down. The elector calls
// it from its one thread.
#ifndef QUORUM_CLIENT_ELECT_COMMAND_H_
#define QUORUM_CLIENT_ELECT_COMMAND_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace quorum::elect {

class Command {
 public:
  explicit Command(std::vector<std::string> argv) : argv_(std::move(argv)) {}
  ~Command();  // kills the command if it still runs
  Command(const Command&) = delete;
  Command& operator=(const Command&) = delete;

  bool empty() const { return argv_.empty(); }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Starts the command in a process group of its own with `env` added to the environment.
  // It gets SIGKILL if quorum-elect itself dies, so it never outlives the leadership that
  // started it.
  absl::Status Start(const std::vector<std::string>& env);
  // If the command has exited, reaps it and returns its exit code (128 + signal if killed).
  std::optional<int> Poll();
  // SIGTERM to the group, SIGKILL once `grace` has passed; returns when it has been reaped.
  // Returns the exit code, or nullopt if it was not running.
  std::optional<int> Stop(absl::Duration grace);

 private:
  std::vector<std::string> argv_;
  pid_t pid_ = -1;
};

}  // namespace quorum::elect

#endif  // QUORUM_CLIENT_ELECT_COMMAND_H_
