// Three members in one process over a fake peer network, their Raft loops stepped by the test
// (no loop threads, no sockets, no sleeps): a write on a follower is forwarded, committed and
// answered, and every member applies it; a write before any leader is refused with etcd's
// error; a linearizable read on a follower sees what was committed before it; a membership
// change reaches every member's list.
#include "server/member.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "proto/etcd_errors.h"
#include "storage/store_fixture.h"
#include "support/fake_transport.h"

namespace quorum::server {
namespace {

constexpr int kMembers = 3;
// Turns of all three loops within which anything asked of the cluster must have happened.
constexpr int kMaxRounds = 500;

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

  // Steps the cluster until `done` fires (its completion runs on a member's apply thread).
  bool RunUntil(absl::Notification& done) {
    for (int i = 0; i < kMaxRounds; ++i) {
      if (done.WaitForNotificationWithTimeout(absl::Milliseconds(2))) return true;
      Round(1);
    }
    return done.HasBeenNotified();
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
    absl::Notification done;
    ApplyResult result;
    members_[i]->Propose(std::move(request), absl::Now() + absl::Seconds(60), [&](ApplyResult r) {
      result = std::move(r);
      done.Notify();
    });
    EXPECT_TRUE(RunUntil(done)) << "proposal never answered";
    return result;
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

TEST_F(MemberTest, AWriteOnAFollowerIsForwardedCommittedAndAppliedEverywhere) {
  const int leader = ElectLeader();
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % kMembers;
  ApplyResult result = ProposeAndWait(follower, Put("k", "v"));
  ASSERT_TRUE(result.status.ok()) << result.status;
  auto* put = CheckedResponse<etcdserverpb::PutResponse>(result.response.get());
  EXPECT_GE(put->header().revision(), 2);
  // Every member applies it; the commit reaches the others with the next heartbeats.
  for (int round = 0; round < kMaxRounds; ++round) {
    bool everywhere = true;
    for (int i = 0; i < kMembers; ++i) everywhere = everywhere && ValueCount(i, "k") == 1;
    if (everywhere) break;
    Round(1);
  }
  for (int i = 0; i < kMembers; ++i) EXPECT_EQ(ValueCount(i, "k"), 1) << "member " << i;
}

TEST_F(MemberTest, AWriteBeforeAnyLeaderIsRefusedWithNoLeader) {
  absl::Notification done;
  absl::Status status;
  members_[0]->Propose(Put("k", "v"), absl::Now() + absl::Seconds(60), [&](ApplyResult r) {
    status = r.status;
    done.Notify();
  });
  members_[0]->StepRaft(0);  // Raft refuses it at once: nobody to forward it to
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(status.message(), ErrNoLeader().message());
}

TEST_F(MemberTest, AFollowersLinearizableReadSeesWritesCommittedBeforeIt) {
  const int leader = ElectLeader();
  ASSERT_GE(leader, 0);
  ASSERT_TRUE(ProposeAndWait(leader, Put("k", "v1")).status.ok());
  const int follower = (leader + 2) % kMembers;
  absl::Notification ready;
  absl::Status status;
  members_[follower]->ReadBarrier(absl::Now() + absl::Seconds(60), [&](absl::Status s) {
    status = s;
    ready.Notify();
  });
  ASSERT_TRUE(RunUntil(ready));
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(ValueCount(follower, "k"), 1);
}

TEST_F(MemberTest, AnAddedLearnerIsListedByEveryMember) {
  const int leader = ElectLeader();
  ASSERT_GE(leader, 0);
  etcdserverpb::Member learner;
  learner.set_id(0xabcdef);
  learner.add_peerurls("http://127.0.0.1:30099");
  learner.set_islearner(true);
  absl::Notification done;
  absl::Status status;
  members_[(leader + 1) % kMembers]->AddMember(learner, absl::Now() + absl::Seconds(60),
                                               [&](ApplyResult r) {
                                                 status = r.status;
                                                 done.Notify();
                                               });
  ASSERT_TRUE(RunUntil(done));
  ASSERT_TRUE(status.ok()) << status;
  for (int round = 0; round < kMaxRounds; ++round) {
    bool everywhere = true;
    for (auto& m : members_) everywhere = everywhere && m->Members().size() == kMembers + 1;
    if (everywhere) break;
    Round(1);
  }
  for (auto& m : members_) {
    std::vector<etcdserverpb::Member> list = m->Members();
    ASSERT_EQ(list.size(), static_cast<size_t>(kMembers + 1));
    bool found = false;
    for (const auto& x : list) found = found || (x.id() == 0xabcdef && x.islearner());
    EXPECT_TRUE(found);
  }
  for (const auto& removed : removed_) EXPECT_FALSE(removed.load());
}

}  // namespace
}  // namespace quorum::server
