// The three kinds of metric a Registry serves: Counter, Gauge and Histogram. Updates are single
// relaxed atomic operations (no lock, no allocation), so hot paths (the write path, every gRPC
// call) may update them freely; a scrape reads them without stopping writers, so a histogram
// read while it is observed may be off by the observation in flight, never inconsistent in its
// buckets (the count is the sum of the buckets read).
#ifndef QUORUM_SERVER_METRICS_METRIC_H_
#define QUORUM_SERVER_METRICS_METRIC_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace quorum::server::metrics {

// A total that only goes up (resets only when the process restarts).
class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into buckets with fixed upper bounds (inclusive, as Prometheus' `le`),
// plus a +Inf bucket, with their sum.
class Histogram {
 public:
  // `bounds` must be sorted ascending and must not hold +Inf (it is implied).
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // bounds().size() + 1 counts, the last one is +Inf
    double sum = 0;
    uint64_t count() const { return cumulative.back(); }
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  // Per bucket, not cumulative: one increment per observation.
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

// `count` bounds: start, start*factor, start*factor^2, ... (Prometheus' ExponentialBuckets,
// which etcd's histograms use).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

}  // namespace quorum::server::metrics

#endif  // QUORUM_SERVER_METRICS_METRIC_H_
