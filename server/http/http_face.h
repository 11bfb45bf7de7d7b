// The HTTP/1.1 face of a member: the routes etcd serves beside gRPC on its client URLs
// (/version, /health, later the JSON gateway and /metrics), on connections ClientPort hands
// over, in the clear or through TLS it terminated. Routing, request parsing and response
// writing are cpp-httplib's; connections are ours, so one port can serve gRPC as well.
#ifndef QUORUM_SERVER_HTTP_HTTP_FACE_H_
#define QUORUM_SERVER_HTTP_HTTP_FACE_H_

#include <httplib.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace quorum::server::http {

class HttpFace : public httplib::Server {
 public:
  HttpFace();
  ~HttpFace();

  // Serves GET on `path` (exactly); any other method there gets etcd's 405 before the body is
  // read.
  void GetOnly(const std::string& path, Handler handler);
  // Serves POST on `path` (exactly); any other method there gets Go's 405 before the body is
  // read (the JSON gateway's answer).
  void PostOnly(const std::string& path, Handler handler);
  // Paths under `prefix` that no handler takes are answered 404 with `body` (plus a newline)
  // instead of Go's default "404 page not found".
  void SetNotFoundBody(const std::string& prefix, const std::string& body);

  // True when the client of the connection this thread serves has gone (closed or reset it) or
  // the connection was shut down. For handlers that wait on something long: they stop then.
  static bool PeerGone();

  // Serves requests on one connection until the client closes it, stays idle past the
  // keep-alive timeout, or `fd` is shut down. `ssl` (handshake done) or null for the clear.
  void ServeConnection(int fd, SSL* ssl);

 private:
  // Set before serving, read-only after.
  std::set<std::string> get_only_;
  std::set<std::string> post_only_;
  std::vector<std::pair<std::string, std::string>> not_found_bodies_;  // prefix, body
};

// Writes an error the way Go's http.Error does (etcd's handlers use it): `body` and a newline,
// as text/plain, with `status`.
void GoHttpError(httplib::Response& response, int status, const std::string& body);

}  // namespace quorum::server::http

#endif  // QUORUM_SERVER_HTTP_HTTP_FACE_H_
