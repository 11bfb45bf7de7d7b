// Test support: a quorumd cluster of N member processes on loopback. Starts, kills (-9) and
// restarts members by PID, finds the leader, and gives a KvClient per member. Every wait is
// bounded; the destructor kills whatever still runs.
#ifndef QUORUM_TESTS_SUPPORT_CLUSTER_H_
#define QUORUM_TESTS_SUPPORT_CLUSTER_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/kv_client.h"
#include "tests/support/process.h"

namespace quorum::testing {

class TestCluster {
 public:
  // `extra` flags go to every member (e.g. {"--snapshot-count", "100"}).
  TestCluster(int members, std::vector<std::string> extra = {});
  ~TestCluster();

  int size() const { return static_cast<int>(specs_.size()); }
  const MemberSpec& spec(int i) const { return specs_[i]; }
  const std::string& dir() const { return dir_.path(); }

  // Starts member i (fresh or from its data dir) and, with `wait_ready`, waits until it answers
  // Status.
  void Start(int i, bool wait_ready = true);
  void StartAll();
  void Kill(int i);  // kill -9
  bool Running(int i) const;
  // Stops member i with SIGTERM and waits for it to exit.
  void Stop(int i);
  // Waits up to `wait` for member i to exit by itself; its exit code, or nullopt.
  std::optional<int> WaitExit(int i, std::chrono::milliseconds wait);

  // A client bound to member i's endpoint.
  client::KvClient& Client(int i);
  // The index of the member all running members agree leads, waiting up to `wait`.
  std::optional<int> WaitForLeader(std::chrono::milliseconds wait = std::chrono::seconds(20));
  // Member i's view (Status); error if it does not answer.
  absl::StatusOr<etcdserverpb::StatusResponse> Status(int i);
  // Waits until member i has applied at least `index`.
  bool WaitApplied(int i, uint64_t index, std::chrono::milliseconds wait);
  // HashKV of member i at `revision`.
  absl::StatusOr<uint32_t> HashKV(int i, int64_t revision);
  std::string Log(int i) const;
  // Adds extra flags for member i's next start (e.g. --initial-cluster-state existing).
  void SetExtraFlags(int i, std::vector<std::string> flags);
  // Environment entries (NAME=value) for member i's next starts, e.g. test hooks.
  void SetEnv(int i, std::vector<std::string> env);
  // The process id of member i, or -1 when it is not running.
  pid_t Pid(int i) const;
  // Adds a member spec (for MemberAdd tests); returns its index. Not started.
  int AddSpec(const std::string& name);

 private:
  TempDir dir_;
  std::vector<MemberSpec> specs_;
  std::vector<std::string> extra_;
  std::vector<std::vector<std::string>> member_extra_;
  std::vector<std::vector<std::string>> member_env_;
  std::vector<std::unique_ptr<ChildProcess>> processes_;
  std::vector<std::unique_ptr<client::KvClient>> clients_;
};

}  // namespace quorum::testing

#endif  // QUORUM_TESTS_SUPPORT_CLUSTER_H_
