// A peer transport alone in a process, for tests that need to freeze or kill a peer:
//   peer_test_member <cluster_id> <self_id> <port>
// Serves until killed; inbound messages are counted and dropped.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "server/peer/transport.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <cluster_id> <self_id> <port>\n", argv[0]);
    return 2;
  }
  quorum::server::PeerTransport::Options options;
  options.cluster_id = std::strtoull(argv[1], nullptr, 10);
  options.self_id = std::strtoull(argv[2], nullptr, 10);
  options.listen = {absl::StrCat("127.0.0.1:", argv[3])};
  quorum::server::PeerTransport::Callbacks callbacks;
  callbacks.deliver = [](quorum::raftpb::Message) {};
  callbacks.unreachable = [](uint64_t) {};
  callbacks.snapshot_status = [](uint64_t, bool) {};
  callbacks.open_snapshot = [](const quorum::raftpb::Message&)
      -> absl::StatusOr<
          std::pair<quorum::raftpb::Message, std::unique_ptr<quorum::server::SnapshotReader>>> {
    return absl::UnimplementedError("no state");
  };
  auto transport = quorum::server::PeerTransport::Start(options, callbacks);
  if (!transport.ok()) {
    std::fprintf(stderr, "%s\n", transport.status().ToString().c_str());
    return 1;
  }
  while (true) ::pause();
}
