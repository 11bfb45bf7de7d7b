// TLS for quorumd's two listeners and its peer dials, configured as etcd's flags configure it
// (--cert-file, --peer-cert-file, ...). main() resolves auto-TLS and builds the credentials
// once at startup; the client listener, the peer transport and the joining bootstrap use them.
// Every error names the flag whose file is missing or unusable.
#ifndef QUORUM_SERVER_PEER_TLS_CREDENTIALS_H_
#define QUORUM_SERVER_PEER_TLS_CREDENTIALS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/peer/cipher_suites.h"

namespace quorum::server {

// One side's TLS settings: the client side (--cert-file, ...) or the peer side (--peer-*).
struct TlsFiles {
  // "" for the client side, "peer-" for the peer side: errors name the flags the user typed.
  std::string flag_prefix;
  std::string cert_file;
  std::string key_file;
  std::string trusted_ca_file;
  std::string crl_file;
  bool client_cert_auth = false;
  bool auto_tls = false;
  // Peer side only: the CN a connecting peer's certificate must carry (etcd behaviour: checked
  // only when client certificates are required).
  std::string allowed_cn;
  // The certificate was made by auto-TLS: whoever dials with it does not verify the other
  // side's certificate (etcd behaviour for self-signed certs).
  bool self_signed = false;

  bool HasCertificate() const { return !cert_file.empty() || !key_file.empty(); }
};

// What one member uses to reach its peers and to serve them. Null members mean no TLS: only
// http:// peer URLs work then.
struct PeerSecurity {
  std::shared_ptr<grpc::ServerCredentials> server;
  std::shared_ptr<grpc::ChannelCredentials> channel;
};

// With --auto-tls (or --peer-auto-tls) and no certificate given, makes a self-signed EC P-256
// certificate for `hosts` (IP addresses or DNS names) under `dir` (cert.pem, key.pem) unless
// one is already there, and points `tls` at it. With a certificate given, auto-TLS is ignored
// (etcd behaviour).
absl::Status ApplyAutoTls(TlsFiles& tls, const std::string& dir,
                          const std::vector<std::string>& hosts);

// Server credentials for an https:// listener. A --*crl-file is copied into `crl_dir` under the
// hashed name OpenSSL looks up. Requires a certificate and key.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& tls, const std::string& crl_dir);

// Credentials a member dials https:// peer URLs with: its peer certificate as client identity,
// the peer trusted CA as roots (the system roots without one).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakePeerChannelCredentials(
    const TlsFiles& tls);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_PEER_TLS_CREDENTIALS_H_
