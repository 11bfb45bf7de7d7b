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
    for (const auto& t : targets) {
      if (pending.count(t)) continue;
      pending[t] = std::async(std::launch::async, [this, t] {
        Probe p;
        auto start = std::chrono::steady_clock::now();
        auto r = ctx_.client().Status(t, kMemberTimeout);
        p.latency_us = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - start)
                           .count();
        if (r.ok()) {
          p.up = true;
          p.status = *r;
        } else {
          p.error = DownReason(r.status());
        }
        return p;
      });
    }
    std::map<std::string, Probe> out;
    for (auto& [t, f] : pending) out[t] = f.get();
    return out;
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
      if (!*watch) return;
      std::this_thread::sleep_until(start + std::chrono::seconds(1));
    }
  });
}

}  // namespace quorum::ctl
