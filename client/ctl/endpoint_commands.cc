// quorumctl endpoint health/status/hashkv, move-leader, defrag, alarm, snapshot save:
// etcdctl's per-member and maintenance commands.
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/ctl/ctl.h"
#include "storage/backup.h"

namespace quorum::ctl {

namespace {

using Args = std::shared_ptr<std::vector<std::string>>;

EndpointHealth CheckHealth(CtlContext& ctx, const std::string& endpoint) {
  auto client = ctx.ClientFor({endpoint});
  auto start = std::chrono::steady_clock::now();
  // A linearizable read needs a leader and a quorum: what "healthy" means to etcdctl.
  auto r = client->Get("health");
  auto took = std::chrono::steady_clock::now() - start;
  EndpointHealth h;
  h.endpoint = endpoint;
  h.took = GoDuration(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count());
  if (r.ok() || r.status().code() == absl::StatusCode::kPermissionDenied) {
    h.health = true;
  } else {
    h.error = ErrorText(r.status());
  }
  return h;
}

}  // namespace

void AddEndpointCommands(CLI::App& app, CtlContext& ctx) {
  auto* endpoint = app.add_subcommand("endpoint", "Endpoint related commands");
  endpoint->require_subcommand(1);
  auto cluster = std::make_shared<bool>(false);
  endpoint->add_flag("--cluster", *cluster, "use all endpoints from the cluster member list");

  endpoint->add_subcommand("health", "Checks the healthiness of endpoints in --endpoints")
      ->callback([&ctx, cluster] {
        std::vector<std::future<EndpointHealth>> checks;
        for (const auto& ep : ctx.EndpointsFromCluster(*cluster)) {
          checks.push_back(
              std::async(std::launch::async, [&ctx, ep] { return CheckHealth(ctx, ep); }));
        }
        std::vector<EndpointHealth> list;
        bool errors = false;
        for (auto& c : checks) {
          list.push_back(c.get());
          errors |= !list.back().error.empty();
        }
        ctx.printer().Health(list);
        if (errors) Fail(kExitError, "unhealthy cluster");
      });

  endpoint->add_subcommand("status", "Prints out the status of endpoints in --endpoints")
      ->callback([&ctx, cluster] {
        std::vector<EndpointStatus> list;
        bool failed = false;
        for (const auto& ep : ctx.EndpointsFromCluster(*cluster)) {
          auto r = ctx.client().Status(ep);
          if (!r.ok()) {
            failed = true;
            std::cerr << "Failed to get the status of endpoint " << ep << " ("
                      << ErrorText(r.status()) << ")\n";
            continue;
          }
          list.push_back({ep, *r});
        }
        ctx.printer().Status(list);
        if (failed) std::exit(kExitError);
      });

  auto hash_rev = std::make_shared<int64_t>(0);
  auto* hashkv = endpoint->add_subcommand("hashkv", "Prints the KV history hash for each endpoint");
  hashkv->add_option("--rev", *hash_rev, "maximum revision to hash (default: all revisions)");
  hashkv->callback([&ctx, cluster, hash_rev] {
    std::vector<EndpointHash> list;
    absl::Status last;
    for (const auto& ep : ctx.EndpointsFromCluster(*cluster)) {
      auto r = ctx.client().HashKV(ep, *hash_rev);
      if (!r.ok()) {
        last = r.status();
        std::cerr << "Failed to get the hash of endpoint " << ep << " (" << ErrorText(last)
                  << ")\n";
        continue;
      }
      list.push_back({ep, *r});
    }
    ctx.printer().HashKV(list);
    if (!last.ok()) Fail(kExitError, ErrorText(last));
  });
}

void AddMaintenanceCommands(CLI::App& app, CtlContext& ctx) {
  Args move_args = std::make_shared<std::vector<std::string>>();
  auto* move = app.add_subcommand("move-leader", "Transfers leadership to another member.");
  move->add_option("args", *move_args);
  move->callback([&ctx, move_args] {
    if (move_args->size() != 1) Fail(kExitBadArgs, "move-leader command needs 1 argument");
    uint64_t target = 0;
    if (!absl::SimpleHexAtoi((*move_args)[0], &target)) {
      Fail(kExitBadArgs, "strconv.ParseUint: parsing \"" + (*move_args)[0] + "\": invalid syntax");
    }
    // Only the leader can hand leadership over: find it among the endpoints.
    for (const auto& ep : ctx.Endpoints()) {
      auto status = ctx.client().Status(ep);
      if (!status.ok()) Fail(kExitError, ErrorText(status.status()));
      if (status->header().member_id() != status->leader()) continue;
      auto r = ctx.client().MoveLeader(ep, target);
      if (!r.ok()) Fail(kExitError, ErrorText(r.status()));
      ctx.printer().MoveLeader(status->leader(), target, *r);
      return;
    }
    std::string eps;
    for (const auto& ep : ctx.Endpoints()) eps += (eps.empty() ? "" : " ") + ep;
    Fail(kExitBadArgs, "no leader endpoint given at [" + eps + "]");
  });

  auto cluster = std::make_shared<bool>(false);
  auto data_dir = std::make_shared<std::string>();
  auto* defrag = app.add_subcommand("defrag", "Defragments the storage of the members");
  defrag->add_flag("--cluster", *cluster, "use all endpoints from the cluster member list");
  defrag->add_option("--data-dir", *data_dir, "defragment a data directory not in use");
  defrag->callback([&ctx, cluster, data_dir] {
    if (!data_dir->empty()) {
      std::cerr << "Failed to defragment etcd data[" << *data_dir
                << "] (offline defragmentation is not supported by quorum; defragment the "
                   "running member instead)\n";
      std::exit(kExitError);
    }
    int failures = 0;
    for (const auto& ep : ctx.EndpointsFromCluster(*cluster)) {
      auto s = ctx.client().Defragment(ep);
      if (!s.ok()) {
        std::cerr << "Failed to defragment etcd member[" << ep << "] (" << ErrorText(s) << ")\n";
        ++failures;
      } else {
        std::cout << "Finished defragmenting etcd member[" << ep << "]\n";
      }
    }
    if (failures > 0) std::exit(kExitError);
  });

  auto* alarm = app.add_subcommand("alarm", "Alarm related commands");
  alarm->require_subcommand(1);
  for (const char* name : {"disarm", "list"}) {
    Args args = std::make_shared<std::vector<std::string>>();
    bool disarm = std::string(name) == "disarm";
    auto* cmd = alarm->add_subcommand(name, disarm ? "Disarms all alarms" : "Lists all alarms");
    cmd->add_option("args", *args);
    cmd->callback([&ctx, args, disarm] {
      if (!args->empty()) {
        Fail(kExitBadArgs,
             absl::StrCat("alarm ", disarm ? "disarm" : "list", " command accepts no arguments"));
      }
      etcdserverpb::AlarmRequest request;
      request.set_action(etcdserverpb::AlarmRequest::GET);
      auto listed = ctx.client().Alarm(request);
      if (!listed.ok()) Fail(kExitError, ErrorText(listed.status()));
      if (!disarm) return ctx.printer().Alarm(*listed);
      // etcd's client disarms each raised alarm in turn and reports what it disarmed.
      etcdserverpb::AlarmResponse result;
      *result.mutable_header() = listed->header();
      for (const auto& a : listed->alarms()) {
        etcdserverpb::AlarmRequest off;
        off.set_action(etcdserverpb::AlarmRequest::DEACTIVATE);
        off.set_memberid(a.memberid());
        off.set_alarm(a.alarm());
        auto r = ctx.client().Alarm(off);
        if (!r.ok()) Fail(kExitError, ErrorText(r.status()));
        *result.mutable_header() = r->header();
        for (const auto& x : r->alarms()) *result.add_alarms() = x;
      }
      ctx.printer().Alarm(result);
    });
  }

  auto* snapshot = app.add_subcommand("snapshot", "Manages etcd node snapshots");
  snapshot->require_subcommand(1);
  Args save_args = std::make_shared<std::vector<std::string>>();
  auto* save = snapshot->add_subcommand("save", "Stores a snapshot to a given file");
  save->add_option("filename", *save_args);
  save->callback([&ctx, save_args] {
    if (save_args->size() != 1) {
      Fail(kExitBadArgs, "snapshot save expects one argument");
    }
    auto endpoints = ctx.Endpoints();
    if (endpoints.size() != 1) {
      Fail(kExitBadArgs, absl::StrFormat("snapshot must be requested to one selected node, not "
                                         "multiple [%s]",
                                         absl::StrJoin(endpoints, " ")));
    }
    const std::string path = (*save_args)[0];
    const std::string part = path + ".part";
    std::ofstream out(part, std::ios::binary | std::ios::trunc);
    if (!out) Fail(kExitError, "could not open " + part);
    auto s = ctx.client().Snapshot(endpoints[0], [&out](const std::string& blob) {
      out.write(blob.data(), static_cast<std::streamsize>(blob.size()));
      return out ? absl::OkStatus() : absl::DataLossError("write failed");
    });
    out.close();
    if (!s.ok()) {
      std::remove(part.c_str());
      Fail(kExitInterrupted, ErrorText(s));
    }
    if (std::rename(part.c_str(), path.c_str()) != 0) Fail(kExitIO, "could not rename " + part);
    std::cout << "Snapshot saved at " << path << "\n";
  });
  Args restore_args = std::make_shared<std::vector<std::string>>();
  auto* restore = snapshot->add_subcommand("restore", "Restores a snapshot to a data directory");
  restore->add_option("filename", *restore_args);
  auto restore_flags = std::make_shared<std::map<std::string, std::string>>();
  (*restore_flags)["name"] = "default";
  for (const char* flag : {"data-dir", "wal-dir", "name", "initial-cluster",
                           "initial-cluster-token", "initial-advertise-peer-urls"}) {
    restore->add_option(std::string("--") + flag, (*restore_flags)[flag]);
  }
  auto skip_hash_check = std::make_shared<bool>(false);
  restore->add_flag("--skip-hash-check", *skip_hash_check);
  // The same restore as `quorumutl snapshot restore`, kept because etcdctl 3.4 has it.
  restore->callback([restore_args, restore_flags, skip_hash_check] {
    if (restore_args->size() != 1)
      Fail(kExitBadArgs, "snapshot restore requires exactly one argument");
    // etcd's default data dir: "<name>.etcd". The new cluster itself is formed when quorumd
    // first starts on the directory with its --initial-cluster flags.
    std::string dir = (*restore_flags)["data-dir"];
    if (dir.empty()) dir = (*restore_flags)["name"] + ".etcd";
    absl::Status s =
        storage::RestoreBackup((*restore_args)[0], dir, {.skip_hash_check = *skip_hash_check});
    if (!s.ok()) Fail(kExitError, std::string(s.message()));
    std::cerr << "restored snapshot " << (*restore_args)[0] << " to " << dir << "\n";
  });
}

}  // namespace quorum::ctl
