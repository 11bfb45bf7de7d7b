// The OpenSSL context the HTTP/1.1 face terminates TLS with on https:// client URLs: the same
// certificate, trusted CA, client-certificate rule, CRL and cipher list as the gRPC listener,
// so that curl or a load balancer's health check meets the same checks as etcdctl.
#ifndef QUORUM_SERVER_HTTP_TLS_CONTEXT_H_
#define QUORUM_SERVER_HTTP_TLS_CONTEXT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/peer/tls_credentials.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace quorum::server::http {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const;
};
using SslCtx = std::unique_ptr<SSL_CTX, SslCtxFree>;

// `cipher_list`: OpenSSL's names, as --cipher-suites resolved them ("" for OpenSSL's default).
// Errors name the flag whose file is missing or unusable.
absl::StatusOr<SslCtx> MakeHttpTlsContext(const TlsFiles& tls, const std::string& cipher_list);

}  // namespace quorum::server::http

#endif  // QUORUM_SERVER_HTTP_TLS_CONTEXT_H_
