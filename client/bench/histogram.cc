#include "client/bench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace quorum::bench {
namespace {

constexpr uint64_t kSubBuckets = uint64_t{1} << LatencyHistogram::kSubBucketBits;
// Values below kSubBuckets get one bucket each; each octave [2^m, 2^(m+1)) for
// m = kSubBucketBits .. 63 gets kSubBuckets more.
constexpr int kBucketCount =
    static_cast<int>(kSubBuckets + (64 - LatencyHistogram::kSubBucketBits) * kSubBuckets);

}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBucketCount, 0) {}

int LatencyHistogram::BucketIndex(uint64_t nanos) {
  if (nanos < kSubBuckets) return static_cast<int>(nanos);
  const int octave = std::bit_width(nanos) - 1;  // floor(log2), >= kSubBucketBits
  const int shift = octave - kSubBucketBits;
  // nanos >> shift lies in [kSubBuckets, 2 * kSubBuckets): its low bits pick the sub-bucket.
  const uint64_t sub = (nanos >> shift) - kSubBuckets;
  return static_cast<int>(kSubBuckets + static_cast<uint64_t>(shift) * kSubBuckets + sub);
}

uint64_t LatencyHistogram::BucketLow(int index) {
  const uint64_t i = static_cast<uint64_t>(index);
  if (i < kSubBuckets) return i;
  const uint64_t shift = (i - kSubBuckets) / kSubBuckets;
  const uint64_t sub = (i - kSubBuckets) % kSubBuckets;
  return (kSubBuckets + sub) << shift;
}

uint64_t LatencyHistogram::BucketHigh(int index) {
  const uint64_t i = static_cast<uint64_t>(index);
  if (i < kSubBuckets) return i;
  const uint64_t shift = (i - kSubBuckets) / kSubBuckets;
  return BucketLow(index) + ((uint64_t{1} << shift) - 1);
}

void LatencyHistogram::Record(uint64_t nanos) {
  ++buckets_[BucketIndex(nanos)];
  ++count_;
  min_ = std::min(min_, nanos);
  max_ = std::max(max_, nanos);
  sum_ += static_cast<long double>(nanos);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (int i = 0; i < kBucketCount; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

double LatencyHistogram::Mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

uint64_t LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The rank (1-based) of the value asked for: "at least q of the values are <= it".
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  // The lowest and the highest value are known exactly; no need to round them to a bucket.
  if (rank == 1) return min_;
  if (rank >= count_) return max_;
  uint64_t seen = 0;
  for (int i = 0; i < kBucketCount; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      // The middle of the bucket halves the worst error; the exact extremes bound it, so the
      // ends of the distribution are reported as recorded.
      const uint64_t low = BucketLow(i);
      const uint64_t mid = low + (BucketHigh(i) - low) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace quorum::bench
