// gRPC server metrics under the names go-grpc-prometheus gives them (etcd serves these, and
// dashboards count requests and errors with them): grpc_server_started_total and
// grpc_server_handled_total, labelled grpc_type ("unary", "client_stream", "server_stream",
// "bidi_stream"), grpc_service ("etcdserverpb.KV"), grpc_method ("Range") and, for handled,
// grpc_code (Go's code names: "OK", "Unavailable", ...).
//
// Counted by a server interceptor: register NewInterceptorFactory() on the ServerBuilder. Per
// call it costs one allocation (the interceptor gRPC asks for) and a shared-lock map lookup;
// the counts are atomics. A call that ends without sending a status (cancelled before the
// server answered) is started but not handled, as with go-grpc-prometheus.
#ifndef QUORUM_SERVER_METRICS_GRPC_METRICS_H_
#define QUORUM_SERVER_METRICS_GRPC_METRICS_H_

#include <grpcpp/support/server_interceptor.h>

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/metrics/registry.h"

namespace quorum::server::metrics {

// gRPC status codes are 0..16.
inline constexpr int kGrpcCodeCount = 17;

// Go's name of a gRPC status code ("OK", "DeadlineExceeded", ...).
std::string_view GrpcCodeName(int code);

class GrpcServerMetrics {
 public:
  // Registers both families on `registry`, which must outlive this object's use in scrapes;
  // this object must outlive the gRPC server it counts for.
  explicit GrpcServerMetrics(Registry& registry);
  ~GrpcServerMetrics();

  struct MethodCounters {
    std::string type, service, method;
    Counter started;
    std::array<Counter, kGrpcCodeCount> handled;
  };
  // The counters of `full_method` ("/etcdserverpb.KV/Range"), created at first use (which may
  // come before any call, so that the method is served with zeros).
  MethodCounters& ForMethod(std::string_view full_method,
                            grpc::experimental::ServerRpcInfo::Type type);

  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewInterceptorFactory();

 private:
  void Collect(ExpositionWriter& out) const;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<MethodCounters>> methods_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quorum::server::metrics

#endif  // QUORUM_SERVER_METRICS_GRPC_METRICS_H_
