// Disk faults on one member of three while a writer puts fresh keys through the others:
//   - its data dir fills up (a small tmpfs mounted on it): it stops with a clear error before
//     RocksDB meets the full disk (storage::Backend keeps a reserve), and once there is room
//     again it starts, catches up and holds what everyone holds;
//   - an fsync or a write of its write-ahead log fails (storage/disk_faults.h, armed by
//     QUORUM_DISK_FAULT): it stops at once, and comes back whole on a healthy disk.
// In every case nothing acknowledged is lost or applied twice (tests/faults/member_faults.h).
// Mounting needs root, as CI runs; the injected faults need -DQUORUM_CRASH_POINTS=ON.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>

#include "tests/faults/member_faults.h"

namespace quorum::faults {
namespace {

using namespace std::chrono_literals;

constexpr int kMembers = 3;
constexpr int kAbortExitCode = 128 + 6;  // quorum::Fatal aborts

// A tmpfs of `megabytes` on `path` while the object lives; detached (lazily, in case a member
// still has files open in it) when it goes.
class SmallDisk {
 public:
  SmallDisk(const std::string& path, int megabytes) : path_(path) {
    std::filesystem::create_directories(path);
    const std::string options = "size=" + std::to_string(megabytes) + "m";
    if (::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      error_ = std::string("mount tmpfs on ") + path + ": " + std::strerror(errno) +
               " (the test needs root, as CI runs it)";
    }
  }
  ~SmallDisk() {
    if (error_.empty()) ::umount2(path_.c_str(), MNT_DETACH);
  }
  const std::string& error() const { return error_; }
  bool Resize(int megabytes) {
    const std::string options = "size=" + std::to_string(megabytes) + "m";
    return ::mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT, options.c_str()) == 0;
  }

 private:
  std::string path_;
  std::string error_;
};

TEST(DiskFaultTest, AFullDataDirStopsTheMemberWhichServesAgainOnceThereIsRoom) {
  TestCluster cluster(kMembers);
  const int victim = 0;
  // Room for the member's start and about 200 MiB more before the 128 MiB reserve is reached.
  SmallDisk disk(cluster.dir() + "/" + cluster.spec(victim).name, 352);
  ASSERT_TRUE(disk.error().empty()) << disk.error();
  cluster.StartAll();
  ASSERT_TRUE(MoveLeaderTo(cluster, 1));

  // 256 KiB values: the victim's log and state take about 512 KiB a put.
  Writer writer(&cluster, {1, 2}, 256 << 10);
  std::optional<int> code = cluster.WaitExit(victim, 120s);
  ASSERT_TRUE(code.has_value()) << "the member never stopped; its log ends:\n"
                                << LogTail(cluster, victim);
  EXPECT_NE(*code, 0);
  const std::string log = cluster.Log(victim);
  EXPECT_NE(log.find("quorum fatal: "), std::string::npos) << LogTail(cluster, victim);
  EXPECT_NE(log.find("no space left on device"), std::string::npos) << LogTail(cluster, victim);
  ASSERT_TRUE(disk.Resize(1024));
  BringBackAndCheck(cluster, victim, writer);
}

// The victim leads, so the failed write is the one every acknowledgement waits for.
void FailingLog(const std::string& fault, const std::string& message, int leader) {
  TestCluster cluster(kMembers);
  const int victim = 0;
  cluster.SetEnv(victim, {"QUORUM_DISK_FAULT=" + fault});
  cluster.StartAll();
  ASSERT_TRUE(MoveLeaderTo(cluster, leader));
  Writer writer(&cluster, {1, 2});
  ExpectExited(cluster, victim, kAbortExitCode, message);
  if (::testing::Test::HasFatalFailure()) return;
  EXPECT_NE(cluster.Log(victim).find("quorum fatal: "), std::string::npos);
  BringBackAndCheck(cluster, victim, writer);
}

TEST(DiskFaultTest, AFailedFsyncStopsTheLeader) {
  FailingLog("wal-sync-error:200", "injected disk fault: fsync of the WAL failed", 0);
}
TEST(DiskFaultTest, AFailedFsyncStopsAFollower) {
  FailingLog("wal-sync-error:200", "injected disk fault: fsync of the WAL failed", 1);
}
TEST(DiskFaultTest, AFailedWriteStopsTheLeader) {
  FailingLog("wal-write-error:300", "injected disk fault: write to the WAL failed", 0);
}

TEST(DiskFaultTest, AnUnknownFaultStopsTheMemberAtStartup) {
  TestCluster cluster(1);
  cluster.SetEnv(0, {"QUORUM_DISK_FAULT=disk-on-fire:1"});
  cluster.Start(0, /*wait_ready=*/false);
  std::optional<int> code = cluster.WaitExit(0, 20s);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_NE(cluster.Log(0).find("expected wal-sync-error:<n> or wal-write-error:<n>"),
            std::string::npos)
      << cluster.Log(0);
}

}  // namespace
}  // namespace quorum::faults
