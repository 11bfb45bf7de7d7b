// snapshot save and restore: a backup of a running cluster becomes the data dirs of a new
// 3-member cluster that serves the same keys at the same revisions, keeps the leases, accepts
// writes, and refuses an existing dir or a damaged file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "client/client.h"
#include "storage/backup.h"
#include "tests/support/cluster.h"

namespace quorum {
namespace {

using testing::TestCluster;

TEST(SnapshotRestore, BackupBecomesANewClusterWithTheSameState) {
  testing::TempDir work;
  const std::string backup = work.path() + "/backup.db";
  int64_t lease = 0;
  int64_t revision = 0;
  {
    TestCluster source(1);
    source.StartAll();
    ASSERT_TRUE(source.WaitForLeader().has_value());
    client::Client client({.endpoints = {source.spec(0).Endpoint()}});
    ASSERT_TRUE(client.Put("a", "1").ok());
    ASSERT_TRUE(client.Put("a", "2").ok());
    ASSERT_TRUE(client.Put("b", "3").ok());
    etcdserverpb::DeleteRangeRequest del;
    del.set_key("b");
    ASSERT_TRUE(client.Delete(del).ok());
    auto granted = client.LeaseGrant(600);
    ASSERT_TRUE(granted.ok()) << granted.status();
    lease = granted->id();
    auto put = client.Put("leased", "x", lease);
    ASSERT_TRUE(put.ok());
    revision = put->header().revision();
    std::ofstream out(backup, std::ios::binary);
    ASSERT_TRUE(client
                    .Snapshot(source.spec(0).Endpoint(),
                              [&](const std::string& blob) {
                                out.write(blob.data(), static_cast<std::streamsize>(blob.size()));
                                return absl::OkStatus();
                              })
                    .ok());
  }

  TestCluster restored(3);
  for (int i = 0; i < restored.size(); ++i) {
    ASSERT_TRUE(storage::RestoreBackup(backup, restored.dir() + "/" + restored.spec(i).name).ok());
  }
  // A second restore into the same dir is refused, as etcd refuses it.
  EXPECT_EQ(storage::RestoreBackup(backup, restored.dir() + "/" + restored.spec(0).name).code(),
            absl::StatusCode::kAlreadyExists);
  restored.StartAll();
  ASSERT_TRUE(restored.WaitForLeader().has_value());
  for (int i = 0; i < restored.size(); ++i) {
    client::Client client({.endpoints = {restored.spec(i).Endpoint()}});
    auto a = client.Get("a");
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_EQ(a->kvs_size(), 1);
    EXPECT_EQ(a->kvs(0).value(), "2");
    EXPECT_EQ(a->kvs(0).version(), 2);
    EXPECT_EQ(a->header().revision(), revision);
    EXPECT_EQ(client.Get("b")->kvs_size(), 0);
    auto ttl = client.LeaseTimeToLive(lease, /*keys=*/true);
    ASSERT_TRUE(ttl.ok()) << ttl.status();
    EXPECT_EQ(ttl->grantedttl(), 600);
    ASSERT_EQ(ttl->keys_size(), 1);
  }
  client::Client client({.endpoints = {restored.spec(1).Endpoint()}});
  auto put = client.Put("after", "restore");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->header().revision(), revision + 1);
}

TEST(SnapshotRestore, DamagedFileIsRefusedAndLeavesNoDataDir) {
  testing::TempDir work;
  const std::string file = work.path() + "/bad.db";
  std::ofstream(file) << std::string(1024 + 32, 'x');
  const std::string dir = work.path() + "/restored";
  absl::Status status = storage::RestoreBackup(file, dir);
  EXPECT_FALSE(status.ok());
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace quorum
