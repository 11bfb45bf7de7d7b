// Test harness for quorum-elect: a 3-member server cluster on loopback whose members can be
// killed, frozen (SIGSTOP) and thawed by PID, optionally with client and peer mutual TLS from
// certificates made here; quorum-elect instances as child processes, and a parser for their
// timestamped state lines. Used by tests/elect/elect_process_test.cc and elect_auth_test.cc.
// The cluster runs quorumd by default; QUORUM_ELECT_TEST_SERVER=/usr/bin/etcd runs the same
// tests against etcd 3.4, the reference the tool must work with.
#ifndef QUORUM_TESTS_ELECT_ELECT_HARNESS_H_
#define QUORUM_TESTS_ELECT_ELECT_HARNESS_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/kv_client.h"
#include "client/tls_options.h"
#include "tests/support/process.h"

namespace quorum::testing {

// A CA and certificates signed by it, made with deploy/certs.sh in a fresh directory: for each
// member a server certificate (SANs 127.0.0.1 and localhost) and a peer certificate, and client
// certificates on demand. Files are "<dir>/<name>.pem" and "<dir>/<name>-key.pem".
class TestCertificates {
 public:
  // Throws if openssl fails.
  explicit TestCertificates(const std::vector<std::string>& members);
  const std::string& dir() const { return dir_.path(); }
  std::string Ca() const { return dir() + "/ca.pem"; }
  std::string Cert(const std::string& name) const { return dir() + "/" + name + ".pem"; }
  std::string Key(const std::string& name) const { return dir() + "/" + name + "-key.pem"; }
  // A client certificate whose CN is `name`.
  void AddClient(const std::string& name);
  // Client TLS options trusting the CA, with `name`'s certificate (none if empty), files loaded.
  client::TlsOptions ClientTls(const std::string& name) const;
  // quorum-elect's and etcdctl's flags for the same.
  std::vector<std::string> ClientFlags(const std::string& name) const;

 private:
  void Run(std::vector<std::string> args);
  TempDir dir_;
};

// Members started from the etcd flag set of QuorumdArgs (which etcd takes as well). Unlike
// TestCluster it exposes signals per member, which freezing the cluster needs.
class ServerCluster {
 public:
  // Plain http everywhere.
  explicit ServerCluster(int members);
  // Client and peer mutual TLS (https:// URLs, --client-cert-auth, --peer-client-cert-auth)
  // with certificates from `certs` (which must outlive the cluster) for members m1..mN; the
  // cluster's own status checks use the client certificate `harness_client`.
  ServerCluster(int members, const TestCertificates& certs, const std::string& harness_client);
  ~ServerCluster();

  int size() const { return static_cast<int>(specs_.size()); }
  const std::string& server() const { return server_; }
  void StartAll();
  void Kill(int i);  // kill -9
  // Starts every member that is not running, from its data dir, without waiting for it.
  void RestartAll();
  void Signal(int i, int signal);  // e.g. SIGSTOP / SIGCONT
  bool Running(int i) const;
  // The member every running member names as leader, within `wait`.
  std::optional<int> WaitForLeader(std::chrono::milliseconds wait = std::chrono::seconds(20));
  // "host:port,host:port,...", starting with member `first`.
  std::string Endpoints(int first = 0) const;
  std::string Log(int i) const;

 private:
  std::string server_;
  TempDir dir_;
  const TestCertificates* certs_ = nullptr;
  std::vector<MemberSpec> specs_;
  std::vector<std::unique_ptr<ChildProcess>> processes_;
  std::vector<std::unique_ptr<client::KvClient>> clients_;
};

// One line of quorum-elect's log: "<time> quorum-elect[<id>] <text>".
struct StateLine {
  absl::Time time;
  std::string text;
  bool StartsWith(const std::string& prefix) const { return text.rfind(prefix, 0) == 0; }
  // For "renewed ... sent=<time>" lines: when the renewal was sent.
  std::optional<absl::Time> RenewalSent() const;
};

// quorum-elect's timing flags, short enough for tests; the relations of the defaults hold.
struct ElectTimings {
  std::string lease_duration = "6s";
  std::string renew_deadline = "4s";
  std::string retry_period = "1s";
};

// A quorum-elect child process.
class ElectInstance {
 public:
  // `flags` go before the election name (TLS, --user, ...).
  ElectInstance(const std::string& id, const std::string& election, const std::string& endpoints,
                const std::string& log_dir, std::vector<std::string> command = {},
                ElectTimings timings = ElectTimings(), std::vector<std::string> flags = {});
  const std::string& id() const { return id_; }
  ChildProcess& process() { return *process_; }

  std::vector<StateLine> Lines() const;
  // Waits until a line whose text starts with `prefix` appears after the first `skip` lines;
  // returns it (and its index), or nullopt at the deadline.
  std::optional<std::pair<StateLine, size_t>> WaitFor(const std::string& prefix,
                                                      std::chrono::milliseconds wait,
                                                      size_t skip = 0) const;
  std::string Log() const { return process_->Log(); }

 private:
  std::string id_;
  std::unique_ptr<ChildProcess> process_;
};

// Where the built quorum-elect is.
std::string ElectPath();

// The lease duration and renew deadline of ElectTimings' defaults.
inline const absl::Duration kLeaseDuration = absl::Seconds(6);
inline const absl::Duration kRenewDeadline = absl::Seconds(4);

// The send time of the last renewal logged before line `before`.
std::optional<absl::Time> LastRenewalSent(const std::vector<StateLine>& lines,
                                          size_t before = SIZE_MAX);
bool HasLine(const std::vector<StateLine>& lines, const std::string& prefix);
inline double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// With `active` active and `standby` standing by, kill -9 the cluster's `leader` member:
// `active` keeps renewing (two renewals sent after the kill, within 15 s), neither instance
// steps down or takes over, and the pause in `active`'s renewals stays under the renew
// deadline. Failures are reported through gtest; returns the pause.
absl::Duration ExpectRidesOutLeaderKill(ServerCluster& cluster, int leader, ElectInstance& active,
                                        ElectInstance& standby);

// kill -9 `active` and wait (15 s at most) for `standby` to become active, which must not be
// before the lease has run from `active`'s last renewal nor much after it. nullopt (with a
// failure) when the standby never took over.
struct Takeover {
  absl::Time killed;                    // when `active` was killed
  absl::Time last_renewal;              // its last renewal's send time
  absl::Time taken;                     // when `standby` logged "active"
  std::vector<StateLine> killed_lines;  // the killed instance's log
};
std::optional<Takeover> ExpectTakeoverAfterKill(ElectInstance& active, ElectInstance& standby);

}  // namespace quorum::testing

#endif  // QUORUM_TESTS_ELECT_ELECT_HARNESS_H_
