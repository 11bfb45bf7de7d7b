// Crash points (raft/crash_point.h) armed one at a time on one member of three. The member dies
// there as if killed -9 while a writer puts fresh keys through the others; it comes back with
// the point disarmed, and then on every member:
//   - every acknowledged key is there (nothing lost),
//   - every key has version 1 and the revision counts exactly the puts that took effect
//     (nothing applied twice),
//   - HashKV at one revision is the same.
// Needs a build configured with -DQUORUM_CRASH_POINTS=ON (tests/run_all.sh's Release build).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/faults/member_faults.h"

namespace quorum::faults {
namespace {

using namespace std::chrono_literals;

constexpr int kMembers = 3;
constexpr int kKilledExitCode = 128 + 9;

std::string Env(const std::string& point, int pass) {
  return absl::StrCat("QUORUM_CRASH_POINT=", point, ":", pass);
}

// Waits for member `victim` to die at `point`, killed.
void ExpectCrashedAt(TestCluster& cluster, int victim, const std::string& point) {
  ExpectExited(cluster, victim, kKilledExitCode, "quorum crash point: " + point);
}

// A point of the write or apply path, the pass at which it fires, and whom it is armed on.
struct WritePathCase {
  const char* test_name;
  const char* point;
  int pass;
  bool leader;
};

void PrintTo(const WritePathCase& c, std::ostream* os) { *os << c.point << ":" << c.pass; }

class CrashOnTheWritePath : public ::testing::TestWithParam<WritePathCase> {};

// The victim dies at the `pass`-th time it reaches the point while the writer goes on through
// the other two; then it restarts and must catch up.
TEST_P(CrashOnTheWritePath, NothingIsLostOrAppliedTwice) {
  const WritePathCase& c = GetParam();
  TestCluster cluster(kMembers);
  const int victim = 0;
  cluster.SetEnv(victim, {Env(c.point, c.pass)});
  cluster.StartAll();
  ASSERT_TRUE(cluster.WaitForLeader().has_value());
  ASSERT_TRUE(MoveLeaderTo(cluster, c.leader ? victim : 1));

  Writer writer(&cluster, {1, 2});
  ExpectCrashedAt(cluster, victim, c.point);
  if (HasFatalFailure()) return;
  // The two others go on (electing a new leader when the victim led).
  BringBackAndCheck(cluster, victim, writer);
}

INSTANTIATE_TEST_SUITE_P(
    CrashPointTest, CrashOnTheWritePath,
    ::testing::Values(
        WritePathCase{"LeaderBeforeTheLogsSyncedWrite", "raftlog-before-sync", 200, true},
        WritePathCase{"LeaderAfterTheLogsSyncedWrite", "raftlog-after-sync", 200, true},
        WritePathCase{"FollowerBeforeTheLogsSyncedWrite", "raftlog-before-sync", 200, false},
        WritePathCase{"FollowerAfterTheLogsSyncedWrite", "raftlog-after-sync", 200, false},
        WritePathCase{"LeaderBeforeAnAppliedEntryIsWritten", "apply-before-commit", 150, true},
        WritePathCase{"LeaderAfterAnAppliedEntryIsWrittenBeforeAnyoneIsTold", "apply-after-commit",
                      150, true},
        WritePathCase{"FollowerAfterAnAppliedEntryIsWritten", "apply-after-commit", 150, false}),
    [](const ::testing::TestParamInfo<WritePathCase>& info) { return info.param.test_name; });

// A follower that was down past the log's compaction gets a snapshot, dies with it half
// installed (its old state already wiped), and installs it again after the restart.
TEST(CrashPointTest, FollowerInTheMiddleOfASnapshotInstall) {
  TestCluster cluster(kMembers,
                      {"--snapshot-count", "200", "--experimental-snapshot-catchup-entries", "20"});
  cluster.StartAll();
  ASSERT_TRUE(MoveLeaderTo(cluster, 1));
  const int victim = 0;
  Writer writer(&cluster, {1, 2});
  ASSERT_TRUE(writer.WaitForMore(50, 30s));
  cluster.Kill(victim);
  ASSERT_TRUE(writer.WaitForMore(600, 60s));
  cluster.SetEnv(victim, {Env("snapshot-install-chunk", 1)});
  cluster.Start(victim, /*wait_ready=*/false);
  ExpectCrashedAt(cluster, victim, "snapshot-install-chunk");
  if (::testing::Test::HasFatalFailure()) return;
  BringBackAndCheck(cluster, victim, writer);
  // The restart finished the install from the staged snapshot instead of starting empty.
  const std::string log = cluster.Log(victim);
  EXPECT_NE(log.find("finishing the install of the snapshot at index"), std::string::npos) << log;
}

// Compaction is applied from the log on every member; the victim dies after deleting the old
// revisions but before recording that it finished, and finishes on its next start.
TEST(CrashPointTest, MemberInTheMiddleOfACompaction) {
  TestCluster cluster(kMembers);
  const int victim = 0;
  cluster.SetEnv(victim, {Env("compact-before-finish", 1)});
  cluster.StartAll();
  ASSERT_TRUE(MoveLeaderTo(cluster, 1));
  // Old revisions to delete: 30 keys overwritten ten times each.
  int other_puts = 0;
  for (int round = 0; round < 10; ++round) {
    for (int k = 0; k < 30; ++k) {
      ASSERT_TRUE(cluster.Client(1).Put(absl::StrCat("o/", k), absl::StrCat(round)).ok());
      ++other_puts;
    }
  }
  Writer writer(&cluster, {1, 2});
  ASSERT_TRUE(writer.WaitForMore(50, 30s));
  auto status = cluster.Status(1);
  ASSERT_TRUE(status.ok());
  const int64_t compact_at = status->header().revision();
  auto kv = etcdserverpb::KV::NewStub(
      grpc::CreateChannel(cluster.spec(1).Endpoint(), grpc::InsecureChannelCredentials()));
  etcdserverpb::CompactionRequest compact;
  compact.set_revision(compact_at);
  etcdserverpb::CompactionResponse compacted;
  grpc::ClientContext context;
  ASSERT_TRUE(kv->Compact(WithDeadline(&context, 10s), compact, &compacted).ok());
  ExpectCrashedAt(cluster, victim, "compact-before-finish");
  if (::testing::Test::HasFatalFailure()) return;
  BringBackAndCheck(cluster, victim, writer, other_puts);
  // The restarted member finished the compaction: the old revisions are gone there too.
  etcdserverpb::RangeRequest old;
  old.set_key("o/0");
  old.set_revision(compact_at - 1);
  old.set_serializable(true);
  auto read = cluster.Client(victim).Range(old);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().message(), "etcdserver: mvcc: required revision has been compacted");
}

// Defragment runs on one member only; it dies with one column family rewritten.
TEST(CrashPointTest, MemberInTheMiddleOfADefragment) {
  TestCluster cluster(kMembers);
  const int victim = 0;
  cluster.SetEnv(victim, {Env("defrag-between-families", 1)});
  cluster.StartAll();
  ASSERT_TRUE(MoveLeaderTo(cluster, 1));
  Writer writer(&cluster, {1, 2});
  ASSERT_TRUE(writer.WaitForMore(100, 30s));
  auto maintenance = etcdserverpb::Maintenance::NewStub(
      grpc::CreateChannel(cluster.spec(victim).Endpoint(), grpc::InsecureChannelCredentials()));
  etcdserverpb::DefragmentResponse defragmented;
  grpc::ClientContext context;
  EXPECT_FALSE(maintenance
                   ->Defragment(WithDeadline(&context, 30s), etcdserverpb::DefragmentRequest(),
                                &defragmented)
                   .ok());
  ExpectCrashedAt(cluster, victim, "defrag-between-families");
  if (::testing::Test::HasFatalFailure()) return;
  BringBackAndCheck(cluster, victim, writer);
}

// A learner is added; the victim dies just before or just after recording the change. After
// its restart every member lists the same four members, the learner once.
void CrashAroundAMembershipChange(const std::string& point) {
  TestCluster cluster(kMembers);
  const int victim = 0;
  cluster.SetEnv(victim, {Env(point, 1)});
  cluster.StartAll();
  ASSERT_TRUE(MoveLeaderTo(cluster, 1));
  Writer writer(&cluster, {1, 2});
  ASSERT_TRUE(writer.WaitForMore(50, 30s));
  const int learner = cluster.AddSpec("m4");
  auto members = etcdserverpb::Cluster::NewStub(
      grpc::CreateChannel(cluster.spec(1).Endpoint(), grpc::InsecureChannelCredentials()));
  etcdserverpb::MemberAddRequest add;
  add.add_peerurls(cluster.spec(learner).PeerUrl());
  add.set_islearner(true);
  etcdserverpb::MemberAddResponse added;
  {
    grpc::ClientContext context;
    grpc::Status status = members->MemberAdd(WithDeadline(&context, 10s), add, &added);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  ExpectCrashedAt(cluster, victim, point);
  if (::testing::Test::HasFatalFailure()) return;
  BringBackAndCheck(cluster, victim, writer);
  for (int i = 0; i < kMembers; ++i) {
    auto stub = etcdserverpb::Cluster::NewStub(
        grpc::CreateChannel(cluster.spec(i).Endpoint(), grpc::InsecureChannelCredentials()));
    etcdserverpb::MemberListRequest request;
    etcdserverpb::MemberListResponse list;
    grpc::ClientContext context;
    ASSERT_TRUE(stub->MemberList(WithDeadline(&context, 5s), request, &list).ok());
    int learners = 0;
    for (const auto& member : list.members()) {
      if (member.id() == added.member().id()) {
        ++learners;
        EXPECT_TRUE(member.islearner());
      }
    }
    EXPECT_EQ(list.members_size(), kMembers + 1) << "member " << i;
    EXPECT_EQ(learners, 1) << "member " << i;
  }
}

TEST(CrashPointTest, FollowerBeforeAMembershipChangeIsRecorded) {
  CrashAroundAMembershipChange("confchange-before-apply");
}
TEST(CrashPointTest, FollowerAfterAMembershipChangeIsRecorded) {
  CrashAroundAMembershipChange("confchange-after-apply");
}

// A misspelled point must not let a test pass by never crashing.
TEST(CrashPointTest, AnUnknownPointStopsTheMemberAtStartup) {
  TestCluster cluster(1);
  cluster.SetEnv(0, {"QUORUM_CRASH_POINT=no-such-point"});
  cluster.Start(0, /*wait_ready=*/false);
  std::optional<int> code = cluster.WaitExit(0, 20s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 2);
  EXPECT_NE(cluster.Log(0).find("not a known crash point"), std::string::npos) << cluster.Log(0);
}

}  // namespace
}  // namespace quorum::faults
