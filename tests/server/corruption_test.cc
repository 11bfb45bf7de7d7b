// Corruption checks on a 3-member cluster whose follower's data was altered while it was
// stopped (one stored value changed in place, as a bad disk or a stray tool would):
//   - with --experimental-initial-corrupt-check the altered member refuses to start, naming the
//     inconsistency, while an intact member restarts fine;
//   - with --experimental-corrupt-check-time the leader finds the mismatch and raises CORRUPT,
//     after which writes fail with etcd's "corrupt cluster" and reads go on, until the alarm is
//     disarmed.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <chrono>
#include <memory>
#include <string>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "mvccpb/kv.pb.h"
#include "storage/backend.h"
#include "tests/support/cluster.h"

namespace quorum {
namespace {

using std::chrono::seconds;
using testing::TestCluster;
using testing::WaitUntil;

// Changes the value of the first stored key-value record in member `i`'s data dir (stopped).
void AlterStoredValue(const TestCluster& cluster, int i) {
  storage::Backend::Options options;
  options.path = cluster.dir() + "/" + cluster.spec(i).name + "/member/db";
  auto backend = storage::Backend::Open(options);
  ASSERT_TRUE(backend.ok()) << backend.status();
  rocksdb::ColumnFamilyHandle* kv = (*backend)->Family(storage::ColumnFamily::kKv);
  std::unique_ptr<rocksdb::Iterator> it((*backend)->db()->NewIterator(rocksdb::ReadOptions(), kv));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    mvccpb::KeyValue record;
    if (!record.ParseFromString(it->value().ToString()) || record.value().empty()) continue;
    record.set_value(record.value() + "-altered");
    rocksdb::WriteBatch batch;
    batch.Put(kv, it->key(), record.SerializeAsString());
    ASSERT_TRUE((*backend)->Write(&batch).ok());
    return;
  }
  FAIL() << "no key-value record to alter in member " << i;
}

void WriteKeys(TestCluster& cluster, int via, int count) {
  for (int n = 0; n < count; ++n) {
    ASSERT_TRUE(cluster.Client(via).Put("key" + std::to_string(n), "value").ok());
  }
}

// Every member has applied what member `from` has.
void WaitAllApplied(TestCluster& cluster, int from) {
  auto status = cluster.Status(from);
  ASSERT_TRUE(status.ok());
  for (int i = 0; i < cluster.size(); ++i) {
    if (cluster.Running(i)) {
      ASSERT_TRUE(cluster.WaitApplied(i, status->raftindex(), seconds(20))) << "member " << i;
    }
  }
}

TEST(CorruptionTest, InitialCheckRefusesAMemberWhoseDataWasAltered) {
  TestCluster cluster(3, {"--experimental-initial-corrupt-check"});
  cluster.StartAll();
  auto leader = cluster.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  ASSERT_NO_FATAL_FAILURE(WriteKeys(cluster, *leader, 20));
  ASSERT_NO_FATAL_FAILURE(WaitAllApplied(cluster, *leader));
  const int altered = (*leader + 1) % 3;
  const int intact = (*leader + 2) % 3;
  cluster.Stop(altered);
  cluster.Stop(intact);
  ASSERT_NO_FATAL_FAILURE(AlterStoredValue(cluster, altered));
  // The intact member passes the check (its one peer up answers) and serves again.
  cluster.Start(intact);
  const std::string intact_log = cluster.Log(intact);  // both its starts passed the check
  const std::string passed = "initial corruption check passed";
  const size_t first = intact_log.find(passed);
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(intact_log.find(passed, first + 1), std::string::npos) << intact_log;
  cluster.Start(altered, /*wait_ready=*/false);
  auto exit = cluster.WaitExit(altered, std::chrono::seconds(30));
  ASSERT_TRUE(exit.has_value()) << "the altered member kept running:\n" << cluster.Log(altered);
  EXPECT_NE(*exit, 0);
  EXPECT_NE(cluster.Log(altered).find("found data inconsistency with peers"), std::string::npos)
      << cluster.Log(altered);
}

TEST(CorruptionTest, PeriodicCheckRaisesCorruptAndWritesStop) {
  TestCluster cluster(3, {"--experimental-corrupt-check-time", "1s"});
  cluster.StartAll();
  auto leader = cluster.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  ASSERT_NO_FATAL_FAILURE(WriteKeys(cluster, *leader, 20));
  ASSERT_NO_FATAL_FAILURE(WaitAllApplied(cluster, *leader));
  // Before any damage the checks find nothing.
  auto maintenance = etcdserverpb::Maintenance::NewStub(
      grpc::CreateChannel(cluster.spec(*leader).Endpoint(), grpc::InsecureChannelCredentials()));
  auto alarms = [&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(5));
    etcdserverpb::AlarmRequest request;
    request.set_action(etcdserverpb::AlarmRequest::GET);
    etcdserverpb::AlarmResponse response;
    grpc::Status status = maintenance->Alarm(&context, request, &response);
    return status.ok() ? response.alarms_size() : -1;
  };
  std::this_thread::sleep_for(seconds(3));  // three check periods pass with intact data
  ASSERT_EQ(alarms(), 0) << "an alarm on an intact cluster";

  const int altered = (*leader + 1) % 3;
  cluster.Stop(altered);
  ASSERT_NO_FATAL_FAILURE(AlterStoredValue(cluster, altered));
  cluster.Start(altered);
  ASSERT_TRUE(WaitUntil([&] { return alarms() == 1; }, seconds(20)))
      << "no CORRUPT alarm 20 s after the altered member came back";
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + seconds(5));
  etcdserverpb::AlarmRequest list;
  list.set_action(etcdserverpb::AlarmRequest::GET);
  etcdserverpb::AlarmResponse raised;
  ASSERT_TRUE(maintenance->Alarm(&context, list, &raised).ok());
  ASSERT_EQ(raised.alarms_size(), 1);
  EXPECT_EQ(raised.alarms(0).alarm(), etcdserverpb::CORRUPT);

  auto put = cluster.Client(*leader).Put("after", "v");
  EXPECT_FALSE(put.ok());
  EXPECT_EQ(put.status().message(), "etcdserver: corrupt cluster") << cluster.Log(*leader);
  auto get = cluster.Client(*leader).Get("key1");
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(*get, std::optional<std::string>("value"));

  // An operator who repaired the member disarms the alarm: writes go on. (The altered member
  // is stopped here, so the leader's next checks find nothing to raise it again.)
  cluster.Kill(altered);
  grpc::ClientContext disarm_context;
  disarm_context.set_deadline(std::chrono::system_clock::now() + seconds(5));
  etcdserverpb::AlarmRequest disarm;
  disarm.set_action(etcdserverpb::AlarmRequest::DEACTIVATE);
  disarm.set_memberid(raised.alarms(0).memberid());
  disarm.set_alarm(etcdserverpb::CORRUPT);
  etcdserverpb::AlarmResponse disarmed;
  ASSERT_TRUE(maintenance->Alarm(&disarm_context, disarm, &disarmed).ok());
  EXPECT_TRUE(cluster.Client(*leader).Put("after", "v").ok());
}

}  // namespace
}  // namespace quorum
