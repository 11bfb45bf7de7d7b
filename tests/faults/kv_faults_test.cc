// Concurrent clients against a 3- or 5-member cluster while members are killed (-9), paused
// (SIGSTOP) and restarted, the leader included, while a majority is down, and when every member
// is killed at once and the whole cluster restarts from its data dirs. Every get, put and
// compare-and-set is recorded with its call and return times, and the history is judged by the
// linearizability checker: no stale read, no acknowledged write lost, no compare-and-set won
// twice. At the end every member has the same HashKV.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/faults/linearizability.h"
#include "tests/support/cluster.h"

namespace quorum::faults {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::TestCluster;

constexpr int kClients = 6;
constexpr int kKeys = 16;
constexpr auto kOperationTimeout = 1500ms;

int64_t Now(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

// Records every operation of the run; one client per thread.
class History {
 public:
  void Add(Operation op) {
    std::lock_guard<std::mutex> lock(mu_);
    ops_.push_back(std::move(op));
  }
  std::vector<Operation> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return ops_;
  }

 private:
  std::mutex mu_;
  std::vector<Operation> ops_;
};

// One operation through member `stub`, recorded in `op` (kind, key, value, expected set).
grpc::Status Run(etcdserverpb::KV::Stub* stub, Clock::time_point start, Operation* op) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kOperationTimeout);
  op->call_ns = Now(start);
  grpc::Status status;
  switch (op->kind) {
    case Operation::Kind::kGet: {
      etcdserverpb::RangeRequest range;
      range.set_key(op->key);
      etcdserverpb::RangeResponse response;
      status = stub->Range(&context, range, &response);
      if (status.ok() && response.kvs_size() > 0) op->read = response.kvs(0).value();
      break;
    }
    case Operation::Kind::kPut: {
      etcdserverpb::PutRequest put;
      put.set_key(op->key);
      put.set_value(op->value);
      etcdserverpb::PutResponse response;
      status = stub->Put(&context, put, &response);
      break;
    }
    case Operation::Kind::kCas: {
      etcdserverpb::TxnRequest txn;
      auto* compare = txn.add_compare();
      compare->set_key(op->key);
      compare->set_result(etcdserverpb::Compare::EQUAL);
      if (op->expected.has_value()) {
        compare->set_target(etcdserverpb::Compare::VALUE);
        compare->set_value(*op->expected);
      } else {
        compare->set_target(etcdserverpb::Compare::CREATE);
        compare->set_create_revision(0);
      }
      auto* put = txn.add_success()->mutable_request_put();
      put->set_key(op->key);
      put->set_value(op->value);
      etcdserverpb::TxnResponse response;
      status = stub->Txn(&context, txn, &response);
      op->cas_succeeded = response.succeeded();
      break;
    }
  }
  op->return_ns = Now(start);
  // An error leaves a write's outcome unknown (it may have been committed before the answer was
  // lost) and a read's empty: the checker treats them so.
  op->completed = status.ok();
  return status;
}

// Errors that say the request never reached the log: the member had no leader to give it to,
// refused it for load, or the connection was never made. Such a write took no effect and
// leaves the history; every other error leaves it with an unknown outcome.
bool NeverApplied(const grpc::Status& status) {
  const std::string& message = status.error_message();
  return message == "etcdserver: no leader" || message == "etcdserver: too many requests" ||
         message.find("failed to connect to all addresses") != std::string::npos;
}

struct Nemesis {
  TestCluster* cluster;
  std::mt19937* random;
  std::vector<bool> paused;

  int Pick() { return static_cast<int>((*random)() % cluster->size()); }
  void Pause(int i) {
    kill(cluster->Pid(i), SIGSTOP);
    paused[i] = true;
  }
  void Resume(int i) {
    if (!paused[i]) return;
    kill(cluster->Pid(i), SIGCONT);
    paused[i] = false;
  }
  void ResumeAll() {
    for (int i = 0; i < cluster->size(); ++i) Resume(i);
  }
  // kill -9 to every running member before reaping any, so that none outlives the others by
  // more than the time between two kill(2) calls: the whole cluster loses power at once.
  void KillAll() {
    for (int i = 0; i < cluster->size(); ++i) {
      const pid_t pid = cluster->Pid(i);
      if (pid > 0) kill(pid, SIGKILL);
      paused[i] = false;
    }
    for (int i = 0; i < cluster->size(); ++i) cluster->Kill(i);
  }
  bool HealthyAgain() {
    ResumeAll();
    for (int i = 0; i < cluster->size(); ++i) {
      if (!cluster->Running(i)) cluster->Start(i, false);
    }
    return cluster->WaitForLeader(30s).has_value();
  }
};

void RunUnderFaults(int members, uint32_t seed) {
  TestCluster cluster(members, {"--heartbeat-interval", "50", "--election-timeout", "500"});
  cluster.StartAll();
  ASSERT_TRUE(cluster.WaitForLeader().has_value());
  // A restarted member must be reached again within a second: gRPC's reconnect backoff grows
  // to two minutes by default, and after the whole cluster was down every channel has failed.
  // (The minimum backoff stays: gRPC also takes it as the connect timeout, and at 100 ms a
  // loaded machine's handshakes were cut off.)
  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> stubs;
  for (int i = 0; i < members; ++i) {
    stubs.push_back(etcdserverpb::KV::NewStub(grpc::CreateCustomChannel(
        cluster.spec(i).Endpoint(), grpc::InsecureChannelCredentials(), channel_args)));
  }

  const Clock::time_point start = Clock::now();
  History history;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937 random(seed * 100 + c);
      std::vector<std::optional<std::string>> seen(kKeys);
      for (int n = 0; !stop.load(); ++n) {
        Operation op;
        op.client = c;
        const int key = static_cast<int>(random() % kKeys);
        op.key = absl::StrCat("key-", key);
        op.value = absl::StrCat("c", c, "-", n);
        const uint32_t dice = random() % 10;
        op.kind = dice < 4 ? Operation::Kind::kGet
                           : (dice < 7 ? Operation::Kind::kPut : Operation::Kind::kCas);
        op.expected = seen[key];
        const grpc::Status status = Run(stubs[random() % members].get(), start, &op);
        if (op.completed && op.kind == Operation::Kind::kGet) seen[key] = op.read;
        if (!status.ok() && NeverApplied(status)) continue;
        history.Add(std::move(op));
      }
    });
  }

  std::mt19937 random(seed);
  Nemesis nemesis{&cluster, &random, std::vector<bool>(members, false)};
  int faults = 0;
  auto settle = [&] { std::this_thread::sleep_for(1500ms); };
  for (int round = 0; round < 2; ++round) {
    // A follower or any member killed, then restarted from its data dir.
    int victim = nemesis.Pick();
    cluster.Kill(victim);
    ++faults;
    settle();
    ASSERT_TRUE(nemesis.HealthyAgain());
    // The leader killed: the others elect a new one; it comes back as a follower.
    auto leader = cluster.WaitForLeader(30s);
    ASSERT_TRUE(leader.has_value());
    cluster.Kill(*leader);
    ++faults;
    settle();
    ASSERT_TRUE(nemesis.HealthyAgain());
    // The leader paused: it must not answer from its stale view once it wakes.
    leader = cluster.WaitForLeader(30s);
    ASSERT_TRUE(leader.has_value());
    nemesis.Pause(*leader);
    ++faults;
    settle();
    ASSERT_TRUE(nemesis.HealthyAgain());
    // A majority down: writes fail until it returns; nothing acknowledged may be lost.
    const int first = nemesis.Pick();
    for (int k = 0; k < members / 2 + 1; ++k) {
      const int i = (first + k) % members;
      if (k % 2 == 0) {
        cluster.Kill(i);
      } else {
        nemesis.Pause(i);
      }
    }
    ++faults;
    settle();
    ASSERT_TRUE(nemesis.HealthyAgain());
    // Every member killed at once, all restarted from their data dirs: each acknowledged write
    // was on a majority's disk, so the restarted cluster must still hold it.
    nemesis.KillAll();
    ++faults;
    settle();
    ASSERT_TRUE(nemesis.HealthyAgain());
    settle();
  }
  stop = true;
  for (auto& client : clients) client.join();

  // Final reads through every member: the last acknowledged write of each key must be there.
  for (int i = 0; i < members; ++i) {
    for (int key = 0; key < kKeys; ++key) {
      Operation op;
      op.client = kClients + i;
      op.kind = Operation::Kind::kGet;
      op.key = absl::StrCat("key-", key);
      grpc::Status last;
      const Clock::time_point deadline = Clock::now() + 10s;
      while (Clock::now() < deadline) {
        last = Run(stubs[i].get(), start, &op);
        if (op.completed) break;
        std::this_thread::sleep_for(100ms);
      }
      if (!op.completed) {
        auto view = cluster.Status(i);
        ADD_FAILURE() << "member " << i << " does not answer reads: " << last.error_message()
                      << "; its status: "
                      << (view.ok() ? view->ShortDebugString() : view.status().ToString());
        // One member's account is enough; the others would repeat it for another minute.
        break;
      }
      history.Add(std::move(op));
    }
  }

  const std::vector<Operation> ops = history.Take();
  int64_t completed = 0;
  int64_t unknown_writes = 0;
  for (const Operation& op : ops) {
    if (op.completed) ++completed;
    if (!op.completed && op.kind != Operation::Kind::kGet) ++unknown_writes;
  }
  const CheckResult result = CheckLinearizable(ops);
  std::cout << members << " members, " << faults << " faults: " << ops.size() << " operations, "
            << completed << " answered, " << unknown_writes << " writes with unknown outcome, "
            << result.states << " search states\n";
  EXPECT_GT(completed, 500) << "too few operations answered to judge anything";
  ASSERT_EQ(result.verdict, CheckResult::Verdict::kLinearizable) << "key " << result.key << ":\n"
                                                                 << result.explanation;

  // Every member holds the same keyspace.
  auto status = cluster.Status(0);
  ASSERT_TRUE(status.ok());
  const int64_t revision = status->header().revision();
  std::optional<uint32_t> first_hash;
  for (int i = 0; i < members; ++i) {
    std::optional<uint32_t> hash;
    ASSERT_TRUE(testing::WaitUntil(
        [&] {
          auto h = cluster.HashKV(i, revision);
          if (h.ok()) hash = *h;
          return h.ok();
        },
        20s))
        << "member " << i;
    if (!first_hash) first_hash = hash;
    EXPECT_EQ(*hash, *first_hash) << "member " << i;
  }
}

TEST(KvFaultsTest, ThreeMembersUnderKillPauseAndLostQuorumStayLinearizable) {
  RunUnderFaults(3, 1);
}

TEST(KvFaultsTest, FiveMembersUnderKillPauseAndLostQuorumStayLinearizable) { RunUnderFaults(5, 2); }

}  // namespace
}  // namespace quorum::faults
