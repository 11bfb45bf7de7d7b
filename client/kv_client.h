// A small synchronous client for the etcd v3 KV and Maintenance APIs over one endpoint. Used by
// the tests and tools; any etcd v3 server answers it. Thread-safe: gRPC stubs may be shared.
#ifndef QUORUM_CLIENT_KV_CLIENT_H_
#define QUORUM_CLIENT_KV_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "client/tls_options.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace quorum::client {

class KvClient {
 public:
  // `endpoint` is host:port, http://host:port or https://host:port (TLS with `tls`, files
  // loaded). Calls fail after `timeout` with DEADLINE_EXCEEDED; etcd's errors come back with
  // etcd's code and message.
  explicit KvClient(const std::string& endpoint,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5),
                    const TlsOptions& tls = {});

  absl::StatusOr<etcdserverpb::PutResponse> Put(const std::string& key, const std::string& value,
                                                int64_t lease = 0);
  // The value of `key` at the current revision, or nullopt when it does not exist.
  absl::StatusOr<std::optional<std::string>> Get(const std::string& key);
  absl::StatusOr<etcdserverpb::RangeResponse> Range(const etcdserverpb::RangeRequest& request);
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> Delete(const std::string& key);
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(const etcdserverpb::TxnRequest& request);
  absl::StatusOr<etcdserverpb::StatusResponse> Status();
  absl::StatusOr<etcdserverpb::StatusResponse> Status(std::chrono::milliseconds timeout);

  // Waits until the endpoint answers Status, or `wait` passes.
  absl::Status WaitReady(std::chrono::milliseconds wait);
  // Waits until the endpoint answers Status naming a leader, or `wait` passes.
  absl::Status WaitLeader(std::chrono::milliseconds wait);

 private:
  std::unique_ptr<grpc::ClientContext> NewContext() const;
  std::unique_ptr<grpc::ClientContext> NewContext(std::chrono::milliseconds timeout) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance_;
  std::chrono::milliseconds timeout_;
};

// Converts a gRPC status into the absl::Status the rest of quorum uses (codes are shared).
absl::Status FromGrpc(const grpc::Status& status);

}  // namespace quorum::client

#endif  // QUORUM_CLIENT_KV_CLIENT_H_
