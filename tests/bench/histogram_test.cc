// Tests of quorum-bench's latency histogram: bucket precision, percentile ranks against exact
// sorted samples, merging, and the empty and single-value edge cases.
#include "client/bench/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace quorum::bench {
namespace {

// The exact value at quantile q: the smallest sample with at least q of all samples <= it.
uint64_t ExactPercentile(std::vector<uint64_t> samples, double q) {
  std::sort(samples.begin(), samples.end());
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(samples.size())));
  rank = std::max<size_t>(rank, 1);
  return samples[rank - 1];
}

void ExpectWithinPrecision(uint64_t expected, uint64_t actual) {
  // Half a bucket, at most 1/256 of the value, rounded up to a whole nanosecond.
  const double tolerance = std::max(1.0, static_cast<double>(expected) / 256.0);
  EXPECT_LE(std::abs(static_cast<double>(actual) - static_cast<double>(expected)), tolerance)
      << "expected " << expected << " got " << actual;
}

TEST(LatencyHistogramTest, EmptyHistogramReportsZeros) {
  LatencyHistogram h;
  EXPECT_EQ(h.Count(), 0u);
  EXPECT_EQ(h.Min(), 0u);
  EXPECT_EQ(h.Max(), 0u);
  EXPECT_EQ(h.Mean(), 0.0);
  EXPECT_EQ(h.Percentile(0.5), 0u);
  EXPECT_EQ(h.Percentile(0.99), 0u);
}

TEST(LatencyHistogramTest, SingleValueIsEveryPercentileExactly) {
  LatencyHistogram h;
  h.Record(1'234'567);
  for (double q : {0.0, 0.5, 0.9, 0.99, 0.999, 1.0}) EXPECT_EQ(h.Percentile(q), 1'234'567u);
  EXPECT_EQ(h.Min(), 1'234'567u);
  EXPECT_EQ(h.Max(), 1'234'567u);
  EXPECT_DOUBLE_EQ(h.Mean(), 1'234'567.0);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  for (uint64_t v = 0; v < 128; ++v) {
    EXPECT_EQ(LatencyHistogram::BucketLow(LatencyHistogram::BucketIndex(v)), v);
    EXPECT_EQ(LatencyHistogram::BucketHigh(LatencyHistogram::BucketIndex(v)), v);
  }
}

TEST(LatencyHistogramTest, BucketsTileTheRangeAndStayNarrow) {
  // Every bucket starts right after the previous one ends, and is at most 1/128 of its low end
  // wide: that is the whole precision promise.
  const int last = LatencyHistogram::BucketIndex(UINT64_MAX);
  EXPECT_EQ(LatencyHistogram::BucketHigh(last), UINT64_MAX);
  for (int i = 1; i <= last; ++i) {
    ASSERT_EQ(LatencyHistogram::BucketLow(i), LatencyHistogram::BucketHigh(i - 1) + 1) << i;
    const uint64_t low = LatencyHistogram::BucketLow(i);
    const uint64_t width = LatencyHistogram::BucketHigh(i) - low + 1;
    ASSERT_LE(width, std::max<uint64_t>(1, low / 128)) << i;
  }
}

TEST(LatencyHistogramTest, ValuesFallIntoTheirBucket) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = rng() >> (rng() % 64);
    const int index = LatencyHistogram::BucketIndex(v);
    ASSERT_LE(LatencyHistogram::BucketLow(index), v);
    ASSERT_GE(LatencyHistogram::BucketHigh(index), v);
  }
}

TEST(LatencyHistogramTest, PercentilesOfUniformSamplesMatchExactOnes) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<uint64_t> latency(50'000, 20'000'000);  // 50 us .. 20 ms
  LatencyHistogram h;
  std::vector<uint64_t> samples;
  for (int i = 0; i < 200000; ++i) {
    samples.push_back(latency(rng));
    h.Record(samples.back());
  }
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    ExpectWithinPrecision(ExactPercentile(samples, q), h.Percentile(q));
  }
  EXPECT_EQ(h.Min(), *std::min_element(samples.begin(), samples.end()));
  EXPECT_EQ(h.Max(), *std::max_element(samples.begin(), samples.end()));
  EXPECT_EQ(h.Percentile(1.0), h.Max());
  EXPECT_EQ(h.Percentile(0.0), h.Min());
}

TEST(LatencyHistogramTest, LongTailPercentilesMatchExactOnes) {
  // Latencies with a heavy tail, as a server that sometimes stalls gives them: p99 and p99.9
  // sit orders of magnitude above the median and must still be right.
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> latency(std::log(500'000.0), 1.5);
  LatencyHistogram h;
  std::vector<uint64_t> samples;
  for (int i = 0; i < 100000; ++i) {
    samples.push_back(static_cast<uint64_t>(latency(rng)));
    h.Record(samples.back());
  }
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    ExpectWithinPrecision(ExactPercentile(samples, q), h.Percentile(q));
  }
}

TEST(LatencyHistogramTest, PercentileRankCountsFromTheBottom) {
  // 90 fast requests and 10 slow ones: p90 is still fast, p91 is slow.
  LatencyHistogram h;
  for (int i = 0; i < 90; ++i) h.Record(1'000'000);
  for (int i = 0; i < 10; ++i) h.Record(50'000'000);
  ExpectWithinPrecision(1'000'000, h.Percentile(0.90));
  ExpectWithinPrecision(50'000'000, h.Percentile(0.91));
  ExpectWithinPrecision(50'000'000, h.Percentile(0.999));
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<uint64_t> latency(1'000, 100'000'000);
  LatencyHistogram all, a, b;
  for (int i = 0; i < 50000; ++i) {
    const uint64_t v = latency(rng);
    all.Record(v);
    (i % 3 == 0 ? a : b).Record(v);
  }
  LatencyHistogram merged;
  merged.Merge(a);
  merged.Merge(b);
  EXPECT_EQ(merged.Count(), all.Count());
  EXPECT_EQ(merged.Min(), all.Min());
  EXPECT_EQ(merged.Max(), all.Max());
  EXPECT_DOUBLE_EQ(merged.Mean(), all.Mean());
  for (double q : {0.0, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    EXPECT_EQ(merged.Percentile(q), all.Percentile(q));
  }
}

TEST(LatencyHistogramTest, MergingAnEmptyHistogramChangesNothing) {
  LatencyHistogram h, empty;
  h.Record(42'000);
  h.Record(43'000);
  h.Merge(empty);
  EXPECT_EQ(h.Count(), 2u);
  EXPECT_EQ(h.Min(), 42'000u);
  EXPECT_EQ(h.Max(), 43'000u);
}

TEST(LatencyHistogramTest, MeanIsExact) {
  LatencyHistogram h;
  for (uint64_t v : {1'000u, 2'000u, 3'000u, 10'000u}) h.Record(v);
  EXPECT_DOUBLE_EQ(h.Mean(), 4'000.0);
}

}  // namespace
}  // namespace quorum::bench
