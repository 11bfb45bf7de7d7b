#include "tests/elect/elect_harness.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace quorum::testing {

std::string ElectPath() { return QUORUM_ELECT_PATH; }

TestCertificates::TestCertificates(const std::vector<std::string>& members) {
  Run({"ca", dir()});
  for (const auto& m : members) {
    Run({"server", dir(), m});
    Run({"peer", dir(), m + "-peer"});
  }
}

void TestCertificates::AddClient(const std::string& name) { Run({"client", dir(), name}); }

void TestCertificates::Run(std::vector<std::string> args) {
  args.insert(args.begin(), QUORUM_CERTS_SCRIPT);
  ChildProcess script(args, dir() + "/certs.log");
  std::optional<int> code = script.WaitExit(std::chrono::seconds(30));
  if (code != 0) throw std::runtime_error("certs.sh " + args[1] + " failed:\n" + script.Log());
}

client::TlsOptions TestCertificates::ClientTls(const std::string& name) const {
  client::TlsOptions tls;
  tls.ca_file = Ca();
  if (!name.empty()) {
    tls.cert_file = Cert(name);
    tls.key_file = Key(name);
  }
  if (absl::Status s = client::LoadTlsFiles(tls); !s.ok()) {
    throw std::runtime_error("client TLS files: " + s.ToString());
  }
  return tls;
}

std::vector<std::string> TestCertificates::ClientFlags(const std::string& name) const {
  return {"--cacert", Ca(), "--cert", Cert(name), "--key", Key(name)};
}

ServerCluster::ServerCluster(int members) : specs_(LoopbackCluster(members)) {
  const char* server = std::getenv("QUORUM_ELECT_TEST_SERVER");
  server_ = server != nullptr && *server != '\0' ? server : QuorumdPath();
  processes_.resize(specs_.size());
  for (const auto& s : specs_) {
    clients_.push_back(std::make_unique<client::KvClient>(s.Endpoint(), std::chrono::seconds(2)));
  }
}

ServerCluster::ServerCluster(int members, const TestCertificates& certs,
                             const std::string& harness_client)
    : ServerCluster(members) {
  certs_ = &certs;
  clients_.clear();
  for (const auto& s : specs_) {
    clients_.push_back(std::make_unique<client::KvClient>(
        "https://" + s.Endpoint(), std::chrono::seconds(2), certs.ClientTls(harness_client)));
  }
}

ServerCluster::~ServerCluster() {
  for (int i = 0; i < size(); ++i) {
    // A frozen process would ignore nothing but SIGKILL anyway; thaw it for a clean reap.
    if (Running(i)) processes_[i]->Signal(SIGCONT);
    if (processes_[i]) processes_[i]->Kill();
  }
}

void ServerCluster::StartAll() {
  RestartAll();
  for (int i = 0; i < size(); ++i) {
    auto ready = clients_[i]->WaitReady(std::chrono::seconds(20));
    if (!ready.ok()) throw std::runtime_error("member " + specs_[i].name + " did not start");
  }
}

void ServerCluster::RestartAll() {
  for (int i = 0; i < size(); ++i) {
    if (Running(i)) continue;
    auto args = QuorumdArgs(specs_[i], specs_, dir_.path() + "/" + specs_[i].name);
    args[0] = server_;
    if (certs_ != nullptr) {
      // Every URL (listen, advertise, initial cluster) becomes https://.
      for (auto& arg : args) arg = absl::StrReplaceAll(arg, {{"http://", "https://"}});
      const std::string& name = specs_[i].name;
      std::vector<std::string> tls = {
          "--cert-file",        certs_->Cert(name),          "--key-file",
          certs_->Key(name),    "--trusted-ca-file",         certs_->Ca(),
          "--client-cert-auth", "--peer-cert-file",          certs_->Cert(name + "-peer"),
          "--peer-key-file",    certs_->Key(name + "-peer"), "--peer-trusted-ca-file",
          certs_->Ca(),         "--peer-client-cert-auth"};
      args.insert(args.end(), tls.begin(), tls.end());
    }
    processes_[i] =
        std::make_unique<ChildProcess>(args, dir_.path() + "/" + specs_[i].name + ".log");
  }
}

void ServerCluster::Kill(int i) {
  if (processes_[i]) processes_[i]->Kill();
}

void ServerCluster::Signal(int i, int signal) {
  if (Running(i)) processes_[i]->Signal(signal);
}

bool ServerCluster::Running(int i) const { return processes_[i] && processes_[i]->running(); }

std::optional<int> ServerCluster::WaitForLeader(std::chrono::milliseconds wait) {
  std::optional<int> found;
  WaitUntil(
      [&] {
        std::map<uint64_t, int> votes, index_of;
        int running = 0;
        for (int i = 0; i < size(); ++i) {
          if (!Running(i)) continue;
          ++running;
          auto status = clients_[i]->Status();
          if (!status.ok()) continue;
          index_of[status->header().member_id()] = i;
          if (status->leader() != 0) votes[status->leader()]++;
        }
        for (const auto& [leader, count] : votes) {
          if (count == running && index_of.contains(leader)) {
            found = index_of[leader];
            return true;
          }
        }
        return false;
      },
      wait);
  return found;
}

std::string ServerCluster::Endpoints(int first) const {
  std::string out;
  for (int k = 0; k < size(); ++k) {
    if (!out.empty()) out += ",";
    out += specs_[(first + k) % size()].Endpoint();
  }
  return out;
}

std::string ServerCluster::Log(int i) const {
  return processes_[i] ? processes_[i]->Log() : std::string();
}

std::optional<absl::Time> StateLine::RenewalSent() const {
  size_t at = text.find("sent=");
  if (!StartsWith("renewed") || at == std::string::npos) return std::nullopt;
  absl::Time sent;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", text.substr(at + 5), absl::UTCTimeZone(), &sent,
                       &error)) {
    return std::nullopt;
  }
  return sent;
}

ElectInstance::ElectInstance(const std::string& id, const std::string& election,
                             const std::string& endpoints, const std::string& log_dir,
                             std::vector<std::string> command, ElectTimings timings,
                             std::vector<std::string> flags)
    : id_(id) {
  std::vector<std::string> argv = {ElectPath(),
                                   "--id",
                                   id,
                                   "--endpoints",
                                   endpoints,
                                   "--lease-duration",
                                   timings.lease_duration,
                                   "--renew-deadline",
                                   timings.renew_deadline,
                                   "--retry-period",
                                   timings.retry_period};
  for (auto& f : flags) argv.push_back(std::move(f));
  argv.push_back(election);
  if (!command.empty()) {
    argv.push_back("--");
    for (auto& c : command) argv.push_back(std::move(c));
  }
  process_ = std::make_unique<ChildProcess>(argv, log_dir + "/elect-" + id + ".log");
}

std::vector<StateLine> ElectInstance::Lines() const {
  std::vector<StateLine> lines;
  const std::string tag = " quorum-elect[" + id_ + "] ";
  for (absl::string_view raw : absl::StrSplit(process_->Log(), '\n', absl::SkipEmpty())) {
    size_t at = raw.find(tag);
    if (at == absl::string_view::npos) continue;
    StateLine line;
    std::string error;
    if (!absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", raw.substr(0, at), absl::UTCTimeZone(), &line.time,
                         &error)) {
      continue;
    }
    line.text = std::string(raw.substr(at + tag.size()));
    lines.push_back(std::move(line));
  }
  return lines;
}

std::optional<std::pair<StateLine, size_t>> ElectInstance::WaitFor(const std::string& prefix,
                                                                   std::chrono::milliseconds wait,
                                                                   size_t skip) const {
  std::optional<std::pair<StateLine, size_t>> found;
  WaitUntil(
      [&] {
        auto lines = Lines();
        for (size_t i = skip; i < lines.size(); ++i) {
          if (lines[i].StartsWith(prefix)) {
            found = {lines[i], i};
            return true;
          }
        }
        return false;
      },
      wait);
  return found;
}

std::optional<absl::Time> LastRenewalSent(const std::vector<StateLine>& lines, size_t before) {
  std::optional<absl::Time> sent;
  for (size_t i = 0; i < lines.size() && i < before; ++i) {
    if (auto s = lines[i].RenewalSent()) sent = s;
  }
  return sent;
}

bool HasLine(const std::vector<StateLine>& lines, const std::string& prefix) {
  for (const auto& line : lines) {
    if (line.StartsWith(prefix)) return true;
  }
  return false;
}

absl::Duration ExpectRidesOutLeaderKill(ServerCluster& cluster, int leader, ElectInstance& active,
                                        ElectInstance& standby) {
  // The first renewal comes a retry period after the instance became active.
  std::optional<absl::Time> before_kill;
  EXPECT_TRUE(WaitUntil(
      [&] {
        before_kill = LastRenewalSent(active.Lines());
        return before_kill.has_value();
      },
      std::chrono::seconds(10)))
      << active.Log();
  if (!before_kill) return absl::ZeroDuration();
  const absl::Time killed = absl::Now();
  cluster.Kill(leader);
  auto renewals_after = [&](absl::Time since) {
    std::vector<absl::Time> sent;
    for (const auto& line : active.Lines()) {
      if (auto s = line.RenewalSent(); s.has_value() && *s > since) sent.push_back(*s);
    }
    return sent;
  };
  EXPECT_TRUE(
      WaitUntil([&] { return renewals_after(killed).size() >= 2; }, std::chrono::seconds(15)))
      << active.Log();
  EXPECT_FALSE(HasLine(active.Lines(), "stepped down")) << active.Log();
  EXPECT_FALSE(HasLine(standby.Lines(), "active")) << standby.Log();
  const std::vector<absl::Time> after = renewals_after(killed);
  if (after.empty()) return absl::InfiniteDuration();
  const absl::Duration gap = after.front() - *before_kill;
  std::cout << "cluster leader kill: renewals paused " << Seconds(gap) << " s (renew deadline "
            << Seconds(kRenewDeadline) << " s), no step-down\n";
  EXPECT_LT(gap, kRenewDeadline);
  return gap;
}

std::optional<Takeover> ExpectTakeoverAfterKill(ElectInstance& active, ElectInstance& standby) {
  Takeover out;
  out.killed = absl::Now();
  active.process().Kill();
  auto taken = standby.WaitFor("active", std::chrono::seconds(15));
  EXPECT_TRUE(taken.has_value()) << standby.Log();
  out.killed_lines = active.Lines();
  std::optional<absl::Time> last = LastRenewalSent(out.killed_lines);
  EXPECT_TRUE(last.has_value()) << active.Log();
  if (!taken || !last) return std::nullopt;
  out.last_renewal = *last;
  out.taken = taken->first.time;
  const absl::Duration from_renewal = out.taken - out.last_renewal;
  std::cout << "kill -9 of the active instance: standby active " << Seconds(from_renewal)
            << " s after the last renewal was sent, " << Seconds(out.taken - out.killed)
            << " s after the kill (lease duration " << Seconds(kLeaseDuration) << " s)\n";
  // The lease cannot expire before its TTL has run from the last renewal (1 ms: log rounding);
  // the server's expiry scan, the revoke's commit and the watch add a little, not a period.
  EXPECT_GE(from_renewal, kLeaseDuration - absl::Milliseconds(1));
  EXPECT_LE(from_renewal, kLeaseDuration + absl::Seconds(2));
  return out;
}

}  // namespace quorum::testing
