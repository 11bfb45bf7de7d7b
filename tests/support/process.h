// Test support: starting quorumd (or any program) as a child process on loopback ports, and
// stopping exactly that process by PID. Used by the multi-process tests; every wait is bounded.
#ifndef QUORUM_TESTS_SUPPORT_PROCESS_H_
#define QUORUM_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/ports.h"

namespace quorum::testing {

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
  // Starts `argv[0]` with the given arguments; stdout and stderr go to `log_path`. `env` adds
  // NAME=value entries to the environment it inherits.
  ChildProcess(std::vector<std::string> argv, const std::string& log_path,
               std::vector<std::string> env = {});
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

// One member of a test cluster on loopback.
struct MemberSpec {
  std::string name;
  int client_port = 0;
  int peer_port = 0;
  std::string ClientUrl() const { return "http://127.0.0.1:" + std::to_string(client_port); }
  std::string PeerUrl() const { return "http://127.0.0.1:" + std::to_string(peer_port); }
  std::string Endpoint() const { return "127.0.0.1:" + std::to_string(client_port); }
};

// `count` members named m1..mN with free loopback ports.
std::vector<MemberSpec> LoopbackCluster(int count);

// Polls `condition` every 20 ms until it holds or `wait` passes (checked once more at the end).
bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds wait);

// quorumd's command line (etcd flag names) for member `self` of `cluster`, data under
// `data_dir`. Extra flags are appended.
std::vector<std::string> QuorumdArgs(const MemberSpec& self, const std::vector<MemberSpec>& cluster,
                                     const std::string& data_dir,
                                     std::vector<std::string> extra = {});

}  // namespace quorum::testing

#endif  // QUORUM_TESTS_SUPPORT_PROCESS_H_
