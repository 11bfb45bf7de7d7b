// Test support: a quorumd cluster whose members live in network namespaces of their own, as
// VMs on one switch: a bridge with an address for the test (the client side), and per member a
// namespace holding one end of a veth pair and an address on the bridge's /24. Links between
// members are cut with iptables inside the members' namespaces, so the test's own client
// traffic (from the bridge address) still reaches every member. Needs root, iproute2 and
// iptables. Names carry the test process's id, and the destructor kills the members (by PID)
// and removes the namespaces and the bridge.
#ifndef QUORUM_TESTS_FAULTS_NETNS_CLUSTER_H_
#define QUORUM_TESTS_FAULTS_NETNS_CLUSTER_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/support/process.h"

namespace quorum::faults {

class NetnsCluster {
 public:
  // Sets up the bridge and `members` namespaces; nothing is started. `extra` flags go to every
  // member.
  NetnsCluster(int members, std::vector<std::string> extra = {});
  ~NetnsCluster();
  NetnsCluster(const NetnsCluster&) = delete;
  NetnsCluster& operator=(const NetnsCluster&) = delete;

  int size() const { return static_cast<int>(ips_.size()); }
  // host:port of member i's client URL, reachable from the test.
  std::string Endpoint(int i) const;
  void StartAll();
  void Kill(int i);

  // Drops every packet between member i and the other members, both ways.
  void Isolate(int i);
  // Drops packets that member `from` sends to member `to` (at `to`'s door); `to`'s own packets
  // still reach `from`.
  void DropOneWay(int from, int to);
  // Removes every rule: all links work again.
  void Heal();

  // Member i's Status, with a short deadline.
  absl::StatusOr<etcdserverpb::StatusResponse> Status(int i);
  // The member that all answering members name as leader and that names itself, waiting up to
  // `wait`; nullopt if there is none by then. Members in `ignore` are not asked.
  std::optional<int> WaitForLeader(std::chrono::milliseconds wait, std::vector<int> ignore = {});
  etcdserverpb::KV::Stub* Kv(int i) { return kv_[i].get(); }
  uint64_t MemberId(int i);

  // Runs a command to completion and fails the test unless it exits 0.
  static void Run(std::vector<std::string> argv);

 private:
  std::string Namespace(int i) const;
  void InNamespace(int i, std::vector<std::string> argv);

  std::string tag_;     // per test process: names of namespaces, links and the bridge
  std::string subnet_;  // "10.x.y."
  std::string bridge_;
  std::vector<std::string> ips_;
  std::vector<std::string> extra_;
  testing::TempDir dir_;
  std::vector<std::unique_ptr<testing::ChildProcess>> processes_;
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> kv_;
  std::vector<std::unique_ptr<etcdserverpb::Maintenance::Stub>> maintenance_;
};

}  // namespace quorum::faults

#endif  // QUORUM_TESTS_FAULTS_NETNS_CLUSTER_H_
