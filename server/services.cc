#include "server/services.h"

#include <google/protobuf/descriptor.h>

#include "server/metrics/grpc_metrics.h"
#include "server/service_factories.h"

namespace quorum::server {
namespace {

// Every method of the client API starts out counted at zero for every code, as
// go-grpc-prometheus registers etcd's, so that a rate over a method's first error has a base.
void CountEveryMethod(metrics::GrpcServerMetrics& metrics) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  for (const char* name : {"etcdserverpb.KV", "etcdserverpb.Watch", "etcdserverpb.Lease",
                           "etcdserverpb.Cluster", "etcdserverpb.Maintenance", "etcdserverpb.Auth",
                           "v3electionpb.Election", "v3lockpb.Lock"}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = service->method(i);
      const Type type =
          method->client_streaming()
              ? (method->server_streaming() ? Type::BIDI_STREAMING : Type::CLIENT_STREAMING)
              : (method->server_streaming() ? Type::SERVER_STREAMING : Type::UNARY);
      metrics.ForMethod("/" + service->full_name() + "/" + method->name(), type);
    }
  }
}

}  // namespace

ApiServices::ApiServices(MemberApi* member) : member_(member) {
  services_.push_back(NewKvService(member));
  services_.push_back(NewWatchService(member));
  services_.push_back(NewLeaseService(member));
  services_.push_back(NewClusterService(member));
  services_.push_back(NewMaintenanceService(member));
  services_.push_back(NewAuthService(member));
  services_.push_back(NewElectionService(member));
  services_.push_back(NewLockService(member));
}

ApiServices::~ApiServices() = default;

void ApiServices::RegisterWith(grpc::ServerBuilder* builder) {
  for (auto& service : services_) builder->RegisterService(service.get());
  if (metrics::GrpcServerMetrics* metrics = member_->grpc_metrics(); metrics != nullptr) {
    CountEveryMethod(*metrics);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(metrics->NewInterceptorFactory());
    builder->experimental().SetInterceptorCreators(std::move(creators));
  }
}

}  // namespace quorum::server
