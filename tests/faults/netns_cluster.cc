#include "tests/faults/netns_cluster.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"

namespace quorum::faults {

using namespace std::chrono_literals;

namespace {
// Where Debian's iproute2 and iptables put them (children are started without a PATH search).
constexpr char kIp[] = "/usr/sbin/ip";
constexpr char kIptables[] = "/usr/sbin/iptables";
constexpr int kClientPort = 2379;
constexpr int kPeerPort = 2380;
}  // namespace

void NetnsCluster::Run(std::vector<std::string> argv) {
  testing::TempDir dir;
  std::string line;
  for (const auto& a : argv) absl::StrAppend(&line, a, " ");
  testing::ChildProcess child(std::move(argv), dir.path() + "/out");
  auto code = child.WaitExit(20s);
  ASSERT_TRUE(code.has_value() && *code == 0) << line << ": " << child.Log();
}

NetnsCluster::NetnsCluster(int members, std::vector<std::string> extra) : extra_(std::move(extra)) {
  static int clusters = 0;
  const int pid = static_cast<int>(getpid());
  tag_ = absl::StrCat(pid % 100000, clusters++ % 10);
  // A /24 of 10/8 that no interface of this machine uses yet, so tests running side by side do
  // not meet.
  for (int attempt = 0; subnet_.empty(); ++attempt) {
    const std::string candidate =
        absl::StrCat("10.", 100 + (pid / 256 + attempt) % 100, ".", (pid + 7 * attempt) % 256, ".");
    testing::ChildProcess show({kIp, "-o", "addr", "show", "to", candidate + "0/24"},
                               dir_.path() + "/show.log");
    auto code = show.WaitExit(10s);
    if (code.has_value() && *code == 0 && show.Log().empty()) subnet_ = candidate;
    if (attempt == 100) {
      ADD_FAILURE() << "no free /24 found in 10.100.0.0/14: " << show.Log();
      subnet_ = candidate;
    }
  }
  bridge_ = "qb" + tag_;
  Run({kIp, "link", "add", bridge_, "type", "bridge"});
  Run({kIp, "addr", "add", subnet_ + "1/24", "dev", bridge_});
  Run({kIp, "link", "set", bridge_, "up"});
  for (int i = 0; i < members; ++i) {
    ips_.push_back(absl::StrCat(subnet_, 11 + i));
    const std::string outside = absl::StrCat("qv", tag_, "i", i);
    const std::string inside = absl::StrCat("qp", tag_, "i", i);
    Run({kIp, "netns", "add", Namespace(i)});
    Run({kIp, "link", "add", outside, "type", "veth", "peer", "name", inside});
    Run({kIp, "link", "set", inside, "netns", Namespace(i)});
    Run({kIp, "link", "set", outside, "master", bridge_, "up"});
    InNamespace(i, {kIp, "addr", "add", ips_[i] + "/24", "dev", inside});
    InNamespace(i, {kIp, "link", "set", inside, "up"});
    InNamespace(i, {kIp, "link", "set", "lo", "up"});
    auto channel = grpc::CreateChannel(Endpoint(i), grpc::InsecureChannelCredentials());
    kv_.push_back(etcdserverpb::KV::NewStub(channel));
    maintenance_.push_back(etcdserverpb::Maintenance::NewStub(channel));
    processes_.emplace_back();
  }
}

NetnsCluster::~NetnsCluster() {
  processes_.clear();  // SIGKILL and reap, by PID
  for (int i = 0; i < size(); ++i) {
    testing::ChildProcess del({kIp, "netns", "del", Namespace(i)}, dir_.path() + "/del.log");
    del.WaitExit(10s);
  }
  testing::ChildProcess del({kIp, "link", "del", bridge_}, dir_.path() + "/del.log");
  del.WaitExit(10s);
}

std::string NetnsCluster::Namespace(int i) const { return absl::StrCat("qn", tag_, "-", i); }

void NetnsCluster::InNamespace(int i, std::vector<std::string> argv) {
  argv.insert(argv.begin(), {kIp, "netns", "exec", Namespace(i)});
  Run(std::move(argv));
}

std::string NetnsCluster::Endpoint(int i) const { return absl::StrCat(ips_[i], ":", kClientPort); }

void NetnsCluster::StartAll() {
  std::string initial;
  for (int i = 0; i < size(); ++i) {
    absl::StrAppend(&initial, i == 0 ? "" : ",", "n", i, "=http://", ips_[i], ":", kPeerPort);
  }
  for (int i = 0; i < size(); ++i) {
    const std::string client = absl::StrCat("http://", Endpoint(i));
    const std::string peer = absl::StrCat("http://", ips_[i], ":", kPeerPort);
    // `ip netns exec` execs quorumd: the child's PID is the member's.
    std::vector<std::string> argv = {kIp,
                                     "netns",
                                     "exec",
                                     Namespace(i),
                                     testing::QuorumdPath(),
                                     "--name",
                                     absl::StrCat("n", i),
                                     "--data-dir",
                                     absl::StrCat(dir_.path(), "/n", i),
                                     "--listen-client-urls",
                                     client,
                                     "--advertise-client-urls",
                                     client,
                                     "--listen-peer-urls",
                                     peer,
                                     "--initial-advertise-peer-urls",
                                     peer,
                                     "--initial-cluster",
                                     initial,
                                     "--initial-cluster-token",
                                     "quorum-netns-" + tag_};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    processes_[i] =
        std::make_unique<testing::ChildProcess>(argv, absl::StrCat(dir_.path(), "/n", i, ".log"));
  }
}

void NetnsCluster::Kill(int i) {
  if (processes_[i]) processes_[i]->Kill();
}

void NetnsCluster::Isolate(int i) {
  for (int j = 0; j < size(); ++j) {
    if (j == i) continue;
    InNamespace(i, {kIptables, "-A", "INPUT", "-s", ips_[j], "-j", "DROP"});
    InNamespace(i, {kIptables, "-A", "OUTPUT", "-d", ips_[j], "-j", "DROP"});
  }
}

void NetnsCluster::DropOneWay(int from, int to) {
  InNamespace(to, {kIptables, "-A", "INPUT", "-s", ips_[from], "-j", "DROP"});
}

void NetnsCluster::Heal() {
  for (int i = 0; i < size(); ++i) InNamespace(i, {kIptables, "-F"});
}

absl::StatusOr<etcdserverpb::StatusResponse> NetnsCluster::Status(int i) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 500ms);
  etcdserverpb::StatusResponse response;
  grpc::Status status = maintenance_[i]->Status(&context, {}, &response);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  return response;
}

uint64_t NetnsCluster::MemberId(int i) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto status = Status(i);
    if (status.ok()) return status->header().member_id();
    std::this_thread::sleep_for(50ms);
  }
  return 0;
}

std::optional<int> NetnsCluster::WaitForLeader(std::chrono::milliseconds wait,
                                               std::vector<int> ignore) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<uint64_t> leader;
    bool agree = true;
    std::optional<int> index;
    for (int i = 0; i < size() && agree; ++i) {
      if (std::find(ignore.begin(), ignore.end(), i) != ignore.end()) continue;
      auto status = Status(i);
      if (!status.ok() || status->leader() == 0) {
        agree = false;
        break;
      }
      if (leader.has_value() && *leader != status->leader()) agree = false;
      leader = status->leader();
      if (status->leader() == status->header().member_id()) index = i;
    }
    if (agree && index.has_value()) return index;
    std::this_thread::sleep_for(20ms);
  }
  return std::nullopt;
}

}  // namespace quorum::faults
