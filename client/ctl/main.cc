// quorumctl: the operator's command line for quorum (and any etcd v3 server). etcdctl 3.4's v3
// commands, flags, ETCDCTL_* environment variables, output formats and exit codes, plus
// `cluster status`, a live view of the members and the quorum.
#include <CLI/CLI.hpp>
#include <iostream>

#include "client/ctl/ctl.h"

int main(int argc, char** argv) {
  CLI::App app{"A simple command line client for quorum (etcd v3 API)."};
  app.name("quorumctl");
  // Global flags may follow the command, as with etcdctl.
  app.fallthrough();
  app.require_subcommand(1);
  quorum::ctl::CtlContext ctx(app);
  quorum::ctl::AddKvCommands(app, ctx);
  quorum::ctl::AddWatchCommand(app, ctx);
  quorum::ctl::AddLeaseCommands(app, ctx);
  quorum::ctl::AddMemberCommands(app, ctx);
  quorum::ctl::AddEndpointCommands(app, ctx);
  quorum::ctl::AddMaintenanceCommands(app, ctx);
  quorum::ctl::AddElectLockCommands(app, ctx);
  // Auth.
  quorum::ctl::AddAuthCommands(app, ctx);
  quorum::ctl::AddClusterStatusCommand(app, ctx);
  auto* version = app.add_subcommand("version", "Prints the version of quorumctl");
  version->callback([] { std::cout << "quorumctl version: 3.4.0\nAPI version: 3.4\n"; });
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ExtrasError& e) {
    // etcdctl (cobra) answers an unknown flag with the command's usage and exit code 1.
    CLI::App* command = &app;
    while (!command->get_subcommands().empty()) command = command->get_subcommands().front();
    std::cout << command->help();
    std::string what = e.what();
    std::string flag = what.substr(what.rfind(": ") + 2);
    std::string message = "Error: " + (flag.rfind("-", 0) == 0 ? "unknown flag: " + flag : what);
    // etcdctl reports it twice: once from the flag parser, once on exit.
    std::cerr << message << "\n\n" << message << "\n";
    return quorum::ctl::kExitError;
  } catch (const CLI::ParseError& e) {
    std::cerr << "Error: " << e.what() << "\n";
    return quorum::ctl::kExitBadArgs;
  }
  return 0;
}
