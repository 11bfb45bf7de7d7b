// quorum-elect's settings: the command line parsed with CLI11 and checked the way Kubernetes
// checks its leader-election timings. Called once by main() before anything connects.
#ifndef QUORUM_CLIENT_ELECT_OPTIONS_H_
#define QUORUM_CLIENT_ELECT_OPTIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/tls_options.h"

namespace quorum::elect {

// Kubernetes' leader election waits retry-period times a random factor in [1, kJitterFactor)
// between attempts; the renew deadline must leave room for at least one such attempt.
inline constexpr double kJitterFactor = 1.2;

struct Options {
  std::string election;                // the election's name; keys live under "<election>/"
  std::vector<std::string> endpoints;  // host:port, in the order to try them
  absl::Duration lease_duration = absl::Seconds(15);
  absl::Duration renew_deadline = absl::Seconds(10);
  absl::Duration retry_period = absl::Seconds(2);
  // How long the command gets between SIGTERM and SIGKILL when this member steps down.
  absl::Duration stop_grace = absl::ZeroDuration();  // zero: half of lease - renew deadline
  std::string id;                                    // names this member in log lines
  std::string value;                 // what observers see as the leader's value (etcdctl elect -l)
  std::vector<std::string> command;  // run while active; empty: only report
  // --cacert, --cert, --key, --insecure-transport, --insecure-skip-tls-verify (etcdctl's
  // flags), files loaded. An https:// endpoint turns TLS on for all endpoints.
  client::TlsOptions tls;
  // --user name[:password] and --password (etcdctl's flags): with a user, every call carries the
  // token of its login. Empty: no auth.
  std::string user;
  std::string password;

  // The lease TTL asked of the server: the lease duration in whole seconds.
  int64_t LeaseTtlSeconds() const { return absl::ToInt64Seconds(lease_duration); }
};

// Parses `quorum-elect [flags] ELECTION [-- COMMAND ARGS...]`. Returns the options, or
// CANCELLED carrying the help text for --help, or INVALID_ARGUMENT naming the bad flag.
absl::StatusOr<Options> ParseOptions(int argc, const char* const* argv);

// The timing rules, separate from parsing so tests and callers can check any Options:
// lease-duration > renew-deadline > retry-period * kJitterFactor > 0, and the lease duration
// is a whole number of seconds (an etcd lease TTL is whole seconds).
absl::Status ValidateTimings(const Options& options);

// Go-style durations as etcd and Kubernetes tools take them ("15s", "1.5s", "300ms"), or a
// plain number of seconds.
absl::StatusOr<absl::Duration> ParseFlagDuration(const std::string& flag, const std::string& text);

}  // namespace quorum::elect

#endif  // QUORUM_CLIENT_ELECT_OPTIONS_H_
