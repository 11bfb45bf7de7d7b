// Registry: the metrics one process serves on /metrics, and the renderer of their text. Metrics
// are registered once at startup and kept for the registry's life; callers hold references to
// them and update them lock-free (metric.h). Values that already live elsewhere (the commit
// index, the database size) are registered as functions and read at each scrape instead of
// being copied on the hot path.
//
// Threading: registration and Render() may run on any thread. Family::With takes a lock: hot
// paths look their child up once and keep the reference. Render() calls the registered
// functions, which must be quick and must not call back into the registry.
#ifndef QUORUM_SERVER_METRICS_REGISTRY_H_
#define QUORUM_SERVER_METRICS_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/metrics/exposition.h"
#include "server/metrics/metric.h"

namespace quorum::server::metrics {

// Metrics of one name told apart by label values (etcd's CounterVec, HistogramVec).
template <typename Metric>
class Family {
 public:
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<Metric>()> make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}

  // The metric for `values` (one per label name, in order), created at the first call.
  Metric& With(const std::vector<std::string>& values) {
    absl::MutexLock lock(&mu_);
    std::unique_ptr<Metric>& child = children_[values];
    if (child == nullptr) child = make_();
    return *child;
  }

  // Calls fn(labels, metric) for every child in label order.
  template <typename Fn>
  void ForEach(Fn fn) const {
    absl::MutexLock lock(&mu_);
    std::vector<Label> labels(label_names_.size());
    for (const auto& [values, metric] : children_) {
      for (size_t i = 0; i < values.size(); ++i) labels[i] = {label_names_[i], values[i]};
      fn(std::span<const Label>(labels), *metric);
    }
  }

  bool empty() const {
    absl::MutexLock lock(&mu_);
    return children_.empty();
  }

 private:
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<Metric>()> make_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_ ABSL_GUARDED_BY(mu_);
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Metrics without labels. `name` must be a valid Prometheus name, unique in the registry.
  Counter& AddCounter(std::string name, std::string help);
  Gauge& AddGauge(std::string name, std::string help);
  Histogram& AddHistogram(std::string name, std::string help, std::vector<double> bounds);

  // Metrics with labels; a family with no child yet is left out of the output.
  Family<Counter>& AddCounterFamily(std::string name, std::string help,
                                    std::vector<std::string> label_names);
  Family<Gauge>& AddGaugeFamily(std::string name, std::string help,
                                std::vector<std::string> label_names);
  Family<Histogram>& AddHistogramFamily(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bounds);

  // A gauge or counter whose value `read` returns at each scrape.
  void AddGaugeFunction(std::string name, std::string help, std::function<double()> read);
  void AddCounterFunction(std::string name, std::string help, std::function<uint64_t()> read);

  // Writes whole families of its own at each scrape (values with labels computed on demand).
  void AddCollector(std::function<void(ExpositionWriter&)> collect);

  // Every registered metric in the text format, in registration order.
  std::string Render() const;

 private:
  struct Entry;
  void Add(std::unique_ptr<Entry> entry);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quorum::server::metrics

#endif  // QUORUM_SERVER_METRICS_REGISTRY_H_
