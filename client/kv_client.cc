#include "client/kv_client.h"

#include <thread>

#include "absl/strings/strip.h"
#include "proto/etcd_errors.h"

namespace quorum::client {

absl::Status FromGrpc(const grpc::Status& status) { return FromGrpcStatus(status); }

KvClient::KvClient(const std::string& endpoint, std::chrono::milliseconds timeout,
                   const TlsOptions& tls)
    : timeout_(timeout) {
  std::string target = EndpointTarget(endpoint);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(INT32_MAX);
  args.SetMaxSendMessageSize(INT32_MAX);
  // gRPC's default reconnect backoff grows to minutes; a member that restarts should be
  // reachable again within about a second.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // After a failed connect the channel asks its resolver again, and the DNS resolver's default
  // pause between resolutions (30 s, in practice ~5 s) would hold the reconnect back.
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 100);
  channel_ = grpc::CreateCustomChannel(target, EndpointCredentials(endpoint, tls), args);
  kv_ = etcdserverpb::KV::NewStub(channel_);
  maintenance_ = etcdserverpb::Maintenance::NewStub(channel_);
}

std::unique_ptr<grpc::ClientContext> KvClient::NewContext() const { return NewContext(timeout_); }

std::unique_ptr<grpc::ClientContext> KvClient::NewContext(std::chrono::milliseconds timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  return context;
}

absl::StatusOr<etcdserverpb::PutResponse> KvClient::Put(const std::string& key,
                                                        const std::string& value, int64_t lease) {
  etcdserverpb::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  request.set_lease(lease);
  etcdserverpb::PutResponse response;
  auto context = NewContext();
  if (auto s = FromGrpc(kv_->Put(context.get(), request, &response)); !s.ok()) return s;
  return response;
}

absl::StatusOr<std::optional<std::string>> KvClient::Get(const std::string& key) {
  etcdserverpb::RangeRequest request;
  request.set_key(key);
  auto response = Range(request);
  if (!response.ok()) return response.status();
  if (response->kvs_size() == 0) return std::optional<std::string>();
  return std::optional<std::string>(response->kvs(0).value());
}

absl::StatusOr<etcdserverpb::RangeResponse> KvClient::Range(
    const etcdserverpb::RangeRequest& request) {
  etcdserverpb::RangeResponse response;
  auto context = NewContext();
  if (auto s = FromGrpc(kv_->Range(context.get(), request, &response)); !s.ok()) return s;
  return response;
}

absl::StatusOr<etcdserverpb::DeleteRangeResponse> KvClient::Delete(const std::string& key) {
  etcdserverpb::DeleteRangeRequest request;
  request.set_key(key);
  etcdserverpb::DeleteRangeResponse response;
  auto context = NewContext();
  if (auto s = FromGrpc(kv_->DeleteRange(context.get(), request, &response)); !s.ok()) return s;
  return response;
}

absl::StatusOr<etcdserverpb::TxnResponse> KvClient::Txn(const etcdserverpb::TxnRequest& request) {
  etcdserverpb::TxnResponse response;
  auto context = NewContext();
  if (auto s = FromGrpc(kv_->Txn(context.get(), request, &response)); !s.ok()) return s;
  return response;
}

absl::StatusOr<etcdserverpb::StatusResponse> KvClient::Status() { return Status(timeout_); }

absl::StatusOr<etcdserverpb::StatusResponse> KvClient::Status(std::chrono::milliseconds timeout) {
  etcdserverpb::StatusResponse response;
  auto context = NewContext(timeout);
  auto s = FromGrpc(maintenance_->Status(context.get(), etcdserverpb::StatusRequest(), &response));
  if (!s.ok()) return s;
  return response;
}

absl::Status KvClient::WaitReady(std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  absl::Status last = absl::DeadlineExceededError("endpoint never answered");
  while (std::chrono::steady_clock::now() < deadline) {
    // Short attempts: a call made while the server is still starting can wait for the whole
    // deadline on a connection that is never completed.
    auto status = Status(std::chrono::milliseconds(250));
    if (status.ok()) return absl::OkStatus();
    last = status.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return last;
}

absl::Status KvClient::WaitLeader(std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  if (auto s = WaitReady(wait); !s.ok()) return s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto status = Status();
    if (status.ok() && status->leader() != 0) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError("no leader elected in time");
}

}  // namespace quorum::client
