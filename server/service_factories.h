// Constructors of the individual gRPC services, one per .cc file; ApiServices assembles them.
#ifndef QUORUM_SERVER_SERVICE_FACTORIES_H_
#define QUORUM_SERVER_SERVICE_FACTORIES_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>

#include <memory>

#include "server/member_api.h"

namespace quorum::server {

std::unique_ptr<grpc::Service> NewKvService(MemberApi* member);
std::unique_ptr<grpc::Service> NewMaintenanceService(MemberApi* member);
std::unique_ptr<grpc::Service> NewClusterService(MemberApi* member);
std::unique_ptr<grpc::Service> NewWatchService(MemberApi* member);
std::unique_ptr<grpc::Service> NewLeaseService(MemberApi* member);
std::unique_ptr<grpc::Service> NewAuthService(MemberApi* member);
std::unique_ptr<grpc::Service> NewElectionService(MemberApi* member);
std::unique_ptr<grpc::Service> NewLockService(MemberApi* member);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_SERVICE_FACTORIES_H_
