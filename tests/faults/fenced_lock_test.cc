// A lock from the Lock service (v3lockpb) is not a mutex on its own: a holder whose process
// pauses past its lease's TTL loses the lock while it still believes it holds it, and its late
// write lands on top of the next holder's (Jepsen's analysis of etcd 3.4.3). Workers here add one
// to a counter under the lock, each with its own short lease and keep-alive loop; some rounds a
// worker "pauses": its keep-alive stops and it writes only after it has seen another worker read
// the counter under the lock, so its write overlaps another holder every time.
//
// Unfenced (plain Put), the pauses lose increments. Fenced, the write is a Txn whose compare
// checks the fencing token (the lock key's create revision: the key still exists, so this holder
// still owns the lock) and that the counter is unchanged since it was read; a paused holder's
// write is refused, and the counter equals the increments acknowledged, also across the kill of a
// follower and of the leader. A fenced write whose answer is lost (an RPC error) is sent again
// until it is decided: the counter's mod-revision compare lets at most one copy apply, and a
// per-worker key written in the same Txn tells, after a refusal, whether an earlier copy did
// (FencedIncrement).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "client/lease_keeper.h"
#include "tests/support/cluster.h"

namespace quorum::faults {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::TestCluster;
using testing::WaitUntil;

constexpr int kWorkers = 3;
constexpr int64_t kLeaseTtlSeconds = 2;
// Pauses forced per variant (each costs about one lease TTL) and rounds run at least.
constexpr int kPauses = 5;
constexpr int kMinRounds = 60;
// A worker pauses on every kPauseEvery-th round of its own until kPauses were taken.
constexpr int kPauseEvery = 4;
constexpr auto kLockTimeout = 20s;
// A paused worker waits at most this long for another holder's read (lease expiry, the
// revocation and the next Lock take about one TTL).
constexpr auto kOverlapWait = 20s;
// How long one write may stay undecided across member failures, and the whole run.
constexpr auto kWriteDeadline = 30s;
constexpr auto kRunDeadline = 150s;

constexpr char kLockName[] = "fenced/lock";
constexpr char kCounterKey[] = "fenced/counter";

// Written in the same Txn as the counter: the round of this worker's last applied increment.
// Only that worker writes it, so re-reading it tells whether a write whose answer was lost
// took effect.
std::string AppliedKey(int worker) { return absl::StrCat("fenced/applied/", worker); }

enum class Mode { kUnfenced, kFenced };

struct Tally {
  std::atomic<int64_t> rounds{0};  // rounds that took the lock
  // Counter reads made under the lock; a paused worker waits until this passes its own read.
  std::atomic<int64_t> reads{0};
  std::atomic<int64_t> acknowledged{0};  // increments the cluster acknowledged
  std::atomic<int64_t> rejected{0};      // fenced writes whose compare failed
  std::atomic<int64_t> paused_rejected{0};
  std::atomic<int64_t> paused_applied{0};
  std::atomic<int64_t> unknown{0};   // unfenced writes answered with an error
  std::atomic<int64_t> resolved{0};  // fenced writes decided after an error
  std::atomic<int> pause_slots{0};
  std::atomic<int> pauses_done{0};
  std::atomic<bool> faults_done{false};

  bool Finished() const {
    return pauses_done.load() >= kPauses && rounds.load() >= kMinRounds && faults_done.load();
  }
};

// The counter's value and mod revision (0 and 0 before the first write).
struct CounterRead {
  int64_t value = 0;
  int64_t mod_revision = 0;
};

absl::StatusOr<CounterRead> ReadCounter(client::Client& client) {
  auto response = client.Get(kCounterKey);
  if (!response.ok()) return response.status();
  CounterRead read;
  if (response->kvs_size() > 0) {
    if (!absl::SimpleAtoi(response->kvs(0).value(), &read.value)) {
      return absl::InternalError("counter is not a number");
    }
    read.mod_revision = response->kvs(0).mod_revision();
  }
  return read;
}

// The lock key's create revision, the fencing token; 0 when the key is gone (lock lost).
absl::StatusOr<int64_t> FencingToken(client::Client& client, const std::string& lock_key) {
  auto response = client.Get(lock_key);
  if (!response.ok()) return response.status();
  return response->kvs_size() > 0 ? response->kvs(0).create_revision() : 0;
}

enum class Outcome { kApplied, kRejected };

// Writes counter+1 only if the lock key still has create revision `token` and the counter is
// unchanged since `read`. An error leaves the outcome unknown; the same Txn is sent again, which
// is safe: had an earlier copy applied, the counter's mod revision moved and this one fails its
// compare. A failed compare then reads the worker's applied key to tell "an earlier copy of mine
// applied" from "stale, refused". Both compare conditions only ever turn false for good (the lock
// key never returns with the same create revision, mod revisions only grow), so no copy still in
// flight can apply after a refusal was seen.
absl::StatusOr<Outcome> FencedIncrement(client::Client& client, int worker, int64_t round,
                                        const std::string& lock_key, int64_t token,
                                        const CounterRead& read, bool* had_error) {
  etcdserverpb::TxnRequest txn;
  auto* owner = txn.add_compare();
  owner->set_key(lock_key);
  owner->set_target(etcdserverpb::Compare::CREATE);
  owner->set_result(etcdserverpb::Compare::EQUAL);
  owner->set_create_revision(token);
  auto* unchanged = txn.add_compare();
  unchanged->set_key(kCounterKey);
  unchanged->set_target(etcdserverpb::Compare::MOD);
  unchanged->set_result(etcdserverpb::Compare::EQUAL);
  unchanged->set_mod_revision(read.mod_revision);
  auto* counter = txn.add_success()->mutable_request_put();
  counter->set_key(kCounterKey);
  counter->set_value(absl::StrCat(read.value + 1));
  auto* applied = txn.add_success()->mutable_request_put();
  applied->set_key(AppliedKey(worker));
  applied->set_value(absl::StrCat(round));

  const Clock::time_point deadline = Clock::now() + kWriteDeadline;
  while (Clock::now() < deadline) {
    auto response = client.Txn(txn);
    if (!response.ok()) {
      *had_error = true;
      std::this_thread::sleep_for(100ms);
      continue;
    }
    if (response->succeeded()) return Outcome::kApplied;
    auto mine = client.Get(AppliedKey(worker));
    if (!mine.ok()) {
      *had_error = true;
      continue;
    }
    const bool applied_before = mine->kvs_size() > 0 && mine->kvs(0).value() == absl::StrCat(round);
    return applied_before ? Outcome::kApplied : Outcome::kRejected;
  }
  return absl::DeadlineExceededError("fenced write undecided");
}

// One worker: its own client, lease and keep-alive loop; Lock, read, (pause,) write, Unlock
// until the run is finished. Failures are reported with ADD_FAILURE and end the worker.
void RunWorker(int worker, const std::vector<std::string>& endpoints, Mode mode, Tally* tally,
               Clock::time_point run_deadline) {
  client::Client client(client::ClientOptions{.endpoints = endpoints, .request_timeout = 5s});
  std::unique_ptr<client::LeaseKeeper> keeper;
  for (int64_t round = 0; !tally->Finished(); ++round) {
    if (Clock::now() > run_deadline) {
      ADD_FAILURE() << "worker " << worker << " still running at the run deadline";
      return;
    }
    if (keeper == nullptr || !keeper->alive()) {
      keeper.reset();
      auto lease = client.LeaseGrant(kLeaseTtlSeconds);
      if (!lease.ok()) {
        std::this_thread::sleep_for(100ms);
        continue;
      }
      keeper = client.KeepAlive(lease->id());
    }
    auto lock_key = client.Lock(kLockName, keeper->id(), kLockTimeout);
    if (!lock_key.ok()) {
      // The lease may be gone (expired during a member failure); the next round checks.
      std::this_thread::sleep_for(100ms);
      continue;
    }
    tally->rounds++;
    auto token = FencingToken(client, *lock_key);
    auto read = ReadCounter(client);
    if (token.ok() && *token != 0 && read.ok()) {
      const int64_t my_read = ++tally->reads;
      const bool pause =
          round % kPauseEvery == kPauseEvery - 1 && tally->pause_slots.fetch_add(1) < kPauses;
      if (pause) {
        // The process stops: its keep-alive loop with it. It resumes, and writes, only once
        // another worker has read the counter under the lock, which it can only have taken
        // after this worker's lease expired.
        keeper.reset();
        // (Its own key gone too: the other holder's lease, not this one, could in principle
        // have been the one to lapse between its Lock and its read.)
        const bool overlapped = WaitUntil(
            [&] {
              if (tally->reads.load() <= my_read) return false;
              auto mine = FencingToken(client, *lock_key);
              return mine.ok() && *mine == 0;
            },
            kOverlapWait);
        if (!overlapped) {
          ADD_FAILURE() << "worker " << worker << ": no other holder within "
                        << kOverlapWait.count() << " s of a pause";
          return;
        }
      }
      if (mode == Mode::kUnfenced) {
        if (client.Put(kCounterKey, absl::StrCat(read->value + 1)).ok()) {
          tally->acknowledged++;
        } else {
          tally->unknown++;
        }
      } else {
        bool had_error = false;
        auto outcome = FencedIncrement(client, worker, round, *lock_key, *token, *read, &had_error);
        if (!outcome.ok()) {
          ADD_FAILURE() << "worker " << worker << ": " << outcome.status();
          return;
        }
        if (had_error) tally->resolved++;
        if (*outcome == Outcome::kApplied) {
          tally->acknowledged++;
          if (pause) tally->paused_applied++;
        } else {
          tally->rejected++;
          if (pause) tally->paused_rejected++;
        }
      }
      if (pause) tally->pauses_done++;
    }
    // Unlock deletes the key; repeating it is harmless. A lock key left behind only delays the
    // others until the lease expires.
    WaitUntil([&] { return client.Unlock(*lock_key).ok(); }, 10s);
  }
}

struct VariantResult {
  int64_t final_counter = 0;
};

// Runs the workers on `cluster` in `mode`; with `faults`, kills a follower and then the leader
// (-9) while they run and restarts each from its data dir.
void RunVariant(TestCluster& cluster, Mode mode, bool faults, Tally* tally, VariantResult* result) {
  std::vector<std::string> endpoints;
  for (int i = 0; i < cluster.size(); ++i) endpoints.push_back(cluster.spec(i).Endpoint());
  client::Client setup(client::ClientOptions{.endpoints = endpoints});
  ASSERT_TRUE(WaitUntil([&] { return setup.Put(kCounterKey, "0").ok(); }, 20s));

  const Clock::time_point run_deadline = Clock::now() + kRunDeadline;
  if (!faults) tally->faults_done = true;
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] { RunWorker(w, endpoints, mode, tally, run_deadline); });
  }
  if (faults) {
    // Each member failure lasts until the workers acknowledged a few more increments without it.
    auto progress = [&](int64_t more) {
      const int64_t target = tally->acknowledged.load() + more;
      return WaitUntil([&] { return tally->acknowledged.load() >= target; }, 30s);
    };
    EXPECT_TRUE(progress(5));
    auto leader = cluster.WaitForLeader(20s);
    EXPECT_TRUE(leader.has_value());
    const int follower = (leader.value_or(0) + 1) % cluster.size();
    cluster.Kill(follower);
    EXPECT_TRUE(progress(5)) << "no progress with a follower down";
    cluster.Start(follower, false);
    leader = cluster.WaitForLeader(30s);
    EXPECT_TRUE(leader.has_value());
    EXPECT_TRUE(progress(5));
    if (leader.has_value()) {
      cluster.Kill(*leader);
      EXPECT_TRUE(progress(5)) << "no progress after the leader's kill";
      cluster.Start(*leader, false);
    }
    EXPECT_TRUE(cluster.WaitForLeader(30s).has_value());
    tally->faults_done = true;
  }
  for (auto& worker : workers) worker.join();

  absl::StatusOr<CounterRead> final_read = absl::UnknownError("not read");
  ASSERT_TRUE(WaitUntil(
      [&] {
        final_read = ReadCounter(setup);
        return final_read.ok();
      },
      20s))
      << final_read.status();
  result->final_counter = final_read->value;
}

void Report(const char* name, const Tally& tally, const VariantResult& result) {
  std::cout << name << ": " << tally.rounds.load() << " rounds under the lock, "
            << tally.pauses_done.load() << " pauses, " << tally.acknowledged.load()
            << " increments acknowledged, final counter " << result.final_counter
            << ", lost updates " << tally.acknowledged.load() - result.final_counter
            << ", stale writes rejected " << tally.rejected.load() << " ("
            << tally.paused_rejected.load() << " after a pause), writes decided after an error "
            << tally.resolved.load() << ", unfenced writes with unknown outcome "
            << tally.unknown.load() << "\n";
}

TEST(FencedLockTest, PausedHolderLosesUpdatesUnfencedAndIsRefusedWhenFenced) {
  TestCluster cluster(3, {"--heartbeat-interval", "50", "--election-timeout", "500"});
  cluster.StartAll();
  ASSERT_TRUE(cluster.WaitForLeader().has_value());

  // Plain Puts under the lock: each pause overlaps another holder, whose increment is lost.
  Tally unfenced;
  VariantResult unfenced_result;
  RunVariant(cluster, Mode::kUnfenced, false, &unfenced, &unfenced_result);
  Report("unfenced", unfenced, unfenced_result);
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(unfenced.pauses_done.load(), kPauses);
  EXPECT_GT(unfenced.acknowledged.load() - unfenced_result.final_counter, 0)
      << "the pauses lost no update: the scenario did not exercise the race";

  // Fenced Txns, with a follower and then the leader killed during the run.
  Tally fenced;
  VariantResult fenced_result;
  RunVariant(cluster, Mode::kFenced, true, &fenced, &fenced_result);
  Report("fenced", fenced, fenced_result);
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(fenced.pauses_done.load(), kPauses);
  EXPECT_EQ(fenced_result.final_counter, fenced.acknowledged.load()) << "lost or phantom updates";
  EXPECT_EQ(fenced.paused_applied.load(), 0) << "a paused holder's write got through the fence";
  EXPECT_EQ(fenced.paused_rejected.load(), kPauses);
  EXPECT_GT(fenced.rejected.load(), 0);
}

}  // namespace
}  // namespace quorum::faults
