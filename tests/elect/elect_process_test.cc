// Multi-process tests of quorum-elect against a 3-member cluster: a standby takes over after
// kill -9 of the active member, the active member rides out a cluster leader kill, active
// periods never overlap, and a member cut off from the cluster steps down at its renew
// deadline (frozen cluster, or majority killed), before its lease could expire. Timings: lease 6 s,
// renew deadline 4 s, retry 1 s.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/elect/elect_harness.h"

namespace quorum {
namespace {

using namespace std::chrono_literals;
using testing::ElectInstance;
using testing::ExpectRidesOutLeaderKill;
using testing::ExpectTakeoverAfterKill;
using testing::HasLine;
using testing::kLeaseDuration;
using testing::kRenewDeadline;
using testing::LastRenewalSent;
using testing::Seconds;
using testing::ServerCluster;
using testing::StateLine;
using testing::Takeover;
using testing::TempDir;
using testing::WaitUntil;

constexpr char kEtcdctl[] = "/usr/bin/etcdctl";

struct Interval {
  absl::Time begin;
  absl::Time end;
};

// The periods in which a member believed it was active, from its log. A member killed while
// active is taken to be active until `died` (its command dies with it).
std::vector<Interval> ActiveIntervals(const std::vector<StateLine>& lines,
                                      absl::Time died = absl::InfiniteFuture()) {
  std::vector<Interval> intervals;
  std::optional<absl::Time> begin;
  for (const auto& line : lines) {
    if (line.StartsWith("active")) {
      begin = line.time;
    } else if (begin.has_value() &&
               (line.StartsWith("stepped down") || line.StartsWith("command exited") ||
                line.StartsWith("shutting down"))) {
      intervals.push_back({*begin, line.time});
      begin.reset();
    }
  }
  if (begin.has_value()) intervals.push_back({*begin, died});
  return intervals;
}

void ExpectNoOverlap(const std::vector<Interval>& a, const std::vector<Interval>& b) {
  for (const auto& x : a) {
    for (const auto& y : b) {
      EXPECT_TRUE(x.end <= y.begin || y.end <= x.begin)
          << "both active: [" << x.begin << ", " << x.end << ") and [" << y.begin << ", " << y.end
          << ")";
    }
  }
}

TEST(ElectProcess, StandbyTakesOverAfterKill9AndActiveRidesOutClusterLeaderKill) {
  ServerCluster cluster(3);
  cluster.StartAll();
  auto leader = cluster.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  TempDir logs;

  // The active member talks to the cluster leader first, so the leader's death forces it to
  // fail over to another endpoint.
  ElectInstance a("a", "svc", cluster.Endpoints(*leader), logs.path());
  ASSERT_TRUE(a.WaitFor("active", 10s)) << a.Log();
  ElectInstance b("b", "svc", cluster.Endpoints((*leader + 1) % 3), logs.path());
  ASSERT_TRUE(b.WaitFor("standby", 10s)) << b.Log();

  // kill -9 the cluster leader while a is active: a keeps renewing and stays active.
  ExpectRidesOutLeaderKill(cluster, *leader, a, b);

  // kill -9 the active member: the standby takes over once the lease has expired.
  std::optional<Takeover> takeover = ExpectTakeoverAfterKill(a, b);
  ASSERT_TRUE(takeover.has_value());
  EXPECT_LE(takeover->taken - takeover->killed, kLeaseDuration + absl::Seconds(2));
  // Had a been cut off instead of killed, it would have acted until last renewal + deadline.
  EXPECT_GE(takeover->taken, takeover->last_renewal + kRenewDeadline);

  ExpectNoOverlap(ActiveIntervals(takeover->killed_lines, takeover->killed),
                  ActiveIntervals(b.Lines()));
}

TEST(ElectProcess, StandbyWatchingAFrozenMemberStillTakesOverInTime) {
  ServerCluster cluster(3);
  cluster.StartAll();
  auto leader = cluster.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const int frozen = (*leader + 1) % 3;
  TempDir logs;
  ElectInstance a("a", "svc", cluster.Endpoints(*leader), logs.path());
  ASSERT_TRUE(a.WaitFor("active", 10s)) << a.Log();
  // b watches a's key through `frozen`, which then stops answering without closing anything.
  ElectInstance b("b", "svc", cluster.Endpoints(frozen), logs.path());
  ASSERT_TRUE(b.WaitFor("standby", 10s)) << b.Log();
  cluster.Signal(frozen, SIGSTOP);
  absl::Time a_killed = absl::Now();
  a.process().Kill();
  auto taken = b.WaitFor("active", 15s);
  cluster.Signal(frozen, SIGCONT);
  ASSERT_TRUE(taken.has_value()) << b.Log();
  std::optional<absl::Time> last_sent = LastRenewalSent(a.Lines());
  ASSERT_TRUE(last_sent.has_value());
  absl::Duration from_renewal = taken->first.time - *last_sent;
  std::cout << "standby on a frozen member: active " << Seconds(from_renewal)
            << " s after the active's last renewal was sent, "
            << Seconds(taken->first.time - a_killed) << " s after the kill\n";
  EXPECT_GE(from_renewal, kLeaseDuration - absl::Milliseconds(1));
  EXPECT_LE(from_renewal, kLeaseDuration + absl::Seconds(2));
}

// How the active member is cut off from the cluster: every member frozen (renewals hang until
// their deadline) or two of three killed (renewals fail at once, "no leader" or refused).
enum class CutOff { kFreezeAll, kKillMajority };

std::ostream& operator<<(std::ostream& os, CutOff cut) {
  return os << (cut == CutOff::kFreezeAll ? "FreezeAll" : "KillMajority");
}

class ElectCutOff : public ::testing::TestWithParam<CutOff> {};

TEST_P(ElectCutOff, ActiveStepsDownAtRenewDeadlineBeforeItsLeaseCanExpire) {
  ServerCluster cluster(3);
  cluster.StartAll();
  auto leader = cluster.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  TempDir logs;
  const std::string pid_file = logs.path() + "/command.pid";
  ElectInstance a("a", "svc", cluster.Endpoints(), logs.path(),
                  {"/bin/sh", "-c", "echo $$ > " + pid_file + "; exec sleep 600"});
  auto active = a.WaitFor("active", 10s);
  ASSERT_TRUE(active.has_value()) << a.Log();
  int command_pid = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::ifstream in(pid_file);
        std::string text;
        return std::getline(in, text) && absl::SimpleAtoi(text, &command_pid) && command_pid > 0;
      },
      5s));
  // Steady state: at least one renewal while active.
  ASSERT_TRUE(a.WaitFor("renewed", 5s, active->second + 1)) << a.Log();

  // Keep the leader for the majority kill: the survivor then has no leader to forward to.
  std::vector<int> cut;
  for (int i = 0; i < cluster.size(); ++i) {
    if (GetParam() == CutOff::kFreezeAll) {
      cluster.Signal(i, SIGSTOP);
      cut.push_back(i);
    } else if (i != *leader && cut.size() < 2) {
      cluster.Kill(i);
      cut.push_back(i);
    }
  }
  auto down = a.WaitFor("stepped down", 10s);
  ASSERT_TRUE(down.has_value()) << a.Log();
  std::vector<StateLine> lines = a.Lines();
  std::optional<absl::Time> last_sent = LastRenewalSent(lines, down->second);
  ASSERT_TRUE(last_sent.has_value());
  absl::Duration after = down->first.time - *last_sent;
  std::cout << (GetParam() == CutOff::kFreezeAll ? "cluster frozen" : "2 of 3 killed")
            << ": stepped down " << Seconds(after)
            << " s after the last renewal was sent (renew deadline " << Seconds(kRenewDeadline)
            << " s, lease " << Seconds(kLeaseDuration) << " s)\n";
  // How the servers answered meanwhile (the first failure, and each endpoint switch).
  for (size_t i = 0; i < down->second; ++i) {
    if (lines[i].StartsWith("renewal failed")) std::cout << "  " << lines[i].text << "\n";
  }
  EXPECT_GE(after, kRenewDeadline - absl::Milliseconds(1));
  EXPECT_LE(after, kRenewDeadline + absl::Milliseconds(500));
  EXPECT_LT(down->first.time, *last_sent + kLeaseDuration);

  // The command is gone before the lease could have expired.
  ASSERT_TRUE(WaitUntil([&] { return kill(command_pid, 0) != 0 && errno == ESRCH; }, 3s));
  auto stopped = a.WaitFor("command stopped", 1s, down->second);
  ASSERT_TRUE(stopped.has_value()) << a.Log();
  EXPECT_LT(stopped->first.time, *last_sent + kLeaseDuration);

  // With the cluster back, it campaigns again and wins (its old lease is gone by then).
  if (GetParam() == CutOff::kFreezeAll) {
    for (int i : cut) cluster.Signal(i, SIGCONT);
  } else {
    cluster.RestartAll();
  }
  EXPECT_TRUE(a.WaitFor("active", 20s, down->second)) << a.Log();
}

INSTANTIATE_TEST_SUITE_P(Elect, ElectCutOff,
                         ::testing::Values(CutOff::kFreezeAll, CutOff::kKillMajority),
                         ::testing::PrintToStringParamName());

TEST(ElectProcess, ResignOnSigtermHandsOverWithoutWaitingForTheLease) {
  ServerCluster cluster(3);
  cluster.StartAll();
  ASSERT_TRUE(cluster.WaitForLeader().has_value());
  TempDir logs;
  ElectInstance a("a", "svc", cluster.Endpoints(0), logs.path());
  ASSERT_TRUE(a.WaitFor("active", 10s)) << a.Log();
  ElectInstance b("b", "svc", cluster.Endpoints(1), logs.path());
  ASSERT_TRUE(b.WaitFor("standby", 10s)) << b.Log();
  // etcdctl's observer sees our members: the keys are laid out as etcd's own elections.
  std::optional<testing::ChildProcess> observer;
  if (access(kEtcdctl, X_OK) == 0) {
    observer.emplace(std::vector<std::string>{kEtcdctl, "--endpoints", cluster.Endpoints(2),
                                              "elect", "-l", "svc"},
                     logs.path() + "/observer.log");
    EXPECT_TRUE(WaitUntil([&] { return observer->Log().find("\na\n") != std::string::npos; }, 10s))
        << observer->Log();
  }

  absl::Time terminated = absl::Now();
  a.process().Signal(SIGTERM);
  auto exit_code = a.process().WaitExit(10s);
  ASSERT_TRUE(exit_code.has_value());
  EXPECT_EQ(*exit_code, 0);
  EXPECT_TRUE(a.WaitFor("resigned: lease", 1s)) << a.Log();
  auto taken = b.WaitFor("active", 5s);
  ASSERT_TRUE(taken.has_value()) << b.Log();
  std::cout << "SIGTERM of the active member: standby active "
            << Seconds(taken->first.time - terminated) << " s later\n";
  EXPECT_LT(taken->first.time - terminated, kLeaseDuration / 2);
  if (observer.has_value()) {
    EXPECT_TRUE(WaitUntil([&] { return observer->Log().find("\nb\n") != std::string::npos; }, 10s))
        << observer->Log();
  }
  ExpectNoOverlap(ActiveIntervals(a.Lines()), ActiveIntervals(b.Lines()));
}

TEST(ElectProcess, CommandExitingEndsTheTermAndHandsOver) {
  ServerCluster cluster(3);
  cluster.StartAll();
  ASSERT_TRUE(cluster.WaitForLeader().has_value());
  TempDir logs;
  const std::string go_file = logs.path() + "/go";
  // The command runs until the test lets it exit, with status 7.
  ElectInstance a("a", "svc", cluster.Endpoints(0), logs.path(),
                  {"/bin/sh", "-c",
                   "while [ ! -e " + go_file +
                       " ]; do sleep 0.05; done; "
                       "echo \"key=$QUORUM_ELECT_KEY\"; exit 7"});
  ASSERT_TRUE(a.WaitFor("active", 10s)) << a.Log();
  ElectInstance b("b", "svc", cluster.Endpoints(1), logs.path());
  ASSERT_TRUE(b.WaitFor("standby", 10s)) << b.Log();

  absl::Time released = absl::Now();
  std::ofstream(go_file) << "go";
  auto exit_code = a.process().WaitExit(10s);
  ASSERT_TRUE(exit_code.has_value()) << a.Log();
  EXPECT_EQ(*exit_code, 7);
  EXPECT_TRUE(a.WaitFor("command exited with status 7", 1s)) << a.Log();
  // The command saw its key in the environment.
  EXPECT_NE(a.Log().find("key=svc/"), std::string::npos) << a.Log();
  auto taken = b.WaitFor("active", 5s);
  ASSERT_TRUE(taken.has_value()) << b.Log();
  EXPECT_LT(taken->first.time - released, kLeaseDuration / 2);
  ExpectNoOverlap(ActiveIntervals(a.Lines()), ActiveIntervals(b.Lines()));
}

}  // namespace
}  // namespace quorum
