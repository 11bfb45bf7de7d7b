#include "server/http/http_face.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/ascii.h"

namespace quorum::server::http {
namespace {

// How long a connection may stay idle between requests, and the most requests it may carry.
constexpr int kKeepAliveSeconds = 5;
constexpr int kKeepAliveMaxRequests = 1000;
// How long a read or write may wait for the other side within a request.
constexpr int kIoTimeoutMillis = 30000;

void Address(const sockaddr_storage& address, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
    port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    port = ntohs(v6->sin6_port);
  }
  ip = text;
}

// One connection as cpp-httplib reads and writes it: a socket, through TLS when `ssl` is set.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}

  bool is_readable() const override { return Pending() || Wait(POLLIN, kIoTimeoutMillis); }
  bool is_writable() const override { return Wait(POLLOUT, kIoTimeoutMillis); }

  // While a request's head is read, bytes go one at a time so that a request without a body
  // length can be given "Content-Length: 0" before its blank line: RFC 7230 §3.3.3 says such a
  // body is empty (Go's server, and so etcd, reads it so), while cpp-httplib would wait for the
  // connection to close (`curl -X POST` without data sends no length).
  ssize_t read(char* ptr, size_t size) override {
    if (size == 0) return 0;
    if (!added_.empty()) {
      const size_t n = std::min(size, added_.size());
      std::memcpy(ptr, added_.data(), n);
      added_.erase(0, n);
      return static_cast<ssize_t>(n);
    }
    if (!in_head_) return Receive(ptr, size);
    const ssize_t n = Receive(ptr, 1);
    if (n <= 0) return n;
    head_ += ptr[0];
    // The blank line that ends the head has begun (a header line cannot start with CR).
    if (head_.size() >= 3 && head_.compare(head_.size() - 3, 3, "\r\n\r") == 0) {
      in_head_ = false;
      const std::string lower = absl::AsciiStrToLower(head_);
      const size_t length_at = lower.find("\ncontent-length:");
      const bool chunked = lower.find("\ntransfer-encoding:") != std::string::npos;
      if (length_at == std::string::npos && !chunked) {
        added_ = "ontent-Length: 0\r\n\r";
        ptr[0] = 'C';
      } else if (!ReadsBody(head_.substr(0, head_.find(' ')))) {
        // cpp-httplib reads no body for this method, Go's server drops it: left in the stream
        // it would be taken for the start of the next request (Patroni sends GET /version
        // with a body). A chunked one ends the connection after the answer instead.
        unread_body_ =
            chunked ? kUnknownLength : std::strtoull(lower.c_str() + length_at + 16, nullptr, 10);
      }
      head_.clear();
    } else if (head_ == "\r" || head_ == "\n") {
      head_.clear();  // stray line ends before a request line are skipped, not counted
    }
    return n;
  }

  // A new request starts: its head is read as above.
  void StartRequest() {
    in_head_ = true;
    head_.clear();
    unread_body_ = 0;
  }

  // After the answer: drops the body of a request cpp-httplib did not read. False when the
  // connection cannot carry another request (the body is chunked or did not come).
  bool SkipUnreadBody() {
    if (unread_body_ == kUnknownLength) return false;
    char buffer[4096];
    while (unread_body_ > 0) {
      const ssize_t n = read(buffer, std::min<size_t>(sizeof(buffer), unread_body_));
      if (n <= 0) return false;
      unread_body_ -= static_cast<size_t>(n);
    }
    return true;
  }

  ssize_t write(const char* ptr, size_t size) override {
    size_t written = 0;
    while (written < size) {
      if (!is_writable()) return -1;
      ssize_t n;
      if (ssl_ != nullptr) {
        n = SSL_write(ssl_, ptr + written,
                      static_cast<int>(std::min<size_t>(size - written, INT32_MAX)));
      } else {
        n = send(fd_, ptr + written, size - written, MSG_NOSIGNAL);
      }
      if (n <= 0) return -1;
      written += static_cast<size_t>(n);
    }
    return static_cast<ssize_t>(written);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (getpeername(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      Address(address, ip, port);
    }
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      Address(address, ip, port);
    }
  }
  socket_t socket() const override { return fd_; }

  // Bytes already decrypted and waiting in the TLS layer (poll cannot see them), or added to
  // a request head.
  bool Pending() const { return !added_.empty() || (ssl_ != nullptr && SSL_pending(ssl_) > 0); }
  bool Wait(short events, int millis) const {
    pollfd p{fd_, events, 0};
    return poll(&p, 1, millis) > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
  }

 private:
  ssize_t Receive(char* ptr, size_t size) {
    if (!is_readable()) return -1;
    if (ssl_ != nullptr) {
      const int n = SSL_read(ssl_, ptr, static_cast<int>(std::min<size_t>(size, INT32_MAX)));
      return n > 0 ? n : -1;
    }
    return recv(fd_, ptr, size, 0);
  }

  // The methods whose body cpp-httplib reads.
  static bool ReadsBody(const std::string& method) {
    return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE" ||
           method == "PRI";
  }
  static constexpr size_t kUnknownLength = SIZE_MAX;

  int fd_;
  SSL* ssl_;
  bool in_head_ = true;
  size_t unread_body_ = 0;  // body bytes of this request nobody reads; kUnknownLength: chunked
  std::string head_;        // the request head read so far
  std::string added_;       // bytes still to hand out before reading on
};

// The socket of the connection the calling thread serves (-1 outside ServeConnection).
thread_local int current_connection_fd = -1;

}  // namespace

HttpFace::HttpFace() {
  // cpp-httplib ends streamed bodies (content providers) at once when its server socket is
  // unset, taking that for a server shutting down. Connections come from ClientPort, not from a
  // socket of its own: an open descriptor of ours stands for "serving" until destruction.
  svr_sock_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  set_keep_alive_timeout(kKeepAliveSeconds);  // what the Keep-Alive header announces
  set_keep_alive_max_count(kKeepAliveMaxRequests);
  // etcd answers every request with these (its CORS wrapper, open to any origin by default).
  set_default_headers({{"Access-Control-Allow-Headers", "accept, content-type, authorization"},
                       {"Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE"},
                       {"Access-Control-Allow-Origin", "*"}});
  set_pre_routing_handler([this](const httplib::Request& request, httplib::Response& response) {
    if (request.method != "GET" && get_only_.count(request.path) != 0) {
      response.set_header("Allow", "GET");
      GoHttpError(response, 405, "Method Not Allowed");
      return HandlerResponse::Handled;
    }
    if (request.method != "POST" && post_only_.count(request.path) != 0) {
      GoHttpError(response, 405, "Method Not Allowed");
      return HandlerResponse::Handled;
    }
    return HandlerResponse::Unhandled;
  });
  // Go's default answer for a path no handler takes, unless its prefix has its own.
  set_error_handler([this](const httplib::Request& request, httplib::Response& response) {
    if (response.status != 404 || !response.body.empty()) return;
    for (const auto& [prefix, body] : not_found_bodies_) {
      if (request.path.compare(0, prefix.size(), prefix) == 0) {
        GoHttpError(response, 404, body);
        return;
      }
    }
    GoHttpError(response, 404, "404 page not found");
  });
}

HttpFace::~HttpFace() {
  const socket_t placeholder = svr_sock_.exchange(INVALID_SOCKET);
  if (placeholder != INVALID_SOCKET) close(placeholder);
}

void HttpFace::PostOnly(const std::string& path, Handler handler) {
  post_only_.insert(path);
  Post(path, std::move(handler));
}

void HttpFace::SetNotFoundBody(const std::string& prefix, const std::string& body) {
  not_found_bodies_.emplace_back(prefix, body);
}

bool HttpFace::PeerGone() {
  if (current_connection_fd < 0) return false;
  pollfd p{current_connection_fd, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

void HttpFace::GetOnly(const std::string& path, Handler handler) {
  get_only_.insert(path);
  Get(path, std::move(handler));
}

void HttpFace::ServeConnection(int fd, SSL* ssl) {
  ConnectionStream stream(fd, ssl);
  current_connection_fd = fd;
  struct Reset {
    ~Reset() { current_connection_fd = -1; }
  } reset;
  for (int count = 0; count < kKeepAliveMaxRequests; ++count) {
    if (!stream.Pending() && !stream.Wait(POLLIN, kKeepAliveSeconds * 1000)) return;
    stream.StartRequest();
    bool closed = false;
    const bool last = count + 1 == kKeepAliveMaxRequests;
    if (!process_request(stream, last, closed, [](httplib::Request&) {}) || closed) return;
    if (!stream.SkipUnreadBody()) return;
  }
}

void GoHttpError(httplib::Response& response, int status, const std::string& body) {
  response.status = status;
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_content(body + "\n", "text/plain; charset=utf-8");
}

}  // namespace quorum::server::http
