// The HTTP/1.1 face of a member: the routes etcd serves beside gRPC on its client URLs
// (/version, /health, later the JSON gateway and /metrics), on connections ClientPort hands
// over, in the clear or through TLS it terminated. Routing, request parsing and response
// writing are cpp-httplib's; connections are ours, so one port can serve gRPC as well.
#ifndef QUORUM_SERVER_HTTP_HTTP_FACE_H_
#define QUORUM_SERVER_HTTP_HTTP_FACE_H_

#include <httplib.h>

#include <set>
#include <string>

namespace quorum::server::http {

class HttpFace : public httplib::Server {
 public:
  HttpFace();

  // Serves GET on `path` (exactly); any other method there gets etcd's 405 before the body is
  // read.
  void GetOnly(const std::string& path, Handler handler);

  // Serves requests on one connection until the client closes it, stays idle past the
  // keep-alive timeout, or `fd` is shut down. `ssl` (handshake done) or null for the clear.
  void ServeConnection(int fd, SSL* ssl);

 private:
  std::set<std::string> get_only_;  // set before serving, read-only after
};

// Writes an error the way Go's http.Error does (etcd's handlers use it): `body` and a newline,
// as text/plain, with `status`.
void GoHttpError(httplib::Response& response, int status, const std::string& body);

}  // namespace quorum::server::http

#endif  // QUORUM_SERVER_HTTP_HTTP_FACE_H_
