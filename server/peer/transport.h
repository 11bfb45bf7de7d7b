// PeerTransport: moves Raft messages between the members of one cluster over gRPC on the peer
// URLs. The member loop hands it the messages of each Ready (Send never blocks) and receives
// inbound messages through a callback. Snapshots travel on their own stream in chunks and are
// staged in a file before Raft sees the MSG_SNAPSHOT that announces them.
//
// Threading: every public method is thread-safe. Callbacks run on transport threads; they must
// be quick (queue and return) and must not call back into Stop().
#ifndef QUORUM_SERVER_PEER_TRANSPORT_H_
#define QUORUM_SERVER_PEER_TRANSPORT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "internalpb/peer.pb.h"
#include "raftpb/raft.pb.h"
#include "server/peer/tls_credentials.h"

namespace grpc {
class Channel;
class Service;
}  // namespace grpc

namespace quorum::server {

// The state machine's records for an outgoing snapshot, read from a consistent point.
class SnapshotReader {
 public:
  virtual ~SnapshotReader() = default;
  // Appends records to `chunk` until about `max_bytes` are added. Returns false once every
  // record has been handed out (the chunk may still hold the last ones).
  virtual absl::StatusOr<bool> Next(internalpb::SnapshotChunk* chunk, size_t max_bytes) = 0;
};

class PeerTransport {
 public:
  struct Options {
    uint64_t cluster_id = 0;
    uint64_t self_id = 0;
    // Listeners for the peer gRPC server: http://host:port, https://host:port (TLS with
    // security.server) or host:port.
    std::vector<std::string> listen;
    // TLS for https:// listeners and peer URLs.
    PeerSecurity security;
    // Where received snapshots are staged (created if missing).
    std::string snapshot_dir;
    // Messages queued per peer before new ones are dropped (and the peer reported unreachable).
    size_t queue_limit = 4096;
    // Records per snapshot chunk, by bytes.
    size_t snapshot_chunk_bytes = 1 << 20;
    // More services for the peer server (requests members forward to the leader). Not owned;
    // they must outlive the transport.
    std::vector<grpc::Service*> services;
    // True for a member id removed from the cluster: its streams are refused (etcd behaviour).
    std::function<bool(uint64_t)> is_removed;
    // When set, every connected peer is probed once per `probe_interval` and the round trip of
    // each answered probe is reported here, on the transport's probe thread (etcd's
    // peer_round_trip_time_seconds). A probe waits at most kProbeTimeout.
    std::function<void(uint64_t peer, std::chrono::nanoseconds rtt)> round_trip;
    std::chrono::milliseconds probe_interval{5000};
  };

  struct Callbacks {
    // An inbound message for Raft. For MSG_SNAPSHOT, message.snapshot().data() holds the path of
    // the staged file (length-delimited SnapshotChunk frames) instead of the state itself.
    std::function<void(raftpb::Message)> deliver;
    // A message to `peer` could not be sent (connection down, queue full). Called once per
    // loss (a failed write, a failed reconnect, an overflow), not once per message.
    std::function<void(uint64_t peer)> unreachable;
    // A snapshot to `peer` was received and acknowledged (ok) or failed. Exactly one per
    // transfer started, except transfers cut short by Stop or RemovePeer. A MSG_SNAPSHOT sent
    // while one to the same peer is in flight is dropped without a status.
    std::function<void(uint64_t peer, bool ok)> snapshot_status;
    // Called for each outgoing MSG_SNAPSHOT: returns the message to send (its snapshot metadata
    // may be moved forward to the state actually captured) and a reader of that state.
    // Runs on the peer's snapshot thread, not inside Send, so it may take its time; the reader
    // is used on that thread too, and Stop waits for a Next() in progress.
    std::function<absl::StatusOr<std::pair<raftpb::Message, std::unique_ptr<SnapshotReader>>>(
        const raftpb::Message&)>
        open_snapshot;
    // A peer refused this member's stream because this member was removed from the cluster.
    // May be called more than once.
    std::function<void()> removed;
  };

  // The longest a round-trip probe waits for its answer.
  static constexpr std::chrono::seconds kProbeTimeout{1};

  // Starts the peer gRPC server on options.listen. Fails with a clear message when a listener
  // cannot be bound.
  static absl::StatusOr<std::unique_ptr<PeerTransport>> Start(const Options& options,
                                                              Callbacks callbacks);
  virtual ~PeerTransport() = default;

  // Adds a peer or replaces its URLs (http://host:port). Connection happens in the background,
  // with reconnect backoff.
  virtual void SetPeer(uint64_t id, const std::vector<std::string>& urls) = 0;
  virtual void RemovePeer(uint64_t id) = 0;

  // Queues messages to their `to` peers; never blocks. Messages to unknown peers are dropped.
  virtual void Send(std::vector<raftpb::Message> messages) = 0;

  // A channel to peer `id` for other calls, or null for an unknown peer.
  virtual std::shared_ptr<grpc::Channel> PeerChannel(uint64_t id) = 0;

  // True when a stream to `id` is connected now (member health, learner readiness).
  virtual bool Connected(uint64_t id) const = 0;

  // Stops senders and the server; no callback runs after it returns.
  virtual void Stop() = 0;

  // Totals since Start, over all peers (metrics; tests check batching with them).
  struct Stats {
    uint64_t messages_sent = 0;
    uint64_t frames_sent = 0;       // MessageBatch frames written; messages_sent / frames_sent is
                                    // the batching factor
    uint64_t messages_dropped = 0;  // queue full, connection down, or failed write
    uint64_t messages_received = 0;
    uint64_t frames_received = 0;
    uint64_t snapshots_sent = 0;      // acknowledged by the peer
    uint64_t snapshots_received = 0;  // staged and delivered
  };
  // Not pure, so that test doubles of the transport need not count.
  virtual Stats GetStats() const { return {}; }

  // Bytes of Raft messages sent to and received from each peer since Start (metrics), for
  // every peer that exchanged any. Snapshot transfers are not included.
  struct PeerTraffic {
    uint64_t peer = 0;
    uint64_t sent_bytes = 0;
    uint64_t received_bytes = 0;
  };
  virtual std::vector<PeerTraffic> GetPeerTraffic() const { return {}; }
};

// Reads a staged snapshot file written by the transport, one chunk at a time.
class StagedSnapshot {
 public:
  static absl::StatusOr<std::unique_ptr<StagedSnapshot>> Open(const std::string& path);
  virtual ~StagedSnapshot() = default;
  // The next chunk, or false at the end of the file.
  virtual absl::StatusOr<bool> Next(internalpb::SnapshotChunk* chunk) = 0;
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_PEER_TRANSPORT_H_
