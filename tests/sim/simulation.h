// Simulation: one seeded, deterministic scenario of a quorum Raft cluster (3, 5
// or 7 members) under message loss, delay, reordering, duplication, symmetric
// and asymmetric partitions, crash/restart (losing everything not persisted),
// single-server membership changes, log compaction, leadership transfers and reads. Every
// member runs raft::ReadyLoop, quorumd's Ready order, and may crash inside a Ready: a leader
// between sending its new entries and writing them, anyone just before or after its write.
// After every step the InvariantChecker verifies safety; after healing, liveness is required.
// sim_test.cc runs many seeds; the same seed always replays the same run.
#ifndef QUORUM_TESTS_SIM_SIMULATION_H_
#define QUORUM_TESTS_SIM_SIMULATION_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "raft/memory_storage.h"
#include "raft/raw_node.h"
#include "raft/ready_loop.h"
#include "tests/sim/invariants.h"
#include "tests/support/memory_log_store.h"

namespace quorum::sim {

// Deterministic PRNG (splitmix64) so a seed means the same run everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  uint64_t Uniform(uint64_t n) { return n == 0 ? 0 : Next() % n; }
  // True with probability per_million / 1e6.
  bool Chance(uint64_t per_million) { return Uniform(1000000) < per_million; }

 private:
  uint64_t state_;
};

struct ScenarioResult {
  bool ok = true;
  std::string failure;  // violation or liveness failure, with context
  int members = 0;
  uint64_t ticks = 0;
  uint64_t committed = 0;
  uint64_t crashes = 0;
  uint64_t mid_ready_crashes = 0;  // of which inside a Ready (see MidReadyCrash)
  uint64_t snapshots_sent = 0;
  uint64_t conf_changes = 0;  // membership changes committed
};

class Simulation {
 public:
  explicit Simulation(uint64_t seed);
  ~Simulation();
  ScenarioResult Run();

 private:
  class Disk;
  struct Member;
  enum class CrashPoint { kNone, kBeforeWrite, kAfterWrite };
  struct InFlight {
    uint64_t deliver_at;
    uint64_t seq;
    raftpb::Message msg;
  };

  void Start(uint64_t id);
  void Crash(uint64_t id);
  // Whether member `id` crashes in the Save it is making, and where.
  CrashPoint MidReadyCrash(uint64_t id, bool has_entries);
  void Step();  // one delivery step
  void Tick();  // one clock tick of every live member, then steps
  void ProcessReady(uint64_t id);
  void Send(raftpb::Message m);
  void Deliver(const raftpb::Message& m);
  void Observe(uint64_t id);
  void MaybeInjectFaults();
  void ClientActivity();
  void ProposeMembershipChange();
  void Heal();
  uint64_t Leader() const;
  bool Alive(uint64_t id) const;

  const uint64_t seed_;
  Rng rng_;
  InvariantChecker checker_;
  std::vector<uint64_t> ids_;
  std::map<uint64_t, std::unique_ptr<Member>> members_;
  std::vector<InFlight> network_;  // min-heap on (deliver_at, seq)
  uint64_t now_ = 0;               // in steps
  uint64_t seq_ = 0;
  uint64_t next_proposal_ = 0;
  std::map<std::pair<uint64_t, uint64_t>, bool> blocked_;  // (from, to) -> dropped

  // Fault profile, drawn from the seed.
  uint64_t loss_ppm_ = 0;
  uint64_t dup_ppm_ = 0;
  uint64_t max_delay_ = 0;  // steps
  uint64_t partition_ppm_ = 0;
  uint64_t crash_ppm_ = 0;
  uint64_t compact_ppm_ = 0;
  uint64_t transfer_ppm_ = 0;
  bool healed_ = false;
  bool pre_vote_ = true;
  bool check_quorum_ = true;
  uint64_t leader_crash_ppm_ = 0;
  uint64_t leader_mid_ready_crash_ppm_ = 0;
  uint64_t mid_ready_crash_ppm_ = 0;
  uint64_t proposals_per_tick_ = 1;
  uint64_t conf_change_ppm_ = 0;
  std::set<uint64_t> conf_change_indexes_;

  ScenarioResult result_;
  std::string liveness_marker_;
};

}  // namespace quorum::sim

#endif  // QUORUM_TESTS_SIM_SIMULATION_H_
