// `quorumctl cluster status` against a 5-member quorumd cluster whose members are killed (-9)
// one by one: the verdict must follow (5 up: can lose 2; 4: 1; 3: 0; 2: no quorum, writes
// unavailable) and agree with what a write actually does at each step.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "client/client.h"
#include "tests/support/cluster.h"

namespace quorum {
namespace {

using Clock = std::chrono::steady_clock;

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed by one
  std::string output;  // stdout and stderr
};

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  int status = pclose(pipe);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.exit_code = 128 + WTERMSIG(status);
  return result;
}

// How many times in a row the repeated-run test calls quorumctl per cluster state. Under
// ThreadSanitizer each run costs ten times as much and the point there is races in one run,
// not the odds over many, so that build runs fewer.
int RepeatedRuns() {
  const char* runs = std::getenv("QUORUM_STATUS_RUNS");
  if (runs != nullptr) return std::atoi(runs);
#if defined(__SANITIZE_THREAD__)
  return 25;
#else
  return 200;
#endif
}

class ClusterStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_.StartAll();
    ASSERT_TRUE(cluster_.WaitForLeader().has_value());
    for (int i = 0; i < cluster_.size(); ++i) {
      endpoints_ += (i ? "," : "") + cluster_.spec(i).Endpoint();
    }
  }

  // Bounded by coreutils' timeout: a hung quorumctl fails the test with its output instead of
  // stalling it.
  CommandResult StatusCommand() {
    return RunCommand("timeout -k 5 30 " + std::string(QUORUMCTL_PATH) + " --endpoints " +
                      endpoints_ + " cluster status");
  }
  std::string Status() { return StatusCommand().output; }

  // Runs `cluster status` RepeatedRuns() times in a row; every run must exit with `want_exit`
  // and print `want_verdict`. Returns how many runs did.
  int RepeatStatus(const std::string& want_verdict, int want_exit) {
    int matching = 0;
    for (int run = 0; run < RepeatedRuns(); ++run) {
      CommandResult result = StatusCommand();
      bool ok =
          result.exit_code == want_exit && result.output.find(want_verdict) != std::string::npos;
      if (ok) {
        ++matching;
      } else {
        ADD_FAILURE() << "run " << run << " exited " << result.exit_code << " (want " << want_exit
                      << "), output:\n"
                      << result.output;
      }
    }
    return matching;
  }

  // Polls until the verdict line reads `want` (members take an election timeout to notice a
  // dead leader); returns the last output.
  std::string WaitVerdict(const std::string& want) {
    std::string out;
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      out = Status();
      if (out.find(want) != std::string::npos) return out;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ADD_FAILURE() << "verdict never became \"" << want << "\"; last output:\n" << out;
    return out;
  }

  // Whether a write commits within `limit`, through any live member.
  bool WriteSucceeds(std::chrono::seconds limit = std::chrono::seconds(15)) {
    client::ClientOptions options;
    for (int i = 0; i < cluster_.size(); ++i) {
      if (cluster_.Running(i)) options.endpoints.push_back(cluster_.spec(i).Endpoint());
    }
    options.request_timeout = std::chrono::seconds(3);
    client::Client client(options);
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (client.Put("probe", "x").ok()) return true;
    }
    return false;
  }

  testing::TestCluster cluster_{5};
  std::string endpoints_;
};

// A crash in the probe threads showed only in some runs, so the command runs many times in a
// row in each state; with no quorum it exits 1 (etcdctl's error code), otherwise 0.
TEST_F(ClusterStatusTest, RepeatedRunsNeverCrashAndExitAsTheVerdictSays) {
  const int runs = RepeatedRuns();
  const std::string all_up = "5/5 members up · quorum 3 · writes available · can lose 2 more";
  WaitVerdict(all_up);
  EXPECT_EQ(RepeatStatus(all_up, 0), runs);

  // Two followers down: the leader stays, so the verdict holds still while the runs go on.
  auto leader = cluster_.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  std::vector<int> followers;
  for (int i = 0; i < cluster_.size(); ++i) {
    if (i != *leader) followers.push_back(i);
  }
  cluster_.Kill(followers[0]);
  cluster_.Kill(followers[1]);
  const std::string two_down = "3/5 members up · quorum 3 · writes available · can lose 0 more";
  WaitVerdict(two_down);
  EXPECT_EQ(RepeatStatus(two_down, 0), runs);

  cluster_.Kill(followers[2]);
  const std::string three_down =
      "2/5 members up · quorum 3 · NO QUORUM: writes unavailable · need 1 more member up";
  WaitVerdict(three_down);
  EXPECT_EQ(RepeatStatus(three_down, 1), runs);
}

TEST_F(ClusterStatusTest, VerdictFollowsMembersKilledOneByOne) {
  std::string capture;
  auto step = [&](const std::string& title, const std::string& want) {
    std::string out = WaitVerdict(want);
    capture +=
        "$ quorumctl --endpoints <5 members> cluster status   # " + title + "\n" + out + "\n";
  };
  step("all 5 up", "5/5 members up · quorum 3 · writes available · can lose 2 more");
  EXPECT_TRUE(WriteSucceeds());

  // Kill the leader first: the verdict must wait for the new election, then recover.
  auto leader = cluster_.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  std::vector<int> order = {*leader};
  for (int i = 0; i < cluster_.size(); ++i) {
    if (i != *leader) order.push_back(i);
  }
  cluster_.Kill(order[0]);
  step("leader killed", "4/5 members up · quorum 3 · writes available · can lose 1 more");
  EXPECT_TRUE(WriteSucceeds());
  cluster_.Kill(order[1]);
  step("two killed", "3/5 members up · quorum 3 · writes available · can lose 0 more");
  EXPECT_TRUE(WriteSucceeds());
  cluster_.Kill(order[2]);
  std::string out = WaitVerdict(
      "2/5 members up · quorum 3 · NO QUORUM: writes unavailable · need 1 more member up");
  capture += "$ quorumctl --endpoints <5 members> cluster status   # three killed\n" + out;
  EXPECT_NE(out.find("why: a write commits only when 3 of 5 voters store it; down: "),
            std::string::npos)
      << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n') >= 9, true) << "every member has a row";
  EXPECT_FALSE(WriteSucceeds(std::chrono::seconds(5)))
      << "the verdict says no quorum but a write committed";

  cluster_.Start(order[2]);
  step("one restarted", "3/5 members up · quorum 3 · writes available · can lose 0 more");
  EXPECT_TRUE(WriteSucceeds());
  std::cout << "\n" << capture << std::flush;
}

}  // namespace
}  // namespace quorum
