// Client's per-member Maintenance calls and the Election / Lock helpers (see client.h).
#include <thread>

#include "client/client.h"
#include "client/kv_client.h"

namespace quorum::client {

using namespace etcdserverpb;  // the API's many message types

namespace {

void SetTimeout(grpc::ClientContext* context, std::chrono::milliseconds timeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

}  // namespace

absl::StatusOr<StatusResponse> Client::Status(const std::string& endpoint) {
  return Status(endpoint, options_.request_timeout);
}

absl::StatusOr<StatusResponse> Client::Status(const std::string& endpoint,
                                              std::chrono::milliseconds timeout) {
  grpc::ClientContext context;
  SetTimeout(&context, timeout);
  StatusResponse response;
  auto s = FromGrpc(Maintenance::NewStub(pool_.ChannelFor(endpoint))
                        ->Status(&context, StatusRequest(), &response));
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<HashKVResponse> Client::HashKV(const std::string& endpoint, int64_t revision) {
  grpc::ClientContext context;
  SetTimeout(&context, options_.request_timeout);
  if (auto s = Authorize(pool_.ChannelFor(endpoint), &context); !s.ok()) return s;
  HashKVRequest request;
  request.set_revision(revision);
  HashKVResponse response;
  auto s = FromGrpc(
      Maintenance::NewStub(pool_.ChannelFor(endpoint))->HashKV(&context, request, &response));
  if (!s.ok()) return s;
  return response;
}

absl::Status Client::Defragment(const std::string& endpoint) {
  grpc::ClientContext context;
  SetTimeout(&context, options_.request_timeout);
  if (auto s = Authorize(pool_.ChannelFor(endpoint), &context); !s.ok()) return s;
  DefragmentResponse response;
  return FromGrpc(Maintenance::NewStub(pool_.ChannelFor(endpoint))
                      ->Defragment(&context, DefragmentRequest(), &response));
}

absl::Status Client::Snapshot(const std::string& endpoint,
                              const std::function<absl::Status(const std::string&)>& sink) {
  grpc::ClientContext context;
  if (auto s = Authorize(pool_.ChannelFor(endpoint), &context); !s.ok()) return s;
  auto reader =
      Maintenance::NewStub(pool_.ChannelFor(endpoint))->Snapshot(&context, SnapshotRequest());
  SnapshotResponse response;
  while (reader->Read(&response)) {
    if (auto s = sink(response.blob()); !s.ok()) {
      context.TryCancel();
      reader->Finish().IgnoreError();
      return s;
    }
  }
  return FromGrpc(reader->Finish());
}

absl::StatusOr<MoveLeaderResponse> Client::MoveLeader(const std::string& leader_endpoint,
                                                      uint64_t target_id) {
  grpc::ClientContext context;
  SetTimeout(&context, options_.request_timeout);
  MoveLeaderRequest request;
  request.set_targetid(target_id);
  MoveLeaderResponse response;
  auto s = FromGrpc(Maintenance::NewStub(pool_.ChannelFor(leader_endpoint))
                        ->MoveLeader(&context, request, &response));
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<AlarmResponse> Client::Alarm(const AlarmRequest& request) {
  AlarmResponse response;
  // Listing, activating or disarming the same alarm twice ends in the same state.
  auto s = Invoke(Retry::kIdempotent, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return Maintenance::NewStub(p.channel)->Alarm(c, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

// --- Election ---

absl::StatusOr<v3electionpb::LeaderKey> Client::Campaign(const std::string& name, int64_t lease,
                                                         const std::string& value,
                                                         std::chrono::milliseconds timeout) {
  v3electionpb::CampaignRequest request;
  request.set_name(name);
  request.set_lease(lease);
  request.set_value(value);
  v3electionpb::CampaignResponse response;
  auto s = Invoke(
      Retry::kIdempotent, timeout, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
        return v3electionpb::Election::NewStub(p.channel)->Campaign(c, request, &response);
      });
  if (!s.ok()) return s;
  return response.leader();
}

absl::Status Client::Proclaim(const v3electionpb::LeaderKey& leader, const std::string& value) {
  v3electionpb::ProclaimRequest request;
  *request.mutable_leader() = leader;
  request.set_value(value);
  v3electionpb::ProclaimResponse response;
  return Invoke(Retry::kIdempotent, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return v3electionpb::Election::NewStub(p.channel)->Proclaim(c, request, &response);
  });
}

absl::StatusOr<v3electionpb::LeaderResponse> Client::Leader(const std::string& name) {
  v3electionpb::LeaderRequest request;
  request.set_name(name);
  v3electionpb::LeaderResponse response;
  auto s = Invoke(Retry::kIdempotent, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return v3electionpb::Election::NewStub(p.channel)->Leader(c, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::Status Client::Resign(const v3electionpb::LeaderKey& leader) {
  v3electionpb::ResignRequest request;
  *request.mutable_leader() = leader;
  v3electionpb::ResignResponse response;
  return Invoke(Retry::kIdempotent, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return v3electionpb::Election::NewStub(p.channel)->Resign(c, request, &response);
  });
}

absl::Status Client::Observe(
    const std::string& name,
    const std::function<bool(const v3electionpb::LeaderResponse&)>& on_leader) {
  v3electionpb::LeaderRequest request;
  request.set_name(name);
  auto pinned = pool_.Current();
  grpc::ClientContext context;
  if (auto s = Authorize(pinned.channel, &context); !s.ok()) return s;
  auto reader = v3electionpb::Election::NewStub(pinned.channel)->Observe(&context, request);
  v3electionpb::LeaderResponse response;
  while (reader->Read(&response)) {
    if (!on_leader(response)) {
      context.TryCancel();
      reader->Finish().IgnoreError();
      return absl::OkStatus();
    }
  }
  auto status = FromGrpc(reader->Finish());
  if (status.code() == absl::StatusCode::kUnavailable) pool_.MarkFailed(pinned.index);
  return status;
}

// --- Lock ---

absl::StatusOr<std::string> Client::Lock(const std::string& name, int64_t lease,
                                         std::chrono::milliseconds timeout) {
  v3lockpb::LockRequest request;
  request.set_name(name);
  request.set_lease(lease);
  v3lockpb::LockResponse response;
  auto s = Invoke(Retry::kIdempotent, timeout,
                  [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
                    return v3lockpb::Lock::NewStub(p.channel)->Lock(c, request, &response);
                  });
  if (!s.ok()) return s;
  return response.key();
}

absl::Status Client::Unlock(const std::string& key) {
  v3lockpb::UnlockRequest request;
  request.set_key(key);
  v3lockpb::UnlockResponse response;
  return Invoke(Retry::kIdempotent, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return v3lockpb::Lock::NewStub(p.channel)->Unlock(c, request, &response);
  });
}

}  // namespace quorum::client
