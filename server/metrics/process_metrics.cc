#include "server/metrics/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace quorum::server::metrics {
namespace {

// Seconds since the epoch at which the machine booted (/proc/stat's btime).
std::optional<uint64_t> BootTime() {
  std::ifstream in("/proc/stat");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("btime ", 0) == 0) return std::stoull(line.substr(6));
  }
  return std::nullopt;
}

}  // namespace

std::optional<ProcessStats> ReadProcessStats() {
  std::ifstream in("/proc/self/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  // The command name (field 2) is in parentheses and may hold spaces: fields are counted from
  // the last ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;  // f[0] is field 3 (state)
  for (std::string field; fields >> field;) f.push_back(field);
  // Fields (proc(5), 1-based): 14 utime, 15 stime, 22 starttime (clock ticks), 23 vsize
  // (bytes), 24 rss (pages).
  if (f.size() < 22) return std::nullopt;
  auto at = [&](int field) { return std::stoull(f[field - 3]); };
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  ProcessStats stats;
  stats.cpu_seconds = static_cast<double>(at(14) + at(15)) / ticks;
  stats.virtual_bytes = at(23);
  stats.resident_bytes = at(24) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (std::optional<uint64_t> boot = BootTime()) {
    stats.start_time_seconds = static_cast<double>(*boot) + static_cast<double>(at(22)) / ticks;
  }
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++stats.open_fds;
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    stats.max_fds = limit.rlim_cur;
  }
  return stats;
}

void AddProcessMetrics(Registry& registry) {
  registry.AddCollector([](ExpositionWriter& out) {
    std::optional<ProcessStats> stats = ReadProcessStats();
    if (!stats.has_value()) return;
    out.Header("process_cpu_seconds_total",
               "CPU time used by this process (user and system), in seconds.",
               MetricType::kCounter);
    out.Sample("process_cpu_seconds_total", {}, stats->cpu_seconds);
    if (stats->max_fds.has_value()) {
      out.Header("process_max_fds", "Limit on open file descriptors (RLIMIT_NOFILE, soft).",
                 MetricType::kGauge);
      out.Sample("process_max_fds", {}, *stats->max_fds);
    }
    out.Header("process_open_fds", "File descriptors this process holds open.", MetricType::kGauge);
    out.Sample("process_open_fds", {}, stats->open_fds);
    out.Header("process_resident_memory_bytes", "Bytes of this process resident in RAM.",
               MetricType::kGauge);
    out.Sample("process_resident_memory_bytes", {}, stats->resident_bytes);
    out.Header("process_start_time_seconds",
               "When this process started, in seconds since the Unix epoch.", MetricType::kGauge);
    out.Sample("process_start_time_seconds", {}, stats->start_time_seconds);
    out.Header("process_virtual_memory_bytes", "Bytes of virtual address space this process maps.",
               MetricType::kGauge);
    out.Sample("process_virtual_memory_bytes", {}, stats->virtual_bytes);
  });
}

}  // namespace quorum::server::metrics
