// Waiting Election and Lock calls against one quorumd: thousands of Lock calls waiting behind a
// holder and Observe streams held open cost no thread each, and cancelling them all ends every
// call, removes every waiter's key and gives their memory back.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/bench/coord_waits.h"
#include "tests/support/cluster.h"

namespace quorum {
namespace {

using namespace std::chrono_literals;

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer's allocator keeps what is freed, so RSS says nothing about what the calls
// hold; and its member is too slow to set thousands up within the request timeout. The build
// still checks threads, the calls' ends and their cleanup, with fewer calls.
constexpr bool kMemoryIsMeasurable = false;
constexpr int kDefaultCalls = 300;
#else
constexpr bool kMemoryIsMeasurable = true;
constexpr int kDefaultCalls = 2000;
#endif

// Of each kind; QUORUM_WAITING_CALLS sets another count.
int CallsOfEachKind() {
  const char* count = std::getenv("QUORUM_WAITING_CALLS");
  return count != nullptr && std::atoi(count) > 0 ? std::atoi(count) : kDefaultCalls;
}
const int kLocks = CallsOfEachKind();
const int kObservers = kLocks;
// Far below one thread per call; quorumd idles at about 20.
constexpr int64_t kMaxThreads = 64;

// A field of /proc/<pid>/status ("Threads", "VmRSS" in KiB).
int64_t StatusField(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(field.size() + 1));
    int64_t value = -1;
    fields >> value;
    return value;
  }
  return -1;
}

struct Usage {
  int64_t rss_kib;
  int64_t threads;
};

Usage UsageOf(pid_t pid) { return {StatusField(pid, "VmRSS"), StatusField(pid, "Threads")}; }

// One round: kLocks waiting Locks and kObservers Observe streams, then a cancel of all.
// Returns the server's usage while they wait.
Usage Round(testing::TestCluster& cluster, const std::string& name) {
  const pid_t pid = cluster.Pid(0);
  auto channel =
      grpc::CreateChannel(cluster.spec(0).Endpoint(), grpc::InsecureChannelCredentials());
  bench::WaitingCalls calls(channel);
  const std::string lock = name + "-lock";
  EXPECT_TRUE(calls.TakeLock(lock));
  EXPECT_TRUE(calls.Lead(name + "-election"));
  calls.StartLocks(lock, kLocks);
  calls.StartObservers(name + "-election", kObservers);
  EXPECT_TRUE(calls.WaitAllWaiting(lock, kLocks + 1, 40s))
      << calls.observed() << " observers saw the leader, " << calls.LockKeys(lock) << " lock keys";
  EXPECT_EQ(calls.lock_errors(), 0);
  const Usage waiting = UsageOf(pid);

  calls.CancelAll();
  EXPECT_TRUE(calls.WaitAllEnded(30s));
  // Every cancelled waiter removes its own key (a delete proposed after its call ended): only
  // the holder's is left.
  EXPECT_TRUE(testing::WaitUntil([&] { return calls.LockKeys(lock) == 1; }, 20s))
      << calls.LockKeys(lock) << " lock keys left";
  return waiting;
}

TEST(WaitingCallsProcess, ThousandsOfWaitingCallsHoldNoThreadsAndAreFreedByCancel) {
  testing::TestCluster cluster(1);
  // Freed pages go back to the system at once, so that RSS shows what the calls held.
  cluster.SetEnv(0, {"TCMALLOC_AGGRESSIVE_DECOMMIT=1"});
  cluster.StartAll();
  const pid_t pid = cluster.Pid(0);
  ASSERT_GT(pid, 0);

  // A first round grows what stays (gRPC's pools, the store's tables); the second is measured.
  EXPECT_LT(Round(cluster, "warm-up").threads, kMaxThreads);
  const Usage before = UsageOf(pid);
  const Usage waiting = Round(cluster, "measured");
  EXPECT_LT(waiting.threads, kMaxThreads);

  // What the waiting calls held is given back: most of the growth goes (what remains is the
  // writes they made: a lease, a key and its deletion per Lock, kept by the store and the log).
  // The last of it goes as the client's connection closes and the calls' final completions
  // run, shortly after the cancel.
  if (!kMemoryIsMeasurable) {
    EXPECT_LT(UsageOf(pid).threads, kMaxThreads);
    return;
  }
  const int64_t grown = waiting.rss_kib - before.rss_kib;
  EXPECT_GT(grown, 0);
  testing::WaitUntil([&] { return UsageOf(pid).rss_kib - before.rss_kib < grown / 4; }, 10s);
  const Usage after = UsageOf(pid);
  EXPECT_LT(after.threads, kMaxThreads);
  EXPECT_LT(after.rss_kib - before.rss_kib, grown / 4)
      << "RSS before " << before.rss_kib << " KiB, waiting " << waiting.rss_kib
      << " KiB, after cancel " << after.rss_kib << " KiB";
  std::printf(
      "quorumd RSS before %lld KiB, %d Locks + %d Observes waiting %lld KiB (%lld threads), "
      "after cancel %lld KiB (%lld threads)\n",
      static_cast<long long>(before.rss_kib), kLocks, kObservers,
      static_cast<long long>(waiting.rss_kib), static_cast<long long>(waiting.threads),
      static_cast<long long>(after.rss_kib), static_cast<long long>(after.threads));
}

}  // namespace
}  // namespace quorum
