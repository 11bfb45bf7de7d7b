// ReadIndexQueue: the leader's queue of linearizable read requests (Raft
// thesis §6.4). Requests that arrive between two Readies share one heartbeat
// round; when a majority acknowledges a round, every request registered at or
// before it is released with the commit index recorded on arrival.
// Used only by the Raft core (raft.h).
#ifndef QUORUM_RAFT_READ_INDEX_H_
#define QUORUM_RAFT_READ_INDEX_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace quorum::raft {

// A released read: once the member has applied `index`, a read of its local
// state is linearizable for the request identified by `request_ctx`.
struct ReadState {
  uint64_t index = 0;
  std::string request_ctx;
};

class ReadIndexQueue {
 public:
  struct Request {
    std::string ctx;
    uint64_t from = 0;   // member that asked (the leader itself for local reads)
    uint64_t index = 0;  // leader's commit index when the request arrived
    uint64_t round = 0;  // heartbeat round covering it; 0 = not yet sent
  };

  void Add(std::string ctx, uint64_t from, uint64_t index);
  bool HasUnsent() const { return !requests_.empty() && requests_.back().round == 0; }
  // Opens a round covering every unsent request; the leader's own ack is
  // recorded. Returns the round's heartbeat context.
  std::string StartRound(uint64_t self);
  // Records `from`'s ack of the round in `context`; returns the round's ack
  // set, or nothing if the context names no open round.
  const std::set<uint64_t>* Ack(const std::string& context, uint64_t from);
  // Removes and returns every request of a round <= the one in `context`.
  std::vector<Request> Release(const std::string& context);
  void Reset();
  size_t size() const { return requests_.size(); }
  // The context of the newest round still waiting for a majority, or empty. Periodic
  // heartbeats carry it, so a round whose heartbeats were lost is acknowledged later instead
  // of waiting for the next read (etcd resends its last pending context the same way).
  std::string PendingRound() const;

 private:
  static std::string EncodeRound(uint64_t round);
  static std::optional<uint64_t> DecodeRound(const std::string& context);

  uint64_t last_round_ = 0;
  std::deque<Request> requests_;
  std::map<uint64_t, std::set<uint64_t>> acks_;
};

}  // namespace quorum::raft

#endif  // QUORUM_RAFT_READ_INDEX_H_
