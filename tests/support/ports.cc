#include "tests/support/ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <random>
#include <set>
#include <stdexcept>

namespace quorum::testing {

namespace {

// Binds 127.0.0.1:`port` (0: any) and returns the port bound, or 0 when it is taken.
int BindLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int bound = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    bound = ntohs(addr.sin_port);
  }
  close(fd);
  return bound;
}

}  // namespace

int FreeLoopbackPort() {
  // Below the kernel's ephemeral range (32768 and up by default): a port the kernel hands out
  // may be taken by an outgoing connection of a test running beside this one before the
  // member binds it, which this range avoids.
  static std::mutex mu;
  static std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(getpid()));
  static std::set<int> given;  // never the same port twice in one test program
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::lock_guard<std::mutex> lock(mu);
    const int port = 20000 + static_cast<int>(rng() % 12000);
    if (given.count(port) == 0 && BindLoopback(port) == port) {
      given.insert(port);
      return port;
    }
  }
  const int any = BindLoopback(0);
  if (any == 0) throw std::runtime_error("bind failed");
  return any;
}

}  // namespace quorum::testing
