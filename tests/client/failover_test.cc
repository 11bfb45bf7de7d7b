// quorum::client::Client against a 3-member quorumd cluster whose endpoints it all knows: the
// member it is pinned to is killed (-9) in the middle of reads, writes, a watch and a lease, and
// the client must carry on through the others without applying a write twice or losing or
// repeating a watch event.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "client/client.h"
#include "client/lease_keeper.h"
#include "client/watcher.h"
#include "tests/support/cluster.h"

namespace quorum {
namespace {

using Clock = std::chrono::steady_clock;
using testing::TestCluster;
using testing::WaitUntil;

client::ClientOptions AllMembers(TestCluster& cluster) {
  client::ClientOptions options;
  for (int i = 0; i < cluster.size(); ++i) options.endpoints.push_back(cluster.spec(i).Endpoint());
  options.request_timeout = std::chrono::seconds(5);
  return options;
}

int MemberOf(TestCluster& cluster, const std::string& endpoint) {
  for (int i = 0; i < cluster.size(); ++i) {
    if (cluster.spec(i).Endpoint() == endpoint) return i;
  }
  return -1;
}

class ClientFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_.StartAll();
    ASSERT_TRUE(cluster_.WaitForLeader().has_value());
  }
  TestCluster cluster_{3};
};

TEST_F(ClientFailoverTest, ReadsAndWritesContinueAndNoWriteIsAppliedTwice) {
  client::Client client(AllMembers(cluster_));
  ASSERT_TRUE(client.Put("w/seed", "0").ok());
  const int victim = MemberOf(cluster_, client.PinnedEndpoint());
  ASSERT_GE(victim, 0);

  std::atomic<bool> killed{false};
  std::atomic<int> reads_after{0}, writes_after{0}, write_errors{0};
  std::set<std::string> acked;  // keys whose Put was acknowledged
  int attempted = 0;
  auto deadline = Clock::now() + std::chrono::seconds(40);
  // One key per write: a write applied twice would show as version 2.
  while (Clock::now() < deadline && (writes_after < 40 || reads_after < 40)) {
    std::string key = "w/" + std::to_string(attempted++);
    auto put = client.Put(key, "v");
    if (put.ok()) {
      acked.insert(key);
      if (killed) ++writes_after;
    } else {
      ++write_errors;  // outcome unknown: may or may not be applied, never twice
    }
    auto read = client.Get("w/seed");
    if (read.ok() && killed) ++reads_after;
    if (attempted == 30) {
      cluster_.Kill(victim);
      killed = true;
    }
  }
  EXPECT_GE(reads_after.load(), 40) << "reads did not continue after the failover";
  EXPECT_GE(writes_after.load(), 40) << "writes did not continue after the failover";
  EXPECT_NE(MemberOf(cluster_, client.PinnedEndpoint()), victim);

  etcdserverpb::RangeRequest all;
  all.set_key("w/");
  all.set_range_end(client::PrefixRangeEnd("w/"));
  auto range = client.Range(all);
  ASSERT_TRUE(range.ok()) << range.status();
  std::set<std::string> present;
  for (const auto& kv : range->kvs()) {
    present.insert(kv.key());
    EXPECT_EQ(kv.version(), 1) << kv.key() << " was written more than once";
  }
  for (const auto& key : acked)
    EXPECT_TRUE(present.count(key)) << "acknowledged " << key << " lost";
  std::cout << "writes attempted " << attempted << ", acknowledged " << acked.size() << ", failed "
            << write_errors << "; reads after kill " << reads_after << "\n";
}

TEST_F(ClientFailoverTest, WatchResumesWithoutMissingOrRepeatingAnEvent) {
  client::Client watch_client(AllMembers(cluster_));
  const int victim = MemberOf(cluster_, watch_client.PinnedEndpoint());
  const int writer = (victim + 1) % cluster_.size();

  std::mutex mu;
  std::vector<std::pair<std::string, int64_t>> events;
  client::WatchOptions options;
  options.key = "e/";
  options.range_end = client::PrefixRangeEnd("e/");
  auto watcher = watch_client.Watch(options, [&](const etcdserverpb::WatchResponse& r) {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& e : r.events()) events.emplace_back(e.kv().key(), e.kv().mod_revision());
  });
  ASSERT_TRUE(watcher->WaitCreated(std::chrono::seconds(10)));

  constexpr int kWrites = 60;
  for (int i = 0; i < kWrites; ++i) {
    if (i == kWrites / 2) cluster_.Kill(victim);
    // Retried until acknowledged on a live member (around an election a put may time out after
    // it was applied; the store's versions below count every put that was).
    ASSERT_TRUE(
        WaitUntil([&] { return cluster_.Client(writer).Put("e/" + std::to_string(i), "x").ok(); },
                  std::chrono::seconds(20)));
  }
  // Every put the store applied is one event: the sum of the keys' versions.
  etcdserverpb::RangeRequest all;
  all.set_key("e/");
  all.set_range_end(client::PrefixRangeEnd("e/"));
  auto range = cluster_.Client(writer).Range(all);
  ASSERT_TRUE(range.ok()) << range.status();
  ASSERT_EQ(range->kvs_size(), kWrites);
  size_t applied = 0;
  for (const auto& kv : range->kvs()) applied += kv.version();
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return events.size() >= applied;
      },
      std::chrono::seconds(30)))
      << "events seen: " << events.size() << " of " << applied;

  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(events.size(), applied) << "an event was repeated";
  std::set<std::string> keys;
  for (size_t i = 0; i < events.size(); ++i) {
    keys.insert(events[i].first);
    if (i > 0) EXPECT_GT(events[i].second, events[i - 1].second) << "out of order or repeated";
  }
  EXPECT_EQ(keys.size(), static_cast<size_t>(kWrites)) << "an event was missed";
  EXPECT_GE(watcher->reconnects(), 1);
}

TEST_F(ClientFailoverTest, KeepAliveHoldsTheLeaseAcrossAFailover) {
  client::Client client(AllMembers(cluster_));
  auto grant = client.LeaseGrant(3);
  ASSERT_TRUE(grant.ok()) << grant.status();
  ASSERT_TRUE(client.Put("leased", "x", grant->id()).ok());
  auto keeper = client.KeepAlive(grant->id());
  ASSERT_TRUE(WaitUntil([&] { return keeper->renewals() >= 1; }, std::chrono::seconds(10)));

  cluster_.Kill(MemberOf(cluster_, client.PinnedEndpoint()));
  int64_t before = keeper->renewals();
  // Four renewals at TTL/3 span more than the 3 s TTL: without them the lease would be gone.
  ASSERT_TRUE(
      WaitUntil([&] { return keeper->renewals() >= before + 4; }, std::chrono::seconds(30)));
  EXPECT_TRUE(keeper->alive());
  auto ttl = client.LeaseTimeToLive(grant->id(), false);
  ASSERT_TRUE(ttl.ok()) << ttl.status();
  EXPECT_GT(ttl->ttl(), 0);
  auto got = client.Get("leased");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->kvs_size(), 1);

  keeper.reset();  // no more renewals: the lease and its key go within the TTL
  ASSERT_TRUE(client.LeaseRevoke(grant->id()).ok());
  got = client.Get("leased");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->kvs_size(), 0);
}

TEST_F(ClientFailoverTest, LockIsExclusiveAndElectionNamesTheLeader) {
  client::Client client(AllMembers(cluster_));
  auto a = client.LeaseGrant(10);
  auto b = client.LeaseGrant(10);
  ASSERT_TRUE(a.ok() && b.ok());
  auto key = client.Lock("L", a->id(), std::chrono::seconds(5));
  if (key.status().code() == absl::StatusCode::kUnimplemented) GTEST_SKIP() << key.status();
  ASSERT_TRUE(key.ok()) << key.status();
  // The second holder waits while the first holds the lock.
  auto blocked = client.Lock("L", b->id(), std::chrono::milliseconds(500));
  EXPECT_FALSE(blocked.ok());
  ASSERT_TRUE(client.Unlock(*key).ok());
  auto second = client.Lock("L", b->id(), std::chrono::seconds(5));
  ASSERT_TRUE(second.ok()) << second.status();

  auto leader = client.Campaign("E", a->id(), "first", std::chrono::seconds(5));
  ASSERT_TRUE(leader.ok()) << leader.status();
  auto seen = client.Leader("E");
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->kv().value(), "first");
  ASSERT_TRUE(client.Proclaim(*leader, "second").ok());
  seen = client.Leader("E");
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->kv().value(), "second");
  ASSERT_TRUE(client.Resign(*leader).ok());
}

}  // namespace
}  // namespace quorum
