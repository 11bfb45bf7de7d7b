// Shared by the fault tests that stop one member of a 3-member cluster at a moment they choose
// (crash points, disk faults): a writer of fresh keys whose outcome is recorded, leadership
// moved where a test wants it, and the checks that nothing acknowledged was lost or applied
// twice once the member is back.
#ifndef QUORUM_TESTS_FAULTS_MEMBER_FAULTS_H_
#define QUORUM_TESTS_FAULTS_MEMBER_FAULTS_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/cluster.h"

namespace quorum::faults {

using testing::TestCluster;

inline constexpr char kWriterPrefix[] = "w/";

grpc::ClientContext* WithDeadline(grpc::ClientContext* context, std::chrono::milliseconds wait);

// Puts w/<n> keys, each once, through the members it is given, one at a time. A put that fails
// has an unknown outcome (it may have been committed before its answer was lost); it is never
// retried, so that every key is written at most once.
class Writer {
 public:
  Writer(TestCluster* cluster, std::vector<int> members, size_t value_bytes = 0)
      : cluster_(cluster), members_(members), value_bytes_(value_bytes) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Writer() { Stop(); }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Waits until `more` puts beyond those acknowledged now are acknowledged.
  bool WaitForMore(size_t more, std::chrono::milliseconds wait);
  size_t acknowledged_count() {
    std::lock_guard<std::mutex> lock(mu_);
    return acknowledged_.size();
  }
  std::set<std::string> acknowledged() {
    std::lock_guard<std::mutex> lock(mu_);
    return acknowledged_;
  }
  std::set<std::string> unknown() {
    std::lock_guard<std::mutex> lock(mu_);
    return unknown_;
  }

 private:
  void Run();

  TestCluster* cluster_;
  std::vector<int> members_;
  size_t value_bytes_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::set<std::string> acknowledged_;
  std::set<std::string> unknown_;
  std::thread thread_;
};

// Makes member `target` the leader (MoveLeader through the current one), within 30 s.
bool MoveLeaderTo(TestCluster& cluster, int target);

// The last lines of member i's log, for failure messages.
std::string LogTail(TestCluster& cluster, int i);

// Expects member `victim` to exit within 60 s with `exit_code`, its log holding `text`.
void ExpectExited(TestCluster& cluster, int victim, int exit_code, const std::string& text);

// After member `victim` stopped: writes go on without it; it starts again with nothing armed
// (its test environment cleared) and catches up while writes go on; then the checks of
// ExpectNothingLostOrRepeated.
void BringBackAndCheck(TestCluster& cluster, int victim, Writer& writer, int other_puts = 0);

// Once every member runs again: every key the writer had acknowledged is on every member, each
// key has version 1 and the revision counts exactly the puts that took effect (`other_puts`
// counts the test's puts outside the writer's keys), and HashKV agrees on every member.
void ExpectNothingLostOrRepeated(TestCluster& cluster, Writer& writer, int other_puts);

}  // namespace quorum::faults

#endif  // QUORUM_TESTS_FAULTS_MEMBER_FAULTS_H_
