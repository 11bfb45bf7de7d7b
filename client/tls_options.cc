#include "client/tls_options.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <fstream>
#include <sstream>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace quorum::client {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (!in || text.str().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read \"", path, "\""));
  }
  return text.str();
}

}  // namespace

std::string EndpointTarget(const std::string& endpoint) {
  absl::string_view target = endpoint;
  if (!absl::ConsumePrefix(&target, "http://")) absl::ConsumePrefix(&target, "https://");
  absl::ConsumeSuffix(&target, "/");
  return std::string(target);
}

absl::Status LoadTlsFiles(TlsOptions& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError("--cert and --key must be given together");
  }
  for (auto [path, pem, flag] : {std::tuple{&tls.ca_file, &tls.ca_pem, "cacert"},
                                 std::tuple{&tls.cert_file, &tls.cert_pem, "cert"},
                                 std::tuple{&tls.key_file, &tls.key_pem, "key"}}) {
    if (path->empty()) continue;
    auto text = ReadPem(*path, flag);
    if (!text.ok()) return text.status();
    *pem = *std::move(text);
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::ChannelCredentials> EndpointCredentials(const std::string& endpoint,
                                                              const TlsOptions& tls) {
  if (absl::StartsWith(endpoint, "http://")) return grpc::InsecureChannelCredentials();
  const bool https = absl::StartsWith(endpoint, "https://");
  if (!https && !tls.Configured()) return grpc::InsecureChannelCredentials();

  std::vector<grpc::experimental::IdentityKeyCertPair> identity;
  if (!tls.cert_pem.empty()) identity.push_back({tls.key_pem, tls.cert_pem});
  grpc::experimental::TlsChannelCredentialsOptions options;
  if (!tls.ca_pem.empty() || !identity.empty()) {
    options.set_certificate_provider(
        std::make_shared<grpc::experimental::StaticDataCertificateProvider>(tls.ca_pem, identity));
    // Without roots of our own gRPC verifies against the system's.
    if (!tls.ca_pem.empty()) options.watch_root_certs();
    if (!identity.empty()) options.watch_identity_key_cert_pairs();
  }
  if (tls.Configured() && tls.insecure_skip_verify) {
    options.set_verify_server_certs(false);
    options.set_check_call_host(false);
    options.set_certificate_verifier(
        std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  } else {
    options.set_certificate_verifier(
        std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
  }
  return grpc::experimental::TlsCredentials(options);
}

}  // namespace quorum::client
