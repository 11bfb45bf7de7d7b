#include "server/services.h"

#include "server/service_factories.h"

namespace quorum::server {

ApiServices::ApiServices(MemberApi* member) {
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
}

}  // namespace quorum::server
