// The backend quota: a write that would pass --quota-backend-bytes raises the NOSPACE alarm and
// is refused with etcd's error, reads and deletes still work, and the alarm survives a restart
// until an operator disarms it.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "client/kv_client.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/support/process.h"

namespace quorum {
namespace {

absl::StatusOr<etcdserverpb::AlarmResponse> Alarm(const std::string& endpoint,
                                                  etcdserverpb::AlarmRequest::AlarmAction action,
                                                  uint64_t member = 0) {
  auto stub = etcdserverpb::Maintenance::NewStub(
      grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  etcdserverpb::AlarmRequest request;
  request.set_action(action);
  request.set_memberid(member);
  request.set_alarm(action == etcdserverpb::AlarmRequest::GET ? etcdserverpb::NONE
                                                              : etcdserverpb::NOSPACE);
  etcdserverpb::AlarmResponse response;
  auto status = stub->Alarm(&context, request, &response);
  if (!status.ok()) return client::FromGrpc(status);
  return response;
}

TEST(Quota, FullBackendRaisesNoSpaceUntilDisarmed) {
  testing::TempDir dir;
  auto spec = testing::LoopbackCluster(1)[0];
  auto start = [&](const std::string& quota) {
    auto process = std::make_unique<testing::ChildProcess>(
        testing::QuorumdArgs(spec, {spec}, dir.path() + "/data", {"--quota-backend-bytes", quota}),
        dir.path() + "/quorumd.log");
    client::KvClient probe(spec.Endpoint());
    EXPECT_TRUE(probe.WaitLeader(std::chrono::seconds(20)).ok()) << process->Log();
    return process;
  };
  auto server = start("4194304");
  client::KvClient client(spec.Endpoint());

  const std::string value(16 * 1024, 'x');
  absl::Status refused;
  int written = 0;
  for (int i = 0; i < 1000 && refused.ok(); ++i) {
    auto put = client.Put("big/" + std::to_string(i), value);
    if (put.ok()) {
      ++written;
    } else {
      refused = put.status();
    }
  }
  ASSERT_FALSE(refused.ok()) << "4 MiB quota never reached after " << written << " puts";
  ASSERT_GT(written, 1);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.message(), "etcdserver: mvcc: database space exceeded");

  // The refusal raises the alarm through the log, as etcd does; it is listed once applied.
  absl::StatusOr<etcdserverpb::AlarmResponse> alarms;
  for (int i = 0; i < 250; ++i) {
    alarms = Alarm(spec.Endpoint(), etcdserverpb::AlarmRequest::GET);
    if (alarms.ok() && alarms->alarms_size() > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(alarms.ok()) << alarms.status();
  ASSERT_EQ(alarms->alarms_size(), 1);
  EXPECT_EQ(alarms->alarms(0).alarm(), etcdserverpb::NOSPACE);
  uint64_t member = alarms->alarms(0).memberid();

  // Reads and deletes still work; nothing written before the alarm is lost.
  auto got = client.Get("big/0");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, value);
  ASSERT_TRUE(client.Delete("big/0").ok());
  EXPECT_EQ(client.Put("small", "v").status().message(),
            "etcdserver: mvcc: database space exceeded");

  // The alarm is state: it survives a restart, even with a larger quota, until disarmed.
  server->Signal(SIGTERM);
  ASSERT_TRUE(server->WaitExit(std::chrono::seconds(15)).has_value());
  server = start("1073741824");
  EXPECT_EQ(client.Put("small", "v").status().message(),
            "etcdserver: mvcc: database space exceeded");
  auto disarmed = Alarm(spec.Endpoint(), etcdserverpb::AlarmRequest::DEACTIVATE, member);
  ASSERT_TRUE(disarmed.ok()) << disarmed.status();
  // etcd answers a disarm with the alarm it cleared, and a listing without it afterwards.
  ASSERT_EQ(disarmed->alarms_size(), 1);
  EXPECT_EQ(disarmed->alarms(0).alarm(), etcdserverpb::NOSPACE);
  auto listed = Alarm(spec.Endpoint(), etcdserverpb::AlarmRequest::GET);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->alarms_size(), 0);
  ASSERT_TRUE(client.Put("small", "v").ok());
  auto still = client.Get("big/" + std::to_string(written - 1));
  ASSERT_TRUE(still.ok() && still->has_value());
}

}  // namespace
}  // namespace quorum
