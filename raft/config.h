// Config: how the server sets up one member's Raft state machine (RawNode).
// Tick counts are in units of RawNode::Tick() calls; the server decides how
// long a tick is. The randomness raft needs comes from `seed`, so a run is
// reproducible from its inputs.
#ifndef QUORUM_RAFT_CONFIG_H_
#define QUORUM_RAFT_CONFIG_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "raft/log_storage.h"

namespace quorum::raft {

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
const char* RoleName(Role r);

struct Config {
  uint64_t id = 0;                // this member's id; never 0
  LogStorage* storage = nullptr;  // borrowed; must outlive the RawNode
  // Last index the application has applied (0 on first start). Membership in
  // storage->InitialState() must be the one as of this index.
  uint64_t applied = 0;

  // Election timeout is randomized in [election_tick, 2*election_tick).
  int election_tick = 10;
  int heartbeat_tick = 1;  // must be < election_tick
  uint64_t seed = 0;       // seeds the election-timeout PRNG (mixed with id)

  bool pre_vote = true;      // Ongaro thesis §9.6: don't disrupt a healthy leader
  bool check_quorum = true;  // leader steps down if a quorum is silent for a timeout

  // Flow control and memory bounds.
  uint64_t max_size_per_msg = 1 << 20;        // bytes of entries in one MSG_APPEND
  size_t max_inflight_msgs = 256;             // pipelined appends per follower
  uint64_t max_uncommitted_bytes = 64 << 20;  // leader refuses proposals above this
  uint64_t max_committed_bytes_per_ready = 16 << 20;
  size_t max_outbox_msgs = 8192;  // messages held for one Ready; excess is dropped

  absl::Status Validate() const;
};

}  // namespace quorum::raft

#endif  // QUORUM_RAFT_CONFIG_H_
