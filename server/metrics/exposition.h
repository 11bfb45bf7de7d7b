// Writes the Prometheus text exposition format (version 0.0.4): `# HELP` and `# TYPE` lines,
// then samples, with label values and help text escaped as the format requires. Numbers are
// written as the Go client library writes them, so that `le` labels read the same as etcd's
// ("0.001", "8.192", "+Inf"). Used by Registry::Render; not thread-safe (one per scrape).
#ifndef QUORUM_SERVER_METRICS_EXPOSITION_H_
#define QUORUM_SERVER_METRICS_EXPOSITION_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace quorum::server::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

struct Label {
  std::string_view name;
  std::string_view value;
};

// `value` as Go's strconv.FormatFloat(value, 'g', -1, 64) writes it ("+Inf", "-Inf" and "NaN"
// for the special values), the notation of Prometheus' own client.
std::string FormatValue(double value);

class ExpositionWriter {
 public:
  // Starts a metric family. Each family is announced once, before its samples.
  void Header(std::string_view name, std::string_view help, MetricType type);
  // One sample line: name{labels} value.
  void Sample(std::string_view name, std::span<const Label> labels, double value);
  void Sample(std::string_view name, std::span<const Label> labels, uint64_t value);
  // The series of one histogram: a cumulative `_bucket` per upper bound and one for +Inf
  // (`cumulative` has bounds.size() + 1 counts), then `_sum` and `_count`.
  void Histogram(std::string_view name, std::span<const Label> labels,
                 std::span<const double> bounds, std::span<const uint64_t> cumulative, double sum);

  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void SampleStart(std::string_view name, std::span<const Label> labels,
                   const Label* extra = nullptr);

  std::string out_;
};

}  // namespace quorum::server::metrics

#endif  // QUORUM_SERVER_METRICS_EXPOSITION_H_
