#include "server/metrics/grpc_metrics.h"

#include <algorithm>
#include <tuple>
#include <vector>

namespace quorum::server::metrics {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

std::string_view TypeLabel(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY:
      return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unary";
}

class CountingInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit CountingInterceptor(GrpcServerMetrics::MethodCounters* counters) : counters_(counters) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const int code = static_cast<int>(methods->GetSendStatus().error_code());
      counters_->handled[std::clamp(code, 0, kGrpcCodeCount - 1)].Inc();
    }
    methods->Proceed();
  }

 private:
  GrpcServerMetrics::MethodCounters* const counters_;
};

class CountingFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CountingFactory(GrpcServerMetrics* metrics) : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    if (info->method() == nullptr || info->method()[0] == '\0') return nullptr;
    GrpcServerMetrics::MethodCounters& counters = metrics_->ForMethod(info->method(), info->type());
    counters.started.Inc();
    return new CountingInterceptor(&counters);
  }

 private:
  GrpcServerMetrics* const metrics_;
};

}  // namespace

std::string_view GrpcCodeName(int code) {
  static constexpr std::string_view kNames[kGrpcCodeCount] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  return code >= 0 && code < kGrpcCodeCount ? kNames[code] : "Unknown";
}

GrpcServerMetrics::GrpcServerMetrics(Registry& registry) {
  registry.AddCollector([this](ExpositionWriter& out) { Collect(out); });
}

GrpcServerMetrics::~GrpcServerMetrics() = default;

GrpcServerMetrics::MethodCounters& GrpcServerMetrics::ForMethod(std::string_view full_method,
                                                                ServerRpcInfo::Type type) {
  {
    absl::ReaderMutexLock lock(&mu_);
    // Debian's Abseil has its own string_view, which the map's heterogeneous lookup takes.
    auto it = methods_.find(absl::string_view(full_method.data(), full_method.size()));
    if (it != methods_.end()) return *it->second;
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<MethodCounters>& counters = methods_[std::string(full_method)];
  if (counters == nullptr) {
    counters = std::make_unique<MethodCounters>();
    counters->type = std::string(TypeLabel(type));
    // "/package.Service/Method"
    std::string_view name = full_method;
    if (!name.empty() && name[0] == '/') name.remove_prefix(1);
    const size_t slash = name.find('/');
    counters->service = std::string(name.substr(0, slash));
    counters->method = slash == std::string_view::npos ? "" : std::string(name.substr(slash + 1));
  }
  return *counters;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
GrpcServerMetrics::NewInterceptorFactory() {
  return std::make_unique<CountingFactory>(this);
}

void GrpcServerMetrics::Collect(ExpositionWriter& out) const {
  std::vector<const MethodCounters*> methods;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, counters] : methods_) methods.push_back(counters.get());
  }
  if (methods.empty()) return;
  std::sort(methods.begin(), methods.end(), [](const MethodCounters* a, const MethodCounters* b) {
    return std::tie(a->service, a->method) < std::tie(b->service, b->method);
  });
  out.Header("grpc_server_started_total", "RPCs started on the server.", MetricType::kCounter);
  for (const MethodCounters* m : methods) {
    const Label labels[] = {
        {"grpc_method", m->method}, {"grpc_service", m->service}, {"grpc_type", m->type}};
    out.Sample("grpc_server_started_total", labels, m->started.Value());
  }
  // Every code of every method known, zeros included (as go-grpc-prometheus pre-registers
  // them), so that a rate over the first error has a starting point.
  out.Header("grpc_server_handled_total",
             "RPCs completed on the server, by the status code they ended with.",
             MetricType::kCounter);
  for (const MethodCounters* m : methods) {
    for (int code = 0; code < kGrpcCodeCount; ++code) {
      const Label labels[] = {{"grpc_code", GrpcCodeName(code)},
                              {"grpc_method", m->method},
                              {"grpc_service", m->service},
                              {"grpc_type", m->type}};
      out.Sample("grpc_server_handled_total", labels, m->handled[code].Value());
    }
  }
}

}  // namespace quorum::server::metrics
