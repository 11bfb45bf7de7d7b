// LatencyHistogram: a log-linear histogram of durations in nanoseconds, in the manner of
// HdrHistogram, for quorum-bench. Each load-generating thread records into its own histogram;
// the runner merges them at the end and the report reads percentiles from the merged one.
// Not thread-safe: one writer, and no readers while it writes.
#ifndef QUORUM_CLIENT_BENCH_HISTOGRAM_H_
#define QUORUM_CLIENT_BENCH_HISTOGRAM_H_

#include <cstdint>
#include <vector>

namespace quorum::bench {

class LatencyHistogram {
 public:
  // Each power of two is split into 2^kSubBucketBits equal buckets, so a bucket is at most
  // 1/128 of its values wide: a reported percentile is within 0.4% of a recorded value
  // (values below 128 ns are kept exactly).
  static constexpr int kSubBucketBits = 7;

  LatencyHistogram();

  // Records one duration. Constant time, no allocation.
  void Record(uint64_t nanos);
  // Adds every value recorded in `other` to this histogram.
  void Merge(const LatencyHistogram& other);

  uint64_t Count() const { return count_; }
  // Exact minimum, maximum and mean of the recorded values; 0 when nothing was recorded.
  uint64_t Min() const { return count_ == 0 ? 0 : min_; }
  uint64_t Max() const { return max_; }
  double Mean() const;
  // The value at quantile `q` in [0, 1]: the smallest recorded value v (to the bucket's
  // precision) such that at least q * Count() values are <= v. Percentile(0) is Min() and
  // Percentile(1) is Max(), exactly. 0 when nothing was recorded.
  uint64_t Percentile(double q) const;

  // The bucket a value falls into, and the range [BucketLow, BucketHigh] of values sharing it.
  // Public so that the precision promise above can be tested.
  static int BucketIndex(uint64_t nanos);
  static uint64_t BucketLow(int index);
  static uint64_t BucketHigh(int index);

 private:
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  // Long double keeps the sum exact enough for hours of nanosecond latencies.
  long double sum_ = 0;
};

}  // namespace quorum::bench

#endif  // QUORUM_CLIENT_BENCH_HISTOGRAM_H_
