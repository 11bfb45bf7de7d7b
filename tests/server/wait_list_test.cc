// The wait list on its own: each write completes exactly once (applied, refused or timed out),
// reads are released only once the applied index reaches their read point, and stopping fails
// whatever still waits.
#include "server/wait_list.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/etcd_errors.h"

namespace quorum::server {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1000);
const absl::Time kLater = kStart + absl::Seconds(5);

TEST(WaitListTest, AWriteCompletesOnceAndOnlyWhenItIsWaitedFor) {
  WaitList waits;
  std::vector<absl::Status> seen;
  waits.AddWrite(1, kLater, [&](ApplyResult r) { seen.push_back(r.status); });
  EXPECT_FALSE(waits.CompleteWrite(2, ApplyResult{}));  // another member's proposal
  EXPECT_TRUE(waits.CompleteWrite(1, ApplyResult{}));
  EXPECT_FALSE(waits.CompleteWrite(1, ApplyResult{}));  // never twice
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].ok());
  EXPECT_EQ(waits.size(), 0u);
}

TEST(WaitListTest, ARefusedProposalFailsAtOnceWithItsError) {
  WaitList waits;
  absl::Status seen;
  waits.AddWrite(1, kLater, [&](ApplyResult r) { seen = r.status; });
  waits.FailWrite(1, ErrNoLeader());
  EXPECT_EQ(seen.message(), ErrNoLeader().message());
  EXPECT_FALSE(waits.CompleteWrite(1, ApplyResult{}));
}

TEST(WaitListTest, ExpireFailsOnlyWhatIsPastItsDeadline) {
  WaitList waits;
  absl::Status early, late, read;
  waits.AddWrite(1, kStart + absl::Seconds(1), [&](ApplyResult r) { early = r.status; });
  waits.AddWrite(2, kLater, [&](ApplyResult r) { late = r.status; });
  waits.AddRead("r", kStart + absl::Seconds(1), [&](absl::Status s) { read = s; });
  waits.Expire(kStart + absl::Seconds(2), ErrTimeout());
  EXPECT_EQ(early.message(), ErrTimeout().message());
  EXPECT_EQ(read.message(), ErrTimeout().message());
  EXPECT_TRUE(late.ok());
  EXPECT_EQ(waits.size(), 1u);
  EXPECT_TRUE(waits.CompleteWrite(2, ApplyResult{}));
}

TEST(WaitListTest, AReadIsReleasedOnlyOnceItsReadPointIsApplied) {
  WaitList waits;
  int released = 0;
  waits.AddRead("r", kLater, [&](absl::Status s) {
    EXPECT_TRUE(s.ok());
    ++released;
  });
  waits.ReleaseReads(100);  // read point not known yet: nothing to release
  EXPECT_EQ(released, 0);
  waits.ReadPointKnown("r", 50);
  waits.ReleaseReads(49);
  EXPECT_EQ(released, 0);
  waits.ReleaseReads(50);
  EXPECT_EQ(released, 1);
  waits.ReleaseReads(60);
  EXPECT_EQ(released, 1);
}

TEST(WaitListTest, ReadsAreReleasedInReadPointOrder) {
  WaitList waits;
  std::vector<std::string> order;
  for (const char* ctx : {"c", "a", "b"}) {
    waits.AddRead(ctx, kLater, [&order, ctx](absl::Status) { order.push_back(ctx); });
  }
  waits.ReadPointKnown("a", 10);
  waits.ReadPointKnown("b", 20);
  waits.ReadPointKnown("c", 30);
  waits.ReleaseReads(25);
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b"}));
  waits.FailRead("c", ErrNoLeader());
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(WaitListTest, FailAllEndsEveryWait) {
  WaitList waits;
  std::vector<std::string> messages;
  waits.AddWrite(1, kLater, [&](ApplyResult r) { messages.emplace_back(r.status.message()); });
  waits.AddRead("r", kLater, [&](absl::Status s) { messages.emplace_back(s.message()); });
  waits.FailAll(ErrStopped());
  ASSERT_EQ(messages.size(), 2u);
  for (const auto& m : messages) EXPECT_EQ(m, ErrStopped().message());
  EXPECT_EQ(waits.size(), 0u);
}

}  // namespace
}  // namespace quorum::server
