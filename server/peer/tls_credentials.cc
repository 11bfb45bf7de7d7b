#include "server/peer/tls_credentials.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

namespace quorum::server {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read \"", path, "\""));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": \"", path, "\" is empty"));
  }
  return text.str();
}

std::string Flag(const TlsFiles& tls, absl::string_view name) {
  return absl::StrCat(tls.flag_prefix, name);
}

// etcd's --peer-cert-allowed-cn: a connecting peer whose certificate's CN differs is refused
// during the handshake.
class AllowedCnVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit AllowedCnVerifier(std::string allowed_cn) : allowed_cn_(std::move(allowed_cn)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/, grpc::Status* sync_status) override {
    grpc::string_ref cn = request->common_name();
    if (std::string(cn.data(), cn.size()) == allowed_cn_) {
      *sync_status = grpc::Status::OK;
    } else {
      spdlog::warn("refused a peer connection: certificate CN \"{}\" is not the allowed CN \"{}\"",
                   std::string(cn.data(), cn.size()), allowed_cn_);
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                  "client certificate authentication failed");
    }
    return true;  // decided synchronously
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest* /*request*/) override {}

 private:
  const std::string allowed_cn_;
};

// Stages the CRL where OpenSSL's directory lookup finds it: <hash of issuer>.r0.
absl::Status StageCrl(const TlsFiles& tls, const std::string& crl_dir) {
  auto pem = ReadFile(tls.crl_file, Flag(tls, "crl-file"));
  if (!pem.ok()) return pem.status();
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem->data(), pem->size()),
                                                &BIO_free);
  std::unique_ptr<X509_CRL, decltype(&X509_CRL_free)> crl(
      PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr), &X509_CRL_free);
  if (crl == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", Flag(tls, "crl-file"), ": \"", tls.crl_file, "\" is not a PEM CRL"));
  }
  unsigned long hash = X509_NAME_hash_ex(X509_CRL_get_issuer(crl.get()), nullptr, nullptr, nullptr);
  std::error_code ec;
  fs::remove_all(crl_dir, ec);
  fs::create_directories(crl_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", crl_dir, ": ", ec.message()));
  std::ofstream out(fs::path(crl_dir) / absl::StrFormat("%08lx.r0", hash), std::ios::binary);
  out << *pem;
  if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write into ", crl_dir));
  return absl::OkStatus();
}

absl::Status WriteSelfSigned(const fs::path& cert_path, const fs::path& key_path,
                             const std::vector<std::string>& hosts) {
  auto fail = [](absl::string_view what) {
    return absl::InternalError(absl::StrCat("auto-TLS: cannot ", what));
  };
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  if (key == nullptr) return fail("generate a key");
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
  X509_set_version(cert.get(), 2);
  unsigned char serial_bytes[16];
  RAND_bytes(serial_bytes, sizeof(serial_bytes));
  serial_bytes[0] &= 0x7f;  // a positive serial
  BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr);
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get()));
  BN_free(serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600);  // a year, as etcd
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("quorum"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());

  std::vector<std::string> alt_names;
  for (const std::string& host : hosts) {
    std::string bare = host;
    if (bare.size() >= 2 && bare.front() == '[') bare = bare.substr(1, bare.size() - 2);
    unsigned char buf[16];
    bool ip =
        inet_pton(AF_INET, bare.c_str(), buf) == 1 || inet_pton(AF_INET6, bare.c_str(), buf) == 1;
    alt_names.push_back(absl::StrCat(ip ? "IP:" : "DNS:", bare));
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  std::vector<std::pair<int, std::string>> extensions = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
      // clientAuth too, so a member can present it when dialing a peer.
      {NID_ext_key_usage, "serverAuth,clientAuth"}};
  if (!alt_names.empty())
    extensions.push_back({NID_subject_alt_name, absl::StrJoin(alt_names, ",")});
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) return fail(absl::StrCat("make certificate extension ", value));
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return fail("sign the certificate");

  // The key is written first and only then the certificate: a half-written pair (no cert.pem)
  // is made again on the next start.
  {
    // Created owner-only, so the key is never readable by others, not even for a moment.
    int fd = ::open(key_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    std::unique_ptr<FILE, decltype(&fclose)> out(fd < 0 ? nullptr : fdopen(fd, "wb"), &fclose);
    if (out == nullptr) {
      if (fd >= 0) ::close(fd);
      return fail(absl::StrCat("write ", key_path.string()));
    }
    if (PEM_write_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 0) {
      return fail(absl::StrCat("write ", key_path.string()));
    }
  }
  std::unique_ptr<FILE, decltype(&fclose)> out(fopen(cert_path.c_str(), "wb"), &fclose);
  if (out == nullptr || PEM_write_X509(out.get(), cert.get()) == 0) {
    return fail(absl::StrCat("write ", cert_path.string()));
  }
  return absl::OkStatus();
}

// Go's cipher suite names (crypto/tls, as etcd's --cipher-suites takes them) and OpenSSL's.

}  // namespace

absl::Status ApplyAutoTls(TlsFiles& tls, const std::string& dir,
                          const std::vector<std::string>& hosts) {
  if (!tls.auto_tls) return absl::OkStatus();
  if (tls.HasCertificate()) {
    spdlog::warn("ignoring {}auto TLS since certs given", tls.flag_prefix);
    return absl::OkStatus();
  }
  fs::path cert_path = fs::path(dir) / "cert.pem";
  fs::path key_path = fs::path(dir) / "key.pem";
  std::error_code ec;
  if (!(fs::exists(cert_path, ec) && fs::exists(key_path, ec))) {
    fs::create_directories(dir, ec);
    if (ec)
      return absl::InternalError(absl::StrCat("auto-TLS: cannot create ", dir, ": ", ec.message()));
    if (absl::Status s = WriteSelfSigned(cert_path, key_path, hosts); !s.ok()) return s;
    spdlog::info("auto-TLS: made a self-signed certificate in {}", dir);
  }
  tls.cert_file = cert_path.string();
  tls.key_file = key_path.string();
  tls.self_signed = true;
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& tls, const std::string& crl_dir) {
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", Flag(tls, "cert-file"), " and --",
                                                   Flag(tls, "key-file"),
                                                   " must both be given for TLS"));
  }
  auto cert = ReadFile(tls.cert_file, Flag(tls, "cert-file"));
  if (!cert.ok()) return cert.status();
  auto key = ReadFile(tls.key_file, Flag(tls, "key-file"));
  if (!key.ok()) return key.status();
  std::string roots;
  if (!tls.trusted_ca_file.empty()) {
    auto ca = ReadFile(tls.trusted_ca_file, Flag(tls, "trusted-ca-file"));
    if (!ca.ok()) return ca.status();
    roots = *std::move(ca);
  }
  if (tls.client_cert_auth && roots.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", Flag(tls, "client-cert-auth"), " needs --",
                                                   Flag(tls, "trusted-ca-file")));
  }
  auto provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
      roots, std::vector<grpc::experimental::IdentityKeyCertPair>{{*key, *cert}});
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!roots.empty()) options.watch_root_certs();
  // etcd behaviour: client certificates are asked for only with --client-cert-auth; the CA file
  // alone does not make them required.
  if (tls.client_cert_auth) {
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    if (!tls.allowed_cn.empty()) {
      options.set_certificate_verifier(
          grpc::experimental::ExternalCertificateVerifier::Create<AllowedCnVerifier>(
              tls.allowed_cn));
    }
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    if (!tls.allowed_cn.empty()) {
      spdlog::warn("--{}cert-allowed-cn has no effect without --{}client-cert-auth",
                   tls.flag_prefix, tls.flag_prefix);
    }
  }
  if (!tls.crl_file.empty()) {
    if (absl::Status s = StageCrl(tls, crl_dir); !s.ok()) return s;
    options.set_crl_directory(crl_dir);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakePeerChannelCredentials(
    const TlsFiles& tls) {
  grpc::experimental::TlsChannelCredentialsOptions options;
  std::string roots;
  if (!tls.trusted_ca_file.empty()) {
    auto ca = ReadFile(tls.trusted_ca_file, Flag(tls, "trusted-ca-file"));
    if (!ca.ok()) return ca.status();
    roots = *std::move(ca);
  }
  std::vector<grpc::experimental::IdentityKeyCertPair> identity;
  if (!tls.cert_file.empty()) {
    auto cert = ReadFile(tls.cert_file, Flag(tls, "cert-file"));
    if (!cert.ok()) return cert.status();
    auto key = ReadFile(tls.key_file, Flag(tls, "key-file"));
    if (!key.ok()) return key.status();
    identity.push_back({*key, *cert});
  }
  if (!roots.empty() || !identity.empty()) {
    options.set_certificate_provider(
        std::make_shared<grpc::experimental::StaticDataCertificateProvider>(roots, identity));
    if (!roots.empty()) options.watch_root_certs();
    if (!identity.empty()) options.watch_identity_key_cert_pairs();
  }
  if (tls.self_signed) {
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

}  // namespace quorum::server
