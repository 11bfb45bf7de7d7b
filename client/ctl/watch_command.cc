// quorumctl watch: etcdctl's watch (key, range end, --prefix, --rev, --prev-kv, -i), printing
// each event batch as it arrives. The watch moves to another member if its member dies.
#include <csignal>
#include <iostream>
#include <thread>

#include "absl/strings/match.h"
#include "client/ctl/ctl.h"
#include "client/ctl/txn_input.h"
#include "client/watcher.h"

namespace quorum::ctl {

namespace {

struct WatchArgs {
  std::vector<std::string> args;
  bool interactive = false;
  bool prefix = false;
  int64_t rev = 0;
  bool prev_kv = false;
};

client::WatchOptions ToOptions(const WatchArgs& a, const std::vector<std::string>& args) {
  client::WatchOptions o;
  std::string key = args.empty() ? "" : args[0];
  if (const char* env = std::getenv("ETCDCTL_WATCH_KEY"); env != nullptr && args.empty()) {
    key = env;
  }
  if (args.empty() && key.empty()) Fail(kExitBadArgs, "bad number of arguments");
  if (args.size() > 2) Fail(kExitBadArgs, "bad number of arguments");
  o.key = key;
  if (args.size() == 2) {
    if (a.prefix) Fail(kExitBadArgs, "unexpected range_end with --prefix");
    o.range_end = args[1];
  } else if (const char* env = std::getenv("ETCDCTL_WATCH_RANGE_END"); env != nullptr) {
    o.range_end = env;
  }
  if (a.prefix) o.range_end = client::PrefixRangeEnd(key);
  o.start_revision = a.rev;
  o.prev_kv = a.prev_kv;
  return o;
}

// Prints events until the watch ends; returns its end status.
absl::Status RunWatch(CtlContext& ctx, const client::WatchOptions& options) {
  auto& printer = ctx.printer();
  std::mutex print_mu;
  auto watcher = ctx.client().Watch(options, [&](const etcdserverpb::WatchResponse& r) {
    std::lock_guard<std::mutex> lock(print_mu);
    if (r.compact_revision() > 0 || r.events_size() > 0) printer.Watch(r);
  });
  while (true) {
    auto status = watcher->WaitEnded(std::chrono::hours(1));
    if (status.code() != absl::StatusCode::kDeadlineExceeded) return status;
  }
}

}  // namespace

void AddWatchCommand(CLI::App& app, CtlContext& ctx) {
  auto a = std::make_shared<WatchArgs>();
  auto* cmd = app.add_subcommand("watch", "Watches events stream on keys or prefixes");
  cmd->add_option("key_and_range_end", a->args, "[key or prefix] [range_end]");
  cmd->add_flag("-i,--interactive", a->interactive, "Interactive mode");
  cmd->add_flag("--prefix", a->prefix, "Watch on a prefix if prefix is set");
  cmd->add_option("--rev", a->rev, "Revision to start watching");
  cmd->add_flag("--prev-kv", a->prev_kv, "get the previous key-value pair before the event");
  cmd->callback([&ctx, a] {
    if (a->interactive) {
      // One watch per "watch ..." line, each printing from its own thread.
      std::vector<std::thread> watches;
      std::string line;
      while (std::getline(std::cin, line)) {
        auto args = Argify(line);
        if (args.empty() || args[0] != "watch") {
          std::cerr << "Invalid command: " << line << " (watch and progress supported)\n";
          continue;
        }
        args.erase(args.begin());
        auto options = ToOptions(*a, args);
        watches.emplace_back([&ctx, options] { RunWatch(ctx, options).IgnoreError(); });
      }
      for (auto& t : watches) t.join();
      return;
    }
    auto status = RunWatch(ctx, ToOptions(*a, a->args));
    if (status.code() == absl::StatusCode::kOutOfRange) Fail(kExitInterrupted, ErrorText(status));
    // A watch the server refused (etcd: permission, credentials) names the reason first.
    if (status.code() == absl::StatusCode::kCancelled &&
        absl::StartsWith(status.message(), "rpc error: ")) {
      std::cerr << "watch was canceled (" << status.message() << ")\n";
    }
    Fail(kExitInterrupted, "watch is canceled by the server");
  });
}

}  // namespace quorum::ctl
