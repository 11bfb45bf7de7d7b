// TLS credentials from etcd-style settings: auto-TLS certificates and the errors that name the
// flag at fault.
#include "server/peer/tls_credentials.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace quorum::server {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "quorum-tls-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The subject alternative names of the PEM certificate at `path`, as "IP:..." / "DNS:...".
std::vector<std::string> AltNames(const std::string& path) {
  std::vector<std::string> names;
  std::unique_ptr<FILE, decltype(&fclose)> in(fopen(path.c_str(), "r"), &fclose);
  if (in == nullptr) return names;
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_X509(in.get(), nullptr, nullptr, nullptr), &X509_free);
  if (cert == nullptr) return names;
  auto* sans = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
    if (name->type == GEN_DNS) {
      names.push_back("DNS:" + std::string(reinterpret_cast<const char*>(
                                   ASN1_STRING_get0_data(name->d.dNSName))));
    } else if (name->type == GEN_IPADD && ASN1_STRING_length(name->d.iPAddress) == 4) {
      const unsigned char* b = ASN1_STRING_get0_data(name->d.iPAddress);
      names.push_back("IP:" + std::to_string(b[0]) + "." + std::to_string(b[1]) + "." +
                      std::to_string(b[2]) + "." + std::to_string(b[3]));
    }
  }
  GENERAL_NAMES_free(sans);
  return names;
}

TEST(AutoTls, MakesASelfSignedCertificateForTheListenHostsOnce) {
  TempDir dir;
  TlsFiles tls{.auto_tls = true};
  ASSERT_TRUE(ApplyAutoTls(tls, dir.path() + "/fixtures/client", {"127.0.0.1", "localhost"}).ok());
  EXPECT_TRUE(tls.self_signed);
  EXPECT_EQ(AltNames(tls.cert_file), (std::vector<std::string>{"IP:127.0.0.1", "DNS:localhost"}));
  EXPECT_EQ(fs::status(tls.key_file).permissions() & fs::perms::others_read, fs::perms::none);
  std::string first = Slurp(tls.cert_file);

  // A restart finds the pair and keeps it.
  TlsFiles again{.auto_tls = true};
  ASSERT_TRUE(ApplyAutoTls(again, dir.path() + "/fixtures/client", {"127.0.0.1"}).ok());
  EXPECT_EQ(again.cert_file, tls.cert_file);
  EXPECT_EQ(Slurp(again.cert_file), first);
  EXPECT_TRUE(MakeServerCredentials(again, dir.path() + "/crl").ok());
}

TEST(AutoTls, IsIgnoredWhenACertificateIsGiven) {
  TempDir dir;
  TlsFiles tls{.cert_file = "given.pem", .key_file = "given-key.pem", .auto_tls = true};
  ASSERT_TRUE(ApplyAutoTls(tls, dir.path() + "/fixtures/client", {"127.0.0.1"}).ok());
  EXPECT_EQ(tls.cert_file, "given.pem");
  EXPECT_FALSE(tls.self_signed);
  EXPECT_FALSE(fs::exists(dir.path() + "/fixtures/client/cert.pem"));
}

TEST(ServerCredentials, AnUnreadableFileNamesItsFlag) {
  TlsFiles tls{.flag_prefix = "peer-", .cert_file = "/nonexistent/c.pem", .key_file = "k.pem"};
  auto credentials = MakeServerCredentials(tls, "/tmp/unused");
  ASSERT_FALSE(credentials.ok());
  EXPECT_NE(credentials.status().message().find("--peer-cert-file"), std::string::npos);
}

TEST(ServerCredentials, ClientCertAuthNeedsATrustedCa) {
  TempDir dir;
  TlsFiles tls{.auto_tls = true};
  ASSERT_TRUE(ApplyAutoTls(tls, dir.path(), {"127.0.0.1"}).ok());
  tls.client_cert_auth = true;
  auto credentials = MakeServerCredentials(tls, dir.path() + "/crl");
  ASSERT_FALSE(credentials.ok());
  EXPECT_NE(credentials.status().message().find("--trusted-ca-file"), std::string::npos);
}

TEST(CipherSuites, TlsOneThreeNamesAreAcceptedAndLeftOut) {
  auto list = OpenSslCipherList({"TLS_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256"});
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(*list, "AES128-GCM-SHA256");
}

}  // namespace
}  // namespace quorum::server
