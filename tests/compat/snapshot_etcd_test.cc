// Snapshots between quorum and etcd 3.4, with etcd's own tools on etcd's side: `etcdctl snapshot
// save` from quorumd, then `etcdctl snapshot restore` and an etcd started on the result serves
// every key with its revisions, version and lease; and the way back, a snapshot of that etcd
// restored with quorumutl into quorumd, gives the same state again (and out to etcd once more),
// the next write included. An
// etcd backup of 100,000 keys with history, a compaction and leases restores into a 3-member
// quorum cluster whose every member has etcd's HashKV.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/compat/etcd_tools.h"
#include "tests/support/cluster.h"
#include "tests/support/process.h"

namespace quorum {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::Etcdctl;
using testing::FreeLoopbackPort;
using testing::kEtcdPath;
using testing::TempDir;
using testing::TestCluster;

// What a client can see of a store: every key with its revisions, version, value and lease,
// the store's revision, and each lease with its TTL and keys.
struct View {
  std::string keys;
  int64_t revision = 0;
  int64_t count = 0;
  std::string leases;
};

// With `keys` false, only the count of keys (a large store's keys do not fit one response).
View Look(const std::string& endpoint, bool keys = true) {
  auto channel = grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials());
  auto kv = etcdserverpb::KV::NewStub(channel);
  auto lease = etcdserverpb::Lease::NewStub(channel);
  View view;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  etcdserverpb::RangeRequest all;
  all.set_key(std::string(1, '\0'));
  all.set_range_end(std::string(1, '\0'));
  all.set_count_only(!keys);
  etcdserverpb::RangeResponse range;
  EXPECT_TRUE(kv->Range(&context, all, &range).ok());
  view.revision = range.header().revision();
  view.count = range.count();
  for (const auto& item : range.kvs()) {
    absl::StrAppend(&view.keys, item.key(), " create=", item.create_revision(),
                    " mod=", item.mod_revision(), " version=", item.version(),
                    " lease=", item.lease(), " value=", item.value(), "\n");
  }
  grpc::ClientContext list_context;
  etcdserverpb::LeaseLeasesResponse leases;
  EXPECT_TRUE(lease->LeaseLeases(&list_context, {}, &leases).ok());
  std::vector<int64_t> ids;
  for (const auto& l : leases.leases()) ids.push_back(l.id());
  std::sort(ids.begin(), ids.end());
  for (int64_t id : ids) {
    grpc::ClientContext ttl_context;
    etcdserverpb::LeaseTimeToLiveRequest request;
    request.set_id(id);
    request.set_keys(true);
    etcdserverpb::LeaseTimeToLiveResponse ttl;
    EXPECT_TRUE(lease->LeaseTimeToLive(&ttl_context, request, &ttl).ok());
    std::vector<std::string> keys(ttl.keys().begin(), ttl.keys().end());
    std::sort(keys.begin(), keys.end());
    absl::StrAppend(&view.leases, id, " granted=", ttl.grantedttl(), " keys=");
    for (const auto& key : keys) absl::StrAppend(&view.leases, key, ",");
    absl::StrAppend(&view.leases, "\n");
  }
  return view;
}

// A single etcd member on loopback serving `data_dir` (made by `etcdctl snapshot restore` with
// the same name and peer URL).
struct Etcd {
  Etcd(const TempDir& dir, const std::string& data_dir, int client, int peer)
      : endpoint(absl::StrCat("127.0.0.1:", client)),
        process({kEtcdPath, "--name", "e1", "--data-dir", data_dir, "--listen-client-urls",
                 absl::StrCat("http://", endpoint), "--advertise-client-urls",
                 absl::StrCat("http://", endpoint), "--listen-peer-urls",
                 absl::StrCat("http://127.0.0.1:", peer), "--initial-advertise-peer-urls",
                 absl::StrCat("http://127.0.0.1:", peer), "--initial-cluster",
                 absl::StrCat("e1=http://127.0.0.1:", peer), "--log-level", "error"},
                data_dir + ".log") {
    // Status answers without credentials (auth may be on) once the member has a leader.
    auto maintenance = etcdserverpb::Maintenance::NewStub(
        grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
    testing::WaitUntil(
        [&] {
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() + 1s);
          etcdserverpb::StatusResponse response;
          return maintenance->Status(&context, {}, &response).ok() && response.leader() != 0;
        },
        20s);
  }
  std::string endpoint;
  ChildProcess process;
};

void Fill(const std::string& endpoint) {
  auto channel = grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials());
  auto kv = etcdserverpb::KV::NewStub(channel);
  auto lease = etcdserverpb::Lease::NewStub(channel);
  grpc::ClientContext grant_context;
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(3600);
  etcdserverpb::LeaseGrantResponse granted;
  ASSERT_TRUE(lease->LeaseGrant(&grant_context, grant, &granted).ok());
  for (int i = 0; i < 300; ++i) {
    grpc::ClientContext context;
    etcdserverpb::PutRequest put;
    put.set_key(absl::StrCat("key/", i % 120));  // versions up to 3
    put.set_value(absl::StrCat("value-", i));
    if (i % 50 == 0) put.set_lease(granted.id());
    etcdserverpb::PutResponse done;
    ASSERT_TRUE(kv->Put(&context, put, &done).ok());
  }
  grpc::ClientContext delete_context;
  etcdserverpb::DeleteRangeRequest del;
  del.set_key("key/7");
  etcdserverpb::DeleteRangeResponse deleted;
  ASSERT_TRUE(kv->DeleteRange(&delete_context, del, &deleted).ok());
  grpc::ClientContext compact_context;
  etcdserverpb::CompactionRequest compact;
  compact.set_revision(150);
  etcdserverpb::CompactionResponse compacted;
  ASSERT_TRUE(kv->Compact(&compact_context, compact, &compacted).ok());
}

TEST(SnapshotEtcdTest, QuorumSnapshotRestoresIntoEtcdAndBackIntoQuorum) {
  TempDir dir;
  View original;
  const std::string from_quorum = dir.path() + "/from-quorum.db";
  {
    TestCluster quorum(1);
    quorum.StartAll();
    ASSERT_TRUE(quorum.WaitForLeader().has_value());
    Fill(quorum.spec(0).Endpoint());
    original = Look(quorum.spec(0).Endpoint());
    Etcdctl(dir.path() + "/save.log",
            {"--endpoints", quorum.spec(0).Endpoint(), "snapshot", "save", from_quorum});
  }
  EXPECT_EQ(original.revision, 302);
  const std::string status =
      Etcdctl(dir.path() + "/status.log", {"snapshot", "status", from_quorum, "-w", "json"});
  EXPECT_NE(status.find("\"revision\":302"), std::string::npos) << status;

  // etcd's restore, then etcd serving it.
  int client = FreeLoopbackPort();
  int peer = FreeLoopbackPort();
  const std::string etcd_dir = dir.path() + "/etcd";
  Etcdctl(dir.path() + "/restore.log",
          {"snapshot", "restore", from_quorum, "--data-dir", etcd_dir, "--name", "e1",
           "--initial-cluster", absl::StrCat("e1=http://127.0.0.1:", peer),
           "--initial-advertise-peer-urls", absl::StrCat("http://127.0.0.1:", peer)});
  const std::string from_etcd = dir.path() + "/from-etcd.db";
  {
    Etcd etcd(dir, etcd_dir, client, peer);
    const View served = Look(etcd.endpoint);
    EXPECT_EQ(served.keys, original.keys);
    EXPECT_EQ(served.revision, original.revision);
    EXPECT_EQ(served.leases, original.leases);
    Etcdctl(dir.path() + "/save-etcd.log",
            {"--endpoints", etcd.endpoint, "snapshot", "save", from_etcd});
  }

  // And back: etcd's snapshot restored with quorumutl into quorumd.
  TestCluster back(1);
  const std::string data_dir = back.dir() + "/" + back.spec(0).name;
  ChildProcess restore({QUORUM_QUORUMUTL_PATH, "snapshot", "restore", from_etcd, "--data-dir",
                        data_dir, "--name", back.spec(0).name, "--initial-cluster",
                        absl::StrCat(back.spec(0).name, "=", back.spec(0).PeerUrl()),
                        "--initial-advertise-peer-urls", back.spec(0).PeerUrl()},
                       dir.path() + "/quorumutl.log");
  auto code = restore.WaitExit(60s);
  ASSERT_TRUE(code.has_value() && *code == 0) << restore.Log();
  back.StartAll();
  ASSERT_TRUE(back.WaitForLeader().has_value());
  const View returned = Look(back.spec(0).Endpoint());
  EXPECT_EQ(returned.keys, original.keys);
  EXPECT_EQ(returned.revision, original.revision);
  EXPECT_EQ(returned.leases, original.leases);
  // Out to etcd once more: etcd -> quorum -> etcd loses nothing either.
  const std::string again = dir.path() + "/again.db";
  Etcdctl(dir.path() + "/save-again.log",
          {"--endpoints", back.spec(0).Endpoint(), "snapshot", "save", again});
  client = FreeLoopbackPort();
  peer = FreeLoopbackPort();
  Etcdctl(dir.path() + "/restore-again.log",
          {"snapshot", "restore", again, "--data-dir", dir.path() + "/etcd-again", "--name", "e1",
           "--initial-cluster", absl::StrCat("e1=http://127.0.0.1:", peer),
           "--initial-advertise-peer-urls", absl::StrCat("http://127.0.0.1:", peer)});
  {
    Etcd etcd(dir, dir.path() + "/etcd-again", client, peer);
    const View served = Look(etcd.endpoint);
    EXPECT_EQ(served.keys, original.keys);
    EXPECT_EQ(served.revision, original.revision);
    EXPECT_EQ(served.leases, original.leases);
  }
  // The next write gets the next revision.
  auto put = back.Client(0).Put("after", "restore");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->header().revision(), original.revision + 1);
}

// HashKV of the whole history at `revision` (etcd's hash; quorum computes the same one).
uint32_t HashAt(const std::string& endpoint, int64_t revision) {
  auto maintenance = etcdserverpb::Maintenance::NewStub(
      grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 30s);
  etcdserverpb::HashKVRequest request;
  request.set_revision(revision);
  etcdserverpb::HashKVResponse response;
  auto status = maintenance->HashKV(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.hash();
}

// An etcd cluster's backup moves into a 3-member quorum cluster: 100,000 keys written in
// transactions, some twice, a compaction, ten leases with keys. Every member serves the same
// history (etcd's HashKV), the same leases, and the next write gets the next revision.
TEST(SnapshotEtcdTest, EtcdBackupOfAHundredThousandKeysRestoresIntoAThreeMemberCluster) {
  TempDir dir;
  const int client = FreeLoopbackPort();
  const int peer = FreeLoopbackPort();
  const std::string backup = dir.path() + "/etcd.db";
  View original;
  uint32_t original_hash = 0;
  {
    Etcd etcd(dir, dir.path() + "/etcd", client, peer);
    auto channel = grpc::CreateChannel(etcd.endpoint, grpc::InsecureChannelCredentials());
    auto kv = etcdserverpb::KV::NewStub(channel);
    auto lease = etcdserverpb::Lease::NewStub(channel);
    std::vector<int64_t> leases;
    for (int i = 0; i < 10; ++i) {
      grpc::ClientContext context;
      etcdserverpb::LeaseGrantRequest grant;
      grant.set_ttl(3600 + i);
      etcdserverpb::LeaseGrantResponse granted;
      ASSERT_TRUE(lease->LeaseGrant(&context, grant, &granted).ok());
      leases.push_back(granted.id());
    }
    constexpr int kKeys = 100000;
    constexpr int kPerTxn = 100;
    // Every key once, then the first fifth again (a second version), with a compaction
    // between the two rounds.
    auto write = [&](int first, int last, const std::string& round) {
      for (int start = first; start < last; start += kPerTxn) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + 30s);
        etcdserverpb::TxnRequest txn;
        for (int i = start; i < std::min(last, start + kPerTxn); ++i) {
          auto* put = txn.add_success()->mutable_request_put();
          put->set_key(absl::StrCat("key/", i));
          put->set_value(absl::StrCat(round, "-", i));
          if (i % 1000 == 0) put->set_lease(leases[(i / 1000) % leases.size()]);
        }
        etcdserverpb::TxnResponse done;
        ASSERT_TRUE(kv->Txn(&context, txn, &done).ok());
      }
    };
    write(0, kKeys, "first");
    grpc::ClientContext compact_context;
    etcdserverpb::CompactionRequest compact;
    compact.set_revision(500);
    etcdserverpb::CompactionResponse compacted;
    ASSERT_TRUE(kv->Compact(&compact_context, compact, &compacted).ok());
    write(0, kKeys / 5, "second");
    original = Look(etcd.endpoint, /*keys=*/false);
    original_hash = HashAt(etcd.endpoint, original.revision);
    Etcdctl(dir.path() + "/save.log", {"--endpoints", etcd.endpoint, "snapshot", "save", backup});
  }
  EXPECT_EQ(original.revision, 1 + 1000 + 200);  // one revision per transaction
  EXPECT_EQ(original.count, 100000);

  TestCluster quorum(3);
  for (int i = 0; i < quorum.size(); ++i) {
    std::string initial_cluster;
    for (int j = 0; j < quorum.size(); ++j) {
      absl::StrAppend(&initial_cluster, j == 0 ? "" : ",", quorum.spec(j).name, "=",
                      quorum.spec(j).PeerUrl());
    }
    ChildProcess restore({QUORUM_QUORUMUTL_PATH, "snapshot", "restore", backup, "--data-dir",
                          quorum.dir() + "/" + quorum.spec(i).name, "--name", quorum.spec(i).name,
                          "--initial-cluster", initial_cluster, "--initial-advertise-peer-urls",
                          quorum.spec(i).PeerUrl()},
                         dir.path() + "/quorumutl-" + std::to_string(i) + ".log");
    auto code = restore.WaitExit(120s);
    ASSERT_TRUE(code.has_value() && *code == 0) << restore.Log();
  }
  quorum.StartAll();
  ASSERT_TRUE(quorum.WaitForLeader().has_value());
  for (int i = 0; i < quorum.size(); ++i) {
    SCOPED_TRACE(quorum.spec(i).name);
    const View served = Look(quorum.spec(i).Endpoint(), /*keys=*/false);
    EXPECT_EQ(served.revision, original.revision);
    EXPECT_EQ(served.count, original.count);
    EXPECT_EQ(served.leases, original.leases);
    EXPECT_EQ(HashAt(quorum.spec(i).Endpoint(), original.revision), original_hash);
  }
  auto put = quorum.Client(1).Put("after", "restore");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->header().revision(), original.revision + 1);
}

// What alice (read on "a/" only) and an anonymous caller may do on `endpoint`: auth is on.
void ExpectAuthKept(const TempDir& dir, const std::string& endpoint, const std::string& who) {
  SCOPED_TRACE(who);
  int runs = 0;
  auto get = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--endpoints", endpoint, "--command-timeout=5s"});
    return testing::RunEtcdctl(absl::StrCat(dir.path(), "/", who, "-", ++runs, ".log"), args);
  };
  auto allowed = get({"get", "a/1", "--print-value-only", "--user", "alice:alicepw"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
  EXPECT_EQ(allowed.output, "x\n");
  auto denied = get({"get", "b", "--user", "alice:alicepw"});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.output.find("permission denied"), std::string::npos) << denied.output;
  auto wrong = get({"get", "a/1", "--user", "alice:nope"});
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.output.find("authentication failed"), std::string::npos) << wrong.output;
  auto root = get({"user", "list", "--user", "root:rootpw"});
  EXPECT_EQ(root.exit_code, 0) << root.output;
  EXPECT_EQ(root.output, "alice\nroot\n");
}

// Users, roles, permissions and the auth switch travel in the snapshot (etcd's auth buckets):
// restored by quorumutl into quorumd and by etcd's restore into etcd, alice may still read
// "a/" only and the passwords still work.
TEST(SnapshotEtcdTest, AuthTravelsInTheSnapshotBothWays) {
  TempDir dir;
  const std::string file = dir.path() + "/auth.db";
  {
    TestCluster quorum(1);
    quorum.StartAll();
    ASSERT_TRUE(quorum.WaitForLeader().has_value());
    const std::string endpoint = quorum.spec(0).Endpoint();
    for (std::vector<std::string> step : std::vector<std::vector<std::string>>{
             {"user", "add", "root:rootpw"},
             {"user", "add", "alice:alicepw"},
             {"role", "add", "reader"},
             {"role", "grant-permission", "reader", "read", "a/", "--prefix"},
             {"user", "grant-role", "alice", "reader"},
             {"put", "a/1", "x"},
             {"put", "b", "y"},
             {"auth", "enable"},
             {"snapshot", "save", file, "--user", "root:rootpw"}}) {
      step.insert(step.begin(), {"--endpoints", endpoint});
      Etcdctl(dir.path() + "/setup.log", step);
    }
    ExpectAuthKept(dir, endpoint, "source");
  }

  TestCluster back(1);
  const std::string data_dir = back.dir() + "/" + back.spec(0).name;
  ChildProcess restore({QUORUM_QUORUMUTL_PATH, "snapshot", "restore", file, "--data-dir", data_dir,
                        "--name", back.spec(0).name},
                       dir.path() + "/quorumutl.log");
  auto code = restore.WaitExit(60s);
  ASSERT_TRUE(code.has_value() && *code == 0) << restore.Log();
  back.StartAll();
  ASSERT_TRUE(back.WaitForLeader().has_value());
  ExpectAuthKept(dir, back.spec(0).Endpoint(), "quorum-restored");

  const int client = FreeLoopbackPort();
  const int peer = FreeLoopbackPort();
  Etcdctl(dir.path() + "/restore.log",
          {"snapshot", "restore", file, "--data-dir", dir.path() + "/etcd", "--name", "e1",
           "--initial-cluster", absl::StrCat("e1=http://127.0.0.1:", peer),
           "--initial-advertise-peer-urls", absl::StrCat("http://127.0.0.1:", peer)});
  Etcd etcd(dir, dir.path() + "/etcd", client, peer);
  ExpectAuthKept(dir, etcd.endpoint, "etcd-restored");
}

}  // namespace
}  // namespace quorum
