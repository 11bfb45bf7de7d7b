// Constructors of the individual gRPC services, one per .cc file; ApiServices assembles them.
#ifndef QUORUM_SERVER_SERVICE_FACTORIES_H_
#define QUORUM_SERVER_SERVICE_FACTORIES_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>

#include <memory>

#include "server/member.h"

namespace quorum::server {

std::unique_ptr<grpc::Service> NewKvService(Member* member);
std::unique_ptr<grpc::Service> NewMaintenanceService(Member* member);
std::unique_ptr<grpc::Service> NewClusterService(Member* member);
std::unique_ptr<grpc::Service> NewWatchService(Member* member);
std::unique_ptr<grpc::Service> NewLeaseService(Member* member);
std::unique_ptr<grpc::Service> NewAuthService(Member* member);
std::unique_ptr<grpc::Service> NewElectionService(Member* member);
std::unique_ptr<grpc::Service> NewLockService(Member* member);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_SERVICE_FACTORIES_H_
