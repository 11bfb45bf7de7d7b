// What every quorumctl command shares: etcdctl's global flags (each also read from an
// ETCDCTL_<FLAG> environment variable), the Client they configure, the output Printer, and
// etcdctl's exit codes. main.cc builds one CtlContext; the command files register on it.
#ifndef QUORUM_CLIENT_CTL_CTL_H_
#define QUORUM_CLIENT_CTL_CTL_H_

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/client.h"
#include "client/ctl/printer.h"

namespace quorum::ctl {

// etcdctl's exit codes.
inline constexpr int kExitError = 1;
inline constexpr int kExitBadConnection = 2;
inline constexpr int kExitInvalidInput = 3;
inline constexpr int kExitBadFeature = 4;
inline constexpr int kExitInterrupted = 5;
inline constexpr int kExitIO = 6;
inline constexpr int kExitBadArgs = 128;

struct GlobalFlags {
  std::vector<std::string> endpoints = {"127.0.0.1:2379"};
  std::string dial_timeout = "2s";
  std::string command_timeout = "5s";
  std::string keepalive_time = "2s";
  std::string keepalive_timeout = "6s";
  std::string write_out = "simple";
  bool hex = false;
  bool debug = false;
  bool insecure_transport = true;
  bool insecure_skip_tls_verify = false;
  bool insecure_discovery = true;
  std::string cert, key, cacert, user, password, discovery_srv, discovery_srv_name;
};

// Prints "Error: <message>" to stderr and exits with `code`, as etcdctl does.
[[noreturn]] void Fail(int code, const std::string& message);
// The text etcdctl shows for a failed call: etcd's message as sent by the server, and Go's
// "context deadline exceeded" when the command's time ran out.
std::string ErrorText(const absl::Status& status);
// Parses Go duration text: "5s", "500ms", "1m30s", "2h".
absl::StatusOr<std::chrono::milliseconds> ParseGoDuration(const std::string& text);

class CtlContext {
 public:
  explicit CtlContext(CLI::App& app);

  GlobalFlags& flags() { return flags_; }
  // The endpoints from --endpoints / ETCDCTL_ENDPOINTS, trimmed.
  std::vector<std::string> Endpoints() const;
  std::chrono::milliseconds CommandTimeout() const;
  std::chrono::milliseconds DialTimeout() const;
  // A client over all --endpoints (made on first use; bad flags end the process). Safe to call
  // from several threads at once: they all get the one client.
  client::Client& client();
  // A client over exactly `endpoints` (for per-member commands).
  std::unique_ptr<client::Client> ClientFor(std::vector<std::string> endpoints) const;
  Printer& printer();
  // With --cluster: every member's client URLs from the member list; otherwise --endpoints.
  std::vector<std::string> EndpointsFromCluster(bool cluster);
  // TLS from --cacert, --cert, --key, --insecure-transport, --insecure-skip-tls-verify, files
  // loaded (an unreadable one ends the process).
  client::TlsOptions Tls() const;

 private:
  GlobalFlags flags_;
  std::once_flag client_once_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<Printer> printer_;
};

// Adds each command group to `app`.
void AddKvCommands(CLI::App& app, CtlContext& ctx);
void AddWatchCommand(CLI::App& app, CtlContext& ctx);
void AddLeaseCommands(CLI::App& app, CtlContext& ctx);
void AddMemberCommands(CLI::App& app, CtlContext& ctx);
void AddEndpointCommands(CLI::App& app, CtlContext& ctx);
void AddMaintenanceCommands(CLI::App& app, CtlContext& ctx);
void AddElectLockCommands(CLI::App& app, CtlContext& ctx);
// Auth: user, role and auth commands.
void AddAuthCommands(CLI::App& app, CtlContext& ctx);
void AddClusterStatusCommand(CLI::App& app, CtlContext& ctx);

}  // namespace quorum::ctl

#endif  // QUORUM_CLIENT_CTL_CTL_H_
