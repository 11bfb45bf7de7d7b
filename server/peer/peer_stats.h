// Counters of one transport, bumped by its senders and its RaftPeer service and read by
// PeerTransport::GetStats (metrics, tests). Relaxed atomics: each is a tally, not a signal.
#ifndef QUORUM_SERVER_PEER_PEER_STATS_H_
#define QUORUM_SERVER_PEER_PEER_STATS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/peer/transport.h"

namespace quorum::server {

struct PeerCounters {
  std::atomic<uint64_t> messages_sent{0};
  std::atomic<uint64_t> frames_sent{0};
  std::atomic<uint64_t> messages_dropped{0};
  std::atomic<uint64_t> messages_received{0};
  std::atomic<uint64_t> frames_received{0};
  std::atomic<uint64_t> snapshots_sent{0};
  std::atomic<uint64_t> snapshots_received{0};

  // Bytes of Raft messages exchanged with one peer (etcd's peer_sent_bytes_total{To} and
  // peer_received_bytes_total{From}).
  struct Traffic {
    std::atomic<uint64_t> sent_bytes{0};
    std::atomic<uint64_t> received_bytes{0};
  };

  // The traffic record of `peer`, created at first use and kept for the counters' life, so
  // senders and streams look it up once and then add to it without a lock.
  Traffic& TrafficOf(uint64_t peer) {
    absl::MutexLock lock(&traffic_mu_);
    std::unique_ptr<Traffic>& traffic = traffic_[peer];
    if (traffic == nullptr) traffic = std::make_unique<Traffic>();
    return *traffic;
  }

  std::vector<PeerTransport::PeerTraffic> ReadTraffic() const {
    std::vector<PeerTransport::PeerTraffic> out;
    absl::MutexLock lock(&traffic_mu_);
    for (const auto& [peer, traffic] : traffic_) {
      out.push_back({.peer = peer,
                     .sent_bytes = traffic->sent_bytes.load(std::memory_order_relaxed),
                     .received_bytes = traffic->received_bytes.load(std::memory_order_relaxed)});
    }
    return out;
  }

  static void Add(std::atomic<uint64_t>& counter, uint64_t n) {
    counter.fetch_add(n, std::memory_order_relaxed);
  }

  PeerTransport::Stats Read() const {
    PeerTransport::Stats stats;
    stats.messages_sent = messages_sent.load(std::memory_order_relaxed);
    stats.frames_sent = frames_sent.load(std::memory_order_relaxed);
    stats.messages_dropped = messages_dropped.load(std::memory_order_relaxed);
    stats.messages_received = messages_received.load(std::memory_order_relaxed);
    stats.frames_received = frames_received.load(std::memory_order_relaxed);
    stats.snapshots_sent = snapshots_sent.load(std::memory_order_relaxed);
    stats.snapshots_received = snapshots_received.load(std::memory_order_relaxed);
    return stats;
  }

 private:
  mutable absl::Mutex traffic_mu_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Traffic>> traffic_ ABSL_GUARDED_BY(traffic_mu_);
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_PEER_PEER_STATS_H_
