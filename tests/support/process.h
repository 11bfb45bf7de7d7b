// Test support: starting quorumd (or any program) as a child process on loopback ports, and
// stopping exactly that process by PID. Used by the multi-process tests; every wait is bounded.
#ifndef QUORUM_TESTS_SUPPORT_PROCESS_H_
#define QUORUM_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace quorum::testing {

// A port on 127.0.0.1 that was free a moment ago (the kernel picked it for a throwaway socket).
int FreeLoopbackPort();

// A fresh directory under the test's temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A child process. The destructor kills it (SIGKILL) and reaps it if it still runs, so a failing
// test leaves nothing behind.
class ChildProcess {
 public:
  // Starts `argv[0]` with the given arguments; stdout and stderr go to `log_path`.
  ChildProcess(std::vector<std::string> argv, const std::string& log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // Sends `signal` to this process only.
  void Signal(int signal);
  // kill -9 and reap.
  void Kill();
  // Waits up to `timeout` for the process to exit; returns its exit code (or 128+signal), or
  // nullopt if it is still running.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// Where the built quorumd is (set by the build).
std::string QuorumdPath();

}  // namespace quorum::testing

#endif  // QUORUM_TESTS_SUPPORT_PROCESS_H_
