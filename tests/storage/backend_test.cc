// Backend: opening creates the families, refuses clearly what it cannot open, and reports size.
#include "storage/backend.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "tests/storage/store_fixture.h"

namespace quorum::storage::testing {
namespace {

Backend::Options OptionsAt(const std::string& path) {
  Backend::Options options;
  options.path = path;
  options.sync_writes = false;
  options.block_cache_bytes = 1 << 20;
  return options;
}

TEST(BackendTest, OpenCreatesTheDirectoryAndEveryFamily) {
  TempDir dir;
  auto backend = Backend::Open(OptionsAt(dir.path() + "/nested/db"));
  ASSERT_TRUE(backend.ok()) << backend.status();
  for (int i = 0; i < kColumnFamilyCount; ++i) {
    auto family = static_cast<ColumnFamily>(i);
    ASSERT_NE((*backend)->Family(family), nullptr);
    EXPECT_EQ((*backend)->Family(family)->GetName(), std::string(ColumnFamilyName(family)));
  }
  EXPECT_EQ(ColumnFamilyName(ColumnFamily::kRaftLog), "raft_log");
}

TEST(BackendTest, WritesArePersistedAcrossReopen) {
  TempDir dir;
  {
    auto backend = Backend::Open(OptionsAt(dir.path() + "/db"));
    ASSERT_TRUE(backend.ok());
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(batch.Put((*backend)->Family(ColumnFamily::kLease), "l", "1").ok());
    ASSERT_TRUE((*backend)->Write(&batch, /*sync=*/true).ok());
  }
  auto backend = Backend::Open(OptionsAt(dir.path() + "/db"));
  ASSERT_TRUE(backend.ok());
  std::string value;
  ASSERT_TRUE(
      (*backend)
          ->db()
          ->Get(rocksdb::ReadOptions(), (*backend)->Family(ColumnFamily::kLease), "l", &value)
          .ok());
  EXPECT_EQ(value, "1");
}

TEST(BackendTest, SecondOpenOfTheSameDatabaseIsRefusedAsLocked) {
  TempDir dir;
  auto first = Backend::Open(OptionsAt(dir.path() + "/db"));
  ASSERT_TRUE(first.ok());
  auto second = Backend::Open(OptionsAt(dir.path() + "/db"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use by another process"), std::string::npos)
      << second.status();
}

TEST(BackendTest, DatabaseLockedByAnotherProcessIsRefused) {
  TempDir dir;
  { ASSERT_TRUE(Backend::Open(OptionsAt(dir.path() + "/db")).ok()); }
  // A child process takes the same POSIX lock RocksDB takes on db/LOCK and holds it.
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int fd = ::open((dir.path() + "/db/LOCK").c_str(), O_RDWR);
    struct flock lock = {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    char ok = (fd >= 0 && ::fcntl(fd, F_SETLK, &lock) == 0) ? 1 : 0;
    (void)!::write(ready[1], &ok, 1);
    ::pause();
    ::_exit(0);
  }
  char ok = 0;
  ASSERT_EQ(::read(ready[0], &ok, 1), 1);
  auto backend = Backend::Open(OptionsAt(dir.path() + "/db"));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  ASSERT_EQ(ok, 1);
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(backend.status().message().find("in use by another process"), std::string::npos)
      << backend.status();
}

TEST(BackendTest, PathThatCannotBeADirectoryIsRefused) {
  TempDir dir;
  std::ofstream(dir.path() + "/file") << "x";
  auto backend = Backend::Open(OptionsAt(dir.path() + "/file/db"));
  ASSERT_FALSE(backend.ok());
  EXPECT_NE(backend.status().message().find("cannot create database directory"), std::string::npos)
      << backend.status();
  EXPECT_FALSE(Backend::Open(OptionsAt("")).ok());
}

TEST(BackendTest, UnwritableDirectoryIsRefused) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can write anywhere";
  TempDir dir;
  std::filesystem::create_directory(dir.path() + "/ro");
  std::filesystem::permissions(
      dir.path() + "/ro", std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  auto backend = Backend::Open(OptionsAt(dir.path() + "/ro"));
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(BackendTest, DirectoryThatCannotBeCreatedIsRefusedEvenForRoot) {
  // sysfs refuses mkdir to everyone, root included.
  if (!std::filesystem::is_directory("/sys/kernel")) GTEST_SKIP() << "no sysfs";
  auto backend = Backend::Open(OptionsAt("/sys/quorum-storage-test/db"));
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(backend.status().message().find("/sys/quorum-storage-test/db"), std::string::npos);
}

TEST(BackendTest, SizeGrowsWithData) {
  TempDir dir;
  auto backend = Backend::Open(OptionsAt(dir.path() + "/db"));
  ASSERT_TRUE(backend.ok());
  uint64_t empty = (*backend)->SizeBytes();
  rocksdb::WriteBatch batch;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(batch
                    .Put((*backend)->Family(ColumnFamily::kKv), "k" + std::to_string(i),
                         std::string(1000, 'x'))
                    .ok());
  }
  ASSERT_TRUE((*backend)->Write(&batch).ok());
  EXPECT_GE((*backend)->SizeBytes(), empty + 100 * 1000);
}

}  // namespace
}  // namespace quorum::storage::testing
