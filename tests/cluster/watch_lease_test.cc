// Watch and Lease across a real 3-member cluster: watchers on followers see every event once,
// in order, while the leader is killed; replay, prev_kv, compaction cancel and progress notify
// over gRPC; lease expiry deletes keys (with events) in time, keep-alive through a follower,
// TTL kept across a leader kill, and the revoke of a lease with 1,000 keys.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "proto/etcd_keys.h"
#include "tests/support/cluster.h"

namespace quorum {
namespace {

using Clock = std::chrono::steady_clock;
using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;
using testing::TestCluster;

constexpr auto kWait = std::chrono::seconds(20);

std::shared_ptr<grpc::Channel> Dial(const TestCluster& cluster, int i) {
  return grpc::CreateChannel(cluster.spec(i).Endpoint(), grpc::InsecureChannelCredentials());
}

// One watch stream to one member; a reader thread records every response.
class WatchStream {
 public:
  explicit WatchStream(std::shared_ptr<grpc::Channel> channel)
      : stub_(etcdserverpb::Watch::NewStub(channel)) {
    stream_ = stub_->Watch(&context_);
    reader_ = std::thread([this] {
      WatchResponse response;
      while (stream_->Read(&response)) {
        std::lock_guard<std::mutex> lock(mu_);
        responses_.push_back(response);
        cv_.notify_all();
      }
      std::lock_guard<std::mutex> lock(mu_);
      ended_ = true;
      cv_.notify_all();
    });
  }
  ~WatchStream() {
    context_.TryCancel();
    reader_.join();
  }

  void Send(const WatchRequest& request) { ASSERT_TRUE(stream_->Write(request)); }
  void Create(etcdserverpb::WatchCreateRequest create) {
    WatchRequest request;
    *request.mutable_create_request() = std::move(create);
    Send(request);
  }

  // Waits until `enough(responses)` or the wait passes; returns the responses so far.
  std::vector<WatchResponse> WaitFor(
      const std::function<bool(const std::vector<WatchResponse>&)>& enough,
      std::chrono::milliseconds wait = kWait) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, wait, [&] { return ended_ || enough(responses_); });
    return responses_;
  }
  std::vector<mvccpb::Event> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<mvccpb::Event> out;
    for (const auto& r : responses_) out.insert(out.end(), r.events().begin(), r.events().end());
    return out;
  }

 private:
  std::unique_ptr<etcdserverpb::Watch::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<WatchRequest, WatchResponse>> stream_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchResponse> responses_;
  bool ended_ = false;
};

size_t EventCount(const std::vector<WatchResponse>& responses) {
  size_t n = 0;
  for (const auto& r : responses) n += r.events_size();
  return n;
}

etcdserverpb::WatchCreateRequest Prefix(const std::string& prefix, int64_t start = 0) {
  etcdserverpb::WatchCreateRequest create;
  create.set_key(prefix);
  create.set_range_end(PrefixRangeEnd(prefix));
  create.set_start_revision(start);
  return create;
}

// A follower of the current leader.
int Follower(TestCluster& cluster, int leader) {
  for (int i = 0; i < cluster.size(); ++i) {
    if (i != leader && cluster.Running(i)) return i;
  }
  return -1;
}

class WatchLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_.StartAll();
    auto leader = cluster_.WaitForLeader();
    ASSERT_TRUE(leader.has_value());
    leader_ = *leader;
  }

  std::unique_ptr<etcdserverpb::Lease::Stub> LeaseStub(int i) {
    return etcdserverpb::Lease::NewStub(Dial(cluster_, i));
  }
  int64_t Grant(int i, int64_t ttl) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    etcdserverpb::LeaseGrantRequest request;
    request.set_ttl(ttl);
    etcdserverpb::LeaseGrantResponse response;
    grpc::Status status = LeaseStub(i)->LeaseGrant(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.id();
  }
  etcdserverpb::LeaseTimeToLiveResponse TimeToLive(int i, int64_t id) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    etcdserverpb::LeaseTimeToLiveRequest request;
    request.set_id(id);
    request.set_keys(true);
    etcdserverpb::LeaseTimeToLiveResponse response;
    grpc::Status status = LeaseStub(i)->LeaseTimeToLive(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  int64_t CountPrefix(int i, const std::string& prefix) {
    etcdserverpb::RangeRequest range;
    range.set_key(prefix);
    range.set_range_end(PrefixRangeEnd(prefix));
    range.set_count_only(true);
    auto response = cluster_.Client(i).Range(range);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->count() : -1;
  }

  TestCluster cluster_{3, {"--experimental-watch-progress-notify-interval", "300ms"}};
  int leader_ = -1;
};

TEST_F(WatchLeaseTest, WatchersSeeEveryEventOnceInOrderWhileTheLeaderIsKilled) {
  const int watched = Follower(cluster_, leader_);
  auto start = cluster_.Client(watched).Status();
  ASSERT_TRUE(start.ok());
  WatchStream watch(Dial(cluster_, watched));
  watch.Create(Prefix("w/"));
  ASSERT_EQ(watch.WaitFor([](const auto& r) { return !r.empty(); }).size(), 1u);

  // Writers on the two members that stay up; the leader is killed half-way.
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::vector<std::thread> writers;
  for (int i = 0; i < cluster_.size(); ++i) {
    if (i == leader_) continue;
    writers.emplace_back([&, i] {
      client::KvClient client(cluster_.spec(i).Endpoint(), std::chrono::seconds(3));
      for (int n = 0; !stop.load(); ++n) {
        if (client.Put("w/" + std::to_string(i) + "/" + std::to_string(n), "v").ok()) ++acked;
      }
    });
  }
  const auto wait_acked = [&](int target) {
    const auto deadline = Clock::now() + kWait;
    while (acked.load() < target && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return acked.load() >= target;
  };
  ASSERT_TRUE(wait_acked(200));
  cluster_.Kill(leader_);
  const int before_kill = acked.load();
  ASSERT_TRUE(wait_acked(before_kill + 200)) << "writes did not resume after the leader kill";
  stop = true;
  for (auto& t : writers) t.join();

  // The history as the surviving member's store has it is what the watcher must have seen:
  // the same events, once each, in revision order.
  auto status = cluster_.Client(watched).Status();
  ASSERT_TRUE(status.ok());
  WatchStream replay(Dial(cluster_, watched));
  replay.Create(Prefix("w/", start->header().revision() + 1));
  const int64_t last = status->header().revision();
  const auto reached = [last](const std::vector<WatchResponse>& r) {
    for (const auto& x : r) {
      if (x.events_size() > 0 && x.events(x.events_size() - 1).kv().mod_revision() >= last) {
        return true;
      }
    }
    return false;
  };
  replay.WaitFor(reached);
  watch.WaitFor(reached);
  std::vector<mvccpb::Event> seen = watch.Events();
  std::vector<mvccpb::Event> history = replay.Events();
  ASSERT_GE(history.size(), static_cast<size_t>(acked.load()));
  ASSERT_EQ(seen.size(), history.size());
  for (size_t i = 0; i < seen.size(); ++i) {
    ASSERT_EQ(seen[i].kv().key(), history[i].kv().key()) << i;
    ASSERT_EQ(seen[i].kv().mod_revision(), history[i].kv().mod_revision()) << i;
    if (i > 0) ASSERT_GT(seen[i].kv().mod_revision(), seen[i - 1].kv().mod_revision());
  }
  std::cout << "watched " << seen.size() << " events (" << acked.load()
            << " acknowledged puts) across a leader kill\n";
}

TEST_F(WatchLeaseTest, ReplayPrevKvCompactionCancelAndProgressOverGrpc) {
  const int member = Follower(cluster_, leader_);
  auto& kv = cluster_.Client(member);
  auto first = kv.Put("r/a", "1");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(kv.Put("r/a", "2").ok());
  ASSERT_TRUE(kv.Delete("r/a").ok());
  auto last = kv.Put("r/b", "3");
  ASSERT_TRUE(last.ok());

  WatchStream watch(Dial(cluster_, member));
  auto create = Prefix("r/", first->header().revision());
  create.set_prev_kv(true);
  watch.Create(create);
  auto got = watch.WaitFor([](const auto& r) { return EventCount(r) >= 4; });
  ASSERT_EQ(EventCount(got), 4u);
  std::vector<mvccpb::Event> events = watch.Events();
  EXPECT_EQ(events[1].kv().value(), "2");
  EXPECT_EQ(events[1].prev_kv().value(), "1");
  EXPECT_EQ(events[2].type(), mvccpb::Event::DELETE);
  EXPECT_EQ(events[2].prev_kv().value(), "2");
  EXPECT_FALSE(events[3].has_prev_kv());

  // Progress: an idle watcher that asked gets empty responses at the current revision.
  WatchStream idle(Dial(cluster_, member));
  auto quiet = Prefix("quiet/");
  quiet.set_progress_notify(true);
  idle.Create(quiet);
  auto progress = idle.WaitFor([](const auto& r) { return r.size() >= 2; });
  ASSERT_GE(progress.size(), 2u);
  EXPECT_EQ(progress[1].events_size(), 0);
  EXPECT_EQ(progress[1].header().revision(), last->header().revision());

  // Compaction: a watch from below the compacted revision is cancelled naming it. Compacted
  // through the watched member, whose answer comes once it has applied the compaction.
  etcdserverpb::CompactionRequest compact;
  compact.set_revision(last->header().revision());
  grpc::ClientContext context;
  etcdserverpb::CompactionResponse compacted;
  ASSERT_TRUE(etcdserverpb::KV::NewStub(Dial(cluster_, member))
                  ->Compact(&context, compact, &compacted)
                  .ok());
  WatchStream late(Dial(cluster_, member));
  late.Create(Prefix("r/", first->header().revision()));
  auto cancel = late.WaitFor([](const auto& r) { return r.size() >= 2; });
  ASSERT_EQ(cancel.size(), 2u);
  EXPECT_TRUE(cancel[0].created());
  EXPECT_TRUE(cancel[1].canceled());
  EXPECT_EQ(cancel[1].compact_revision(), last->header().revision());
}

TEST_F(WatchLeaseTest, ExpiredLeaseDeletesItsKeysWithEventsWithinTtlPlusElectionTimeout) {
  const int member = Follower(cluster_, leader_);
  WatchStream watch(Dial(cluster_, member));
  watch.Create(Prefix("exp/"));
  watch.WaitFor([](const auto& r) { return !r.empty(); });
  const auto granted_at = Clock::now();
  const int64_t lease = Grant(member, 2);
  for (const char* key : {"exp/a", "exp/b", "exp/c"}) {
    ASSERT_TRUE(cluster_.Client(member).Put(key, "v", lease).ok());
  }
  auto got = watch.WaitFor([](const auto& r) {
    int deletes = 0;
    for (const auto& x : r) {
      for (const auto& e : x.events()) deletes += e.type() == mvccpb::Event::DELETE;
    }
    return deletes == 3;
  });
  const auto elapsed = Clock::now() - granted_at;
  std::vector<mvccpb::Event> events = watch.Events();
  ASSERT_EQ(events.size(), 6u);
  // One revoke: the three deletes share one revision.
  EXPECT_EQ(events[3].kv().mod_revision(), events[5].kv().mod_revision());
  EXPECT_LE(elapsed, std::chrono::milliseconds(2000 + 1000));
  EXPECT_EQ(TimeToLive(member, lease).ttl(), -1);
  std::cout << "lease of 2 s expired after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms\n";
}

TEST_F(WatchLeaseTest, KeepAliveThroughAFollowerKeepsTheLease) {
  const int member = Follower(cluster_, leader_);
  const int64_t lease = Grant(member, 2);
  ASSERT_TRUE(cluster_.Client(member).Put("ka/key", "v", lease).ok());
  auto stub = LeaseStub(member);
  grpc::ClientContext context;
  auto stream = stub->LeaseKeepAlive(&context);
  const auto until = Clock::now() + std::chrono::seconds(5);
  int answered = 0;
  while (Clock::now() < until) {
    etcdserverpb::LeaseKeepAliveRequest request;
    request.set_id(lease);
    ASSERT_TRUE(stream->Write(request));
    etcdserverpb::LeaseKeepAliveResponse response;
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.id(), lease);
    EXPECT_EQ(response.ttl(), 2);
    ++answered;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_GE(answered, 8);
  // Past twice its TTL, kept alive from a follower: still there with its key.
  auto ttl = TimeToLive(member, lease);
  EXPECT_GT(ttl.ttl(), 0);
  ASSERT_EQ(ttl.keys_size(), 1);
  EXPECT_EQ(CountPrefix(member, "ka/"), 1);
  stream->WritesDone();
  context.TryCancel();
  // Without keep-alives it expires.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (CountPrefix(member, "ka/") != 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(CountPrefix(member, "ka/"), 0);
}

TEST_F(WatchLeaseTest, LeaseOutlivesALeaderKill) {
  const int member = Follower(cluster_, leader_);
  const auto granted_at = Clock::now();
  const int64_t lease = Grant(member, 6);
  ASSERT_TRUE(cluster_.Client(member).Put("ttl/key", "v", lease).ok());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  cluster_.Kill(leader_);
  auto new_leader = cluster_.WaitForLeader();
  ASSERT_TRUE(new_leader.has_value());
  // The new leader gave the lease its TTL again: past the original expiry it is still there.
  std::this_thread::sleep_until(granted_at + std::chrono::milliseconds(6500));
  auto ttl = TimeToLive(member, lease);
  EXPECT_GT(ttl.ttl(), 0) << "the lease expired because leadership moved";
  EXPECT_EQ(ttl.grantedttl(), 6);
  EXPECT_EQ(CountPrefix(member, "ttl/"), 1);
  // ... and it still expires without keep-alives (6 s + an election timeout after the change).
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  while (CountPrefix(member, "ttl/") != 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(CountPrefix(member, "ttl/"), 0);
}

TEST_F(WatchLeaseTest, RevokingALeaseWithAThousandKeysDeletesThemInOneRevision) {
  const int member = Follower(cluster_, leader_);
  const int64_t lease = Grant(member, 600);
  for (int batch = 0; batch < 10; ++batch) {
    etcdserverpb::TxnRequest txn;
    for (int i = 0; i < 100; ++i) {
      auto* put = txn.add_success()->mutable_request_put();
      put->set_key("many/" + std::to_string(batch * 100 + i));
      put->set_value("v");
      put->set_lease(lease);
    }
    ASSERT_TRUE(cluster_.Client(member).Txn(txn).ok());
  }
  ASSERT_EQ(CountPrefix(member, "many/"), 1000);
  EXPECT_EQ(TimeToLive(member, lease).keys_size(), 1000);
  WatchStream watch(Dial(cluster_, leader_));
  watch.Create(Prefix("many/"));
  watch.WaitFor([](const auto& r) { return !r.empty(); });

  grpc::ClientContext context;
  etcdserverpb::LeaseRevokeRequest revoke;
  revoke.set_id(lease);
  etcdserverpb::LeaseRevokeResponse revoked;
  ASSERT_TRUE(LeaseStub(member)->LeaseRevoke(&context, revoke, &revoked).ok());
  auto got = watch.WaitFor([](const auto& r) { return EventCount(r) >= 1000; });
  std::vector<mvccpb::Event> events = watch.Events();
  ASSERT_EQ(events.size(), 1000u);
  for (const auto& e : events) {
    EXPECT_EQ(e.type(), mvccpb::Event::DELETE);
    EXPECT_EQ(e.kv().mod_revision(), revoked.header().revision());
  }
  for (int i = 0; i < cluster_.size(); ++i) EXPECT_EQ(CountPrefix(i, "many/"), 0) << i;
  EXPECT_EQ(TimeToLive(member, lease).ttl(), -1);
}

}  // namespace
}  // namespace quorum
