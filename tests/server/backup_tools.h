// Test support for the backup tests: runs quorumctl and quorumutl as child processes, the way
// an operator does, and hands back their exit code and output. Every run is bounded and the
// child is killed by PID if it overruns.
#ifndef QUORUM_TESTS_SERVER_BACKUP_TOOLS_H_
#define QUORUM_TESTS_SERVER_BACKUP_TOOLS_H_

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace quorum::testing {

struct ToolRun {
  int exit_code = -1;  // 128 + signal when killed by one; -1 when it overran and was killed
  std::string output;  // stdout and stderr
};

// Runs `argv` with its output in a log under `log_dir`; waits at most 30 s.
inline ToolRun RunTool(std::vector<std::string> argv, const std::string& log_dir) {
  static int runs = 0;
  const std::string log = log_dir + "/tool-" + std::to_string(++runs) + ".log";
  ChildProcess child(std::move(argv), log);
  ToolRun run;
  if (auto code = child.WaitExit(std::chrono::seconds(30))) run.exit_code = *code;
  run.output = child.Log();
  return run;
}

inline std::string QuorumutlPath() { return QUORUM_QUORUMUTL_PATH; }
inline std::string QuorumctlPath() { return QUORUM_QUORUMCTL_PATH; }

// `quorumctl snapshot save` from `endpoint` to `path`; fails the test if it does not succeed.
inline void SaveBackup(const std::string& endpoint, const std::string& path,
                       const std::string& log_dir) {
  ToolRun run =
      RunTool({QuorumctlPath(), "--endpoints", endpoint, "snapshot", "save", path}, log_dir);
  ASSERT_EQ(run.exit_code, 0) << run.output;
}

}  // namespace quorum::testing

#endif  // QUORUM_TESTS_SERVER_BACKUP_TOOLS_H_
