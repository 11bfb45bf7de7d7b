// The outgoing side of one peer: a bounded queue of Raft messages and a thread that keeps one
// RaftPeer.Stream call open to the peer, writing everything queued since its last write as one
// MessageBatch frame. Snapshots go through its SnapshotSender. Owned by the transport, one per
// peer.
//
// Failure handling follows Raft's tolerance of lost messages (etcd's transport does the same):
// a message that cannot be sent is dropped and the peer is reported unreachable, so the leader
// probes it again later; nothing is retried from here.
#ifndef QUORUM_SERVER_PEER_PEER_SENDER_H_
#define QUORUM_SERVER_PEER_PEER_SENDER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "raftpb/raft.pb.h"
#include "server/peer/peer_stats.h"
#include "server/peer/snapshot_sender.h"
#include "server/peer/transport.h"

namespace quorum::server {

class PeerSender {
 public:
  struct Config {
    uint64_t cluster_id = 0;
    uint64_t self_id = 0;
    uint64_t peer_id = 0;
    size_t queue_limit = 4096;
    size_t snapshot_chunk_bytes = 1 << 20;
    // TLS for https:// peer URLs; the snapshot stream shares the channel.
    PeerSecurity security;
  };

  // `callbacks` and `counters` must outlive the sender. Starts connecting at once.
  PeerSender(Config config, std::vector<std::string> urls,
             const PeerTransport::Callbacks* callbacks, PeerCounters* counters);
  ~PeerSender();

  PeerSender(const PeerSender&) = delete;
  PeerSender& operator=(const PeerSender&) = delete;

  // Queues `messages` (all addressed to this peer) in order; never waits for the network. When
  // the queue is full the rest are dropped and the sender thread reports the peer unreachable.
  // A MSG_SNAPSHOT goes to the snapshot sender instead of the queue.
  void Enqueue(std::vector<raftpb::Message> messages);

  // Redials the peer at `urls`; queued messages are kept.
  void SetUrls(std::vector<std::string> urls);

  // True while the stream is established and its last write succeeded.
  bool Connected() const { return connected_.load(std::memory_order_acquire); }

  // The channel to the peer's current URL (also for calls other than the message stream).
  std::shared_ptr<grpc::Channel> CurrentChannel();

  // Ends the stream and makes the threads exit; Join() waits for them. Split so that a
  // transport stops all its peers at once rather than one after another.
  void RequestStop();
  void Join();

 private:
  struct Stream;

  void Run();
  // Dials, waits up to `patience` for the connection, opens the stream and has the hello
  // accepted. Null on failure or when stopping.
  std::unique_ptr<Stream> Connect(absl::Duration patience);
  // Ends `stream`: cancelled first unless it already failed, so Finish never waits.
  void Close(std::unique_ptr<Stream> stream, bool cancel, const char* why);
  // Drops everything queued or pending; reports the peer unreachable if anything was lost.
  void DropQueued();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Stopping();

  const Config config_;
  const PeerTransport::Callbacks* const callbacks_;
  PeerCounters* const counters_;
  PeerCounters::Traffic& traffic_;

  mutable absl::Mutex mu_;
  std::deque<raftpb::Message> queue_ ABSL_GUARDED_BY(mu_);
  // Messages were dropped at a full queue since the last unreachable report.
  bool overflowed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> urls_ ABSL_GUARDED_BY(mu_);
  size_t url_index_ ABSL_GUARDED_BY(mu_) = 0;
  bool urls_changed_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<grpc::Channel> channel_ ABSL_GUARDED_BY(mu_);
  // The open stream's call, so that RequestStop can cancel a blocked write.
  grpc::ClientContext* active_context_ ABSL_GUARDED_BY(mu_) = nullptr;

  // Taken from queue_ but not yet written (sender thread only). Holds at most queue_limit.
  std::deque<raftpb::Message> pending_;
  std::atomic<bool> connected_{false};
  // Whether the current outage has been logged, so a down peer is not logged every retry.
  bool outage_logged_ = false;  // sender thread only
  // The last Connect reached the peer but its hello was refused (sender thread only).
  bool hello_refused_ = false;

  SnapshotSender snapshots_;
  std::thread thread_;
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_PEER_PEER_SENDER_H_
