// Auto-compaction's policy, driven step by step with a made-up clock and store: periodic mode
// waits a period, then keeps about a period of history; hours-long periods compact hourly;
// only the leader compacts; a failure is retried at the next step; revision mode keeps the last
// R revisions.
#include "server/auto_compactor.h"

#include <gtest/gtest.h>

#include <vector>

namespace quorum::server {
namespace {

// A store whose revision the test moves, and a log of the compactions asked for.
struct FakeMember {
  int64_t revision = 100;
  bool leader = true;
  bool fail = false;
  std::vector<int64_t> compactions;

  AutoCompactor::Hooks Hooks() {
    return {.revision = [this] { return revision; },
            .is_leader = [this] { return leader; },
            .compact =
                [this](int64_t at) {
                  compactions.push_back(at);
                  return fail ? absl::UnavailableError("etcdserver: no leader") : absl::OkStatus();
                }};
  }
};

const absl::Time kStart = absl::FromUnixSeconds(1'000'000);

TEST(AutoCompactorTest, PeriodicWaitsAPeriodThenKeepsAboutAPeriodOfHistory) {
  FakeMember member;
  AutoCompactor compactor(AutoCompactor::Mode::kPeriodic, absl::Seconds(10), 0, member.Hooks(),
                          kStart);
  ASSERT_EQ(compactor.StepInterval(), absl::Seconds(1));
  // Ten writes a second; the revision at second s is 100 + 10 s.
  for (int s = 1; s <= 9; ++s) {
    member.revision = 100 + 10 * s;
    compactor.Step(kStart + absl::Seconds(s));
  }
  EXPECT_TRUE(member.compactions.empty()) << "compacted before a period of history existed";
  member.revision = 200;
  compactor.Step(kStart + absl::Seconds(10));
  ASSERT_EQ(member.compactions, std::vector<int64_t>{100});  // the revision 10 s ago
  for (int s = 11; s <= 30; ++s) {
    member.revision = 100 + 10 * s;
    compactor.Step(kStart + absl::Seconds(s));
  }
  // Every period, at the oldest revision still noted: a period and a step before (etcd keeps
  // period/step + 1 notes), so at least a period of history stays.
  EXPECT_EQ(member.compactions, (std::vector<int64_t>{100, 190, 290}));
}

TEST(AutoCompactorTest, LongPeriodsCompactHourlyAtTheRevisionAPeriodAgo) {
  FakeMember member;
  AutoCompactor compactor(AutoCompactor::Mode::kPeriodic, absl::Hours(24), 0, member.Hooks(),
                          kStart);
  ASSERT_EQ(compactor.StepInterval(), absl::Minutes(6));
  // One revision per step (6 minutes); 240 steps a day.
  for (int step = 1; step <= 240 + 20; ++step) {
    member.revision = 100 + step;
    compactor.Step(kStart + step * absl::Minutes(6));
  }
  // First after a day, at the starting revision; then every hour (10 steps), at the revision a
  // day and a step before.
  EXPECT_EQ(member.compactions, (std::vector<int64_t>{100, 109, 119}));
}

TEST(AutoCompactorTest, OnlyTheLeaderCompactsAndAFollowerKeepsNoting) {
  FakeMember member;
  member.leader = false;
  AutoCompactor compactor(AutoCompactor::Mode::kPeriodic, absl::Seconds(10), 0, member.Hooks(),
                          kStart);
  for (int s = 1; s <= 25; ++s) {
    member.revision = 100 + 10 * s;
    compactor.Step(kStart + absl::Seconds(s));
  }
  EXPECT_TRUE(member.compactions.empty());
  member.leader = true;  // became leader: compacts at once, at the revision 11 s ago
  member.revision = 360;
  compactor.Step(kStart + absl::Seconds(26));
  EXPECT_EQ(member.compactions, std::vector<int64_t>{250});
}

TEST(AutoCompactorTest, AFailedCompactionIsRetriedAtTheNextStep) {
  FakeMember member;
  AutoCompactor compactor(AutoCompactor::Mode::kPeriodic, absl::Seconds(10), 0, member.Hooks(),
                          kStart);
  member.fail = true;
  for (int s = 1; s <= 11; ++s) {
    member.revision = 100 + 10 * s;
    compactor.Step(kStart + absl::Seconds(s));
  }
  EXPECT_EQ(member.compactions, (std::vector<int64_t>{100, 100}));
  member.fail = false;
  member.revision = 220;
  compactor.Step(kStart + absl::Seconds(12));
  EXPECT_EQ(member.compactions, (std::vector<int64_t>{100, 100, 110}));
  // Then a period's wait again.
  for (int s = 13; s <= 21; ++s) {
    member.revision = 100 + 10 * s;
    compactor.Step(kStart + absl::Seconds(s));
  }
  EXPECT_EQ(member.compactions.size(), 3u);
}

TEST(AutoCompactorTest, RevisionModeKeepsTheLastRevisions) {
  FakeMember member;
  AutoCompactor compactor(AutoCompactor::Mode::kRevision, absl::ZeroDuration(), 1000,
                          member.Hooks(), kStart);
  ASSERT_EQ(compactor.StepInterval(), absl::Minutes(5));
  member.revision = 900;  // fewer revisions than the retention: nothing to do
  compactor.Step(kStart + absl::Minutes(5));
  member.revision = 1500;
  compactor.Step(kStart + absl::Minutes(10));
  compactor.Step(kStart + absl::Minutes(15));  // no new writes: no second compaction at 500
  member.leader = false;
  member.revision = 2500;
  compactor.Step(kStart + absl::Minutes(20));  // a follower does not compact
  member.leader = true;
  member.fail = true;
  compactor.Step(kStart + absl::Minutes(25));
  member.fail = false;
  compactor.Step(kStart + absl::Minutes(30));  // retried
  EXPECT_EQ(member.compactions, (std::vector<int64_t>{500, 1500, 1500}));
}

}  // namespace
}  // namespace quorum::server
