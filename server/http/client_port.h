// The client URLs' sockets, owned here rather than by gRPC so that one port serves both of
// etcd's faces: gRPC (HTTP/2) and HTTP/1.1 (JSON gateway, /health, /version, /metrics).
// Each accepted connection is looked at before any byte is consumed (client_hello.h):
//   - plain gRPC is handed to the gRPC server as an already connected socket;
//   - TLS gRPC (ALPN "h2" alone) is relayed byte for byte to the gRPC server's TLS listener on
//     an abstract unix socket, so gRPC does the handshake, client-certificate checks and CN
//     auth as on any listener (gRPC takes handed-over sockets in the clear only);
//   - everything else is HTTP/1.1, over TLS terminated here when the URL is https.
// Thread-safe. One thread per listening socket, one per HTTP connection, two per TLS gRPC relay.
#ifndef QUORUM_SERVER_HTTP_CLIENT_PORT_H_
#define QUORUM_SERVER_HTTP_CLIENT_PORT_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "server/config.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace quorum::server::http {

// Serves one HTTP/1.1 connection until it closes: on `fd` in the clear, or through `ssl`
// (handshake done) when not null. Must return once `fd` is shut down.
using HttpConnectionHandler = std::function<void(int fd, SSL* ssl)>;

class ClientPort {
 public:
  // Binds and listens on every URL (all addresses its host names). Errors name the URL.
  static absl::StatusOr<std::unique_ptr<ClientPort>> Listen(const std::vector<Url>& urls);
  ~ClientPort();  // Stop()s

  // True when some URL is https: the gRPC server must then listen on TlsGrpcAddress() with
  // the client TLS credentials.
  bool HasTls() const;
  // The gRPC listening address TLS gRPC connections are relayed to ("unix-abstract:...").
  const std::string& TlsGrpcAddress() const { return tls_grpc_address_; }

  // Starts accepting. `grpc` takes plain HTTP/2 connections (null: every connection is HTTP/1.1,
  // as on --listen-metrics-urls); `tls` (required when HasTls()) terminates HTTP/1.1 over TLS;
  // `http` serves HTTP/1.1 connections. All must outlive Stop().
  void Start(grpc::Server* grpc, SSL_CTX* tls, HttpConnectionHandler http);
  // Stops accepting, ends every HTTP connection and relay, and joins their threads.
  void Stop();

 private:
  struct Listener {
    Url url;
    int fd = -1;
    bool tls = false;
  };
  struct Connection {
    int fd = -1;
    int relay_fd = -1;  // the gRPC side of a TLS relay, or -1
    std::thread thread;
    bool done = false;
  };

  ClientPort() = default;
  void AcceptLoop(const Listener& listener);
  void Serve(Connection* connection, bool tls);
  void Relay(Connection* connection);
  // Joins the threads of finished connections.
  void Reap();

  std::vector<Listener> listeners_;
  std::string tls_grpc_address_;
  grpc::Server* grpc_ = nullptr;
  SSL_CTX* tls_ = nullptr;
  HttpConnectionHandler http_;
  int wake_[2] = {-1, -1};  // a pipe: written once by Stop to wake the accept loops
  std::vector<std::thread> accept_threads_;

  std::mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::list<Connection> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quorum::server::http

#endif  // QUORUM_SERVER_HTTP_CLIENT_PORT_H_
