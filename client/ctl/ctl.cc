#include "client/ctl/ctl.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace quorum::ctl {

void Fail(int code, const std::string& message) {
  std::cout.flush();
  std::cerr << "Error: " << message << "\n";
  std::exit(code);
}

std::string ErrorText(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kDeadlineExceeded ||
      absl::StartsWith(status.message(), "connection to ")) {
    return "context deadline exceeded";
  }
  // clientv3 shows errors that are not etcd's own (the auth store's, with code UNKNOWN) in
  // gRPC's full form.
  if (status.code() == absl::StatusCode::kUnknown && absl::StartsWith(status.message(), "auth: ")) {
    return "rpc error: code = Unknown desc = " + std::string(status.message());
  }
  return std::string(status.message());
}

absl::StatusOr<std::chrono::milliseconds> ParseGoDuration(const std::string& text) {
  std::string_view rest = text;
  double total_ms = 0;
  if (rest == "0") return std::chrono::milliseconds(0);
  while (!rest.empty()) {
    size_t n = 0;
    while (n < rest.size() && (isdigit(rest[n]) || rest[n] == '.')) ++n;
    double value = 0;
    if (n == 0 || !absl::SimpleAtod(std::string(rest.substr(0, n)), &value)) {
      return absl::InvalidArgumentError(absl::StrCat("time: invalid duration \"", text, "\""));
    }
    rest.remove_prefix(n);
    size_t u = 0;
    while (u < rest.size() && !isdigit(rest[u]) && rest[u] != '.') ++u;
    std::string_view unit = rest.substr(0, u);
    rest.remove_prefix(u);
    double scale = 0;
    if (unit == "ns")
      scale = 1e-6;
    else if (unit == "us" || unit == "µs")
      scale = 1e-3;
    else if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m")
      scale = 60000;
    else if (unit == "h")
      scale = 3600000;
    else
      return absl::InvalidArgumentError(absl::StrCat("time: invalid duration \"", text, "\""));
    total_ms += value * scale;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(total_ms));
}

CtlContext::CtlContext(CLI::App& app) {
  auto* e = app.add_option("--endpoints", flags_.endpoints, "gRPC endpoints")
                ->delimiter(',')
                ->envname("ETCDCTL_ENDPOINTS");
  e->capture_default_str();
  app.add_option("--dial-timeout", flags_.dial_timeout, "dial timeout for client connections")
      ->envname("ETCDCTL_DIAL_TIMEOUT");
  app.add_option("--command-timeout", flags_.command_timeout,
                 "timeout for short running command (excluding dial timeout)")
      ->envname("ETCDCTL_COMMAND_TIMEOUT");
  app.add_option("--keepalive-time", flags_.keepalive_time, "keepalive time for client connections")
      ->envname("ETCDCTL_KEEPALIVE_TIME");
  app.add_option("--keepalive-timeout", flags_.keepalive_timeout,
                 "keepalive timeout for client connections")
      ->envname("ETCDCTL_KEEPALIVE_TIMEOUT");
  app.add_option("-w,--write-out", flags_.write_out,
                 "set the output format (fields, json, protobuf, simple, table)")
      ->envname("ETCDCTL_WRITE_OUT");
  app.add_flag("--hex", flags_.hex, "print byte strings as hex encoded strings")
      ->envname("ETCDCTL_HEX");
  app.add_flag("--debug", flags_.debug, "enable client-side debug logging")
      ->envname("ETCDCTL_DEBUG");
  app.add_flag("--insecure-transport", flags_.insecure_transport,
               "disable transport security for client connections");
  app.add_flag("--insecure-skip-tls-verify", flags_.insecure_skip_tls_verify,
               "skip server certificate verification");
  app.add_flag("--insecure-discovery", flags_.insecure_discovery,
               "accept insecure SRV records describing cluster endpoints");
  app.add_option("--cert", flags_.cert, "identify secure client using this TLS certificate file")
      ->envname("ETCDCTL_CERT");
  app.add_option("--key", flags_.key, "identify secure client using this TLS key file")
      ->envname("ETCDCTL_KEY");
  app.add_option("--cacert", flags_.cacert,
                 "verify certificates of TLS-enabled secure servers using this CA bundle")
      ->envname("ETCDCTL_CACERT");
  app.add_option("--user", flags_.user, "username[:password] for authentication")
      ->envname("ETCDCTL_USER");
  app.add_option("--password", flags_.password, "password for authentication")
      ->envname("ETCDCTL_PASSWORD");
  app.add_option("-d,--discovery-srv", flags_.discovery_srv, "DNS SRV discovery domain");
  app.add_option("--discovery-srv-name", flags_.discovery_srv_name, "DNS SRV service name");
}

std::vector<std::string> CtlContext::Endpoints() const {
  std::vector<std::string> out;
  for (const auto& e : flags_.endpoints) {
    std::string trimmed(absl::StripAsciiWhitespace(e));
    if (!trimmed.empty()) out.push_back(trimmed);
  }
  return out;
}

std::chrono::milliseconds CtlContext::CommandTimeout() const {
  auto d = ParseGoDuration(flags_.command_timeout);
  if (!d.ok()) Fail(kExitError, std::string(d.status().message()));
  return *d;
}

std::chrono::milliseconds CtlContext::DialTimeout() const {
  auto d = ParseGoDuration(flags_.dial_timeout);
  if (!d.ok()) Fail(kExitError, std::string(d.status().message()));
  return *d;
}

std::unique_ptr<client::Client> CtlContext::ClientFor(std::vector<std::string> endpoints) const {
  if (endpoints.empty()) Fail(kExitBadConnection, "etcdclient: no available endpoints");
  client::ClientOptions options;
  options.endpoints = std::move(endpoints);
  options.dial_timeout = DialTimeout();
  options.request_timeout = CommandTimeout();
  options.tls = Tls();
  // Auth: --user name[:password] (or --password); etcdctl asks for a missing password.
  client::UserFlags user = client::ParseUserFlags(flags_.user, flags_.password);
  options.user = user.user;
  if (user.password.has_value()) {
    options.password = *user.password;
  } else if (!user.user.empty()) {
    std::getline(std::cin, options.password);
  }
  return std::make_unique<client::Client>(std::move(options));
}

client::TlsOptions CtlContext::Tls() const {
  client::TlsOptions tls;
  tls.ca_file = flags_.cacert;
  tls.cert_file = flags_.cert;
  tls.key_file = flags_.key;
  tls.insecure_transport = flags_.insecure_transport;
  tls.insecure_skip_verify = flags_.insecure_skip_tls_verify;
  if (absl::Status s = client::LoadTlsFiles(tls); !s.ok()) {
    Fail(kExitBadArgs, std::string(s.message()));
  }
  return tls;
}

client::Client& CtlContext::client() {
  std::call_once(client_once_, [this] {
    client_ = ClientFor(Endpoints());
    // etcdctl logs in while making its client: a refused login ends it as a bad connection.
    if (auto s = client_->Login(); !s.ok()) Fail(kExitBadConnection, ErrorText(s));
  });
  return *client_;
}

Printer& CtlContext::printer() {
  if (!printer_) {
    std::string w = flags_.write_out;
    OutputFormat format;
    if (w == "simple")
      format = OutputFormat::kSimple;
    else if (w == "json")
      format = OutputFormat::kJson;
    else if (w == "table")
      format = OutputFormat::kTable;
    else if (w == "fields")
      format = OutputFormat::kFields;
    else if (w == "protobuf")
      format = OutputFormat::kProtobuf;
    else
      Fail(kExitBadFeature, "unsupported output format");
    printer_ = std::make_unique<Printer>(format, flags_.hex);
  }
  return *printer_;
}

std::vector<std::string> CtlContext::EndpointsFromCluster(bool cluster) {
  if (!cluster) return Endpoints();
  auto members = client().MemberList();
  if (!members.ok()) {
    Fail(kExitError,
         "failed to fetch endpoints from etcd cluster member list: " + ErrorText(members.status()));
  }
  std::vector<std::string> out;
  for (const auto& m : members->members()) {
    for (const auto& url : m.clienturls()) out.push_back(url);
  }
  return out;
}

}  // namespace quorum::ctl
