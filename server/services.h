// The gRPC services a member registers on its client URLs: etcd's KV, Watch, Lease, Cluster,
// Maintenance, Auth, Election and Lock. Built by main() over one Member and registered with the
// gRPC server; every method of every service answers, the ones not built yet with UNIMPLEMENTED
// and a message naming the method.
#ifndef QUORUM_SERVER_SERVICES_H_
#define QUORUM_SERVER_SERVICES_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>

#include <memory>
#include <vector>

#include "server/member_api.h"

namespace quorum::server {

// Owns one instance of every service; keep it alive as long as the gRPC server runs.
class ApiServices {
 public:
  explicit ApiServices(MemberApi* member);
  ~ApiServices();

  // Registers every service, and the interceptor that counts calls for /metrics when the member
  // has one (MemberApi::grpc_metrics).
  void RegisterWith(grpc::ServerBuilder* builder);

 private:
  MemberApi* const member_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_SERVICES_H_
