#include "tests/support/cluster.h"

#include <signal.h>

#include <map>
#include <thread>

#include "etcdserverpb/rpc.grpc.pb.h"

namespace quorum::testing {

TestCluster::TestCluster(int members, std::vector<std::string> extra)
    : specs_(LoopbackCluster(members)), extra_(std::move(extra)) {
  member_extra_.resize(specs_.size());
  member_env_.resize(specs_.size());
  processes_.resize(specs_.size());
  for (const auto& s : specs_) {
    clients_.push_back(std::make_unique<client::KvClient>(s.Endpoint(), std::chrono::seconds(5)));
  }
}

TestCluster::~TestCluster() {
  for (auto& p : processes_) {
    if (p) p->Kill();
  }
}

int TestCluster::AddSpec(const std::string& name) {
  specs_.push_back({name, FreeLoopbackPort(), FreeLoopbackPort()});
  member_extra_.emplace_back();
  member_env_.emplace_back();
  processes_.emplace_back();
  clients_.push_back(
      std::make_unique<client::KvClient>(specs_.back().Endpoint(), std::chrono::seconds(5)));
  return size() - 1;
}

void TestCluster::SetExtraFlags(int i, std::vector<std::string> flags) {
  member_extra_[i] = std::move(flags);
}

void TestCluster::SetEnv(int i, std::vector<std::string> env) { member_env_[i] = std::move(env); }

pid_t TestCluster::Pid(int i) const {
  return processes_[i] && processes_[i]->running() ? processes_[i]->pid() : -1;
}

void TestCluster::Start(int i, bool wait_ready) {
  if (processes_[i] && processes_[i]->running()) return;
  std::vector<std::string> extra = extra_;
  for (const auto& f : member_extra_[i]) extra.push_back(f);
  // Founders list the founders; a member added later lists everyone up to itself.
  std::vector<MemberSpec> cluster;
  for (int j = 0; j < size(); ++j) {
    if (j <= i || member_extra_[j].empty()) cluster.push_back(specs_[j]);
  }
  auto args = QuorumdArgs(specs_[i], cluster, dir_.path() + "/" + specs_[i].name, extra);
  processes_[i] = std::make_unique<ChildProcess>(args, dir_.path() + "/" + specs_[i].name + ".log",
                                                 member_env_[i]);
  if (!wait_ready) return;
  auto ready = clients_[i]->WaitReady(std::chrono::seconds(20));
  if (!ready.ok()) {
    throw std::runtime_error("member " + specs_[i].name + " did not start: " + Log(i));
  }
}

void TestCluster::StartAll() {
  // Launch everyone first: a member waits for Status, which it answers without a leader.
  for (int i = 0; i < size(); ++i) Start(i);
}

void TestCluster::Kill(int i) {
  if (processes_[i]) processes_[i]->Kill();
}

void TestCluster::Stop(int i) {
  if (!processes_[i] || !processes_[i]->running()) return;
  processes_[i]->Signal(SIGTERM);
  if (!processes_[i]->WaitExit(std::chrono::seconds(15)).has_value()) processes_[i]->Kill();
}

std::optional<int> TestCluster::WaitExit(int i, std::chrono::milliseconds wait) {
  if (!processes_[i]) return std::nullopt;
  return processes_[i]->WaitExit(wait);
}

bool TestCluster::Running(int i) const { return processes_[i] && processes_[i]->running(); }

client::KvClient& TestCluster::Client(int i) { return *clients_[i]; }

absl::StatusOr<etcdserverpb::StatusResponse> TestCluster::Status(int i) {
  return clients_[i]->Status();
}

std::optional<int> TestCluster::WaitForLeader(std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    std::map<uint64_t, int> votes;
    std::map<uint64_t, int> index_of;
    int running = 0;
    for (int i = 0; i < size(); ++i) {
      if (!Running(i)) continue;
      ++running;
      auto s = Status(i);
      if (!s.ok()) continue;
      index_of[s->header().member_id()] = i;
      if (s->leader() != 0) votes[s->leader()]++;
    }
    for (const auto& [leader, count] : votes) {
      if (count == running && index_of.contains(leader)) return index_of[leader];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

bool TestCluster::WaitApplied(int i, uint64_t index, std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    auto s = Status(i);
    if (s.ok() && s->raftappliedindex() >= index) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

absl::StatusOr<uint32_t> TestCluster::HashKV(int i, int64_t revision) {
  auto channel = grpc::CreateChannel(specs_[i].Endpoint(), grpc::InsecureChannelCredentials());
  auto stub = etcdserverpb::Maintenance::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  etcdserverpb::HashKVRequest request;
  request.set_revision(revision);
  etcdserverpb::HashKVResponse response;
  auto status = stub->HashKV(&context, request, &response);
  if (!status.ok()) return client::FromGrpc(status);
  return response.hash();
}

std::string TestCluster::Log(int i) const {
  return processes_[i] ? processes_[i]->Log() : std::string();
}

}  // namespace quorum::testing
