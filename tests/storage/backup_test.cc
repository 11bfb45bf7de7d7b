// Backup files, in etcd's format and quorum's: a backup written from one store restores into a
// data dir whose store is the same (keys at every revision, revision, hash); its status reports
// the store's revision and records; a backup larger than one chunk round-trips; and a missing,
// damaged, truncated, padded or foreign file is refused with an error that says so, leaving no
// data dir behind.
#include "storage/backup.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "storage/crc32c.h"
#include "tests/storage/store_fixture.h"

namespace quorum::storage::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// What a restored store must share with the store backed up: every key now and at an older
// revision, the revision and the history hash.
void ExpectSameStore(const MvccStore& restored, const MvccStore& source, int64_t old_revision) {
  const std::string all(1, '\0');
  for (int64_t revision : {int64_t{0}, old_revision}) {
    auto want = source.Range(RangeReq(all, all, revision));
    auto got = restored.Range(RangeReq(all, all, revision));
    ASSERT_TRUE(want.ok() && got.ok());
    EXPECT_EQ(got->SerializeAsString(), want->SerializeAsString()) << "at revision " << revision;
  }
  EXPECT_EQ(restored.CurrentRevision(), source.CurrentRevision());
  EXPECT_EQ(restored.HashKV(0)->hash, source.HashKV(0)->hash);
}

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Backend::Options options;
    options.path = dir_.path() + "/source/db";
    options.sync_writes = false;
    auto backend = Backend::Open(options);
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    auto store = MvccStore::Open(backend_.get());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  void Put(const std::string& key, const std::string& value) {
    ASSERT_TRUE(store_->Put(PutReq(key, value), ApplyMeta{++index_, 1}).ok());
  }

  std::string Backup(BackupFormat format = BackupFormat::kEtcd) {
    const std::string path = dir_.path() + "/backup-" + std::to_string(++backups_) + ".db";
    auto size = WriteBackup(backend_.get(), path, {.format = format});
    EXPECT_TRUE(size.ok()) << size.status();
    EXPECT_EQ(*size, std::filesystem::file_size(path));
    return path;
  }

  // Opens the store a restored data dir holds.
  std::unique_ptr<MvccStore> OpenRestored(const std::string& data_dir,
                                          std::unique_ptr<Backend>* backend) {
    Backend::Options options;
    options.path = data_dir + "/member/db";
    auto opened = Backend::Open(options);
    EXPECT_TRUE(opened.ok()) << opened.status();
    *backend = *std::move(opened);
    auto store = MvccStore::Open(backend->get());
    EXPECT_TRUE(store.ok()) << store.status();
    return *std::move(store);
  }

  TempDir dir_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<MvccStore> store_;
  uint64_t index_ = 0;
  int backups_ = 0;
};

// The round trips, in both formats.
class BackupFormatTest : public BackupTest, public ::testing::WithParamInterface<BackupFormat> {};
INSTANTIATE_TEST_SUITE_P(Formats, BackupFormatTest,
                         ::testing::Values(BackupFormat::kEtcd, BackupFormat::kQuorum),
                         [](const auto& info) {
                           return info.param == BackupFormat::kEtcd ? "Etcd" : "Quorum";
                         });

TEST_P(BackupFormatTest, RestoredDataDirHoldsTheSameStore) {
  Put("a", "1");
  Put("a", "2");
  Put("b", "3");
  ASSERT_TRUE(store_->DeleteRange(DelReq("b"), ApplyMeta{++index_, 1}).ok());
  etcdserverpb::CompactionRequest compact;
  compact.set_revision(2);
  ASSERT_TRUE(store_->Compact(compact, ApplyMeta{++index_, 1}).ok());
  const std::string backup = Backup(GetParam());
  const std::string restored = dir_.path() + "/restored";
  ASSERT_TRUE(RestoreBackup(backup, restored).ok());

  std::unique_ptr<Backend> backend;
  auto store = OpenRestored(restored, &backend);
  ASSERT_NE(store, nullptr);
  ExpectSameStore(*store, *store_, 2);
  EXPECT_EQ(store->CompactedRevision(), 2);
}

TEST_F(BackupTest, RestoreRefusesAnExistingDataDir) {
  Put("a", "1");
  const std::string backup = Backup();
  const std::string restored = dir_.path() + "/restored";
  std::filesystem::create_directories(restored);
  absl::Status status = RestoreBackup(backup, restored);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(status.message().find("exists"), std::string_view::npos) << status;
}

TEST_F(BackupTest, StatusReportsRevisionRecordsSizeAndPayloadHash) {
  Put("a", "1");
  const int64_t records_before = ReadBackupStatus(Backup(BackupFormat::kQuorum))->total_keys;
  Put("b", "2");
  Put("a", "3");
  const std::string backup = Backup(BackupFormat::kQuorum);
  auto status = ReadBackupStatus(backup);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->revision, store_->CurrentRevision());
  EXPECT_EQ(status->revision, 4);
  // Two writes add two kv records; the applied position is one record, rewritten.
  EXPECT_EQ(status->total_keys, records_before + 2);
  EXPECT_EQ(status->total_size, static_cast<int64_t>(std::filesystem::file_size(backup)));

  // The hash is the CRC-32C of the payload, as the header of backup.h defines it.
  const std::string bytes = ReadFile(backup);
  uint64_t payload = 0;
  for (int i = 8; i < 16; ++i) payload = (payload << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(status->hash, Crc32cExtend(0, std::string_view(bytes).substr(16, payload)));
  // The same state gives the same backup, so the same hash.
  EXPECT_EQ(ReadBackupStatus(Backup(BackupFormat::kQuorum))->hash, status->hash);
}

TEST_F(BackupTest, EtcdStatusReportsRevisionKeysDatabaseSizeAndBucketHash) {
  Put("a", "1");
  const int64_t keys_before = ReadBackupStatus(Backup())->total_keys;
  Put("b", "2");
  Put("a", "3");
  const std::string backup = Backup();
  auto status = ReadBackupStatus(backup);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->revision, 4);
  EXPECT_EQ(status->total_keys, keys_before + 2);  // two revisions more in the key bucket
  // The database without the SHA-256 appended to it, as etcd's status counts it.
  EXPECT_EQ(status->total_size, static_cast<int64_t>(std::filesystem::file_size(backup)) - 32);
  EXPECT_EQ(status->total_size % 4096, 0);
  EXPECT_EQ(ReadBackupStatus(Backup())->hash, status->hash);
  Put("c", "4");
  EXPECT_NE(ReadBackupStatus(Backup())->hash, status->hash);
}

TEST_P(BackupFormatTest, ABackupOfManyChunksRoundTrips) {
  // Values of 32 KiB: about 16 MiB in all, many 1 MiB chunks.
  const std::string value(32 << 10, 'v');
  for (int i = 0; i < 512; ++i) Put("key/" + std::to_string(i), value);
  const std::string backup = Backup(GetParam());
  auto status = ReadBackupStatus(backup);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->revision, 513);
  int chunks = 0;
  ASSERT_TRUE(ReadBackup(backup, [&](const internalpb::SnapshotChunk&) {
                ++chunks;
                return absl::OkStatus();
              }).ok());
  EXPECT_GT(chunks, 10);
  const std::string restored = dir_.path() + "/restored";
  ASSERT_TRUE(RestoreBackup(backup, restored).ok());
  std::unique_ptr<Backend> backend;
  auto store = OpenRestored(restored, &backend);
  ASSERT_NE(store, nullptr);
  ExpectSameStore(*store, *store_, 100);
}

// Each way a file can be wrong, with the words its error must contain.
TEST_F(BackupTest, BadFilesAreRefusedWithTheirReason) {
  Put("a", "1");
  Put("b", "2");
  const std::string good = ReadFile(Backup(BackupFormat::kQuorum));
  ASSERT_EQ(good.size() % 512, 32u);
  auto damaged = good;
  damaged[40] ^= 0x55;
  auto bad_digest = good;
  bad_digest.back() ^= 0x01;
  auto foreign = good;
  foreign.replace(0, 8, "SQLite f");
  struct Case {
    std::string name;
    std::string bytes;
    absl::StatusCode code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"empty", "", absl::StatusCode::kInvalidArgument, "is not a snapshot file"},
      {"wrong magic", foreign, absl::StatusCode::kInvalidArgument, "is not a snapshot file"},
      {"header only", good.substr(0, 12), absl::StatusCode::kDataLoss, "truncated"},
      {"truncated", good.substr(0, good.size() - 100), absl::StatusCode::kDataLoss, "truncated"},
      {"cut at a sector", good.substr(0, 512), absl::StatusCode::kDataLoss, "truncated"},
      {"trailing bytes", good + "x", absl::StatusCode::kDataLoss, "after the end"},
      {"damaged payload", damaged, absl::StatusCode::kDataLoss, "checksum mismatch"},
      {"damaged digest", bad_digest, absl::StatusCode::kDataLoss, "checksum mismatch"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir_.path() + "/bad.db";
    WriteFile(path, c.bytes);
    auto status = ReadBackupStatus(path);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.status().code(), c.code) << status.status();
    EXPECT_NE(status.status().message().find(c.says), std::string_view::npos) << status.status();
    EXPECT_NE(status.status().message().find(path), std::string_view::npos) << status.status();
    const std::string restored = dir_.path() + "/restored";
    EXPECT_EQ(RestoreBackup(path, restored).code(), c.code);
    EXPECT_FALSE(std::filesystem::exists(restored));
  }
  auto missing = ReadBackupStatus(dir_.path() + "/missing.db");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(BackupTest, SkipHashCheckStillRefusesFramesThatDoNotParse) {
  Put("a", "1");
  const std::string backup = Backup(BackupFormat::kQuorum);
  std::string bytes = ReadFile(backup);
  bytes.back() ^= 0x01;  // only the digest is wrong: the content is intact
  WriteFile(backup, bytes);
  const std::string restored = dir_.path() + "/restored";
  EXPECT_EQ(RestoreBackup(backup, restored).code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(RestoreBackup(backup, restored, {.skip_hash_check = true}).ok());

  // The first frame's length (a varint) now runs past the end of the payload.
  bytes[16] = '\xff';
  bytes[17] = '\xff';
  bytes[18] = '\x7f';
  WriteFile(backup, bytes);
  std::filesystem::remove_all(restored);
  absl::Status status = RestoreBackup(backup, restored, {.skip_hash_check = true});
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find("corrupt backup frame"), std::string_view::npos) << status;
  EXPECT_FALSE(std::filesystem::exists(restored));
}

TEST_F(BackupTest, BadEtcdFilesAreRefusedWithTheirReason) {
  Put("a", "1");
  Put("b", "2");
  const std::string good = ReadFile(Backup());
  ASSERT_EQ(good.size() % 512, 32u);
  auto bad_digest = good;
  bad_digest.back() ^= 0x01;
  auto damaged_page = good;
  damaged_page[2 * 4096] ^= 0x40;  // the id in the first data page's header
  struct Case {
    std::string name;
    std::string bytes;
    absl::StatusCode code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"truncated", good.substr(0, good.size() / 2), absl::StatusCode::kDataLoss, "truncated"},
      {"damaged digest", bad_digest, absl::StatusCode::kDataLoss, "checksum mismatch"},
      {"no digest", good.substr(0, good.size() - 32), absl::StatusCode::kInvalidArgument,
       "no sha256"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir_.path() + "/bad.db";
    WriteFile(path, c.bytes);
    const std::string restored = dir_.path() + "/restored";
    absl::Status status = RestoreBackup(path, restored);
    EXPECT_EQ(status.code(), c.code) << status;
    EXPECT_NE(status.message().find(c.says), std::string_view::npos) << status;
    EXPECT_NE(status.message().find(path), std::string_view::npos) << status;
    EXPECT_FALSE(std::filesystem::exists(restored));
  }
  // A page that is not the one its parent names: the file's structure is damaged. The
  // SHA-256 catches it first; without the check the page walk does.
  const std::string path = dir_.path() + "/bad.db";
  WriteFile(path, damaged_page);
  EXPECT_EQ(RestoreBackup(path, dir_.path() + "/restored").code(), absl::StatusCode::kDataLoss);
  absl::Status unchecked =
      RestoreBackup(path, dir_.path() + "/restored", {.skip_hash_check = true});
  EXPECT_EQ(unchecked.code(), absl::StatusCode::kDataLoss) << unchecked;
  EXPECT_NE(unchecked.message().find("damaged bbolt file"), std::string_view::npos) << unchecked;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/restored"));
  // A database without its digest restores when the check is skipped (etcd's rule).
  WriteFile(path, good.substr(0, good.size() - 32));
  EXPECT_TRUE(RestoreBackup(path, dir_.path() + "/restored", {.skip_hash_check = true}).ok());
}

}  // namespace
}  // namespace quorum::storage::testing
