// quorumd's configuration: etcd's flag names and defaults, ETCD_* environment variables, and the
// checks that turn a bad setting into a clear startup error. Called once by main() before
// anything else starts; the result is immutable afterwards.
#ifndef QUORUM_SERVER_CONFIG_H_
#define QUORUM_SERVER_CONFIG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/peer/tls_credentials.h"

namespace quorum::server {

class JwtTokens;

// A parsed http://host:port or https://host:port URL.
struct Url {
  std::string scheme;
  std::string host;
  int port = 0;
  std::string original;

  // host:port as gRPC wants it for listening or dialing.
  std::string HostPort() const;
};

// Parses a comma-separated list of URLs; every entry must be http:// or https://host:port.
absl::StatusOr<std::vector<Url>> ParseUrls(const std::string& list, const std::string& flag);

struct InitialMember {
  std::string name;
  std::vector<Url> peer_urls;
};

struct Config {
  std::string name = "default";
  std::string data_dir;  // defaults to "<name>.etcd", as etcd does
  std::vector<Url> listen_client_urls;
  std::vector<Url> advertise_client_urls;
  std::vector<Url> listen_peer_urls;
  // --listen-metrics-urls: /metrics and /health alone, HTTP/1.1 (empty: none).
  std::vector<Url> listen_metrics_urls;
  std::vector<Url> initial_advertise_peer_urls;
  std::vector<InitialMember> initial_cluster;
  std::string initial_cluster_state = "new";
  std::string initial_cluster_token = "etcd-cluster";
  uint64_t heartbeat_interval_ms = 100;
  uint64_t election_timeout_ms = 1000;
  uint64_t snapshot_count = 100000;
  // Entries kept in the log after a snapshot so a slightly slow follower catches up from the
  // log instead of a snapshot (etcd keeps 5000).
  uint64_t snapshot_catchup_entries = 5000;
  uint64_t max_request_bytes = 1536 * 1024;
  uint64_t max_txn_ops = 128;
  int64_t quota_backend_bytes = 0;  // 0: the default quota
  std::string log_level = "info";
  std::string logger = "capnslog";                     // --logger: capnslog (text) or zap (JSON)
  std::vector<std::string> log_outputs = {"default"};  // --log-outputs
  // Period of progress notifications to idle watchers that asked for them (etcd: 10 minutes).
  int64_t watch_progress_notify_interval_ms = 10 * 60 * 1000;
  bool unsafe_no_fsync = false;
  bool print_version = false;

  // --- TLS (etcd's security flags) ---
  // Client listener: --cert-file, --key-file, --trusted-ca-file, --client-cert-auth,
  // --auto-tls, --client-crl-file.
  TlsFiles client_tls{.flag_prefix = ""};
  // Peer listener and dials: the --peer-* flags and --peer-cert-allowed-cn.
  TlsFiles peer_tls{.flag_prefix = "peer-"};
  // --cipher-suites as an OpenSSL cipher list ("" for the library's default).
  std::string cipher_list;
  // Built by main() from peer_tls after auto-TLS; used by the transport and by joining.
  PeerSecurity peer_security;
  // --- end TLS ---
  // Auth (etcd's --auth-token, --auth-token-ttl, --bcrypt-cost). Only "simple" tokens.
  // "simple", or "jwt,<options>" (the JWT keys are loaded by main into `jwt`).
  std::string auth_token = "simple";
  std::shared_ptr<const JwtTokens> jwt;
  int64_t auth_token_ttl_seconds = 300;
  int bcrypt_cost = 10;

  // Auto-compaction (--auto-compaction-mode, --auto-compaction-retention): off when both
  // retentions are zero. Periodic: keep `auto_compaction_period` of history; revision: keep
  // `auto_compaction_revisions` revisions.
  // Corruption checks: HashKV compared with the peers at start, and by the leader every
  // `corrupt_check_interval` (zero: never).
  bool initial_corrupt_check = false;
  absl::Duration corrupt_check_interval = absl::ZeroDuration();

  std::string auto_compaction_mode = "periodic";
  absl::Duration auto_compaction_period = absl::ZeroDuration();
  int64_t auto_compaction_revisions = 0;

  // etcd's default quota when --quota-backend-bytes is 0 or negative.
  static constexpr int64_t kDefaultQuotaBytes = int64_t{2} * 1024 * 1024 * 1024;
  int64_t EffectiveQuotaBytes() const {
    return quota_backend_bytes > 0 ? quota_backend_bytes : kDefaultQuotaBytes;
  }
};

// Parses argv (and ETCD_<FLAG> environment variables, flags winning) into a checked Config.
// On --help the help text is in the error message with code kCancelled; the caller prints it and
// exits 0. Every other error names the flag and what is wrong with it.
absl::StatusOr<Config> ParseConfig(int argc, const char* const* argv);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_CONFIG_H_
