// kill -9 right after acknowledged writes: every acknowledged write is there after a restart.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "client/kv_client.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "storage/backend.h"
#include "storage/raft_log_store.h"
#include "tests/support/process.h"

namespace quorum {
namespace {

using testing::ChildProcess;
using testing::TempDir;

class Quorumd {
 public:
  explicit Quorumd(const std::string& dir)
      : dir_(dir), spec_(testing::LoopbackCluster(1)[0]), endpoint_(spec_.Endpoint()) {}

  void Start() {
    process_ = std::make_unique<ChildProcess>(testing::QuorumdArgs(spec_, {spec_}, dir_ + "/data"),
                                              dir_ + "/quorumd.log");
    client::KvClient probe(endpoint_);
    ASSERT_TRUE(probe.WaitLeader(std::chrono::seconds(20)).ok()) << process_->Log();
  }
  void Kill9() { process_->Kill(); }
  const std::string& endpoint() const { return endpoint_; }
  ChildProcess& process() { return *process_; }

 private:
  std::string dir_;
  testing::MemberSpec spec_;
  std::string endpoint_;
  std::unique_ptr<ChildProcess> process_;
};

TEST(Durability, AcknowledgedPutsSurviveKillNine) {
  TempDir dir;
  Quorumd server(dir.path());
  server.Start();

  constexpr int kWriters = 4;
  constexpr int kPerWriter = 150;
  std::vector<std::thread> writers;
  std::mutex mu;
  std::map<std::string, std::string> acknowledged;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      client::KvClient client(server.endpoint());
      for (int i = 0; i < kPerWriter; ++i) {
        std::string key = "w" + std::to_string(w) + "/k" + std::to_string(i);
        std::string value = "v" + std::to_string(i * 7919 + w);
        if (client.Put(key, value).ok()) {
          std::lock_guard<std::mutex> lock(mu);
          acknowledged[key] = value;
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  // The moment the last acknowledgement arrived: no graceful shutdown, no chance to flush.
  server.Kill9();
  ASSERT_EQ(acknowledged.size(), size_t{kWriters * kPerWriter});

  server.Start();
  client::KvClient client(server.endpoint());
  for (const auto& [key, value] : acknowledged) {
    auto got = client.Get(key);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value()) << key << " lost after kill -9";
    EXPECT_EQ(**got, value);
  }
  auto status = client.Status();
  ASSERT_TRUE(status.ok());
  // One revision per put after the initial revision 1: nothing applied twice, nothing lost.
  EXPECT_EQ(status->header().revision(), 1 + kWriters * kPerWriter);
}

TEST(Durability, WritesInFlightDuringKillNineLoseNoAcknowledgedOne) {
  TempDir dir;
  Quorumd server(dir.path());
  server.Start();

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, std::string> acknowledged;
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      client::KvClient client(server.endpoint(), std::chrono::seconds(2));
      for (int i = 0; !stop; ++i) {
        std::string key = "f" + std::to_string(w) + "/" + std::to_string(i);
        if (!client.Put(key, key).ok()) return;  // the server is gone
        std::lock_guard<std::mutex> lock(mu);
        acknowledged[key] = key;
      }
    });
  }
  // Kill while the writers are mid-stream, once a good number of writes went through.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (acknowledged.size() >= 300) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  server.Kill9();
  stop = true;
  for (auto& t : writers) t.join();
  ASSERT_GE(acknowledged.size(), 300u);

  server.Start();
  client::KvClient client(server.endpoint());
  for (const auto& [key, value] : acknowledged) {
    auto got = client.Get(key);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value()) << key << " lost after kill -9";
  }
}

// A committed entry this member cannot decode is never skipped: the member stops, saying which
// entry, instead of going on with a state the other members do not have.
TEST(Durability, UndecodableCommittedEntryStopsTheMember) {
  TempDir dir;
  Quorumd server(dir.path());
  server.Start();
  client::KvClient client(server.endpoint());
  ASSERT_TRUE(client.Put("before", "v").ok());
  server.process().Signal(SIGTERM);
  ASSERT_TRUE(server.process().WaitExit(std::chrono::seconds(15)).has_value());

  uint64_t bad_index = 0;
  {
    storage::Backend::Options options;
    options.path = dir.path() + "/data/member/db";
    auto backend = storage::Backend::Open(options);
    ASSERT_TRUE(backend.ok()) << backend.status();
    auto log = storage::RaftLogStore::Open(backend->get());
    ASSERT_TRUE(log.ok()) << log.status();
    auto last = (*log)->LastIndex();
    auto state = (*log)->InitialState();
    ASSERT_TRUE(last.ok() && state.ok());
    bad_index = *last + 1;
    raftpb::Entry entry;
    entry.set_index(bad_index);
    entry.set_term(state->hard_state.term());
    entry.set_type(raftpb::ENTRY_NORMAL);
    entry.set_data(std::string("\xff\xff\xff\xff not a request", 20));
    raftpb::HardState hard_state = state->hard_state;
    hard_state.set_commit(bad_index);
    ASSERT_TRUE((*log)->Save(std::nullopt, {entry}, hard_state, /*sync=*/true).ok());
  }

  const testing::MemberSpec spec = testing::LoopbackCluster(1)[0];
  auto restarted = std::make_unique<ChildProcess>(
      testing::QuorumdArgs(spec, {spec}, dir.path() + "/data"), dir.path() + "/restarted.log");
  std::optional<int> exit_code = restarted->WaitExit(std::chrono::seconds(20));
  ASSERT_TRUE(exit_code.has_value()) << "the member went on past an entry it cannot apply:\n"
                                     << restarted->Log();
  EXPECT_NE(*exit_code, 0);
  EXPECT_NE(
      restarted->Log().find("cannot apply committed entry at index " + std::to_string(bad_index)),
      std::string::npos)
      << restarted->Log();
}

// A backup being written (Maintenance.Snapshot) when the member is told to stop: the member
// finishes or drops it and exits cleanly; the backup's work never outlives the member.
TEST(Durability, MemberStoppedDuringABackupExitsCleanly) {
  TempDir dir;
  Quorumd server(dir.path());
  server.Start();
  client::KvClient client(server.endpoint());
  const std::string value(1024, 'v');
  for (int i = 0; i < 3000; ++i) ASSERT_TRUE(client.Put("k" + std::to_string(i), value).ok());

  auto channel = grpc::CreateChannel(server.endpoint(), grpc::InsecureChannelCredentials());
  auto stub = etcdserverpb::Maintenance::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto reader = stub->Snapshot(&context, etcdserverpb::SnapshotRequest());
  etcdserverpb::SnapshotResponse first;
  std::thread stopper([&] { server.process().Signal(SIGTERM); });
  (void)reader->Read(&first);
  stopper.join();
  std::optional<int> exit_code = server.process().WaitExit(std::chrono::seconds(20));
  ASSERT_TRUE(exit_code.has_value()) << server.process().Log();
  EXPECT_EQ(*exit_code, 0) << server.process().Log();
  context.TryCancel();
  etcdserverpb::SnapshotResponse rest;
  while (reader->Read(&rest)) {
  }
  (void)reader->Finish();
}

}  // namespace
}  // namespace quorum
