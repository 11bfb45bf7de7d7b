// Auto-compaction on a 3-member cluster under steady writes: history older than the retention
// (plus the compactor's own step and interval) goes, history within it stays, and the
// compaction goes on after the leader is killed (the new leader's compactor takes over).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/support/cluster.h"

namespace quorum {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using testing::TestCluster;

constexpr auto kRetention = seconds(2);

// Range of "k" at `revision` on member i: OK, or the error (etcd's "compacted" one when the
// revision is gone).
grpc::Status ReadAt(const TestCluster& cluster, int i, int64_t revision) {
  auto stub = etcdserverpb::KV::NewStub(
      grpc::CreateChannel(cluster.spec(i).Endpoint(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(5));
  etcdserverpb::RangeRequest request;
  request.set_key("k");
  request.set_revision(revision);
  etcdserverpb::RangeResponse response;
  return stub->Range(&context, request, &response);
}

TEST(AutoCompactionTest, PeriodicRetentionHoldsUnderWritesAndALeaderKill) {
  TestCluster cluster(3,
                      {"--auto-compaction-mode", "periodic", "--auto-compaction-retention", "2s"});
  cluster.StartAll();
  auto leader = cluster.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const int writer = (*leader + 1) % 3;  // survives the leader's death
  const auto start = steady_clock::now();
  std::map<milliseconds, int64_t> revision_at;  // time since start -> revision written
  bool killed = false;
  while (steady_clock::now() - start < seconds(9)) {
    auto put = cluster.Client(writer).Put("k", "v");
    if (put.ok()) {
      revision_at[std::chrono::duration_cast<milliseconds>(steady_clock::now() - start)] =
          put->header().revision();
    }
    if (!killed && steady_clock::now() - start > seconds(4)) {
      cluster.Kill(*leader);
      killed = true;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_GT(revision_at.size(), 100u);
  const auto end = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
  // The revision written at or before `ago` before the end.
  auto written_before = [&](milliseconds ago) {
    auto it = revision_at.upper_bound(end - ago);
    EXPECT_NE(it, revision_at.begin());
    return std::prev(it)->second;
  };
  // Compactions come every retention at the revision a retention and a step old (2.2 s); the
  // newest one before the end is at most one retention old: so 2.2 s + 2 s + slack.
  const int64_t gone = written_before(3 * kRetention);
  grpc::Status old = ReadAt(cluster, writer, gone);
  EXPECT_EQ(old.error_message(), "etcdserver: mvcc: required revision has been compacted")
      << "revision " << gone << ", written 6 s before the end, is still there";
  const int64_t kept = written_before(kRetention / 2);
  grpc::Status recent = ReadAt(cluster, writer, kept);
  EXPECT_TRUE(recent.ok()) << "revision " << kept
                           << ", written 1 s before the end: " << recent.error_message();
  const std::string log = cluster.Log(writer) + cluster.Log((writer + 1) % 3);
  EXPECT_NE(log.find("starting auto periodic compaction"), std::string::npos);
}

}  // namespace
}  // namespace quorum
