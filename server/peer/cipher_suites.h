// etcd's --cipher-suites names (Go's) and the OpenSSL names gRPC takes. No dependency beyond
// Abseil, so that the flag parser stays light.
#ifndef QUORUM_SERVER_PEER_CIPHER_SUITES_H_
#define QUORUM_SERVER_PEER_CIPHER_SUITES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace quorum::server {

// Turns etcd's --cipher-suites (Go's names, comma-separated) into an OpenSSL cipher list. An
// unknown name is an error naming it. TLS 1.3 suites are accepted and left out: as in Go, they
// cannot be chosen.
absl::StatusOr<std::string> OpenSslCipherList(const std::vector<std::string>& go_names);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_PEER_CIPHER_SUITES_H_
