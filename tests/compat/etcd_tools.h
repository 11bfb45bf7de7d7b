// Running etcd's own programs from the compatibility tests: the Debian etcd 3.4 server and
// etcdctl (installed by deploy/install-deps.sh --tests).
#ifndef QUORUM_TESTS_COMPAT_ETCD_TOOLS_H_
#define QUORUM_TESTS_COMPAT_ETCD_TOOLS_H_

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace quorum::testing {

inline constexpr char kEtcdPath[] = "/usr/bin/etcd";
inline constexpr char kEtcdctlPath[] = "/usr/bin/etcdctl";

struct EtcdctlRun {
  int exit_code = -1;  // -1: did not end within 60 s
  std::string output;  // stdout and stderr
};

// Runs etcdctl (API v3) with `args` to completion (at most 60 s), its output in `log`.
inline EtcdctlRun RunEtcdctl(const std::string& log, std::vector<std::string> args) {
  args.insert(args.begin(), kEtcdctlPath);
  ChildProcess ctl(args, log, {"ETCDCTL_API=3"});
  EtcdctlRun run;
  if (auto code = ctl.WaitExit(std::chrono::seconds(60))) run.exit_code = *code;
  run.output = ctl.Log();
  return run;
}

// The same, failing the test unless etcdctl exits 0. Returns the output.
inline std::string Etcdctl(const std::string& log, std::vector<std::string> args) {
  EtcdctlRun run = RunEtcdctl(log, std::move(args));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  return run.output;
}

}  // namespace quorum::testing

#endif  // QUORUM_TESTS_COMPAT_ETCD_TOOLS_H_
