// The receiving end of the peer protocol: the RaftPeer gRPC service (callback API) that checks
// each stream's hello, hands inbound messages to Raft, and stages inbound snapshots on disk
// before announcing them. Owned by the transport (grpc_transport.cc), which registers it with
// its gRPC server.
#ifndef QUORUM_SERVER_PEER_PEER_SERVICE_H_
#define QUORUM_SERVER_PEER_PEER_SERVICE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "internalpb/peer.grpc.pb.h"
#include "raftpb/raft.pb.h"
#include "server/peer/peer_stats.h"
#include "server/peer/snapshot_staging.h"

namespace quorum::server {

class RaftPeerService final : public internalpb::RaftPeer::CallbackService {
 public:
  struct Config {
    uint64_t cluster_id = 0;
    uint64_t self_id = 0;
    // Where inbound snapshots are staged; empty refuses them.
    std::string snapshot_dir;
    // True for a member id removed from the cluster (unset: none is).
    std::function<bool(uint64_t)> is_removed;
  };

  // `worker` runs the snapshot disk work; it and `counters` must outlive the service.
  RaftPeerService(Config config, std::function<void(raftpb::Message)> deliver,
                  StagingWorker* worker, PeerCounters* counters);
  // REQUIRES: the gRPC server is shut down and WaitForReactors() has returned.
  ~RaftPeerService() override = default;

  grpc::ServerReadReactor<internalpb::PeerFrame>* Stream(grpc::CallbackServerContext* context,
                                                         internalpb::PeerAck* ack) override;
  grpc::ServerReadReactor<internalpb::SnapshotChunk>* Snapshot(grpc::CallbackServerContext* context,
                                                               internalpb::PeerAck* ack) override;
  grpc::ServerUnaryReactor* Probe(grpc::CallbackServerContext* context,
                                  const internalpb::PeerProbe* request,
                                  internalpb::PeerProbe* response) override;

  // After it returns `deliver` is never called again; streams still open end with UNAVAILABLE.
  void CloseDelivery();
  // Blocks until every stream's reactor is done. Call after the gRPC server has been shut down
  // (which cancels open streams); the staging worker must still be running.
  void WaitForReactors();

  // For the reactors (peer_service.cc).
  // OK when `hello` is addressed to this member of this cluster by a member not removed from
  // it; FAILED_PRECONDITION otherwise (kPeerRemovedMessage for a removed member).
  absl::Status CheckHello(const internalpb::PeerHello& hello) const;
  // Hands each message to Raft in order. False once delivery is closed.
  bool Deliver(internalpb::MessageBatch* batch);
  bool Deliver(raftpb::Message message);
  void ReactorDone();
  const Config& config() const { return config_; }
  StagingWorker* worker() const { return worker_; }
  PeerCounters* counters() const { return counters_; }

 private:
  void ReactorStarted();

  const Config config_;
  const std::function<void(raftpb::Message)> deliver_;
  StagingWorker* const worker_;
  PeerCounters* const counters_;

  // Held shared while delivering, so CloseDelivery() waits out a delivery in progress.
  absl::Mutex deliver_mu_;
  bool delivery_open_ ABSL_GUARDED_BY(deliver_mu_) = true;

  absl::Mutex reactors_mu_;
  int live_reactors_ ABSL_GUARDED_BY(reactors_mu_) = 0;
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_PEER_PEER_SERVICE_H_
