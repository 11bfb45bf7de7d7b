// Reading the start of a connection on a client URL to decide who takes it, before any byte
// is consumed: gRPC (HTTP/2) or the HTTP/1.1 face. On a plain listener the first bytes tell
// (HTTP/2's preface starts "PRI "); on a TLS listener the ClientHello's ALPN list does (gRPC
// clients offer "h2" alone, curl and HTTP libraries offer "http/1.1").
#ifndef QUORUM_SERVER_HTTP_CLIENT_HELLO_H_
#define QUORUM_SERVER_HTTP_CLIENT_HELLO_H_

#include <string>
#include <string_view>
#include <vector>

namespace quorum::server::http {

enum class Protocol {
  kNeedMore,  // the bytes so far do not decide yet
  kGrpc,      // HTTP/2: hand the connection to gRPC
  kHttp1,     // anything else: the HTTP/1.1 face
};

// Plain listener: decides from the first bytes of the connection.
Protocol ClassifyPlain(std::string_view start);

// The protocols a TLS ClientHello offers by ALPN, in its order. `complete` is false while
// `start` does not yet hold the whole ClientHello (read more and ask again); it is true with an
// empty list when the bytes are not a ClientHello or offer no ALPN.
struct AlpnOffer {
  bool complete = false;
  std::vector<std::string> protocols;
};
AlpnOffer ReadAlpn(std::string_view start);

// TLS listener: gRPC when the client offers "h2" and not "http/1.1".
Protocol ClassifyTls(std::string_view start);

}  // namespace quorum::server::http

#endif  // QUORUM_SERVER_HTTP_CLIENT_HELLO_H_
