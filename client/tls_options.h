// How a client secures its connections to etcd v3 endpoints, with etcdctl's rules: --cacert,
// --cert, --key, --insecure-transport and --insecure-skip-tls-verify. Used by the Client's
// endpoint pool, KvClient, quorumctl, quorum-elect and quorum-bench.
#ifndef QUORUM_CLIENT_TLS_OPTIONS_H_
#define QUORUM_CLIENT_TLS_OPTIONS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace quorum::client {

struct TlsOptions {
  std::string ca_file;    // --cacert: roots the server's certificate must chain to
  std::string cert_file;  // --cert: client certificate, for servers with --client-cert-auth
  std::string key_file;   // --key
  // --insecure-transport (etcdctl's default true): endpoints without a scheme use plain text
  // unless a TLS file is given.
  bool insecure_transport = true;
  // --insecure-skip-tls-verify: do not check the server's certificate. As in etcdctl it acts
  // only when TLS is configured (a TLS file, or --insecure-transport=false).
  bool insecure_skip_verify = false;

  // The files' contents, filled by LoadTlsFiles.
  std::string ca_pem, cert_pem, key_pem;

  // True when some TLS setting was given, which makes bare host:port endpoints use TLS
  // (clientv3 behaviour).
  bool Configured() const {
    return !ca_file.empty() || !cert_file.empty() || !key_file.empty() || !insecure_transport;
  }
};

// Reads the files named in `tls` into its *_pem fields. An unreadable or empty file, or a
// certificate without its key, is an error naming the flag.
absl::Status LoadTlsFiles(TlsOptions& tls);

// The credentials for `endpoint` (http://, https:// or bare host:port), as clientv3 picks them:
// http:// is always plain text, https:// always TLS, a bare endpoint TLS when Configured().
// Uses the PEM fields (LoadTlsFiles).
std::shared_ptr<grpc::ChannelCredentials> EndpointCredentials(const std::string& endpoint,
                                                              const TlsOptions& tls);

// host:port with any http:// or https:// prefix and trailing slash removed.
std::string EndpointTarget(const std::string& endpoint);

}  // namespace quorum::client

#endif  // QUORUM_CLIENT_TLS_OPTIONS_H_
