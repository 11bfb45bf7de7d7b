// bbolt files: what BoltWriter writes, BoltReader reads back key for key (multi-level trees,
// overflow pages, empty buckets), and damaged files (truncated, bit-flipped, wrong magic,
// cycles) are refused with DATA_LOSS or INVALID_ARGUMENT rather than read wrongly.
#include "storage/bbolt.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace quorum::storage {
namespace {

using Buckets = std::map<std::string, std::map<std::string, std::string>>;

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/", name, "-", getpid());
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void WriteFile(const std::string& path, const Buckets& buckets) {
  auto writer = BoltWriter::Create(path);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (const auto& [name, keys] : buckets) {
    ASSERT_TRUE((*writer)->BeginBucket(name).ok());
    for (const auto& [key, value] : keys) ASSERT_TRUE((*writer)->Put(key, value).ok());
  }
  auto size = (*writer)->Finish();
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size % 4096, 0u);
}

absl::StatusOr<Buckets> ReadBytes(std::string_view bytes) {
  auto reader = BoltReader::Open(ByteSource::OfBytes(bytes));
  if (!reader.ok()) return reader.status();
  if (auto checked = (*reader)->Check(); !checked.ok()) return checked;
  auto names = (*reader)->Buckets();
  if (!names.ok()) return names.status();
  Buckets read;
  for (const std::string& name : *names) {
    auto& keys = read[name];
    auto walked = (*reader)->ForEach(name, [&](std::string_view key, std::string_view value, bool) {
      keys.emplace(key, value);
      return absl::OkStatus();
    });
    if (!walked.ok()) return walked;
  }
  return read;
}

Buckets Sample(int keys) {
  Buckets buckets;
  buckets["alarm"];  // empty
  buckets["meta"]["consistent_index"] = std::string(8, '\x07');
  std::mt19937 random(7);
  for (int i = 0; i < keys; ++i) {
    char key[17];
    std::snprintf(key, sizeof key, "%016d", i);
    buckets["key"][key] = std::string(20 + random() % 200, static_cast<char>('a' + i % 26));
  }
  // Larger than a page: stored on a page with overflow pages.
  buckets["key"]["zz-large"] = std::string(20000, 'L');
  return buckets;
}

TEST(BboltTest, WrittenFileReadsBackKeyForKey) {
  const std::string path = TempPath("roundtrip.db");
  const Buckets written = Sample(30000);  // several thousand leaves: three levels
  WriteFile(path, written);
  const std::string bytes = ReadAll(path);
  auto read = ReadBytes(bytes);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, written);
  auto reader = BoltReader::Open(ByteSource::OfBytes(bytes));
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->page_size(), 4096u);
  EXPECT_EQ((*reader)->page_count() * 4096, bytes.size());
  std::remove(path.c_str());
}

TEST(BboltTest, AnEmptyFileHasNoBuckets) {
  const std::string path = TempPath("empty.db");
  WriteFile(path, {});
  auto read = ReadBytes(ReadAll(path));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->empty());
  std::remove(path.c_str());
}

TEST(BboltTest, WriterRefusesKeysOutOfOrder) {
  const std::string path = TempPath("order.db");
  auto writer = BoltWriter::Create(path);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->BeginBucket("b").ok());
  EXPECT_TRUE((*writer)->Put("k2", "v").ok());
  EXPECT_EQ((*writer)->Put("k1", "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*writer)->Put("", "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*writer)->BeginBucket("a").code(), absl::StatusCode::kInvalidArgument);
  std::remove(path.c_str());
}

TEST(BboltTest, MissingBucketIsNotFound) {
  const std::string path = TempPath("missing.db");
  WriteFile(path, Sample(10));
  const std::string bytes = ReadAll(path);
  auto reader = BoltReader::Open(ByteSource::OfBytes(bytes));
  ASSERT_TRUE(reader.ok());
  auto walked = (*reader)->ForEach("nope", [](auto, auto, bool) { return absl::OkStatus(); });
  EXPECT_EQ(walked.code(), absl::StatusCode::kNotFound);
  std::remove(path.c_str());
}

class BboltDamageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = TempPath("damage.db");
    WriteFile(path, Sample(3000));
    bytes_ = ReadAll(path);
    std::remove(path.c_str());
  }
  std::string bytes_;
};

TEST_F(BboltDamageTest, WrongMagicIsNotBbolt) {
  std::string bytes = bytes_;
  bytes[16] ^= 0x5a;  // first meta's magic
  bytes[4096 + 16] ^= 0x5a;
  auto reader = BoltReader::Open(ByteSource::OfBytes(bytes));
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(reader.status().message().find("not a bbolt file"), std::string::npos);
  auto text = BoltReader::Open(ByteSource::OfBytes("hello, this is not a database at all"));
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BboltDamageTest, TruncatedFileSaysSo) {
  for (size_t keep : {bytes_.size() - 1, bytes_.size() / 2, size_t{4096 + 100}}) {
    auto reader = BoltReader::Open(ByteSource::OfBytes(std::string_view(bytes_).substr(0, keep)));
    ASSERT_FALSE(reader.ok()) << keep;
    EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss) << keep;
    EXPECT_NE(reader.status().message().find("truncated"), std::string::npos)
        << reader.status().message();
  }
}

TEST_F(BboltDamageTest, ADamagedMetaFallsBackToTheOther) {
  std::string bytes = bytes_;
  bytes[16 + 40] ^= 0x01;  // first meta's page count: its checksum no longer matches
  auto read = ReadBytes(bytes);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, Sample(3000));
  bytes[4096 + 16 + 40] ^= 0x01;  // and the second: nothing left to trust
  auto reader = BoltReader::Open(ByteSource::OfBytes(bytes));
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(reader.status().message().find("checksum"), std::string::npos);
}

// A single-bit flip anywhere past the metas gives an error or a read that completes: never a
// crash, a hang or a read outside the file (the sanitizer build runs this too). bbolt keeps no
// checksum of data pages; a flip inside a value is caught by the snapshot's SHA-256 instead.
TEST_F(BboltDamageTest, BitFlipsAreRefusedOrReadWithoutCrashing) {
  std::mt19937 random(11);
  int refused = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = bytes_;
    const size_t at = 8192 + random() % (bytes.size() - 8192);
    bytes[at] ^= static_cast<char>(1 << (random() % 8));
    auto read = ReadBytes(bytes);
    if (!read.ok()) {
      ++refused;
      EXPECT_TRUE(read.status().code() == absl::StatusCode::kDataLoss) << read.status();
    }
  }
  // Most flips land in keys, values or padding and change content rather than structure; some
  // must hit headers and elements.
  EXPECT_GT(refused, 20);
}

TEST_F(BboltDamageTest, AFreelistNamingPagesOutsideTheFileIsDamage) {
  std::string bytes = bytes_;
  // The writer puts the freelist on the last page; claim one free page far past the end.
  const size_t at = bytes.size() - 4096;
  ASSERT_EQ(static_cast<uint8_t>(bytes[at + 8]), 0x10);
  const uint16_t count = 1;
  const uint64_t far = 1'000'000;
  std::memcpy(bytes.data() + at + 10, &count, 2);
  std::memcpy(bytes.data() + at + 16, &far, 8);
  auto read = ReadBytes(bytes);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(read.status().message().find("freelist"), std::string::npos) << read.status();
}

TEST_F(BboltDamageTest, APageThatPointsBackIsACycleNotAHang) {
  // Point the first child of a branch page of the "key" bucket at the branch page itself.
  auto reader = BoltReader::Open(ByteSource::OfBytes(bytes_));
  ASSERT_TRUE(reader.ok());
  std::string bytes = bytes_;
  bool patched = false;
  for (uint64_t id = 2; id < (*reader)->page_count() && !patched; ++id) {
    const size_t at = id * 4096;
    uint16_t flags;
    std::memcpy(&flags, bytes.data() + at + 8, 2);
    if (flags != 0x01) continue;  // a branch page
    std::memcpy(bytes.data() + at + 16 + 8, &id, 8);
    patched = true;
  }
  ASSERT_TRUE(patched);
  auto read = ReadBytes(bytes);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace quorum::storage
