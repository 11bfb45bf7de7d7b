// The path from commit to apply in a real 3-member cluster: a lease is usable through any member
// as soon as its grant is answered; an entry a member proposed before a crash completes no
// request of the restarted member; a member whose apply is stalled (test hook
// QUORUM_TEST_APPLY_STALL_FILE) refuses proposals with "too many requests", holds a bounded
// amount of memory, and applies every committed entry once the stall ends.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/support/cluster.h"

namespace quorum {
namespace {

using Clock = std::chrono::steady_clock;
using testing::TestCluster;

constexpr auto kWait = std::chrono::seconds(30);

std::shared_ptr<grpc::Channel> Dial(const TestCluster& cluster, int i) {
  return grpc::CreateChannel(cluster.spec(i).Endpoint(), grpc::InsecureChannelCredentials());
}

void SetDeadline(grpc::ClientContext* context, std::chrono::seconds timeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

// Resident memory of process `pid` in bytes (0 if unknown).
uint64_t ResidentBytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

int FollowerOf(TestCluster& cluster) {
  auto leader = cluster.WaitForLeader();
  if (!leader.has_value()) return -1;
  return (*leader + 1) % cluster.size();
}

// A member restarted with the apply stall hook armed; the stall begins when Stall() creates the
// file and ends when Resume() removes it.
class StalledMember {
 public:
  StalledMember(TestCluster& cluster, int member)
      : cluster_(cluster), member_(member), file_(cluster.dir() + "/stall-apply") {
    cluster_.Kill(member_);
    cluster_.SetEnv(member_, {"QUORUM_TEST_APPLY_STALL_FILE=" + file_});
    cluster_.Start(member_);
  }
  ~StalledMember() { Resume(); }

  void Stall() { std::ofstream(file_).put('x'); }
  void Resume() {
    std::error_code ec;
    std::filesystem::remove(file_, ec);
  }
  // Restarts the member (kill -9 first); the hook stays armed.
  void Restart() {
    cluster_.Kill(member_);
    cluster_.Start(member_);
  }

 private:
  TestCluster& cluster_;
  const int member_;
  const std::string file_;
};

// Grants through one member and, right after the answer, renews and looks the lease up through
// another: a follower may answer the grant before the leader (where renewals go) has applied it.
TEST(ApplyPathTest, LeaseIsUsableThroughAnyMemberRightAfterItsGrant) {
  TestCluster cluster(3);
  cluster.StartAll();
  ASSERT_TRUE(cluster.WaitForLeader().has_value());
  std::vector<std::unique_ptr<etcdserverpb::Lease::Stub>> stubs;
  for (int i = 0; i < cluster.size(); ++i)
    stubs.push_back(etcdserverpb::Lease::NewStub(Dial(cluster, i)));

  int renewed = 0, looked_up = 0, attempts = 0;
  for (int round = 0; round < 100; ++round) {
    for (int granter = 0; granter < cluster.size(); ++granter) {
      const int user = (granter + 1 + round % 2) % cluster.size();
      ++attempts;
      etcdserverpb::LeaseGrantRequest grant;
      grant.set_ttl(30);
      etcdserverpb::LeaseGrantResponse granted;
      grpc::ClientContext grant_context;
      SetDeadline(&grant_context, std::chrono::seconds(5));
      ASSERT_TRUE(stubs[granter]->LeaseGrant(&grant_context, grant, &granted).ok());

      grpc::ClientContext keep_context;
      SetDeadline(&keep_context, std::chrono::seconds(5));
      auto stream = stubs[user]->LeaseKeepAlive(&keep_context);
      etcdserverpb::LeaseKeepAliveRequest keep;
      keep.set_id(granted.id());
      etcdserverpb::LeaseKeepAliveResponse kept;
      ASSERT_TRUE(stream->Write(keep));
      ASSERT_TRUE(stream->Read(&kept));
      stream->WritesDone();
      ASSERT_TRUE(stream->Finish().ok());
      EXPECT_GT(kept.ttl(), 0) << "lease " << std::hex << granted.id() << " granted through m"
                               << granter + 1 << " was not found when renewed through m"
                               << user + 1;
      if (kept.ttl() > 0) ++renewed;

      etcdserverpb::LeaseTimeToLiveRequest ttl;
      ttl.set_id(granted.id());
      etcdserverpb::LeaseTimeToLiveResponse lived;
      grpc::ClientContext ttl_context;
      SetDeadline(&ttl_context, std::chrono::seconds(5));
      ASSERT_TRUE(
          stubs[(user + 1) % cluster.size()]->LeaseTimeToLive(&ttl_context, ttl, &lived).ok());
      EXPECT_GT(lived.ttl(), 0);
      if (lived.ttl() > 0) ++looked_up;

      etcdserverpb::LeaseRevokeRequest revoke;
      revoke.set_id(granted.id());
      etcdserverpb::LeaseRevokeResponse revoked;
      grpc::ClientContext revoke_context;
      SetDeadline(&revoke_context, std::chrono::seconds(5));
      ASSERT_TRUE(stubs[granter]->LeaseRevoke(&revoke_context, revoke, &revoked).ok());
    }
  }
  std::cout << attempts << " leases: " << renewed << " renewed and " << looked_up
            << " looked up through another member right after the grant\n";
}

// quorum-bench's lease churn through all three members: grant, one keep-alive through the next
// member, revoke; 16 clients. No operation may fail.
TEST(ApplyPathTest, LeaseChurnThroughAllMembersHasNoErrors) {
  TestCluster cluster(3);
  cluster.StartAll();
  ASSERT_TRUE(cluster.WaitForLeader().has_value());
  std::string endpoints;
  for (int i = 0; i < cluster.size(); ++i) {
    endpoints += (i ? "," : "") + cluster.spec(i).Endpoint();
  }
  const std::string command = std::string("timeout -k 5 60 ") + QUORUM_BENCH_PATH +
                              " lease-churn --endpoints " + endpoints +
                              " --conns 3 --clients 16 --duration 8s --format csv 2>&1";
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  const int status = pclose(pipe);
  std::cout << out;
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  // csv: a header line, then lease-churn,consistency,endpoints,conns,clients,val_size,ok,errors,...
  const size_t row = out.find("\nlease-churn,");
  ASSERT_NE(row, std::string::npos) << out;
  std::vector<std::string> fields;
  std::string field;
  for (size_t i = row + 1; i < out.size() && out[i] != '\n'; ++i) {
    if (out[i] == ',') {
      fields.push_back(field);
      field.clear();
    } else {
      field += out[i];
    }
  }
  fields.push_back(field);
  ASSERT_GT(fields.size(), 7u) << out;
  EXPECT_GT(std::stoll(fields[6]), 0) << "no operation succeeded";
  EXPECT_EQ(fields[7], "0") << "operations failed: " << out;
}

// Entries a member proposed before it was killed commit and are applied after its restart,
// while the restarted member waits on new requests of its own: no new request may be answered
// with an old entry's result. The stall hook keeps the old entries unapplied until the new
// requests are waiting.
TEST(ApplyPathTest, EntriesProposedBeforeACrashCompleteNoRequestAfterTheRestart) {
  TestCluster cluster(3);
  cluster.StartAll();
  const int member = FollowerOf(cluster);
  ASSERT_GE(member, 0);
  const int other = (member + 1) % cluster.size();
  StalledMember stalled(cluster, member);
  ASSERT_TRUE(cluster.Client(member).WaitLeader(kWait).ok());

  constexpr int kRequests = 20;
  stalled.Stall();
  {
    // Proposed through `member`: committed by the others, never applied there before the kill.
    client::KvClient shortlived(cluster.spec(member).Endpoint(), std::chrono::seconds(2));
    std::vector<std::thread> writers;
    for (int i = 0; i < kRequests; ++i) {
      writers.emplace_back(
          [&shortlived, i] { (void)shortlived.Put("old/" + std::to_string(i), "x"); });
    }
    for (auto& w : writers) w.join();
  }
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        etcdserverpb::RangeRequest all;
        all.set_key("old/");
        all.set_range_end("old0");
        all.set_count_only(true);
        auto r = cluster.Client(other).Range(all);
        return r.ok() && r->count() == kRequests;
      },
      kWait));

  stalled.Restart();
  // Proposals made before the member knows a leader would fail at once ("no leader").
  ASSERT_TRUE(cluster.Client(member).WaitLeader(kWait).ok());
  client::KvClient patient(cluster.spec(member).Endpoint(), std::chrono::seconds(30));
  std::vector<absl::StatusOr<etcdserverpb::PutResponse>> answers(kRequests);
  std::vector<std::thread> writers;
  for (int i = 0; i < kRequests; ++i) {
    writers.emplace_back(
        [&, i] { answers[i] = patient.Put("new/" + std::to_string(i), std::to_string(i)); });
  }
  // Once every new put is committed (seen elsewhere), every one of them waits on `member`.
  const bool committed = testing::WaitUntil(
      [&] {
        etcdserverpb::RangeRequest all;
        all.set_key("new/");
        all.set_range_end("new0");
        all.set_count_only(true);
        auto r = cluster.Client(other).Range(all);
        return r.ok() && r->count() == kRequests;
      },
      kWait);
  stalled.Resume();
  for (auto& w : writers) w.join();
  ASSERT_TRUE(committed) << "the new puts were not all committed";

  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(answers[i].ok()) << answers[i].status();
    etcdserverpb::RangeRequest get;
    get.set_key("new/" + std::to_string(i));
    auto found = cluster.Client(other).Range(get);
    ASSERT_TRUE(found.ok() && found->kvs_size() == 1);
    EXPECT_EQ(answers[i]->header().revision(), found->kvs(0).mod_revision())
        << "the put of new/" << i << " was answered with another entry's result";
  }
}

// A member whose apply thread stalls while the others take writes: it refuses proposals with
// etcd's "too many requests" once 5000 committed entries wait, its memory stops growing while
// the cluster goes on committing, and once the stall ends it applies everything and agrees
// with the others.
TEST(ApplyPathTest, StalledApplyRefusesProposalsStaysBoundedAndCatchesUp) {
  TestCluster cluster(3);
  cluster.StartAll();
  const int member = FollowerOf(cluster);
  ASSERT_GE(member, 0);
  auto leader = cluster.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  StalledMember stalled(cluster, member);
  ASSERT_TRUE(cluster.Client(member).WaitLeader(kWait).ok());
  stalled.Stall();

  // Writers through the leader until `stop`; `value` may change between phases.
  std::atomic<bool> stop{false};
  std::atomic<size_t> value_size{16};
  std::atomic<uint64_t> written_bytes{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      client::KvClient client(cluster.spec(*leader).Endpoint(), std::chrono::seconds(10));
      for (uint64_t n = 0; !stop.load(); ++n) {
        const size_t size = value_size.load();
        if (client
                .Put("load/" + std::to_string(t) + "/" + std::to_string(n % 500),
                     std::string(size, 'v'))
                .ok()) {
          written_bytes += size;
        }
      }
    });
  }
  // Whatever fails below, the writers stop and are joined.
  struct StopWriters {
    std::atomic<bool>& stop;
    std::vector<std::thread>& writers;
    ~StopWriters() {
      stop = true;
      for (auto& w : writers) {
        if (w.joinable()) w.join();
      }
    }
  } stop_writers{stop, writers};
  auto gap = [&] {
    auto s = cluster.Status(member);
    return s.ok()
               ? static_cast<int64_t>(s->raftindex()) - static_cast<int64_t>(s->raftappliedindex())
               : 0;
  };
  const bool behind = testing::WaitUntil([&] { return gap() > 5000; }, std::chrono::seconds(120));
  EXPECT_TRUE(behind) << "the stalled member never fell 5000 entries behind";

  // Refused at once, with etcd's error, instead of waiting for its deadline.
  const auto sent = Clock::now();
  auto refused = cluster.Client(member).Put("refused", "x");
  const auto took = Clock::now() - sent;
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(), "etcdserver: too many requests");
  EXPECT_LT(took, std::chrono::seconds(2));

  // Larger values now. Once the member's queues are full, its resident memory must stay where
  // it is however much more the cluster commits.
  value_size = 64 * 1024;
  const pid_t pid = cluster.Pid(member);
  auto write_more = [&](uint64_t bytes) {
    const uint64_t from = written_bytes.load();
    return testing::WaitUntil([&] { return written_bytes.load() - from >= bytes; },
                              std::chrono::seconds(180));
  };
  EXPECT_TRUE(write_more(128ull << 20));
  const uint64_t rss_full = ResidentBytes(pid);
  const uint64_t written_full = written_bytes.load();
  EXPECT_TRUE(write_more(256ull << 20));
  const uint64_t rss_after = ResidentBytes(pid);
  const uint64_t written = written_bytes.load() - written_full;
  stop = true;
  for (auto& w : writers) w.join();
  std::cout << "while stalled: after the first 128 MiB of 64 KiB values the stalled member's RSS "
            << "was " << (rss_full >> 20) << " MiB; after " << (written >> 20)
            << " MiB more it was " << (rss_after >> 20) << " MiB\n";
  EXPECT_LT(rss_after, rss_full + (48ull << 20));

  stalled.Resume();
  auto commit = cluster.Status(*leader);
  ASSERT_TRUE(commit.ok());
  ASSERT_TRUE(cluster.WaitApplied(member, commit->raftindex(), std::chrono::seconds(120)))
      << "the member did not apply everything after the stall";
  auto revision = cluster.Client(*leader).Status();
  ASSERT_TRUE(revision.ok());
  const int64_t rev = revision->header().revision();
  ASSERT_TRUE(cluster.WaitApplied(member, revision->raftindex(), kWait));
  auto want = cluster.HashKV(*leader, rev);
  auto got = cluster.HashKV(member, rev);
  ASSERT_TRUE(want.ok() && got.ok());
  EXPECT_EQ(*want, *got) << "the stalled member's state differs after catching up";
}

}  // namespace
}  // namespace quorum
