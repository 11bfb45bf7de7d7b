// The disk side of inbound snapshots on its own: staging files, the snapshot dir's cleanup at
// start, and the staging worker's ordering.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "peer/peer_test_support.h"
#include "server/peer/snapshot_staging.h"
#include "server/peer/transport.h"

namespace quorum::server {
namespace {

using testing::TempDir;

internalpb::SnapshotChunk ChunkWithKey(const std::string& key, bool last) {
  internalpb::SnapshotChunk chunk;
  chunk.add_records()->set_key(key);
  chunk.set_last(last);
  return chunk;
}

std::vector<std::string> Keys(const std::string& path) {
  std::vector<std::string> keys;
  auto staged = StagedSnapshot::Open(path);
  EXPECT_TRUE(staged.ok()) << staged.status();
  internalpb::SnapshotChunk chunk;
  while (true) {
    absl::StatusOr<bool> more = (*staged)->Next(&chunk);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    for (const auto& record : chunk.records()) keys.push_back(record.key());
  }
  return keys;
}

TEST(SnapshotStagingTest, TransfersOfTheSameSnapshotDoNotShareAFile) {
  const std::string dir = TempDir("same-name");
  const std::string name = StagedSnapshotName(2, 100);
  EXPECT_EQ(name, "0000000000000002-0000000000000064.snap");
  // A retried transfer starts while the abandoned one is still being staged.
  auto abandoned = SnapshotStagingFile::Create(dir, name);
  auto retried = SnapshotStagingFile::Create(dir, name);
  ASSERT_TRUE(abandoned.ok() && retried.ok());
  ASSERT_TRUE((*abandoned)->Append(ChunkWithKey("old-1", false)).ok());
  ASSERT_TRUE((*retried)->Append(ChunkWithKey("new-1", false)).ok());
  ASSERT_TRUE((*abandoned)->Append(ChunkWithKey("old-2", false)).ok());
  ASSERT_TRUE((*retried)->Append(ChunkWithKey("new-2", true)).ok());
  abandoned->reset();
  absl::StatusOr<std::string> path = (*retried)->Commit();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, dir + "/" + name);
  EXPECT_EQ(Keys(*path), (std::vector<std::string>{"new-1", "new-2"}));
  retried->reset();
  // Nothing else is left in the dir.
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    ++files;
    EXPECT_EQ(entry.path().filename(), name);
  }
  EXPECT_EQ(files, 1u);
}

TEST(SnapshotStagingTest, PrepareRemovesUnfinishedFilesOnly) {
  const std::string dir = TempDir("prepare") + "/snap";
  ASSERT_TRUE(PrepareSnapshotDir(dir).ok());  // creates it
  for (const char* name : {"0000000000000001-0000000000000005.snap.7.tmp",
                           "0000000000000001-0000000000000004.snap", "other.tmp"}) {
    std::ofstream(dir + "/" + name) << "x";
  }
  ASSERT_TRUE(PrepareSnapshotDir(dir).ok());
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names,
            (std::vector<std::string>{"0000000000000001-0000000000000004.snap", "other.tmp"}));
}

TEST(SnapshotStagingTest, PrepareFailsClearlyOnAFile) {
  const std::string file = TempDir("not-a-dir") + "/file";
  std::ofstream(file) << "x";
  absl::Status status = PrepareSnapshotDir(file);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find(file), absl::string_view::npos) << status;
}

TEST(StagingWorkerTest, RunsTasksInOrderAndDrainsOnDestruction) {
  std::vector<int> order;  // touched by the worker only until it is joined
  {
    StagingWorker worker;
    for (int i = 0; i < 100; ++i) worker.Post([&order, i] { order.push_back(i); });
  }
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

}  // namespace
}  // namespace quorum::server
