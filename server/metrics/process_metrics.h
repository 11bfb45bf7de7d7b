// The process_* metrics every Prometheus client library serves, under the Go client's names
// (what etcd serves and dashboards expect): CPU time, resident and virtual memory, open and
// maximum file descriptors, start time. Read from /proc/self at each scrape; nothing is kept.
#ifndef QUORUM_SERVER_METRICS_PROCESS_METRICS_H_
#define QUORUM_SERVER_METRICS_PROCESS_METRICS_H_

#include <cstdint>
#include <optional>

#include "server/metrics/registry.h"

namespace quorum::server::metrics {

struct ProcessStats {
  double cpu_seconds = 0;  // user + system
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  double start_time_seconds = 0;  // since the Unix epoch
  uint64_t open_fds = 0;
  std::optional<uint64_t> max_fds;  // absent when unlimited
};

// This process' figures; nullopt if /proc cannot be read (not Linux).
std::optional<ProcessStats> ReadProcessStats();

// Registers the process_* family on `registry`.
void AddProcessMetrics(Registry& registry);

}  // namespace quorum::server::metrics

#endif  // QUORUM_SERVER_METRICS_PROCESS_METRICS_H_
