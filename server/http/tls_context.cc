#include "server/http/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace quorum::server::http {
namespace {

std::string SslError() {
  const unsigned long code = ERR_get_error();
  char text[256] = {0};
  ERR_error_string_n(code, text, sizeof(text));
  return code == 0 ? "unknown error" : text;
}

// `flag` without its side's prefix ("cert-file" is --cert-file or --peer-cert-file).
absl::Status Bad(const TlsFiles& tls, const std::string& flag, const std::string& path) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", tls.flag_prefix, flag, " ", path, ": ", SslError()));
}

// ALPN: HTTP/1.1 when offered (gRPC clients, which offer h2 alone, never get here).
int SelectHttp1(SSL*, const unsigned char** out, unsigned char* out_length,
                const unsigned char* offered, unsigned int offered_length, void*) {
  for (unsigned int i = 0; i < offered_length;) {
    const unsigned int length = offered[i];
    if (i + 1 + length > offered_length) break;
    if (length == 8 && std::memcmp(offered + i + 1, "http/1.1", 8) == 0) {
      *out = offered + i + 1;
      *out_length = static_cast<unsigned char>(length);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + length;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

void SslCtxFree::operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }

absl::StatusOr<SslCtx> MakeHttpTlsContext(const TlsFiles& tls, const std::string& cipher_list) {
  SslCtx ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr) return absl::InternalError(absl::StrCat("TLS: ", SslError()));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert_file.c_str()) != 1) {
    return Bad(tls, "cert-file", tls.cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return Bad(tls, "key-file", tls.key_file);
  }
  if (!tls.trusted_ca_file.empty() &&
      SSL_CTX_load_verify_locations(ctx.get(), tls.trusted_ca_file.c_str(), nullptr) != 1) {
    return Bad(tls, "trusted-ca-file", tls.trusted_ca_file);
  }
  if (tls.client_cert_auth) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  if (!tls.crl_file.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
    if (X509_STORE_load_file(store, tls.crl_file.c_str()) != 1) {
      // The client side's flag is --client-crl-file.
      return Bad(tls, tls.flag_prefix.empty() ? "client-crl-file" : "crl-file", tls.crl_file);
    }
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  if (!cipher_list.empty() && SSL_CTX_set_cipher_list(ctx.get(), cipher_list.c_str()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("--cipher-suites: ", SslError()));
  }
  SSL_CTX_set_alpn_select_cb(ctx.get(), SelectHttp1, nullptr);
  return ctx;
}

}  // namespace quorum::server::http
