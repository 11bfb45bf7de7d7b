// Sends one peer its snapshots: for each outgoing MSG_SNAPSHOT, on a thread of its own, asks
// the state machine for a reader (Callbacks::open_snapshot), streams the records in chunks on a
// RaftPeer.Snapshot call and reports the outcome (Callbacks::snapshot_status). At most one
// transfer per peer is in flight. Owned by that peer's PeerSender.
//
// open_snapshot and the reader run on the transfer thread, so a slow reader never holds up
// Send; Stop cancels the call but waits for a reader's Next in progress to return.
#ifndef QUORUM_SERVER_PEER_SNAPSHOT_SENDER_H_
#define QUORUM_SERVER_PEER_SNAPSHOT_SENDER_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "raftpb/raft.pb.h"
#include "server/peer/peer_stats.h"
#include "server/peer/transport.h"

namespace quorum::server {

class SnapshotSender {
 public:
  struct Config {
    uint64_t cluster_id = 0;
    uint64_t self_id = 0;
    uint64_t peer_id = 0;
    size_t chunk_bytes = 1 << 20;
  };

  // `callbacks` and `counters` must outlive the sender. `channel` returns the peer's current
  // channel; it is called on the transfer thread.
  SnapshotSender(Config config, const PeerTransport::Callbacks* callbacks, PeerCounters* counters,
                 std::function<std::shared_ptr<grpc::Channel>()> channel);
  ~SnapshotSender();

  SnapshotSender(const SnapshotSender&) = delete;
  SnapshotSender& operator=(const SnapshotSender&) = delete;

  // Starts sending `message` (a MSG_SNAPSHOT) unless a transfer is in flight, in which case
  // it is dropped: Raft waits for the status of the one in flight. Never blocks on the network.
  void Start(raftpb::Message message);

  // Cancels a transfer in flight; no status is reported for it. Join() waits for its thread.
  void RequestStop();
  void Join();

 private:
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run();
  absl::Status Transfer(const raftpb::Message& message);
  bool Stopping();

  const Config config_;
  const PeerTransport::Callbacks* const callbacks_;
  PeerCounters* const counters_;
  const std::function<std::shared_ptr<grpc::Channel>()> channel_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // From Start until the status is reported.
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<raftpb::Message> pending_ ABSL_GUARDED_BY(mu_);
  // The transfer's call, so that RequestStop can cancel it.
  grpc::ClientContext* active_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_PEER_SNAPSHOT_SENDER_H_
