#include "server/http/client_port.h"

#include <fcntl.h>
#include <grpcpp/server_posix.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "server/http/client_hello.h"
#include "spdlog/spdlog.h"

namespace quorum::server::http {
namespace {

// How long a new connection may take to show what it speaks (and to finish a TLS handshake).
constexpr auto kHelloDeadline = std::chrono::seconds(10);
// Enough for any ClientHello (TLS records carry at most 16 KiB each).
constexpr size_t kPeekBytes = 70 * 1024;
// Connections being looked at or served over HTTP at once; more are closed at once.
constexpr size_t kMaxConnections = 8192;

std::string Errno() { return std::strerror(errno); }

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Waits until `fd` has `bytes_seen` + 1 or more bytes, or the deadline passes; the bytes stay
// in the socket. Returns what is there (empty on end of stream, error or deadline).
std::string PeekMore(int fd, size_t bytes_seen, std::chrono::steady_clock::time_point deadline) {
  std::string buffer(kPeekBytes, '\0');
  auto backoff = std::chrono::milliseconds(1);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 1))) <= 0) continue;
    const ssize_t n = recv(fd, buffer.data(), buffer.size(), MSG_PEEK);
    if (n <= 0) return {};
    if (static_cast<size_t>(n) > bytes_seen || static_cast<size_t>(n) == buffer.size()) {
      buffer.resize(static_cast<size_t>(n));
      return buffer;
    }
    // Nothing new yet: the socket stays readable with what was peeked, so poll cannot wait
    // for more; back off a little instead.
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(20));
  }
  return {};
}

// Copies `from` to `to` until `from` ends (then half-closes `to`) or either fails (then shuts
// both down, which ends the other direction too). Through a pipe, without copying to user space.
void Pump(int from, int to) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    shutdown(from, SHUT_RDWR);
    shutdown(to, SHUT_RDWR);
    return;
  }
  bool clean_end = false;
  while (true) {
    const ssize_t in = splice(from, nullptr, pipe_fds[1], nullptr, 1 << 16, SPLICE_F_MOVE);
    if (in == 0) clean_end = true;
    if (in <= 0) break;
    ssize_t left = in;
    while (left > 0) {
      const ssize_t out =
          splice(pipe_fds[0], nullptr, to, nullptr, static_cast<size_t>(left), SPLICE_F_MOVE);
      if (out <= 0) break;
      left -= out;
    }
    if (left > 0) break;
  }
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  if (clean_end) {
    shutdown(to, SHUT_WR);
  } else {
    shutdown(from, SHUT_RDWR);
    shutdown(to, SHUT_RDWR);
  }
}

// A connected socket to the abstract unix socket named by `address` ("unix-abstract:NAME").
int ConnectAbstract(const std::string& address) {
  const std::string name = address.substr(std::strlen("unix-abstract:"));
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  if (name.size() + 1 > sizeof(un.sun_path)) return -1;
  std::memcpy(un.sun_path + 1, name.data(), name.size());
  const socklen_t length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&un), length) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ClientPort>> ClientPort::Listen(const std::vector<Url>& urls) {
  std::unique_ptr<ClientPort> port(new ClientPort());
  for (const Url& url : urls) {
    std::string host = url.host;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(url.port);
    if (int rc =
            getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
        rc != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot listen on ", url.original, ": ", gai_strerror(rc)));
    }
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      // v4 and v6 addresses of one name are bound separately.
      if (a->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
      if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        const std::string why = Errno();
        close(fd);
        freeaddrinfo(found);
        return absl::UnavailableError(
            absl::StrCat("cannot listen on ", url.original, ": ", why, " (is the port in use?)"));
      }
      port->listeners_.push_back({url, fd, url.scheme == "https"});
    }
    freeaddrinfo(found);
  }
  if (port->HasTls()) {
    std::random_device random;
    port->tls_grpc_address_ =
        absl::StrCat("unix-abstract:quorumd-", getpid(), "-", random(), "-client-tls");
  }
  return port;
}

ClientPort::~ClientPort() {
  Stop();
  for (Listener& listener : listeners_) close(listener.fd);
}

bool ClientPort::HasTls() const {
  for (const Listener& listener : listeners_) {
    if (listener.tls) return true;
  }
  return false;
}

void ClientPort::Start(grpc::Server* grpc, SSL_CTX* tls, HttpConnectionHandler http) {
  grpc_ = grpc;
  tls_ = tls;
  http_ = std::move(http);
  if (pipe2(wake_, O_CLOEXEC) != 0) wake_[0] = wake_[1] = -1;
  for (const Listener& listener : listeners_) {
    accept_threads_.emplace_back([this, &listener] { AcceptLoop(listener); });
  }
}

void ClientPort::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (wake_[1] >= 0) {
    const char byte = 0;
    (void)!write(wake_[1], &byte, 1);
  }
  for (std::thread& thread : accept_threads_) thread.join();
  accept_threads_.clear();
  std::vector<std::thread*> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Connection& connection : connections_) {
      if (connection.fd >= 0) shutdown(connection.fd, SHUT_RDWR);
      if (connection.relay_fd >= 0) shutdown(connection.relay_fd, SHUT_RDWR);
      threads.push_back(&connection.thread);
    }
  }
  for (std::thread* thread : threads) thread->join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    connections_.clear();
  }
  for (int fd : wake_) {
    if (fd >= 0) close(fd);
  }
  wake_[0] = wake_[1] = -1;
}

void ClientPort::Reap() {
  std::list<Connection> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      auto next = std::next(it);
      if (it->done) finished.splice(finished.end(), connections_, it);
      it = next;
    }
  }
  for (Connection& connection : finished) connection.thread.join();
}

void ClientPort::AcceptLoop(const Listener& listener) {
  while (true) {
    pollfd fds[2] = {{listener.fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (poll(fds, 2, 1000) < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    Reap();
    if ((fds[0].revents & POLLIN) == 0) continue;
    int fd = accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors or a connection that went away before we took it: keep serving.
      if (errno == EMFILE || errno == ENFILE)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || connections_.size() >= kMaxConnections) {
      close(fd);
      continue;
    }
    Connection& connection = connections_.emplace_back();
    connection.fd = fd;
    connection.thread = std::thread([this, &connection, tls = listener.tls] {
      Serve(&connection, tls);
      std::lock_guard<std::mutex> lock(mu_);
      if (connection.fd >= 0) close(connection.fd);
      connection.fd = -1;
      connection.done = true;
    });
  }
}

void ClientPort::Serve(Connection* connection, bool tls) {
  const int fd = connection->fd;  // stays open until this returns (closed under mu_ after)
  const auto deadline = std::chrono::steady_clock::now() + kHelloDeadline;
  // Without a gRPC server every connection is HTTP/1.1.
  Protocol protocol = grpc_ == nullptr ? Protocol::kHttp1 : Protocol::kNeedMore;
  size_t seen = 0;
  while (protocol == Protocol::kNeedMore) {
    const std::string start = PeekMore(fd, seen, deadline);
    if (start.empty()) return;  // closed, failed or silent past the deadline
    seen = start.size();
    protocol = tls ? ClassifyTls(start) : ClassifyPlain(start);
    if (protocol == Protocol::kNeedMore && seen == kPeekBytes) protocol = Protocol::kHttp1;
  }
  SetNoDelay(fd);
  if (protocol == Protocol::kGrpc && !tls) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      connection->fd = -1;  // gRPC owns it from here
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    grpc::AddInsecureChannelFromFd(grpc_, fd);
    return;
  }
  if (protocol == Protocol::kGrpc) {
    Relay(connection);
    return;
  }
  if (!tls) {
    http_(fd, nullptr);
    return;
  }
  // HTTP/1.1 over TLS: the handshake, bounded by the same deadline, then the HTTP face.
  timeval limit{static_cast<time_t>(kHelloDeadline.count()), 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  SSL* ssl = SSL_new(tls_);
  if (ssl == nullptr) return;
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) == 1) {
    timeval none{0, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
    http_(fd, ssl);
    SSL_shutdown(ssl);
  }
  SSL_free(ssl);
}

void ClientPort::Relay(Connection* connection) {
  const int client = connection->fd;
  const int grpc = ConnectAbstract(tls_grpc_address_);
  if (grpc < 0) {
    spdlog::warn("cannot reach the TLS gRPC listener for a client connection: {}", Errno());
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    connection->relay_fd = grpc;
    if (stopping_) shutdown(grpc, SHUT_RDWR);
  }
  std::thread back([client, grpc] { Pump(grpc, client); });
  Pump(client, grpc);
  back.join();
  std::lock_guard<std::mutex> lock(mu_);
  connection->relay_fd = -1;
  close(grpc);
}

}  // namespace quorum::server::http
