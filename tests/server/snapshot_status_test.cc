// `quorumutl snapshot status` on backups taken with `quorumctl snapshot save` (etcd's format):
// the revision, key count, size and hash of a fresh backup in every output format, each equal
// to what etcd's own `etcdctl snapshot status` says of the same file, and a clear error with
// exit code 1 (never a crash) for a missing, damaged, truncated or foreign file; etcdutl's exit
// codes for the rest of the command line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "client/client.h"
#include "tests/server/backup_tools.h"
#include "tests/support/cluster.h"

namespace quorum {
namespace {

using testing::QuorumutlPath;
using testing::RunTool;
using testing::TestCluster;
using testing::ToolRun;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The number after "key": in a one-line JSON object of numbers.
int64_t JsonNumber(const std::string& json, const std::string& key) {
  const std::string field = "\"" + key + "\":";
  size_t at = json.find(field);
  if (at == std::string::npos) return -1;
  at += field.size();
  int64_t value = -1;
  if (!absl::SimpleAtoi(json.substr(at, json.find_first_of(",}", at) - at), &value)) return -1;
  return value;
}

class SnapshotStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_.StartAll();
    ASSERT_TRUE(cluster_.WaitForLeader().has_value());
  }

  // Puts `count` new keys; returns the revision of the last.
  int64_t PutKeys(int count) {
    client::Client client({.endpoints = {cluster_.spec(0).Endpoint()}});
    int64_t revision = 0;
    for (int i = 0; i < count; ++i) {
      auto put = client.Put("key/" + std::to_string(next_key_++), "value");
      EXPECT_TRUE(put.ok()) << put.status();
      if (put.ok()) revision = put->header().revision();
    }
    return revision;
  }

  std::string Backup(const std::string& name) {
    const std::string path = work_.path() + "/" + name;
    testing::SaveBackup(cluster_.spec(0).Endpoint(), path, work_.path());
    return path;
  }

  ToolRun Status(const std::string& path, const std::string& format) {
    return RunTool({QuorumutlPath(), "snapshot", "status", path, "-w", format}, work_.path());
  }

  testing::TempDir work_;
  TestCluster cluster_{1};
  int next_key_ = 0;
};

TEST_F(SnapshotStatusTest, FreshBackupReportsRevisionKeysSizeAndHash) {
  const int64_t first_revision = PutKeys(3);
  const std::string first = Backup("first.db");
  const int64_t revision = PutKeys(5);
  const std::string second = Backup("second.db");

  ToolRun before = Status(first, "json");
  ToolRun after = Status(second, "json");
  ASSERT_EQ(before.exit_code, 0) << before.output;
  ASSERT_EQ(after.exit_code, 0) << after.output;
  EXPECT_EQ(JsonNumber(before.output, "revision"), first_revision) << before.output;
  EXPECT_EQ(JsonNumber(after.output, "revision"), revision) << after.output;
  // Five new keys are five new records; nothing else in the backup grows.
  EXPECT_EQ(JsonNumber(after.output, "totalKey") - JsonNumber(before.output, "totalKey"), 5)
      << before.output << after.output;
  // The database, without the SHA-256 after it.
  EXPECT_EQ(JsonNumber(after.output, "totalSize"),
            static_cast<int64_t>(std::filesystem::file_size(second)) - 32);
  // etcd's own reading of the same file agrees on every number.
  ToolRun etcd = RunTool({"/usr/bin/env", "ETCDCTL_API=3", "/usr/bin/etcdctl", "snapshot", "status",
                          second, "-w", "json"},
                         work_.path());
  ASSERT_EQ(etcd.exit_code, 0) << etcd.output;
  const std::string etcd_json = etcd.output.substr(etcd.output.find('{'));
  for (const char* field : {"hash", "revision", "totalKey", "totalSize"}) {
    EXPECT_EQ(JsonNumber(after.output, field), JsonNumber(etcd_json, field))
        << field << "\n"
        << after.output << etcd_json;
  }
  const uint32_t hash = static_cast<uint32_t>(JsonNumber(etcd_json, "hash"));

  char hex[16];
  std::snprintf(hex, sizeof(hex), "%x", hash);
  ToolRun simple = Status(second, "simple");
  ASSERT_EQ(simple.exit_code, 0) << simple.output;
  EXPECT_EQ(simple.output.rfind(std::string(hex) + ", " + std::to_string(revision) + ", ", 0), 0u)
      << simple.output;
  ToolRun table = Status(second, "table");
  ASSERT_EQ(table.exit_code, 0) << table.output;
  // Cells are as wide as their longest text, so the header spacing depends on the hash.
  EXPECT_NE(table.output.find("HASH"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find(" | REVISION | TOTAL KEYS | TOTAL SIZE |"), std::string::npos)
      << table.output;
  EXPECT_NE(table.output.find(std::string(hex) + " |"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find(" " + std::to_string(revision) + " |"), std::string::npos)
      << table.output;
}

TEST_F(SnapshotStatusTest, BadFilesAreRefusedWithClearErrors) {
  PutKeys(3);
  const std::string good = ReadFile(Backup("good.db"));
  ASSERT_GT(good.size(), 512u);
  struct Case {
    std::string name;
    std::string bytes;
    std::string says;
  };
  std::string damaged = good;
  damaged[good.size() / 2] ^= 0x20;
  std::string foreign = good;
  foreign.replace(0, 32, "SQLite format 3 and then some...");
  const std::vector<Case> cases = {
      {"damaged.db", damaged, "sha256 checksum mismatch"},
      {"truncated.db", good.substr(0, good.size() - 40), "truncated"},
      {"wrong-magic.db", foreign, "is not a snapshot file"},
      {"empty.db", "", "is not a snapshot file"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = work_.path() + "/" + c.name;
    std::ofstream(path, std::ios::binary) << c.bytes;
    ToolRun run = Status(path, "table");
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_EQ(run.output.rfind("Error: " + path, 0), 0u) << run.output;
    EXPECT_NE(run.output.find(c.says), std::string::npos) << run.output;
  }
  ToolRun missing = Status(work_.path() + "/missing.db", "simple");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("No such file or directory"), std::string::npos) << missing.output;
}

TEST(Quorumutl, VersionAndBadArgumentsExitAsEtcdutlDoes) {
  testing::TempDir work;
  ToolRun version = RunTool({QuorumutlPath(), "version"}, work.path());
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.output.rfind("quorumutl version: ", 0), 0u) << version.output;
  ToolRun no_file = RunTool({QuorumutlPath(), "snapshot", "status"}, work.path());
  EXPECT_EQ(no_file.exit_code, 128);
  EXPECT_NE(no_file.output.find("Error: snapshot status requires exactly one argument"),
            std::string::npos)
      << no_file.output;
  ToolRun bad_format =
      RunTool({QuorumutlPath(), "snapshot", "status", "x.db", "-w", "yaml"}, work.path());
  EXPECT_EQ(bad_format.exit_code, 128) << bad_format.output;
}

}  // namespace
}  // namespace quorum
