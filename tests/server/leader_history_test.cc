#include "server/leader_history.h"

#include <gtest/gtest.h>

namespace quorum::server {
namespace {

TEST(LeaderHistoryTest, ListsChangesOldestFirstWithTheirTimes) {
  LeaderHistory history;
  const absl::Time start = absl::FromUnixSeconds(1000);
  history.Record(7, 2, start);
  history.Record(0, 3, start + absl::Seconds(1));
  history.Record(9, 3, start + absl::Seconds(2));
  const std::vector<LeaderHistory::Change> changes = history.List();
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].leader, 7u);
  EXPECT_EQ(changes[0].term, 2u);
  EXPECT_EQ(changes[0].time, start);
  EXPECT_EQ(changes[1].leader, 0u);
  EXPECT_EQ(changes[2].leader, 9u);
  EXPECT_EQ(changes[2].time, start + absl::Seconds(2));
}

TEST(LeaderHistoryTest, ForgetsTheOldestBeyondItsCapacity) {
  LeaderHistory history(/*capacity=*/2);
  history.Record(1, 1);
  history.Record(2, 2);
  history.Record(3, 3);
  const std::vector<LeaderHistory::Change> changes = history.List();
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].term, 2u);
  EXPECT_EQ(changes[1].term, 3u);
}

}  // namespace
}  // namespace quorum::server
