// Runs the seeded cluster simulator over many scenarios (ctest label "sim").
//   QUORUM_SIM_SCENARIOS=N  number of seeds to run (default 10000)
//   QUORUM_SIM_SEED=S       replay exactly one scenario
//   QUORUM_SIM_FIRST_SEED=S first seed of the range (default 1)
// A failing scenario prints its seed and the replay command.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/sim/simulation.h"

namespace quorum::sim {
namespace {

volatile uint64_t current_seed = 0;

// raft aborts on a broken invariant; say which seed did it.
void OnAbort(int) {
  char buf[96];
  const int n =
      std::snprintf(buf, sizeof(buf), "\nsimulation aborted; replay: QUORUM_SIM_SEED=%llu\n",
                    static_cast<unsigned long long>(current_seed));
  if (n > 0) (void)!write(2, buf, n);
}

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : fallback;
}

TEST(SimulationTest, SeededScenariosKeepSafetyAndLiveness) {
  std::signal(SIGABRT, OnAbort);
  uint64_t first = EnvOr("QUORUM_SIM_FIRST_SEED", 1);
  uint64_t count = EnvOr("QUORUM_SIM_SCENARIOS", 10000);
  if (const char* s = std::getenv("QUORUM_SIM_SEED")) {
    first = std::strtoull(s, nullptr, 10);
    count = 1;
  }
  const auto start = std::chrono::steady_clock::now();
  uint64_t by_size[8] = {};
  uint64_t crashes = 0, mid_ready_crashes = 0, snapshots = 0, committed = 0, conf_changes = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    current_seed = seed;
    ScenarioResult r = Simulation(seed).Run();
    if (!r.ok) {
      FAIL() << "scenario failed (" << r.members << " members, after " << seed - first
             << " passing scenarios): " << r.failure << "\nreplay: QUORUM_SIM_SEED=" << seed;
    }
    by_size[r.members]++;
    crashes += r.crashes;
    mid_ready_crashes += r.mid_ready_crashes;
    snapshots += r.snapshots_sent;
    committed += r.committed;
    conf_changes += r.conf_changes;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "sim: %llu scenarios (3:%llu 5:%llu 7:%llu) in %.1fs; %llu crashes (%llu inside a Ready), "
      "%llu snapshots "
      "delivered, %llu entries and %llu membership changes committed\n",
      (unsigned long long)count, (unsigned long long)by_size[3], (unsigned long long)by_size[5],
      (unsigned long long)by_size[7], secs, (unsigned long long)crashes,
      (unsigned long long)mid_ready_crashes, (unsigned long long)snapshots,
      (unsigned long long)committed, (unsigned long long)conf_changes);
}

}  // namespace
}  // namespace quorum::sim
