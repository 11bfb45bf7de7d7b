// RunLoad: drives one LoadSpec against etcd v3 endpoints and measures it. Called by
// quorum-bench's main for the prefill and the measured run. Each connection is one gRPC channel
// with its own completion queue and thread, and keeps its share of the clients in flight
// asynchronously, so hundreds of outstanding requests need only as many threads as connections.
#ifndef QUORUM_CLIENT_BENCH_LOAD_RUNNER_H_
#define QUORUM_CLIENT_BENCH_LOAD_RUNNER_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "client/bench/histogram.h"
#include "client/bench/workload.h"

namespace quorum::bench {

struct RunResult {
  // Latency of the measured requests that succeeded (failures are counted, not timed: a
  // timeout's latency is the deadline, which says nothing about the server).
  LatencyHistogram latency;
  uint64_t ok = 0;
  // Failed measured requests by gRPC code name ("UNAVAILABLE"), and one message of each.
  std::map<std::string, uint64_t> errors;
  std::map<std::string, std::string> error_examples;
  // From the end of warmup to the last measured answer.
  double seconds = 0;

  uint64_t ErrorCount() const;
  // Successful requests per second.
  double Throughput() const { return seconds > 0 ? static_cast<double>(ok) / seconds : 0; }
};

// Runs `spec` until `total` measured requests have been answered (or, with total 0, until
// `duration` after warmup has passed and every request still in flight has been answered or
// reached its deadline). Request failures are counted in the result, never returned: only a
// spec that cannot run (a bad endpoint) is an error. Latency is measured from sending a
// request to taking its answer off the completion queue, on a steady clock; with --rate, from
// the moment it was sent, not the moment it was scheduled.
absl::StatusOr<RunResult> RunLoad(const LoadSpec& spec);

}  // namespace quorum::bench

#endif  // QUORUM_CLIENT_BENCH_LOAD_RUNNER_H_
