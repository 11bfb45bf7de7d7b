// A peer in another process that stops answering (SIGSTOP: its sockets stay open, so only
// keepalive can tell) is detected: the sender reports it unreachable and Connected() turns
// false; once it runs again the stream is re-established.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "peer/peer_test_support.h"
#include "server/peer/transport.h"

extern char** environ;

namespace quorum::server {
namespace {

using testing::kWait;
using testing::Listen;
using testing::MakeMessage;
using testing::PickFreePort;
using testing::Recorder;
using testing::Url;

constexpr uint64_t kCluster = 7;

// The helper process; killed and reaped by the destructor.
class PeerProcess {
 public:
  PeerProcess(uint64_t id, int port) {
    std::vector<std::string> args = {QUORUM_PEER_TEST_MEMBER, absl::StrCat(kCluster),
                                     absl::StrCat(id), absl::StrCat(port)};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    EXPECT_EQ(::posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  }
  ~PeerProcess() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  void Signal(int signal) { ASSERT_EQ(::kill(pid_, signal), 0); }

 private:
  pid_t pid_ = -1;
};

// Sends heartbeat-like traffic until `done` or the wait runs out; true if `done` came first.
bool SendUntil(PeerTransport& transport, uint64_t to, const std::function<bool()>& done,
               Recorder& recorder) {
  const absl::Time deadline = absl::Now() + kWait;
  uint64_t index = 0;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    transport.Send({MakeMessage(1, to, index++)});
    recorder.WaitForDelivered(1, absl::Milliseconds(20));  // paces the loop; a gets nothing
  }
  return true;
}

TEST(DeadPeerTest, FrozenPeerIsDetectedByKeepaliveAndReconnectedAfter) {
  const int port = PickFreePort();
  PeerProcess peer(2, port);
  Recorder recorder;
  PeerTransport::Options options;
  options.cluster_id = kCluster;
  options.self_id = 1;
  options.listen = {Listen(PickFreePort())};
  auto transport = PeerTransport::Start(options, recorder.Callbacks());
  ASSERT_TRUE(transport.ok()) << transport.status();
  PeerTransport& a = **transport;
  a.SetPeer(2, {Url(port)});
  ASSERT_TRUE(SendUntil(
      a, 2, [&] { return a.Connected(2); }, recorder));

  peer.Signal(SIGSTOP);
  const absl::Time frozen_at = absl::Now();
  ASSERT_TRUE(SendUntil(
      a, 2, [&] { return !a.Connected(2) && recorder.Unreachable(2) > 0; }, recorder));
  // Keepalive: a ping every second, declared dead a second after an unanswered one.
  EXPECT_LT(absl::Now() - frozen_at, absl::Seconds(8));

  peer.Signal(SIGCONT);
  ASSERT_TRUE(SendUntil(
      a, 2, [&] { return a.Connected(2); }, recorder));
  a.Stop();
}

}  // namespace
}  // namespace quorum::server
