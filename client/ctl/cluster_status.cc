// quorumctl cluster status [--watch]: every member's state in one table and the quorum verdict
// under it. Works with members down and without quorum: each member is asked on its own, with a
// short timeout, and the member list is remembered between redraws.
#include <future>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/strip.h"
#include "client/ctl/cluster_view.h"
#include "client/ctl/ctl.h"
#include "client/endpoint_pool.h"
#include "client/kv_client.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace quorum::ctl {

namespace {

constexpr auto kMemberTimeout = std::chrono::milliseconds(1000);

struct Probe {
  bool up = false;
  std::string error;
  etcdserverpb::StatusResponse status;
  int64_t latency_us = 0;
};

std::string DownReason(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kDeadlineExceeded ||
      s.code() == absl::StatusCode::kUnavailable) {
    return "unreachable";
  }
  return std::string(s.message());
}

class ClusterStatus {
 public:
  explicit ClusterStatus(CtlContext& ctx) : ctx_(ctx) {}

  std::vector<MemberView> Gather() {
    std::vector<std::string> targets;
    for (const auto& ep : ctx_.Endpoints()) targets.push_back(client::EndpointTarget(ep));
    for (const auto& m : members_.members()) {
      if (m.clienturls_size() > 0) targets.push_back(client::EndpointTarget(m.clienturls(0)));
    }
    auto probes = ProbeAll(targets);
    // The member list from a member that answered; else the last one seen.
    for (const auto& [target, probe] : probes) {
      if (!probe.up) continue;
      auto client = ctx_.ClientFor({target});
      auto list = client->MemberList();
      if (list.ok()) {
        members_ = *list;
        break;
      }
    }
    std::vector<std::string> more;
    for (const auto& m : members_.members()) {
      if (m.clienturls_size() == 0) continue;
      auto t = client::EndpointTarget(m.clienturls(0));
      if (!probes.count(t)) more.push_back(t);
    }
    for (auto& [t, p] : ProbeAll(more)) probes[t] = p;

    std::vector<MemberView> views;
    if (members_.members_size() == 0) {
      // No member ever answered: show the endpoints we were given.
      for (const auto& ep : ctx_.Endpoints()) {
        MemberView v;
        v.endpoint = client::EndpointTarget(ep);
        Fill(&v, probes[v.endpoint]);
        views.push_back(v);
      }
      return views;
    }
    for (const auto& m : members_.members()) {
      MemberView v;
      v.name = m.name();
      v.id = m.id();
      v.learner = m.islearner();
      if (m.clienturls_size() == 0) {
        v.error = "not started";
        views.push_back(v);
        continue;
      }
      v.endpoint = client::EndpointTarget(m.clienturls(0));
      Fill(&v, probes[v.endpoint]);
      views.push_back(v);
    }
    return views;
  }

 private:
  static void Fill(MemberView* v, const Probe& p) {
    v->up = p.up;
    v->error = p.error;
    if (!p.up) return;
    if (v->id == 0) v->id = p.status.header().member_id();
    v->leader = p.status.leader();
    v->term = p.status.raftterm();
    v->commit_index = p.status.raftindex();
    v->applied_index = p.status.raftappliedindex();
    v->db_size = p.status.dbsize();
    v->latency_us = p.latency_us;
  }

  std::map<std::string, Probe> ProbeAll(const std::vector<std::string>& targets) {
    std::map<std::string, std::future<Probe>> pending;
    const client::TlsOptions tls = ctx_.Tls();
    for (const auto& t : targets) {
      if (pending.count(t)) continue;
      pending[t] = std::async(std::launch::async, [t, &tls] { return ProbeMember(t, tls); });
    }
    std::map<std::string, Probe> out;
    for (auto& [t, f] : pending) out[t] = f.get();
    return out;
  }

  // Asks one member for its Status on a channel of its own (the probes share nothing). A connect
  // that fails at once is tried once more on a new channel: it fails now and then against a
  // member that is up (gRPC names an odd errno), while a member that is down refuses both.
  static Probe ProbeMember(const std::string& target, const client::TlsOptions& tls) {
    Probe p;
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + kMemberTimeout;
    grpc::Status status;
    for (int attempt = 0; attempt < 2; ++attempt) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           (deadline - std::chrono::steady_clock::now()));
      p.status.Clear();
      status = etcdserverpb::Maintenance::NewStub(client::NewEndpointChannel(target, tls))
                   ->Status(&context, etcdserverpb::StatusRequest(), &p.status);
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
          deadline - std::chrono::steady_clock::now() < kMemberTimeout / 2) {
        break;
      }
    }
    p.latency_us = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count();
    if (status.ok()) {
      p.up = true;
    } else {
      p.error = DownReason(client::FromGrpc(status));
    }
    return p;
  }

  CtlContext& ctx_;
  etcdserverpb::MemberListResponse members_;
};

}  // namespace

void AddClusterStatusCommand(CLI::App& app, CtlContext& ctx) {
  auto* cluster = app.add_subcommand("cluster", "Cluster-wide views");
  cluster->require_subcommand(1);
  auto watch = std::make_shared<bool>(false);
  auto* status = cluster->add_subcommand(
      "status", "Every member's state and whether the cluster has quorum (works without it)");
  status->add_flag("--watch", *watch, "redraw every second until interrupted");
  status->callback([&ctx, watch] {
    ClusterStatus gatherer(ctx);
    bool json = ctx.flags().write_out == "json";
    while (true) {
      auto start = std::chrono::steady_clock::now();
      auto members = gatherer.Gather();
      auto verdict = Judge(members);
      std::string text =
          json ? ClusterStatusJson(members, verdict) + "\n" : RenderClusterStatus(members, verdict);
      if (*watch && !json) std::cout << "\033[H\033[2J";  // home and clear: redraw in place
      std::cout << text << std::flush;
      // Scripts branch on it: 1 (etcdctl's error code) when writes cannot commit.
      if (!*watch) {
        if (!verdict.writes_available) Fail(kExitError, "cluster has no quorum");
        return;
      }
      std::this_thread::sleep_until(start + std::chrono::seconds(1));
    }
  });
}

}  // namespace quorum::ctl
