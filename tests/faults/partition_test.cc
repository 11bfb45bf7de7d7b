// Partitions between members in network namespaces of their own (tests/faults/netns_cluster.h),
// on 3 and 5 members: a leader cut off from the others steps down within an election timeout
// plus a heartbeat (and some scheduling slack), never answers a linearizable read with what the
// majority has since overwritten, and rejoins as a follower once the link is back; one-way and
// flapping partitions heal by themselves with every acknowledged write kept.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/faults/netns_cluster.h"

namespace quorum::faults {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kHeartbeatMs = 100;
constexpr int kElectionMs = 1000;

std::vector<std::string> Flags() {
  return {"--heartbeat-interval", absl::StrCat(kHeartbeatMs),
          "--election-timeout",   absl::StrCat(kElectionMs),
          "--log-level",          "warn"};
}

grpc::Status Put(etcdserverpb::KV::Stub* kv, const std::string& key, const std::string& value,
                 std::chrono::milliseconds timeout = 3s) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  etcdserverpb::PutRequest put;
  put.set_key(key);
  put.set_value(value);
  etcdserverpb::PutResponse response;
  return kv->Put(&context, put, &response);
}

// The value of `key` (empty when absent) with a linearizable read, or the error.
absl::StatusOr<std::string> Get(etcdserverpb::KV::Stub* kv, const std::string& key,
                                bool serializable = false, std::chrono::milliseconds timeout = 2s) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  etcdserverpb::RangeRequest range;
  range.set_key(key);
  range.set_serializable(serializable);
  etcdserverpb::RangeResponse response;
  grpc::Status status = kv->Range(&context, range, &response);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  return response.kvs_size() == 0 ? std::string() : response.kvs(0).value();
}

// Waits until a put through every member succeeds and a read through every member sees it.
void ExpectHealthy(NetnsCluster& cluster, const std::string& key) {
  for (int i = 0; i < cluster.size(); ++i) {
    const std::string value = absl::StrCat("healthy-", i);
    const auto deadline = Clock::now() + 30s;
    bool written = false;
    while (!written && Clock::now() < deadline) {
      written = Put(cluster.Kv(i), key, value).ok();
      if (!written) std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(written) << "member " << i << " takes no writes";
    for (int j = 0; j < cluster.size(); ++j) {
      absl::StatusOr<std::string> read = absl::UnavailableError("not tried");
      while (Clock::now() < deadline && !(read = Get(cluster.Kv(j), key)).ok()) {
        std::this_thread::sleep_for(100ms);
      }
      ASSERT_TRUE(read.ok()) << "member " << j << ": " << read.status();
      EXPECT_EQ(*read, value) << "member " << j;
    }
  }
}

void IsolatedLeaderStepsDown(int members) {
  NetnsCluster cluster(members, Flags());
  cluster.StartAll();
  auto leader = cluster.WaitForLeader(30s);
  ASSERT_TRUE(leader.has_value());
  const uint64_t old_id = cluster.MemberId(*leader);
  ASSERT_TRUE(Put(cluster.Kv(*leader), "k", "before").ok());

  cluster.Isolate(*leader);
  const auto cut = Clock::now();
  // Steps down: it stops naming itself leader.
  std::optional<Clock::duration> stepped_down;
  while (Clock::now() - cut < 10s) {
    auto status = cluster.Status(*leader);
    if (status.ok() && status->leader() != old_id) {
      stepped_down = Clock::now() - cut;
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(stepped_down.has_value()) << "the isolated leader still leads after 10 s";
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*stepped_down).count();
  std::cout << members << " members: the isolated leader stepped down after " << ms << " ms\n";
  // An election timeout plus a heartbeat, and 300 ms for the polling and a busy machine.
  EXPECT_LE(ms, kElectionMs + kHeartbeatMs + 300);

  // The majority goes on without it.
  auto new_leader = cluster.WaitForLeader(30s, {*leader});
  ASSERT_TRUE(new_leader.has_value());
  ASSERT_TRUE(Put(cluster.Kv(*new_leader), "k", "after").ok());
  // The old leader must not serve the overwritten value as a linearizable read; a serializable
  // read may (it promises nothing more).
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto read = Get(cluster.Kv(*leader), "k");
    EXPECT_FALSE(read.ok() && *read == "before") << "stale linearizable read on the minority";
  }
  auto local = Get(cluster.Kv(*leader), "k", /*serializable=*/true);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(*local, "before");

  cluster.Heal();
  ASSERT_TRUE(cluster.WaitForLeader(30s).has_value());
  ExpectHealthy(cluster, "k");
}

TEST(PartitionTest, IsolatedLeaderOfThreeStepsDownAndServesNoStaleRead) {
  IsolatedLeaderStepsDown(3);
}

TEST(PartitionTest, IsolatedLeaderOfFiveStepsDownAndServesNoStaleRead) {
  IsolatedLeaderStepsDown(5);
}

// A follower that stops hearing the leader (but is heard by it), then members cut off and let
// back in every 300 ms for 6 s while a writer writes: afterwards one leader, every member
// takes writes, and every write that was acknowledged is there.
void OneWayAndFlappingPartitionsHeal(int members) {
  NetnsCluster cluster(members, Flags());
  cluster.StartAll();
  auto leader = cluster.WaitForLeader(30s);
  ASSERT_TRUE(leader.has_value());
  const int follower = (*leader + 1) % members;
  cluster.DropOneWay(*leader, follower);
  std::this_thread::sleep_for(std::chrono::milliseconds(3 * kElectionMs));
  cluster.Heal();
  ASSERT_TRUE(cluster.WaitForLeader(30s).has_value());
  ExpectHealthy(cluster, "one-way");

  std::atomic<bool> stop{false};
  std::vector<std::string> acknowledged;
  std::thread writer([&] {
    for (int n = 0; !stop.load(); ++n) {
      const std::string key = absl::StrCat("flap/", n);
      if (Put(cluster.Kv(n % members), key, "v", 1s).ok()) acknowledged.push_back(key);
    }
  });
  const auto end = Clock::now() + 6s;
  for (int round = 0; Clock::now() < end; ++round) {
    cluster.Isolate(round % members);
    std::this_thread::sleep_for(300ms);
    cluster.Heal();
    std::this_thread::sleep_for(300ms);
  }
  stop = true;
  writer.join();
  ASSERT_TRUE(cluster.WaitForLeader(30s).has_value());
  ExpectHealthy(cluster, "flapped");
  EXPECT_GT(acknowledged.size(), 10u);
  for (int i = 0; i < members; ++i) {
    for (const std::string& key : acknowledged) {
      auto read = Get(cluster.Kv(i), key);
      ASSERT_TRUE(read.ok()) << read.status();
      ASSERT_EQ(*read, "v") << key << " lost on member " << i;
    }
  }
}

TEST(PartitionTest, OneWayAndFlappingPartitionsOfThreeHeal) { OneWayAndFlappingPartitionsHeal(3); }

TEST(PartitionTest, OneWayAndFlappingPartitionsOfFiveHeal) { OneWayAndFlappingPartitionsHeal(5); }

}  // namespace
}  // namespace quorum::faults
