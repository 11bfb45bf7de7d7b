#include "server/services.h"

#include "server/metrics/grpc_metrics.h"
#include "server/service_factories.h"

namespace quorum::server {

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
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(metrics->NewInterceptorFactory());
    builder->experimental().SetInterceptorCreators(std::move(creators));
  }
}

}  // namespace quorum::server
