// Unit tests of quorum-elect's command runner: how the command is stopped on step-down and how
// its exit is seen.
#include "client/elect/command.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace quorum::elect {
namespace {

std::optional<int> PollFor(Command& command, std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto code = command.Poll()) return code;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

TEST(ElectCommand, ExitCodeAndEnvironmentReachTheCaller) {
  Command command({"/bin/sh", "-c", "test \"$QUORUM_ELECT_KEY\" = svc/1 && exit 3"});
  ASSERT_TRUE(command.Start({"QUORUM_ELECT_KEY=svc/1"}).ok());
  EXPECT_TRUE(command.running());
  EXPECT_EQ(PollFor(command, std::chrono::seconds(5)), 3);
  EXPECT_FALSE(command.running());
}

TEST(ElectCommand, StopSendsSigtermFirst) {
  Command command({"sleep", "100"});
  ASSERT_TRUE(command.Start({}).ok());
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(command.Stop(absl::Seconds(5)), 128 + SIGTERM);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(4));
  EXPECT_FALSE(command.running());
}

TEST(ElectCommand, StopKillsTheWholeGroupAfterTheGrace) {
  // The shell and its child both ignore SIGTERM; only SIGKILL to the group ends them. The
  // shell says when its trap is set.
  const std::string ready = ::testing::TempDir() + "/elect-command-ready";
  std::remove(ready.c_str());
  Command command({"/bin/sh", "-c", "trap '' TERM; touch " + ready + "; sleep 100; sleep 100"});
  ASSERT_TRUE(command.Start({}).ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (access(ready.c_str(), F_OK) != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(access(ready.c_str(), F_OK), 0);
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(command.Stop(absl::Milliseconds(300)), 128 + SIGKILL);
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_LT(took, std::chrono::seconds(3));
  std::remove(ready.c_str());
}

TEST(ElectCommand, MissingProgramExitsWith127) {
  Command command({"/nonexistent/quorum-elect-test-program"});
  ASSERT_TRUE(command.Start({}).ok());
  EXPECT_EQ(PollFor(command, std::chrono::seconds(5)), 127);
}

}  // namespace
}  // namespace quorum::elect
