// bbolt files against etcd's own tools: a file BoltWriter writes passes `etcdctl snapshot status`
// (which runs bbolt's full integrity check first) with the hash, revision and key count computed
// here; and a snapshot saved from a running etcd 3.4 reads back through BoltReader with every
// revision, key and lease it holds.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "mvccpb/kv.pb.h"
#include "storage/bbolt.h"
#include "storage/crc32c.h"
#include "tests/compat/etcd_tools.h"
#include "tests/support/process.h"

namespace quorum {
namespace {

using namespace std::chrono_literals;
using storage::BoltReader;
using storage::BoltWriter;
using storage::ByteSource;
using testing::ChildProcess;
using testing::Etcdctl;
using testing::FreeLoopbackPort;
using testing::kEtcdPath;
using testing::TempDir;

// etcd's revision bytes: main revision big-endian, '_', sub revision big-endian.
std::string RevisionKey(int64_t main) {
  std::string key(17, '\0');
  for (int i = 0; i < 8; ++i) key[i] = static_cast<char>(main >> (56 - 8 * i));
  key[8] = '_';
  return key;
}

int64_t MainRevision(std::string_view key) {
  int64_t main = 0;
  for (int i = 0; i < 8; ++i) main = (main << 8) | static_cast<unsigned char>(key[i]);
  return main;
}

int64_t JsonNumber(const std::string& json, const std::string& field) {
  std::smatch match;
  if (!std::regex_search(json, match, std::regex("\"" + field + "\":([0-9]+)"))) return -1;
  return std::stoll(match[1]);
}

TEST(BboltEtcdTest, EtcdctlSnapshotStatusReadsWhatTheWriterWrote) {
  TempDir dir;
  const std::string path = dir.path() + "/written.db";
  auto writer = BoltWriter::Create(path);
  ASSERT_TRUE(writer.ok()) << writer.status();
  // etcd's status hash: CRC-32C over each bucket's name and then its keys and values.
  uint32_t hash = 0;
  int64_t keys = 0;
  auto put = [&](const std::string& key, const std::string& value) {
    ASSERT_TRUE((*writer)->Put(key, value).ok());
    hash = storage::Crc32cExtend(storage::Crc32cExtend(hash, key), value);
    ++keys;
  };
  auto bucket = [&](const std::string& name) {
    ASSERT_TRUE((*writer)->BeginBucket(name).ok());
    hash = storage::Crc32cExtend(hash, name);
  };
  bucket("alarm");
  bucket("key");
  constexpr int kRevisions = 20000;
  for (int64_t revision = 1; revision <= kRevisions; ++revision) {
    mvccpb::KeyValue kv;
    kv.set_key(absl::StrCat("k/", revision));
    kv.set_value(std::string(100 + revision % 300, 'v'));
    kv.set_create_revision(revision);
    kv.set_mod_revision(revision);
    kv.set_version(1);
    put(RevisionKey(revision), kv.SerializeAsString());
  }
  bucket("meta");
  put("consistent_index", std::string(8, '\0'));
  auto size = (*writer)->Finish();
  ASSERT_TRUE(size.ok()) << size.status();

  const std::string status =
      Etcdctl(dir.path() + "/etcdctl.log", {"snapshot", "status", path, "-w", "json"});
  EXPECT_EQ(JsonNumber(status, "hash"), hash) << status;
  EXPECT_EQ(JsonNumber(status, "revision"), kRevisions) << status;
  EXPECT_EQ(JsonNumber(status, "totalKey"), keys) << status;
  EXPECT_EQ(JsonNumber(status, "totalSize"), static_cast<int64_t>(*size)) << status;
}

TEST(BboltEtcdTest, ASnapshotOfEtcdReadsBackWithEveryRevisionAndLease) {
  TempDir dir;
  const int client = FreeLoopbackPort();
  const int peer = FreeLoopbackPort();
  const std::string client_url = absl::StrCat("http://127.0.0.1:", client);
  const std::string peer_url = absl::StrCat("http://127.0.0.1:", peer);
  ChildProcess etcd({kEtcdPath, "--name", "e1", "--data-dir", dir.path() + "/e1",
                     "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
                     "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                     "--initial-cluster", "e1=" + peer_url, "--log-level", "error"},
                    dir.path() + "/etcd.log");
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", client), grpc::InsecureChannelCredentials());
  auto kv = etcdserverpb::KV::NewStub(channel);
  auto lease = etcdserverpb::Lease::NewStub(channel);
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + 20s)) << etcd.Log();

  grpc::ClientContext grant_context;
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(600);
  etcdserverpb::LeaseGrantResponse granted;
  ASSERT_TRUE(lease->LeaseGrant(&grant_context, grant, &granted).ok());
  constexpr int kPuts = 1000;
  for (int i = 0; i < kPuts; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    etcdserverpb::PutRequest put;
    put.set_key(absl::StrCat("k/", i % 400));  // some keys written more than once
    put.set_value(absl::StrCat("value-", i));
    if (i == kPuts - 1) put.set_lease(granted.id());
    etcdserverpb::PutResponse done;
    ASSERT_TRUE(kv->Put(&context, put, &done).ok());
  }

  const std::string path = dir.path() + "/etcd.snapshot";
  Etcdctl(dir.path() + "/etcdctl.log", {"--endpoints", client_url, "snapshot", "save", path});
  auto source = ByteSource::OpenFile(path);
  ASSERT_TRUE(source.ok()) << source.status();
  const uint64_t file_size = (*source)->size();
  auto reader = BoltReader::Open(std::move(*source));
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE((*reader)->Check().ok());
  // The snapshot is the bbolt file with its SHA-256 appended.
  EXPECT_EQ((*reader)->page_count() * (*reader)->page_size() + 32, file_size);
  auto buckets = (*reader)->Buckets();
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  for (const char* name : {"key", "lease", "members", "meta"}) {
    EXPECT_NE(std::find(buckets->begin(), buckets->end(), name), buckets->end()) << name;
  }

  int64_t revisions = 0;
  int64_t previous = 0;
  mvccpb::KeyValue last;
  auto walked = (*reader)->ForEach("key", [&](std::string_view key, std::string_view value, bool) {
    EXPECT_EQ(key.size(), 17u);
    const int64_t revision = MainRevision(key);
    EXPECT_GT(revision, previous);
    previous = revision;
    mvccpb::KeyValue kv;
    EXPECT_TRUE(kv.ParseFromArray(value.data(), static_cast<int>(value.size())));
    EXPECT_EQ(kv.mod_revision(), revision);
    last = kv;
    ++revisions;
    return absl::OkStatus();
  });
  ASSERT_TRUE(walked.ok()) << walked;
  EXPECT_EQ(revisions, kPuts);
  EXPECT_EQ(last.key(), absl::StrCat("k/", (kPuts - 1) % 400));
  EXPECT_EQ(last.value(), absl::StrCat("value-", kPuts - 1));
  EXPECT_EQ(last.lease(), granted.id());
  EXPECT_EQ(last.version(), (kPuts - 1) / 400 + 1);

  int64_t leases = 0;
  auto leased = (*reader)->ForEach("lease", [&](std::string_view key, std::string_view, bool) {
    EXPECT_EQ(key.size(), 8u);
    ++leases;
    return absl::OkStatus();
  });
  ASSERT_TRUE(leased.ok()) << leased;
  EXPECT_EQ(leases, 1);
}

}  // namespace
}  // namespace quorum
