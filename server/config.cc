#include "server/config.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "server/peer/cipher_suites.h"
#include "yaml-cpp/yaml.h"

namespace quorum::server {

std::string Url::HostPort() const { return absl::StrCat(host, ":", port); }

namespace {

absl::StatusOr<Url> ParseUrl(absl::string_view text, const std::string& flag) {
  Url url;
  url.original = std::string(text);
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": invalid URL \"", text, "\": ", why));
  };
  size_t sep = text.find("://");
  if (sep == absl::string_view::npos) return bad("expected scheme://host:port");
  url.scheme = std::string(text.substr(0, sep));
  absl::string_view rest = text.substr(sep + 3);
  rest = absl::StripSuffix(rest, "/");
  if (url.scheme != "http" && url.scheme != "https") return bad("scheme must be http or https");
  size_t colon = rest.rfind(':');
  if (colon == absl::string_view::npos) return bad("missing port");
  url.host = std::string(rest.substr(0, colon));
  if (url.host.size() >= 2 && url.host.front() == '[' && url.host.back() == ']') {
    // IPv6 literals stay bracketed: gRPC expects "[::1]:2379".
  }
  if (url.host.empty()) return bad("missing host");
  if (!absl::SimpleAtoi(rest.substr(colon + 1), &url.port) || url.port <= 0 || url.port > 65535) {
    return bad("port must be a number from 1 to 65535");
  }
  return url;
}

absl::StatusOr<std::vector<InitialMember>> ParseInitialCluster(const std::string& text) {
  std::vector<InitialMember> members;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    size_t eq = item.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--initial-cluster: expected name=http://host:port entries, got \"", item, "\""));
    }
    std::string name(item.substr(0, eq));
    auto url = ParseUrl(item.substr(eq + 1), "initial-cluster");
    if (!url.ok()) return url.status();
    // Several entries with one name give that member several peer URLs (etcd behaviour).
    auto it = std::find_if(members.begin(), members.end(),
                           [&](const InitialMember& m) { return m.name == name; });
    if (it == members.end()) {
      members.push_back({name, {*url}});
    } else {
      it->peer_urls.push_back(*url);
    }
  }
  return members;
}

}  // namespace

absl::StatusOr<std::vector<Url>> ParseUrls(const std::string& list, const std::string& flag) {
  std::vector<Url> urls;
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    auto url = ParseUrl(absl::StripAsciiWhitespace(item), flag);
    if (!url.ok()) return url.status();
    urls.push_back(*std::move(url));
  }
  if (urls.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": at least one URL is required"));
  }
  return urls;
}

namespace {

// The command line a --config-file stands for: each top-level key is the flag of that name, the
// two security sections hold the TLS flags of their side. Lists become comma-separated values.
// An error names the file and the key.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ConfigFileFlags(
    const std::string& path) {
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("--config-file ", path, ": ", what));
  };
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return bad("cannot be read");
  } catch (const YAML::Exception& e) {
    return bad(absl::StrCat("not YAML: ", e.what()));
  }
  if (root.IsNull()) return std::vector<std::pair<std::string, std::string>>{};
  if (!root.IsMap()) return bad("the file must hold a map of settings");
  auto text = [](const YAML::Node& value) -> std::optional<std::string> {
    if (value.IsScalar()) return value.Scalar();
    if (value.IsNull()) return std::string();
    if (!value.IsSequence()) return std::nullopt;
    std::vector<std::string> items;
    for (const YAML::Node& item : value) {
      if (!item.IsScalar()) return std::nullopt;
      items.push_back(item.Scalar());
    }
    return absl::StrJoin(items, ",");
  };
  std::vector<std::pair<std::string, std::string>> flags;
  for (const auto& entry : root) {
    const std::string key = entry.first.Scalar();
    if (key == "client-transport-security" || key == "peer-transport-security") {
      const bool peer = key == "peer-transport-security";
      if (!entry.second.IsMap()) return bad(absl::StrCat("\"", key, "\" must be a map"));
      // etcd's section keys, and the CRL and allowed CN, which etcd has as flags only.
      static const std::map<std::string, std::pair<std::string, std::string>> kSection = {
          {"cert-file", {"cert-file", "peer-cert-file"}},
          {"key-file", {"key-file", "peer-key-file"}},
          {"client-cert-auth", {"client-cert-auth", "peer-client-cert-auth"}},
          {"trusted-ca-file", {"trusted-ca-file", "peer-trusted-ca-file"}},
          {"auto-tls", {"auto-tls", "peer-auto-tls"}},
          {"crl-file", {"client-crl-file", "peer-crl-file"}},
          {"cert-allowed-cn", {"", "peer-cert-allowed-cn"}}};
      for (const auto& item : entry.second) {
        const std::string name = item.first.Scalar();
        auto it = kSection.find(name);
        const std::string flag =
            it == kSection.end() ? "" : (peer ? it->second.second : it->second.first);
        if (flag.empty()) return bad(absl::StrCat("unknown key \"", key, ".", name, "\""));
        auto value = text(item.second);
        if (!value) return bad(absl::StrCat("\"", key, ".", name, "\" must be a value"));
        flags.emplace_back(flag, *value);
      }
      continue;
    }
    auto value = text(entry.second);
    if (!value) return bad(absl::StrCat("\"", key, "\" must be a value or a list of values"));
    if (entry.second.IsNull()) continue;  // "key:" with nothing: the default stays
    flags.emplace_back(key, *value);
  }
  return flags;
}

// --config-file from the command line or ETCD_CONFIG_FILE; "" when neither gives one.
std::string ConfigFilePath(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    for (const std::string flag : {"--config-file", "-config-file"}) {
      if (arg == flag && i + 1 < argc) return argv[i + 1];
      if (absl::StartsWith(arg, flag + "=")) return arg.substr(flag.size() + 1);
    }
  }
  const char* from_env = std::getenv("ETCD_CONFIG_FILE");
  return from_env == nullptr ? "" : from_env;
}

}  // namespace

absl::StatusOr<Config> ParseConfig(int argc, const char* const* argv) {
  // With a configuration file, its settings are the only ones: other flags and ETCD_*
  // variables are ignored (etcd behaviour).
  const std::string config_file = ConfigFilePath(argc, argv);
  std::vector<std::pair<std::string, std::string>> file_flags;
  if (!config_file.empty()) {
    auto flags = ConfigFileFlags(config_file);
    if (!flags.ok()) return flags.status();
    file_flags = *std::move(flags);
  }
  Config config;
  CLI::App app{"quorumd: a Raft-replicated key-value store serving the etcd v3 API", "quorumd"};
  app.set_version_flag("--version", "quorumd", "Print the version and exit.");

  std::string listen_client = "http://localhost:2379";
  std::string advertise_client = "http://localhost:2379";
  std::string listen_peer = "http://localhost:2380";
  std::string advertise_peer = "http://localhost:2380";
  std::string initial_cluster;

  // Every flag can also come from ETCD_<NAME IN CAPITALS WITH UNDERSCORES>, as with etcd.
  auto env = [&config_file](const std::string& flag) {
    if (!config_file.empty()) return std::string();  // no envname: variables are ignored
    std::string name = "ETCD_";
    for (char c : flag) name += c == '-' ? '_' : static_cast<char>(std::toupper(c));
    return name;
  };
  auto add = [&](const std::string& flag, auto& target, const std::string& help) {
    return app.add_option("--" + flag, target, help)->envname(env(flag))->capture_default_str();
  };
  add("name", config.name, "Human-readable name for this member.");
  add("data-dir", config.data_dir, "Path to the data directory (default: <name>.etcd).");
  add("listen-client-urls", listen_client, "URLs to listen on for client traffic.");
  add("advertise-client-urls", advertise_client, "This member's client URLs to advertise.");
  add("listen-peer-urls", listen_peer, "URLs to listen on for peer traffic.");
  std::string listen_metrics;
  add("listen-metrics-urls", listen_metrics,
      "List of URLs to listen on for the metrics and health endpoints.");
  add("initial-advertise-peer-urls", advertise_peer, "This member's peer URLs to advertise.");
  add("initial-cluster", initial_cluster,
      "Initial cluster configuration for bootstrapping: name=http://host:port,...");
  add("initial-cluster-state", config.initial_cluster_state,
      "Initial cluster state ('new' or 'existing').")
      ->check(CLI::IsMember({"new", "existing"}));
  add("initial-cluster-token", config.initial_cluster_token,
      "Initial cluster token for the cluster during bootstrap.");
  add("heartbeat-interval", config.heartbeat_interval_ms,
      "Time (in milliseconds) of a heartbeat interval.");
  add("election-timeout", config.election_timeout_ms,
      "Time (in milliseconds) for an election to timeout.");
  add("snapshot-count", config.snapshot_count,
      "Number of committed transactions to trigger a snapshot to disk.");
  add("experimental-snapshot-catchup-entries", config.snapshot_catchup_entries,
      "Entries kept in the log after a snapshot for slow followers to catch up from.");
  add("max-request-bytes", config.max_request_bytes,
      "Maximum client request size in bytes the server will accept.");
  add("max-txn-ops", config.max_txn_ops,
      "Maximum number of operations permitted in a transaction.");
  add("quota-backend-bytes", config.quota_backend_bytes,
      "Raise alarms when backend size exceeds the given quota (0 means the 2 GiB default).");
  std::string progress_interval = "10m0s";
  add("experimental-watch-progress-notify-interval", progress_interval,
      "Duration of periodic watch progress notifications.");
  add("logger", config.logger, "Specify 'zap' for structured logging or 'capnslog'.")
      ->check(CLI::IsMember({"capnslog", "zap"}));
  std::string log_outputs = "default";
  add("log-outputs", log_outputs,
      "Specify 'stdout' or 'stderr' to skip journald logging even when running under systemd, "
      "or list of comma separated output targets.");
  add("log-level", config.log_level, "Log level: debug, info, warn, error, panic, or fatal.")
      ->check(CLI::IsMember({"debug", "info", "warn", "error", "panic", "fatal"}));
  app.add_flag("--unsafe-no-fsync", config.unsafe_no_fsync,
               "Disables fsync: unsafe, loses acknowledged writes on power loss.")
      ->envname(env("unsafe-no-fsync"));

  // --- TLS flags (etcd's names) ---
  add("cert-file", config.client_tls.cert_file, "Path to the client server TLS cert file.");
  add("key-file", config.client_tls.key_file, "Path to the client server TLS key file.");
  add("trusted-ca-file", config.client_tls.trusted_ca_file,
      "Path to the client server TLS trusted CA cert file.");
  add("client-crl-file", config.client_tls.crl_file,
      "Path to the client certificate revocation list file.");
  app.add_flag("--client-cert-auth", config.client_tls.client_cert_auth,
               "Enable client cert authentication.")
      ->envname(env("client-cert-auth"));
  app.add_flag("--auto-tls", config.client_tls.auto_tls, "Client TLS using generated certificates.")
      ->envname(env("auto-tls"));
  add("peer-cert-file", config.peer_tls.cert_file, "Path to the peer server TLS cert file.");
  add("peer-key-file", config.peer_tls.key_file, "Path to the peer server TLS key file.");
  add("peer-trusted-ca-file", config.peer_tls.trusted_ca_file,
      "Path to the peer server TLS trusted CA file.");
  add("peer-crl-file", config.peer_tls.crl_file,
      "Path to the peer certificate revocation list file.");
  add("peer-cert-allowed-cn", config.peer_tls.allowed_cn,
      "Allowed CN for inter peer authentication.");
  app.add_flag("--peer-client-cert-auth", config.peer_tls.client_cert_auth,
               "Enable peer client cert authentication.")
      ->envname(env("peer-client-cert-auth"));
  app.add_flag("--peer-auto-tls", config.peer_tls.auto_tls,
               "Peer TLS using generated certificates.")
      ->envname(env("peer-auto-tls"));
  std::string cipher_suites;
  add("cipher-suites", cipher_suites,
      "Comma-separated list of supported TLS cipher suites between client/server and peers "
      "(empty will be auto-populated by the TLS library).");
  // --- end TLS flags ---
  // Auth.
  add("auth-token", config.auth_token,
      "Specify auth token type and its options: 'simple' or "
      "'jwt,pub-key=...,priv-key=...,sign-method=RS256,ttl=5m'.");
  add("auth-token-ttl", config.auth_token_ttl_seconds,
      "The lifetime in seconds of the auth token.");
  add("bcrypt-cost", config.bcrypt_cost,
      "Specify bcrypt algorithm cost factor for auth password hashing.")
      ->check(CLI::Range(4, 31));

  add("auto-compaction-mode", config.auto_compaction_mode,
      "Interpret 'auto-compaction-retention' one of: periodic|revision. 'periodic' for duration "
      "based retention, defaulting to hours if no time unit is provided (e.g. '5m'). "
      "'revision' for revision number based retention.");
  std::string compaction_retention = "0";
  add("auto-compaction-retention", compaction_retention,
      "Auto compaction retention for mvcc key value store. 0 means disable auto compaction.");

  app.add_flag("--experimental-initial-corrupt-check", config.initial_corrupt_check,
               "Enable to check data corruption before serving any client/peer traffic.")
      ->envname(env("experimental-initial-corrupt-check"));
  std::string corrupt_check_time = "0s";
  add("experimental-corrupt-check-time", corrupt_check_time,
      "Duration of time between cluster corruption check passes.");

  // Flags etcd accepts that change nothing here; taken so quorumd can stand in for etcd.
  std::string ignored;
  for (const char* flag : {"enable-v2", "pre-vote", "metrics", "strict-reconfig-check",
                           "enable-pprof", "max-snapshots", "max-wals", "enable-grpc-gateway"}) {
    app.add_option(std::string("--") + flag, ignored, "Accepted for etcd compatibility.")
        ->envname(env(flag))
        ->group("etcd compatibility (no effect)");
  }

  std::string unused_config_file;
  app.add_option("--config-file", unused_config_file,
                 "Path to the server configuration file (YAML, etcd's keys). Other flags and "
                 "environment variables are ignored when it is given.");

  try {
    if (config_file.empty()) {
      app.parse(argc, argv);
    } else {
      std::vector<std::string> args;
      for (const auto& [key, value] : file_flags) {
        if (key == "config-file" || app.get_option_no_throw("--" + key) == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("--config-file ", config_file, ": unknown key \"", key, "\""));
        }
        args.push_back(absl::StrCat("--", key, "=", value));
      }
      std::reverse(args.begin(), args.end());  // CLI11 takes a vector last argument first
      app.parse(args);
    }
  } catch (const CLI::CallForHelp&) {
    return absl::CancelledError(app.help());
  } catch (const CLI::CallForVersion&) {
    return absl::CancelledError("version");
  } catch (const CLI::ParseError& e) {
    if (!config_file.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--config-file ", config_file, ": ", e.what()));
    }
    return absl::InvalidArgumentError(e.what());
  }

  if (config.name.empty()) return absl::InvalidArgumentError("--name must not be empty");
  if (config.data_dir.empty()) config.data_dir = config.name + ".etcd";
  if (config.heartbeat_interval_ms == 0) {
    return absl::InvalidArgumentError("--heartbeat-interval must be greater than 0");
  }
  // etcd refuses an election timeout under five heartbeats (etcd behaviour).
  if (config.election_timeout_ms < 5 * config.heartbeat_interval_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat("--election-timeout[", config.election_timeout_ms,
                     "ms] should be at least 5 times as --heartbeat-interval[",
                     config.heartbeat_interval_ms, "ms]"));
  }
  if (config.election_timeout_ms > 50000) {
    return absl::InvalidArgumentError("--election-timeout is longer than 50000 ms");
  }
  if (config.max_txn_ops == 0) return absl::InvalidArgumentError("--max-txn-ops must be > 0");
  if (config.max_request_bytes == 0) {
    return absl::InvalidArgumentError("--max-request-bytes must be > 0");
  }

  // Auth.
  if (config.auth_token != "simple" && !absl::StartsWith(config.auth_token, "jwt,")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--auth-token \"", config.auth_token,
                     "\" is neither \"simple\" nor \"jwt,sign-method=...,pub-key=...\""));
  }
  if (config.auth_token_ttl_seconds <= 0) {
    return absl::InvalidArgumentError("--auth-token-ttl must be > 0");
  }

  if (!absl::ParseDuration(corrupt_check_time, &config.corrupt_check_interval) ||
      config.corrupt_check_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --experimental-corrupt-check-time \"", corrupt_check_time,
                     "\" (want a duration such as 5m, or 0s to turn it off)"));
  }

  config.log_outputs = absl::StrSplit(log_outputs, ',', absl::SkipWhitespace());

  // Auto-compaction: a plain number is hours (periodic) or revisions (revision); periodic also
  // takes a Go duration ("30m", "1h30m").
  if (config.auto_compaction_mode != "periodic" && config.auto_compaction_mode != "revision") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown auto-compaction-mode \"", config.auto_compaction_mode, "\""));
  }
  {
    int64_t number = 0;
    absl::Duration period;
    const bool whole = absl::SimpleAtoi(compaction_retention, &number) && number >= 0;
    if (config.auto_compaction_mode == "revision") {
      if (!whole) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid --auto-compaction-retention \"", compaction_retention,
                         "\": in revision mode it is the number of revisions to keep (e.g. 1000)"));
      }
      config.auto_compaction_revisions = number;
    } else if (whole) {
      config.auto_compaction_period = absl::Hours(number);
    } else if (absl::ParseDuration(compaction_retention, &period) &&
               period >= absl::ZeroDuration()) {
      config.auto_compaction_period = period;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid --auto-compaction-retention \"", compaction_retention,
          "\": in periodic mode it is a duration (e.g. 1h, 30m) or a number of hours"));
    }
  }

  // Go duration syntax, as etcd takes it ("10m", "500ms", "1m30s").
  absl::Duration progress;
  if (!absl::ParseDuration(progress_interval, &progress) || progress <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --experimental-watch-progress-notify-interval \"", progress_interval,
                     "\" (want a positive duration such as 10m or 500ms)"));
  }
  config.watch_progress_notify_interval_ms = absl::ToInt64Milliseconds(progress);

  for (auto [text, flag, target] :
       {std::tuple{&listen_client, "listen-client-urls", &config.listen_client_urls},
        std::tuple{&advertise_client, "advertise-client-urls", &config.advertise_client_urls},
        std::tuple{&listen_peer, "listen-peer-urls", &config.listen_peer_urls},
        std::tuple{&advertise_peer, "initial-advertise-peer-urls",
                   &config.initial_advertise_peer_urls}}) {
    auto urls = ParseUrls(*text, flag);
    if (!urls.ok()) return urls.status();
    *target = *std::move(urls);
  }
  if (!listen_metrics.empty()) {
    auto urls = ParseUrls(listen_metrics, "listen-metrics-urls");
    if (!urls.ok()) return urls.status();
    config.listen_metrics_urls = *std::move(urls);
  }

  // --- TLS checks ---
  if (!cipher_suites.empty()) {
    std::vector<std::string> names = absl::StrSplit(cipher_suites, ',', absl::SkipWhitespace());
    for (auto& n : names) n = std::string(absl::StripAsciiWhitespace(n));
    auto list = OpenSslCipherList(names);
    if (!list.ok()) return list.status();
    config.cipher_list = *list;
  }
  // etcd behaviour: an https:// listener needs a certificate, given or made by auto-TLS. The
  // metrics listeners serve with the client side's.
  std::vector<Url> client_side = config.listen_client_urls;
  client_side.insert(client_side.end(), config.listen_metrics_urls.begin(),
                     config.listen_metrics_urls.end());
  for (const Url& url : client_side) {
    if (url.scheme == "https" && !config.client_tls.HasCertificate() &&
        !config.client_tls.auto_tls) {
      return absl::InvalidArgumentError(
          absl::StrCat("TLS key/cert (--cert-file, --key-file) must be provided for client url ",
                       url.original, " with HTTPS scheme"));
    }
  }
  for (const Url& url : config.listen_peer_urls) {
    if (url.scheme == "https" && !config.peer_tls.HasCertificate() && !config.peer_tls.auto_tls) {
      return absl::InvalidArgumentError(absl::StrCat(
          "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url ",
          url.original, " with HTTPS scheme"));
    }
  }
  for (const TlsFiles* tls : {&config.client_tls, &config.peer_tls}) {
    if (tls->cert_file.empty() != tls->key_file.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--", tls->flag_prefix, "cert-file and --",
                                                     tls->flag_prefix,
                                                     "key-file must be given together"));
    }
  }
  // --- end TLS checks ---

  if (initial_cluster.empty()) {
    // etcd's default: this member alone, at its advertised peer URLs.
    config.initial_cluster.push_back({config.name, config.initial_advertise_peer_urls});
  } else {
    auto members = ParseInitialCluster(initial_cluster);
    if (!members.ok()) return members.status();
    config.initial_cluster = *members;
  }
  bool self_listed = false;
  for (const auto& m : config.initial_cluster) self_listed |= m.name == config.name;
  if (!self_listed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--initial-cluster has no entry for this member's --name \"", config.name, "\""));
  }
  return config;
}

}  // namespace quorum::server
