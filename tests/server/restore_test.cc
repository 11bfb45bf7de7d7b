// snapshot save and restore as an operator runs them: `quorumctl snapshot save` from a running
// cluster, then `quorumutl snapshot restore` makes the data dirs of a new 3-member cluster that
// serves the same keys at the same revisions, keeps the leases and accepts writes. The tool
// refuses an existing dir and a damaged file; `quorumctl snapshot restore` still works.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "client/client.h"
#include "tests/server/backup_tools.h"
#include "tests/support/cluster.h"

namespace quorum {
namespace {

using testing::RunTool;
using testing::TestCluster;
using testing::ToolRun;

// What the source cluster held when it was backed up.
struct Source {
  int64_t lease = 0;
  int64_t revision = 0;
};

Source WriteAndBackUp(const std::string& backup, const std::string& log_dir) {
  Source source;
  TestCluster cluster(1);
  cluster.StartAll();
  EXPECT_TRUE(cluster.WaitForLeader().has_value());
  client::Client client({.endpoints = {cluster.spec(0).Endpoint()}});
  EXPECT_TRUE(client.Put("a", "1").ok());
  EXPECT_TRUE(client.Put("a", "2").ok());
  EXPECT_TRUE(client.Put("b", "3").ok());
  etcdserverpb::DeleteRangeRequest del;
  del.set_key("b");
  EXPECT_TRUE(client.Delete(del).ok());
  auto granted = client.LeaseGrant(600);
  EXPECT_TRUE(granted.ok()) << granted.status();
  source.lease = granted.ok() ? granted->id() : 0;
  auto put = client.Put("leased", "x", source.lease);
  EXPECT_TRUE(put.ok());
  source.revision = put.ok() ? put->header().revision() : 0;
  testing::SaveBackup(cluster.spec(0).Endpoint(), backup, log_dir);
  return source;
}

// Member i of `cluster` answers with the source's keys, revision and lease.
void ExpectSourceState(const TestCluster& cluster, int i, const Source& source) {
  SCOPED_TRACE(cluster.spec(i).name);
  client::Client client({.endpoints = {cluster.spec(i).Endpoint()}});
  auto a = client.Get("a");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->kvs_size(), 1);
  EXPECT_EQ(a->kvs(0).value(), "2");
  EXPECT_EQ(a->kvs(0).version(), 2);
  EXPECT_EQ(a->header().revision(), source.revision);
  EXPECT_EQ(client.Get("b")->kvs_size(), 0);
  auto ttl = client.LeaseTimeToLive(source.lease, /*keys=*/true);
  ASSERT_TRUE(ttl.ok()) << ttl.status();
  EXPECT_EQ(ttl->grantedttl(), 600);
  ASSERT_EQ(ttl->keys_size(), 1);
}

TEST(SnapshotRestore, QuorumutlTurnsABackupIntoANewClusterWithTheSameState) {
  testing::TempDir work;
  const std::string backup = work.path() + "/backup.db";
  const Source source = WriteAndBackUp(backup, work.path());
  ASSERT_FALSE(HasFailure());

  TestCluster restored(3);
  std::string initial_cluster;
  for (int i = 0; i < restored.size(); ++i) {
    initial_cluster += (i ? "," : "") + restored.spec(i).name + "=" + restored.spec(i).PeerUrl();
  }
  // With etcdutl's restore flags, as its scripts pass them; the cluster itself is formed by
  // quorumd's own flags when it first starts on the dir.
  for (int i = 0; i < restored.size(); ++i) {
    ToolRun run =
        RunTool({testing::QuorumutlPath(), "snapshot", "restore", backup, "--data-dir",
                 restored.dir() + "/" + restored.spec(i).name, "--name", restored.spec(i).name,
                 "--initial-cluster", initial_cluster, "--initial-cluster-token",
                 "restored-cluster", "--initial-advertise-peer-urls", restored.spec(i).PeerUrl()},
                work.path());
    ASSERT_EQ(run.exit_code, 0) << run.output;
  }
  // A second restore into the same dir is refused, as etcd refuses it.
  ToolRun again = RunTool({testing::QuorumutlPath(), "snapshot", "restore", backup, "--data-dir",
                           restored.dir() + "/" + restored.spec(0).name},
                          work.path());
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("exists"), std::string::npos) << again.output;

  restored.StartAll();
  ASSERT_TRUE(restored.WaitForLeader().has_value());
  for (int i = 0; i < restored.size(); ++i) ExpectSourceState(restored, i, source);
  client::Client client({.endpoints = {restored.spec(1).Endpoint()}});
  auto put = client.Put("after", "restore");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->header().revision(), source.revision + 1);
}

// etcdctl 3.4 restores too; quorumctl keeps the command, on the same library.
TEST(SnapshotRestore, QuorumctlRestoresTheSameWay) {
  testing::TempDir work;
  const std::string backup = work.path() + "/backup.db";
  const Source source = WriteAndBackUp(backup, work.path());
  ASSERT_FALSE(HasFailure());

  TestCluster restored(1);
  ToolRun run = RunTool({testing::QuorumctlPath(), "snapshot", "restore", backup, "--data-dir",
                         restored.dir() + "/" + restored.spec(0).name},
                        work.path());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  restored.StartAll();
  ASSERT_TRUE(restored.WaitForLeader().has_value());
  ExpectSourceState(restored, 0, source);
}

TEST(SnapshotRestore, DamagedFileIsRefusedAndLeavesNoDataDir) {
  testing::TempDir work;
  const std::string file = work.path() + "/bad.db";
  std::ofstream(file) << std::string(1024 + 32, 'x');
  const std::string dir = work.path() + "/restored";
  ToolRun run = RunTool({testing::QuorumutlPath(), "snapshot", "restore", file, "--data-dir", dir},
                        work.path());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("Error: " + file + " is not a snapshot file"), std::string::npos)
      << run.output;
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace quorum
