// The metrics library (server/metrics): the Prometheus text format as it writes it (help and
// type lines, label escaping, Go's number notation, cumulative histogram buckets ending in
// +Inf), counters and histograms under concurrent updates, and the process_* figures.
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics/exposition.h"
#include "server/metrics/process_metrics.h"
#include "server/metrics/registry.h"

namespace quorum::server::metrics {
namespace {

using ::testing::HasSubstr;

TEST(FormatValueTest, WritesNumbersAsTheGoClientDoes) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(1), "1");
  EXPECT_EQ(FormatValue(0.001), "0.001");
  EXPECT_EQ(FormatValue(8.192), "8.192");
  EXPECT_EQ(FormatValue(0.0001), "0.0001");
  EXPECT_EQ(FormatValue(3.2768), "3.2768");
  EXPECT_EQ(FormatValue(0.00001), "1e-05");
  EXPECT_EQ(FormatValue(123456789), "123456789");
  EXPECT_EQ(FormatValue(1e21), "1e+21");
  EXPECT_EQ(FormatValue(-2.5), "-2.5");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(0.0 / 0.0), "NaN");
}

TEST(ExponentialBucketsTest, AreEtcdsDiskBuckets) {
  std::vector<double> bounds = ExponentialBuckets(0.001, 2, 14);
  ASSERT_EQ(bounds.size(), 14u);
  std::vector<std::string> written;
  for (double b : bounds) written.push_back(FormatValue(b));
  EXPECT_THAT(written, ::testing::ElementsAre("0.001", "0.002", "0.004", "0.008", "0.016", "0.032",
                                              "0.064", "0.128", "0.256", "0.512", "1.024", "2.048",
                                              "4.096", "8.192"));
}

TEST(ExpositionTest, CounterAndGaugeHaveHelpTypeAndValue) {
  Registry registry;
  Counter& counter = registry.AddCounter("quorum_things_total", "Things seen.");
  Gauge& gauge = registry.AddGauge("quorum_level", "A level.");
  counter.Inc();
  counter.Inc(41);
  gauge.Set(2.5);
  gauge.Add(-1);
  EXPECT_EQ(registry.Render(),
            "# HELP quorum_things_total Things seen.\n"
            "# TYPE quorum_things_total counter\n"
            "quorum_things_total 42\n"
            "# HELP quorum_level A level.\n"
            "# TYPE quorum_level gauge\n"
            "quorum_level 1.5\n");
}

TEST(ExpositionTest, LabelValuesAndHelpAreEscaped) {
  Registry registry;
  Family<Counter>& family =
      registry.AddCounterFamily("quorum_odd_total", "Back\\slash and\nnewline.", {"name"});
  family.With({"a\"quoted\" \\ value\nwith newline"}).Inc(3);
  EXPECT_EQ(registry.Render(),
            "# HELP quorum_odd_total Back\\\\slash and\\nnewline.\n"
            "# TYPE quorum_odd_total counter\n"
            "quorum_odd_total{name=\"a\\\"quoted\\\" \\\\ value\\nwith newline\"} 3\n");
}

TEST(ExpositionTest, AFamilyWithoutChildrenIsLeftOut) {
  Registry registry;
  registry.AddCounterFamily("quorum_unused_total", "Never used.", {"To"});
  EXPECT_EQ(registry.Render(), "");
}

TEST(ExpositionTest, HistogramBucketsAreCumulativeAndEndWithInf) {
  Registry registry;
  Histogram& histogram = registry.AddHistogram("quorum_wait_seconds", "Waits.", {0.25, 0.5, 1});
  // One per bucket, two on a bound (bounds are inclusive), two above every bound.
  for (double v : {0.125, 0.25, 0.375, 0.5, 0.75, 2.0, 4.0}) histogram.Observe(v);
  EXPECT_EQ(registry.Render(),
            "# HELP quorum_wait_seconds Waits.\n"
            "# TYPE quorum_wait_seconds histogram\n"
            "quorum_wait_seconds_bucket{le=\"0.25\"} 2\n"
            "quorum_wait_seconds_bucket{le=\"0.5\"} 4\n"
            "quorum_wait_seconds_bucket{le=\"1\"} 5\n"
            "quorum_wait_seconds_bucket{le=\"+Inf\"} 7\n"
            "quorum_wait_seconds_sum 8\n"
            "quorum_wait_seconds_count 7\n");
}

TEST(ExpositionTest, LabelledHistogramPutsLeAfterItsLabels) {
  Registry registry;
  Family<Histogram>& family =
      registry.AddHistogramFamily("quorum_rtt_seconds", "RTT.", {"To"}, {0.001});
  family.With({"8e9e05c52164694d"}).Observe(0.0005);
  EXPECT_THAT(registry.Render(),
              HasSubstr("quorum_rtt_seconds_bucket{To=\"8e9e05c52164694d\",le=\"0.001\"} 1\n"
                        "quorum_rtt_seconds_bucket{To=\"8e9e05c52164694d\",le=\"+Inf\"} 1\n"
                        "quorum_rtt_seconds_sum{To=\"8e9e05c52164694d\"} 0.0005\n"
                        "quorum_rtt_seconds_count{To=\"8e9e05c52164694d\"} 1\n"));
}

TEST(MetricTest, CountersAndHistogramsLoseNothingUnderConcurrentUpdates) {
  Registry registry;
  Counter& counter = registry.AddCounter("quorum_c_total", "c");
  Histogram& histogram = registry.AddHistogram("quorum_h_seconds", "h", {1, 2});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  uint64_t last_seen = 0;
  bool monotonic = true;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        counter.Inc();
        histogram.Observe(t % 3);
      }
    });
  }
  // A reader meanwhile sees the counter only go up, and every histogram snapshot consistent.
  for (int i = 0; i < 1000; ++i) {
    const uint64_t now = counter.Value();
    monotonic = monotonic && now >= last_seen;
    last_seen = now;
    Histogram::Snapshot snapshot = histogram.Read();
    EXPECT_TRUE(std::is_sorted(snapshot.cumulative.begin(), snapshot.cumulative.end()));
  }
  for (auto& thread : threads) thread.join();
  EXPECT_TRUE(monotonic);
  EXPECT_EQ(counter.Value(), uint64_t{kThreads} * kPerThread);
  Histogram::Snapshot snapshot = histogram.Read();
  EXPECT_EQ(snapshot.count(), uint64_t{kThreads} * kPerThread);
  // Values 0, 1, 2, 0: three threads at or below 1, all at or below 2.
  EXPECT_EQ(snapshot.cumulative[0], uint64_t{3} * kPerThread);
  EXPECT_EQ(snapshot.cumulative[1], uint64_t{kThreads} * kPerThread);
  EXPECT_DOUBLE_EQ(snapshot.sum, 3.0 * kPerThread);
}

TEST(ProcessMetricsTest, ReadsThisProcess) {
  std::optional<ProcessStats> stats = ReadProcessStats();
  ASSERT_TRUE(stats.has_value());
  EXPECT_GT(stats->resident_bytes, 0u);
  EXPECT_GE(stats->virtual_bytes, stats->resident_bytes);
  EXPECT_GE(stats->open_fds, 3u);  // at least stdin, stdout, stderr
  // Started within the last day, not in the future.
  const double now = static_cast<double>(time(nullptr));
  EXPECT_LE(stats->start_time_seconds, now + 1);
  EXPECT_GT(stats->start_time_seconds, now - 86400);
  // CPU time moves when the process works.
  volatile double sink = 0;
  for (int i = 0; i < 50'000'000 && ReadProcessStats()->cpu_seconds <= stats->cpu_seconds;
       i += 1'000'000) {
    for (int j = 0; j < 1'000'000; ++j) sink = sink + j;
  }
  EXPECT_GT(ReadProcessStats()->cpu_seconds, stats->cpu_seconds);
}

TEST(ProcessMetricsTest, RegistersTheGoClientNames) {
  Registry registry;
  AddProcessMetrics(registry);
  const std::string text = registry.Render();
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"}) {
    EXPECT_THAT(text, HasSubstr(std::string("\n") + name + " ")) << name;
  }
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter\n"));
}

}  // namespace
}  // namespace quorum::server::metrics
