// Counters of one transport, bumped by its senders and its RaftPeer service and read by
// PeerTransport::GetStats (metrics, tests). Relaxed atomics: each is a tally, not a signal.
#ifndef QUORUM_SERVER_PEER_PEER_STATS_H_
#define QUORUM_SERVER_PEER_PEER_STATS_H_

#include <atomic>
#include <cstdint>

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
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_PEER_PEER_STATS_H_
