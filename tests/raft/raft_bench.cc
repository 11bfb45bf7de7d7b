// Replication throughput of an in-memory 3-member cluster: proposals committed
// and applied on every member per second, for 128 B and 1 KiB entries. The
// network and the "disk" (MemoryStorage) are free, so this measures raft/'s
// own cost per proposal. Built when QUORUM_BUILD_BENCHMARKS is on.
#include <benchmark/benchmark.h>

#include <string>

#include "tests/raft/cluster.h"

namespace quorum::raft::testing {
namespace {

// Args: payload bytes, proposals per round (proposed together, then the
// cluster runs until all are applied everywhere).
void BM_CommitThreeMembers(benchmark::State& state) {
  const size_t payload = state.range(0);
  const int64_t batch = state.range(1);
  Cluster c({1, 2, 3}, [](Config& cfg) {
    cfg.max_uncommitted_bytes = 1ull << 30;
    cfg.max_size_per_msg = 1 << 20;
  });
  c.Elect(1);
  const std::string data(payload, 'x');
  int64_t rounds = 0;
  for (auto _ : state) {
    for (int64_t i = 0; i < batch; ++i) {
      if (!c.node(1).Propose(data).ok()) state.SkipWithError("proposal refused");
    }
    c.Stabilize();
    if (++rounds % 256 == 0) {
      state.PauseTiming();
      for (uint64_t id : {1, 2, 3}) {
        c.SnapshotAndCompact(id, c.node(id).Status().applied);
      }
      state.ResumeTiming();
    }
  }
  if (c.node(3).Status().applied != c.node(1).Status().commit) state.SkipWithError("lagging");
  state.SetItemsProcessed(rounds * batch);
  state.SetBytesProcessed(rounds * batch * static_cast<int64_t>(payload));
  state.counters["proposals_per_s"] =
      benchmark::Counter(static_cast<double>(rounds * batch), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CommitThreeMembers)
    ->ArgNames({"bytes", "batch"})
    ->Args({128, 1})
    ->Args({128, 64})
    ->Args({1024, 1})
    ->Args({1024, 64});

}  // namespace
}  // namespace quorum::raft::testing

BENCHMARK_MAIN();
