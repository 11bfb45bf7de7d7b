#include "client/elect/options.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/auth_token.h"

namespace quorum::elect {
namespace {

std::string DefaultId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) std::strcpy(host, "host");
  return absl::StrCat(host, "-", getpid());
}

// etcd clients take "http://host:port" as well as "host:port"; gRPC wants the latter.
absl::StatusOr<std::vector<std::string>> ParseEndpoints(const std::string& text) {
  std::vector<std::string> endpoints;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::string endpoint(absl::StripAsciiWhitespace(part));
    for (absl::string_view scheme : {"http://", "https://"}) {
      if (absl::StartsWith(endpoint, scheme)) endpoint = endpoint.substr(scheme.size());
    }
    while (absl::EndsWith(endpoint, "/")) endpoint.pop_back();
    if (endpoint.empty()) continue;
    endpoints.push_back(endpoint);
  }
  if (endpoints.empty()) {
    return absl::InvalidArgumentError("--endpoints: at least one endpoint is required");
  }
  return endpoints;
}

}  // namespace

absl::StatusOr<absl::Duration> ParseFlagDuration(const std::string& flag, const std::string& text) {
  absl::Duration duration;
  if (absl::ParseDuration(text, &duration)) return duration;
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds)) return absl::Seconds(seconds);
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": not a duration: \"", text, "\""));
}

absl::Status ValidateTimings(const Options& options) {
  // The same three rules, in the same order, as Kubernetes' NewLeaderElector.
  if (options.lease_duration <= options.renew_deadline) {
    return absl::InvalidArgumentError(
        absl::StrCat("--lease-duration (", absl::FormatDuration(options.lease_duration),
                     ") must be greater than --renew-deadline (",
                     absl::FormatDuration(options.renew_deadline), ")"));
  }
  if (options.renew_deadline <= options.retry_period * kJitterFactor) {
    return absl::InvalidArgumentError(
        absl::StrCat("--renew-deadline (", absl::FormatDuration(options.renew_deadline),
                     ") must be greater than --retry-period (",
                     absl::FormatDuration(options.retry_period), ") times ", kJitterFactor));
  }
  if (options.retry_period <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--retry-period must be greater than zero");
  }
  if (options.lease_duration < absl::Seconds(1) ||
      options.lease_duration != absl::Seconds(options.LeaseTtlSeconds())) {
    return absl::InvalidArgumentError(
        absl::StrCat("--lease-duration (", absl::FormatDuration(options.lease_duration),
                     ") must be a whole number of seconds: it is the lease's TTL"));
  }
  if (options.stop_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--stop-grace must not be negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<Options> ParseOptions(int argc, const char* const* argv) {
  // Everything after the first "--" is the command, passed through untouched: CLI11 would
  // otherwise try to read the command's own flags.
  std::vector<const char*> own;
  Options options;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::strcmp(argv[i], "--") == 0) {
      for (int j = i + 1; j < argc; ++j) options.command.push_back(argv[j]);
      break;
    }
    own.push_back(argv[i]);
  }

  CLI::App app{
      "quorum-elect: run a command as the active member of a named election on an etcd v3 "
      "cluster (quorumd or etcd); other instances wait as standbys and take over when the "
      "active one dies or loses its lease.",
      "quorum-elect"};
  app.footer(
      "Everything after -- is the command to run while this member is active; it gets SIGTERM "
      "(then SIGKILL after --stop-grace) when the member steps down. Without a command, "
      "quorum-elect only reports its state.");
  std::string endpoints = "127.0.0.1:2379";
  std::string lease_duration = "15s", renew_deadline = "10s", retry_period = "2s";
  std::string stop_grace;
  app.add_option("election", options.election, "Name of the election")->required();
  app.add_option("--endpoints", endpoints, "Comma-separated host:port (or http://host:port)")
      ->capture_default_str();
  app.add_option("--lease-duration", lease_duration,
                 "How long a standby waits after the active member's last renewal before taking "
                 "over: the lease TTL, whole seconds")
      ->capture_default_str();
  app.add_option("--renew-deadline", renew_deadline,
                 "How long the active member keeps acting without a successful renewal")
      ->capture_default_str();
  app.add_option("--retry-period", retry_period, "Time between renewals and between retries")
      ->capture_default_str();
  app.add_option("--stop-grace", stop_grace,
                 "Time between SIGTERM and SIGKILL for the command on step-down (default: half "
                 "of lease-duration minus renew-deadline)");
  app.add_option("--cacert", options.tls.ca_file,
                 "verify certificates of TLS-enabled secure servers using this CA bundle");
  app.add_option("--cert", options.tls.cert_file,
                 "identify secure client using this TLS certificate file");
  app.add_option("--key", options.tls.key_file, "identify secure client using this TLS key file");
  app.add_flag("--insecure-transport", options.tls.insecure_transport,
               "disable transport security for client connections");
  app.add_flag("--insecure-skip-tls-verify", options.tls.insecure_skip_verify,
               "skip server certificate verification");
  std::string user_flag, password_flag;
  app.add_option("--user", user_flag, "username[:password] for authentication");
  app.add_option("--password", password_flag,
                 "password for authentication (then --user is the whole name)");
  app.add_option("--id", options.id, "Names this member in log lines (default: host-pid)");
  app.add_option("--value", options.value,
                 "The value stored in the election key, seen by observers (default: the id)");
  try {
    app.parse(static_cast<int>(own.size()), own.data());
  } catch (const CLI::CallForHelp&) {
    return absl::CancelledError(app.help());
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }

  if (options.election.empty()) return absl::InvalidArgumentError("the election name is empty");
  // The endpoints lose their scheme below; an https:// one asks for TLS everywhere.
  if (absl::StrContains(endpoints, "https://")) options.tls.insecure_transport = false;
  if (absl::Status s = client::LoadTlsFiles(options.tls); !s.ok()) return s;
  client::UserFlags user = client::ParseUserFlags(user_flag, password_flag);
  if (!user.user.empty() && !user.password.has_value()) {
    // etcdctl would ask on the terminal; a service manager has none to answer it.
    return absl::InvalidArgumentError(absl::StrCat(
        "--user ", user.user, ": no password given; quorum-elect does not ask for one: use --user ",
        user.user, ":PASSWORD or --password"));
  }
  options.user = user.user;
  options.password = user.password.value_or("");
  auto parsed_endpoints = ParseEndpoints(endpoints);
  if (!parsed_endpoints.ok()) return parsed_endpoints.status();
  options.endpoints = *std::move(parsed_endpoints);
  for (auto [flag, text, target] :
       {std::tuple{"lease-duration", &lease_duration, &options.lease_duration},
        std::tuple{"renew-deadline", &renew_deadline, &options.renew_deadline},
        std::tuple{"retry-period", &retry_period, &options.retry_period}}) {
    auto duration = ParseFlagDuration(flag, *text);
    if (!duration.ok()) return duration.status();
    *target = *duration;
  }
  if (!stop_grace.empty()) {
    auto duration = ParseFlagDuration("stop-grace", stop_grace);
    if (!duration.ok()) return duration.status();
    options.stop_grace = *duration;
  }
  if (absl::Status valid = ValidateTimings(options); !valid.ok()) return valid;
  if (options.stop_grace == absl::ZeroDuration()) {
    // The command must be gone before the lease can expire and a standby starts its own.
    options.stop_grace = (options.lease_duration - options.renew_deadline) / 2;
  }
  if (options.id.empty()) options.id = DefaultId();
  if (options.value.empty()) options.value = options.id;
  return options;
}

}  // namespace quorum::elect
