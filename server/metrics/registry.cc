#include "server/metrics/registry.h"

namespace quorum::server::metrics {

struct Registry::Entry {
  std::function<void(ExpositionWriter&)> write;
  // Keeps the metric alive (the entry's function refers to it).
  std::shared_ptr<void> owned;
};

Registry::Registry() = default;
Registry::~Registry() = default;

void Registry::Add(std::unique_ptr<Entry> entry) {
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(entry));
}

namespace {

void WriteHistogram(ExpositionWriter& out, const std::string& name, std::span<const Label> labels,
                    const Histogram& histogram) {
  Histogram::Snapshot snapshot = histogram.Read();
  out.Histogram(name, labels, histogram.bounds(), snapshot.cumulative, snapshot.sum);
}

}  // namespace

Counter& Registry::AddCounter(std::string name, std::string help) {
  auto counter = std::make_shared<Counter>();
  Counter& ref = *counter;
  Add(std::make_unique<Entry>(
      Entry{[name = std::move(name), help = std::move(help), &ref](ExpositionWriter& out) {
              out.Header(name, help, MetricType::kCounter);
              out.Sample(name, {}, ref.Value());
            },
            counter}));
  return ref;
}

Gauge& Registry::AddGauge(std::string name, std::string help) {
  auto gauge = std::make_shared<Gauge>();
  Gauge& ref = *gauge;
  Add(std::make_unique<Entry>(
      Entry{[name = std::move(name), help = std::move(help), &ref](ExpositionWriter& out) {
              out.Header(name, help, MetricType::kGauge);
              out.Sample(name, {}, ref.Value());
            },
            gauge}));
  return ref;
}

Histogram& Registry::AddHistogram(std::string name, std::string help, std::vector<double> bounds) {
  auto histogram = std::make_shared<Histogram>(std::move(bounds));
  Histogram& ref = *histogram;
  Add(std::make_unique<Entry>(
      Entry{[name = std::move(name), help = std::move(help), &ref](ExpositionWriter& out) {
              out.Header(name, help, MetricType::kHistogram);
              WriteHistogram(out, name, {}, ref);
            },
            histogram}));
  return ref;
}

Family<Counter>& Registry::AddCounterFamily(std::string name, std::string help,
                                            std::vector<std::string> label_names) {
  auto family = std::make_shared<Family<Counter>>(std::move(label_names),
                                                  [] { return std::make_unique<Counter>(); });
  Family<Counter>& ref = *family;
  Add(std::make_unique<Entry>(
      Entry{[name = std::move(name), help = std::move(help), &ref](ExpositionWriter& out) {
              if (ref.empty()) return;
              out.Header(name, help, MetricType::kCounter);
              ref.ForEach([&](std::span<const Label> labels, const Counter& counter) {
                out.Sample(name, labels, counter.Value());
              });
            },
            family}));
  return ref;
}

Family<Gauge>& Registry::AddGaugeFamily(std::string name, std::string help,
                                        std::vector<std::string> label_names) {
  auto family = std::make_shared<Family<Gauge>>(std::move(label_names),
                                                [] { return std::make_unique<Gauge>(); });
  Family<Gauge>& ref = *family;
  Add(std::make_unique<Entry>(
      Entry{[name = std::move(name), help = std::move(help), &ref](ExpositionWriter& out) {
              if (ref.empty()) return;
              out.Header(name, help, MetricType::kGauge);
              ref.ForEach([&](std::span<const Label> labels, const Gauge& gauge) {
                out.Sample(name, labels, gauge.Value());
              });
            },
            family}));
  return ref;
}

Family<Histogram>& Registry::AddHistogramFamily(std::string name, std::string help,
                                                std::vector<std::string> label_names,
                                                std::vector<double> bounds) {
  auto family = std::make_shared<Family<Histogram>>(
      std::move(label_names),
      [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); });
  Family<Histogram>& ref = *family;
  Add(std::make_unique<Entry>(
      Entry{[name = std::move(name), help = std::move(help), &ref](ExpositionWriter& out) {
              if (ref.empty()) return;
              out.Header(name, help, MetricType::kHistogram);
              ref.ForEach([&](std::span<const Label> labels, const Histogram& histogram) {
                WriteHistogram(out, name, labels, histogram);
              });
            },
            family}));
  return ref;
}

void Registry::AddGaugeFunction(std::string name, std::string help, std::function<double()> read) {
  Add(std::make_unique<Entry>(Entry{[name = std::move(name), help = std::move(help),
                                     read = std::move(read)](ExpositionWriter& out) {
                                      out.Header(name, help, MetricType::kGauge);
                                      out.Sample(name, {}, read());
                                    },
                                    nullptr}));
}

void Registry::AddCounterFunction(std::string name, std::string help,
                                  std::function<uint64_t()> read) {
  Add(std::make_unique<Entry>(Entry{[name = std::move(name), help = std::move(help),
                                     read = std::move(read)](ExpositionWriter& out) {
                                      out.Header(name, help, MetricType::kCounter);
                                      out.Sample(name, {}, read());
                                    },
                                    nullptr}));
}

void Registry::AddCollector(std::function<void(ExpositionWriter&)> collect) {
  Add(std::make_unique<Entry>(Entry{std::move(collect), nullptr}));
}

std::string Registry::Render() const {
  ExpositionWriter out;
  absl::MutexLock lock(&mu_);
  for (const auto& entry : entries_) entry->write(out);
  return out.Take();
}

}  // namespace quorum::server::metrics
