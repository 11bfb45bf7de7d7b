// quorumctl lease * and member *: etcdctl's lease and membership commands.
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/ctl/ctl.h"
#include "client/lease_keeper.h"

namespace quorum::ctl {

namespace {

using Args = std::shared_ptr<std::vector<std::string>>;

int64_t LeaseArg(const std::string& text) {
  uint64_t id = 0;
  if (!absl::SimpleHexAtoi(text, &id) || id > static_cast<uint64_t>(INT64_MAX)) {
    Fail(kExitBadArgs, "bad lease ID arg (strconv.ParseInt: parsing \"" + text +
                           "\": invalid syntax), expecting ID in Hex");
  }
  return static_cast<int64_t>(id);
}

uint64_t MemberArg(const std::vector<std::string>& args) {
  if (args.size() != 1) Fail(kExitBadArgs, "member ID is not provided");
  uint64_t id = 0;
  if (!absl::SimpleHexAtoi(args[0], &id)) {
    Fail(kExitBadArgs, "bad member ID arg (strconv.ParseUint: parsing \"" + args[0] +
                           "\": invalid syntax), expecting ID in Hex");
  }
  return id;
}

CLI::App* Sub(CLI::App* parent, const std::string& name, const std::string& help, Args args) {
  auto* cmd = parent->add_subcommand(name, help);
  cmd->add_option("args", *args);
  return cmd;
}

}  // namespace

void AddLeaseCommands(CLI::App& app, CtlContext& ctx) {
  auto* lease = app.add_subcommand("lease", "Lease related commands");
  lease->require_subcommand(1);

  Args grant = std::make_shared<std::vector<std::string>>();
  Sub(lease, "grant", "Creates leases", grant)->callback([&ctx, grant] {
    if (grant->size() != 1) Fail(kExitBadArgs, "lease grant command needs TTL argument");
    int64_t ttl = 0;
    if (!absl::SimpleAtoi((*grant)[0], &ttl)) {
      Fail(kExitBadArgs,
           "bad TTL (strconv.ParseInt: parsing \"" + (*grant)[0] + "\": invalid syntax)");
    }
    auto r = ctx.client().LeaseGrant(ttl);
    if (!r.ok()) Fail(kExitError, "failed to grant lease (" + ErrorText(r.status()) + ")");
    ctx.printer().Grant(*r);
  });

  Args revoke = std::make_shared<std::vector<std::string>>();
  Sub(lease, "revoke", "Revokes leases", revoke)->callback([&ctx, revoke] {
    if (revoke->size() != 1) Fail(kExitBadArgs, "lease revoke command needs 1 argument");
    int64_t id = LeaseArg((*revoke)[0]);
    auto r = ctx.client().LeaseRevoke(id);
    if (!r.ok()) Fail(kExitError, "failed to revoke lease (" + ErrorText(r.status()) + ")");
    ctx.printer().Revoke(id, *r);
  });

  Args ttl = std::make_shared<std::vector<std::string>>();
  auto keys = std::make_shared<bool>(false);
  auto* ttl_cmd = Sub(lease, "timetolive", "Get lease information", ttl);
  ttl_cmd->add_flag("--keys", *keys, "Get keys attached to this lease");
  ttl_cmd->callback([&ctx, ttl, keys] {
    if (ttl->size() != 1) {
      Fail(kExitBadArgs, "lease timetolive command needs lease ID as argument");
    }
    auto r = ctx.client().LeaseTimeToLive(LeaseArg((*ttl)[0]), *keys);
    if (!r.ok()) Fail(kExitBadConnection, ErrorText(r.status()));
    ctx.printer().TimeToLive(*r, *keys);
  });

  Args list = std::make_shared<std::vector<std::string>>();
  Sub(lease, "list", "List all active leases", list)->callback([&ctx] {
    auto r = ctx.client().LeaseLeases();
    if (!r.ok()) Fail(kExitBadConnection, ErrorText(r.status()));
    ctx.printer().Leases(*r);
  });

  Args keep = std::make_shared<std::vector<std::string>>();
  auto once = std::make_shared<bool>(false);
  auto* keep_cmd = Sub(lease, "keep-alive", "Keeps leases alive (renew)", keep);
  keep_cmd->add_flag("--once", *once, "Resets the keep-alive time once and exits");
  keep_cmd->callback([&ctx, keep, once] {
    if (keep->size() != 1) {
      Fail(kExitBadArgs, "lease keep-alive command needs lease ID as argument");
    }
    int64_t id = LeaseArg((*keep)[0]);
    if (*once) {
      auto r = ctx.client().LeaseKeepAliveOnce(id);
      if (r.ok() && r->ttl() <= 0) {
        r = absl::NotFoundError("etcdserver: requested lease not found");
      }
      if (!r.ok()) Fail(kExitBadConnection, ErrorText(r.status()));
      ctx.printer().KeepAlive(*r);
      return;
    }
    auto& printer = ctx.printer();
    auto keeper = ctx.client().KeepAlive(
        id, [&printer](const etcdserverpb::LeaseKeepAliveResponse& r) { printer.KeepAlive(r); });
    while (!keeper->WaitLost(std::chrono::hours(1))) {
    }
    if (printer.format() == OutputFormat::kSimple) {
      std::cout << absl::StrFormat("lease %016x expired or revoked.\n", id);
    }
  });
}

void AddMemberCommands(CLI::App& app, CtlContext& ctx) {
  auto* member = app.add_subcommand("member", "Membership related commands");
  member->require_subcommand(1);

  Args add = std::make_shared<std::vector<std::string>>();
  auto peer_urls = std::make_shared<std::string>();
  auto learner = std::make_shared<bool>(false);
  auto* add_cmd = Sub(member, "add", "Adds a member into the cluster", add);
  add_cmd->add_option("--peer-urls", *peer_urls, "comma separated peer URLs for the new member.");
  add_cmd->add_flag("--learner", *learner, "indicates if the new member is raft learner");
  add_cmd->callback([&ctx, add, peer_urls, learner] {
    if (add->empty()) Fail(kExitBadArgs, "member name not provided");
    if (add->size() > 1) {
      std::string message = "too many arguments";
      for (const auto& s : *add) {
        if (absl::StartsWithIgnoreCase(s, "http")) {
          message += ", did you mean --peer-urls=" + s;
        }
      }
      Fail(kExitBadArgs, message);
    }
    if (peer_urls->empty()) Fail(kExitBadArgs, "member peer urls not provided");
    std::vector<std::string> urls = absl::StrSplit(*peer_urls, ',');
    auto r = ctx.client().MemberAdd(urls, *learner);
    if (!r.ok()) Fail(kExitError, ErrorText(r.status()));
    ctx.printer().MemberAdd(*r);
    if (ctx.printer().format() != OutputFormat::kSimple) return;
    // The environment the new member starts with, as etcdctl prints it.
    std::vector<std::string> conf;
    const std::string& name = (*add)[0];
    for (const auto& m : r->members()) {
      for (const auto& u : m.peerurls()) {
        conf.push_back((m.id() == r->member().id() ? name : m.name()) + "=" + u);
      }
    }
    std::cout << "\nETCD_NAME=\"" << name << "\"\n"
              << "ETCD_INITIAL_CLUSTER=\"" << absl::StrJoin(conf, ",") << "\"\n"
              << "ETCD_INITIAL_ADVERTISE_PEER_URLS=\"" << *peer_urls << "\"\n"
              << "ETCD_INITIAL_CLUSTER_STATE=\"existing\"\n";
  });

  Args remove = std::make_shared<std::vector<std::string>>();
  Sub(member, "remove", "Removes a member from the cluster", remove)->callback([&ctx, remove] {
    uint64_t id = MemberArg(*remove);
    auto r = ctx.client().MemberRemove(id);
    if (!r.ok()) Fail(kExitError, ErrorText(r.status()));
    ctx.printer().MemberRemove(id, *r);
  });

  Args update = std::make_shared<std::vector<std::string>>();
  auto update_urls = std::make_shared<std::string>();
  auto* update_cmd = Sub(member, "update", "Updates a member in the cluster", update);
  update_cmd->add_option("--peer-urls", *update_urls, "comma separated peer URLs");
  update_cmd->callback([&ctx, update, update_urls] {
    uint64_t id = MemberArg(*update);
    if (update_urls->empty()) Fail(kExitBadArgs, "member peer urls not provided");
    auto r = ctx.client().MemberUpdate(id, absl::StrSplit(*update_urls, ','));
    if (!r.ok()) Fail(kExitError, ErrorText(r.status()));
    ctx.printer().MemberUpdate(id, *r);
  });

  Args list = std::make_shared<std::vector<std::string>>();
  Sub(member, "list", "Lists all members in the cluster", list)->callback([&ctx] {
    auto r = ctx.client().MemberList();
    if (!r.ok()) Fail(kExitError, ErrorText(r.status()));
    ctx.printer().MemberList(*r);
  });

  Args promote = std::make_shared<std::vector<std::string>>();
  Sub(member, "promote", "Promotes a non-voting member in the cluster", promote)
      ->callback([&ctx, promote] {
        uint64_t id = MemberArg(*promote);
        auto r = ctx.client().MemberPromote(id);
        if (!r.ok()) Fail(kExitError, ErrorText(r.status()));
        ctx.printer().MemberPromote(id, *r);
      });
}

}  // namespace quorum::ctl
