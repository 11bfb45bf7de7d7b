// MemberTest: three members in one process over a fake peer network, their Raft loops stepped
// by the test (no loop threads, no sockets, no sleeps), with helpers to elect a leader, propose
// and wait, all bounded by kMaxRounds turns. Shared by the member tests.
#ifndef QUORUM_TESTS_SERVER_MEMBER_TEST_CLUSTER_H_
#define QUORUM_TESTS_SERVER_MEMBER_TEST_CLUSTER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "proto/etcd_errors.h"
#include "server/member.h"
#include "storage/store_fixture.h"
#include "support/fake_transport.h"

namespace quorum::server {

constexpr int kMembers = 3;
// Turns of all three loops within which anything asked of the cluster must have happened.
constexpr int kMaxRounds = 300;

// What a completion delivered. Shared with the callback, which may run after the test gave up
// (a member that stops fails whatever still waits). A mutex rather than absl::Notification, whose
// lock-free fast path ThreadSanitizer cannot see through in Debian's uninstrumented Abseil.
template <typename T>
class Outcome {
 public:
  void Set(T value) {
    absl::MutexLock lock(&mu_);
    value_ = std::move(value);
    done_ = true;
  }
  bool Wait(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }
  T Take() {
    absl::MutexLock lock(&mu_);
    return std::move(value_);
  }

 private:
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  T value_ ABSL_GUARDED_BY(mu_);
};

template <typename T>
std::shared_ptr<Outcome<T>> NewOutcome() {
  return std::make_shared<Outcome<T>>();
}

class MemberTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < kMembers; ++i) {
      Config config;
      config.name = absl::StrCat("m", i);
      config.data_dir = absl::StrCat(dir_.path(), "/m", i);
      config.initial_cluster_token = "member-test";
      config.heartbeat_interval_ms = 100;
      config.election_timeout_ms = 1000;
      for (int j = 0; j < kMembers; ++j) {
        // Never dialled: the fake network routes by member id.
        Url url{.scheme = "http",
                .host = "127.0.0.1",
                .port = 30000 + j,
                .original = absl::StrCat("http://127.0.0.1:", 30000 + j)};
        config.initial_cluster.push_back({absl::StrCat("m", j), {url}});
        if (i == j) config.listen_peer_urls = {url};
      }
      MemberEnvironment environment;
      environment.raft_thread = false;
      environment.transport = [this](const PeerTransport::Options& options,
                                     PeerTransport::Callbacks callbacks)
          -> absl::StatusOr<std::unique_ptr<PeerTransport>> {
        return std::unique_ptr<PeerTransport>(network_.Join(options.self_id, std::move(callbacks)));
      };
      auto member = Member::Start(
          config, [this, i] { removed_[i] = true; }, environment);
      ASSERT_TRUE(member.ok()) << member.status();
      members_.push_back(*std::move(member));
    }
  }
  void TearDown() override { members_.clear(); }

  // One turn: every loop ticks once, then messages are exchanged until none are left.
  void Round(int ticks = 1) {
    for (auto& m : members_) m->StepRaft(ticks);
    for (int i = 0; i < 10 && network_.DeliverAll() > 0; ++i) {
      for (auto& m : members_) m->StepRaft(0);
    }
  }

  // Waits (bounded) until every member's apply thread has applied what its Raft loop knows to be
  // committed: the apply threads run on their own, the loops only when the test steps them.
  void Settle() {
    for (auto& m : members_) {
      auto applied = NewOutcome<absl::Status>();
      m->WaitApplied(absl::Now() + absl::Seconds(30),
                     [applied](absl::Status s) { applied->Set(std::move(s)); });
      ASSERT_TRUE(applied->Wait(absl::Seconds(30)));
    }
  }

  // Steps the cluster, letting every member apply after each turn, until `condition` holds.
  bool Eventually(const std::function<bool()>& condition) {
    for (int i = 0; i < kMaxRounds; ++i) {
      if (condition()) return true;
      Round(1);
      Settle();
    }
    return condition();
  }

  // Steps the cluster until `done` fires. Its completion runs on a member's apply thread, after
  // the apply step each turn waits for, or (a read) just after: each turn waits for it briefly.
  template <typename T>
  bool RunUntil(Outcome<T>& outcome) {
    for (int i = 0; i < kMaxRounds; ++i) {
      if (outcome.Wait(absl::ZeroDuration())) return true;
      Round(1);
      Settle();
      if (outcome.Wait(absl::Milliseconds(10))) return true;
    }
    return outcome.Wait(absl::ZeroDuration());
  }

  // Steps until every member knows the same leader; returns its index.
  int ElectLeader() {
    for (int round = 0; round < kMaxRounds; ++round) {
      Round(1);
      const uint64_t lead = members_[0]->leader_id();
      bool agreed = lead != 0;
      for (auto& m : members_) agreed = agreed && m->leader_id() == lead;
      if (!agreed) continue;
      for (int i = 0; i < kMembers; ++i) {
        if (members_[i]->member_id() == lead) return i;
      }
    }
    ADD_FAILURE() << "no leader after " << kMaxRounds << " rounds";
    return -1;
  }

  static internalpb::InternalRequest Put(const std::string& key, const std::string& value) {
    internalpb::InternalRequest request;
    request.mutable_put()->set_key(key);
    request.mutable_put()->set_value(value);
    return request;
  }

  // Proposes on member `i` and steps the cluster until the proposal is answered.
  ApplyResult ProposeAndWait(int i, internalpb::InternalRequest request) {
    auto outcome = NewOutcome<ApplyResult>();
    members_[i]->Propose(std::move(request), absl::Now() + absl::Seconds(60),
                         [outcome](ApplyResult r) { outcome->Set(std::move(r)); });
    if (!RunUntil(*outcome)) return ApplyResult{absl::DeadlineExceededError("no answer")};
    return outcome->Take();
  }

  int64_t ValueCount(int i, const std::string& key) {
    etcdserverpb::RangeRequest range;
    range.set_key(key);
    auto found = members_[i]->LocalRange(range);
    return found.ok() ? found->count() : -1;
  }

  storage::testing::TempDir dir_;
  testing::FakeNetwork network_;
  std::vector<std::unique_ptr<Member>> members_;
  std::atomic<bool> removed_[kMembers] = {};
};

}  // namespace quorum::server

#endif  // QUORUM_TESTS_SERVER_MEMBER_TEST_CLUSTER_H_
