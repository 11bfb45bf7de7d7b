// quorumctl elect and lock: etcdctl's election and lock commands, on a lease kept alive for as
// long as the command runs (released on SIGINT/SIGTERM, as etcdctl does).
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/ctl/ctl.h"
#include "client/lease_keeper.h"

namespace quorum::ctl {

namespace {

std::atomic<bool> interrupted{false};

void OnSignal(int) { interrupted.store(true); }

// Waits for SIGINT/SIGTERM or the loss of the lease; true when interrupted.
bool WaitInterrupt(client::LeaseKeeper& keeper) {
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  while (!interrupted.load()) {
    if (keeper.WaitLost(std::chrono::milliseconds(100))) return false;
  }
  return true;
}

etcdserverpb::RangeResponse GetKey(CtlContext& ctx, const std::string& key) {
  auto r = ctx.client().Get(key);
  if (!r.ok()) Fail(kExitError, ErrorText(r.status()));
  return *r;
}

// A lease of `ttl` seconds kept alive until the returned keeper is destroyed.
std::pair<int64_t, std::unique_ptr<client::LeaseKeeper>> Session(CtlContext& ctx, int64_t ttl) {
  auto grant = ctx.client().LeaseGrant(ttl);
  if (!grant.ok()) Fail(kExitError, ErrorText(grant.status()));
  return {grant->id(), ctx.client().KeepAlive(grant->id())};
}

}  // namespace

void AddElectLockCommands(CLI::App& app, CtlContext& ctx) {
  auto elect_args = std::make_shared<std::vector<std::string>>();
  auto listen = std::make_shared<bool>(false);
  auto* elect = app.add_subcommand("elect", "Observes and participates in leader election");
  elect->add_option("election_and_proposal", *elect_args, "<election-name> [proposal]");
  elect->add_flag("-l,--listen", *listen, "observation mode");
  elect->callback([&ctx, elect_args, listen] {
    if (elect_args->size() != 1 && elect_args->size() != 2) {
      Fail(kExitBadArgs, "elect takes one election name argument and an optional proposal");
    }
    if (*listen == (elect_args->size() == 2)) {
      Fail(kExitBadArgs, "no proposal argument but -l not set");
    }
    const std::string name = (*elect_args)[0];
    if (*listen) {
      auto s = ctx.client().Observe(name, [&ctx](const v3electionpb::LeaderResponse& r) {
        etcdserverpb::RangeResponse shown;
        if (r.has_kv()) *shown.add_kvs() = r.kv();
        ctx.printer().Get(shown);
        std::cout.flush();
        return true;
      });
      Fail(kExitError, s.ok() ? "context canceled" : ErrorText(s));
    }
    auto [lease, keeper] = Session(ctx, 60);
    auto leader =
        ctx.client().Campaign(name, lease, (*elect_args)[1], std::chrono::hours(24 * 365));
    if (!leader.ok()) Fail(kExitError, ErrorText(leader.status()));
    ctx.printer().Get(GetKey(ctx, leader->key()));
    std::cout.flush();
    if (!WaitInterrupt(*keeper)) Fail(kExitError, "session expired");
    ctx.client().Resign(*leader).IgnoreError();
    ctx.client().LeaseRevoke(lease).IgnoreError();
  });

  auto lock_args = std::make_shared<std::vector<std::string>>();
  auto ttl = std::make_shared<int64_t>(10);
  auto* lock = app.add_subcommand("lock", "Acquires a named lock");
  lock->add_option("lockname_and_command", *lock_args, "<lockname> [exec-command arg1 arg2 ...]");
  lock->add_option("--ttl", *ttl, "timeout for session");
  lock->callback([&ctx, lock_args, ttl] {
    if (lock_args->empty())
      Fail(kExitBadArgs,
           "lock takes a lock name argument and an optional "
           "command to execute");
    auto [lease, keeper] = Session(ctx, *ttl);
    auto key = ctx.client().Lock((*lock_args)[0], lease, std::chrono::hours(24 * 365));
    if (!key.ok()) Fail(kExitError, ErrorText(key.status()));
    if (lock_args->size() > 1) {
      // Run the command while holding the lock, with the key and revision in its environment.
      auto held = GetKey(ctx, *key);
      int64_t rev = held.kvs_size() > 0 ? held.kvs(0).mod_revision() : 0;
      pid_t child = fork();
      if (child == 0) {
        setenv("ETCD_LOCK_KEY", key->c_str(), 1);
        setenv("ETCD_LOCK_REV", std::to_string(rev).c_str(), 1);
        std::vector<char*> argv;
        for (size_t i = 1; i < lock_args->size(); ++i) argv.push_back((*lock_args)[i].data());
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        _exit(127);
      }
      int wstatus = 0;
      waitpid(child, &wstatus, 0);
      ctx.client().Unlock(*key).IgnoreError();
      ctx.client().LeaseRevoke(lease).IgnoreError();
      if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) std::exit(kExitError);
      return;
    }
    std::cout << *key << "\n" << std::flush;
    if (!WaitInterrupt(*keeper)) Fail(kExitError, "session expired");
    ctx.client().Unlock(*key).IgnoreError();
    ctx.client().LeaseRevoke(lease).IgnoreError();
  });
}

}  // namespace quorum::ctl
