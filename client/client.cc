#include "client/client.h"

#include <random>
#include <thread>

#include "client/kv_client.h"
#include "client/lease_keeper.h"
#include "client/watcher.h"

namespace quorum::client {

using namespace etcdserverpb;  // the API's many message types

namespace {

bool TxnOnlyReads(const TxnRequest& request) {
  for (const auto* ops : {&request.success(), &request.failure()}) {
    for (const auto& op : *ops) {
      if (op.has_request_range()) continue;
      if (op.has_request_txn() && TxnOnlyReads(op.request_txn())) continue;
      return false;
    }
  }
  return true;
}

}  // namespace

std::chrono::milliseconds RetryBackoff(int attempt) {
  thread_local std::mt19937 rng(std::random_device{}());
  int64_t base = 25LL << std::min(attempt, 6);
  base = std::min<int64_t>(base, 1000);
  std::uniform_int_distribution<int64_t> jitter(0, base / 4);
  return std::chrono::milliseconds(base + jitter(rng));
}

Client::Client(ClientOptions options)
    : options_(std::move(options)),
      pool_(options_.endpoints, options_.tls),
      auth_(options_.user, options_.password, options_.request_timeout) {}

Client::~Client() = default;

std::string Client::PinnedEndpoint() { return pool_.Current().endpoint; }

absl::Status Client::Invoke(Retry retry, std::chrono::milliseconds timeout,
                            const Attempt& attempt) {
  using Clock = std::chrono::system_clock;
  const auto deadline = Clock::now() + timeout;
  absl::Status last = absl::DeadlineExceededError("context deadline exceeded");
  bool relogged_in = false;
  for (int tries = 0;; ++tries) {
    if (tries > 0) {
      auto pause = RetryBackoff(tries / static_cast<int>(pool_.size()));
      if (Clock::now() + pause >= deadline) return last;
      std::this_thread::sleep_for(pause);
    }
    auto pinned = pool_.Current();
    auto connect_wait = std::min<Clock::duration>(options_.dial_timeout, deadline - Clock::now());
    if (!EndpointPool::WaitConnected(
            *pinned.channel, std::chrono::duration_cast<std::chrono::milliseconds>(connect_wait))) {
      // Nothing was sent, so any call may move on to the next member.
      last = absl::UnavailableError("connection to " + pinned.endpoint + " failed");
      pool_.MarkFailed(pinned.index);
      if (Clock::now() >= deadline) return last;
      continue;
    }
    grpc::ClientContext context;
    context.set_deadline(deadline);
    if (auto s = Authorize(pinned.channel, &context); !s.ok()) {
      // The login itself could not reach the member: the call was not sent, so any call may
      // go on to the next member.
      if (s.code() != absl::StatusCode::kUnavailable) return s;
      last = s;
      pool_.MarkFailed(pinned.index);
      continue;
    }
    absl::Status status = FromGrpc(attempt(pinned, &context));
    if (status.ok()) return status;
    // A token the server no longer takes (restart, expiry): log in again once, as clientv3.
    if (auth_.NeedsNewLogin(status) && !relogged_in) {
      relogged_in = true;
      auth_.Drop();
      continue;
    }
    if (status.code() != absl::StatusCode::kUnavailable) return status;
    pool_.MarkFailed(pinned.index);
    if (retry == Retry::kUnsentOnly) return status;
    last = status;
  }
}

// --- KV ---

absl::StatusOr<RangeResponse> Client::Range(const RangeRequest& request) {
  RangeResponse response;
  auto s = Invoke(Retry::kIdempotent, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return KV::NewStub(p.channel)->Range(c, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<RangeResponse> Client::Get(const std::string& key) {
  RangeRequest request;
  request.set_key(key);
  return Range(request);
}

absl::StatusOr<PutResponse> Client::Put(const PutRequest& request) {
  PutResponse response;
  auto s = Invoke(Retry::kUnsentOnly, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return KV::NewStub(p.channel)->Put(c, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<PutResponse> Client::Put(const std::string& key, const std::string& value,
                                        int64_t lease) {
  PutRequest request;
  request.set_key(key);
  request.set_value(value);
  request.set_lease(lease);
  return Put(request);
}

absl::StatusOr<DeleteRangeResponse> Client::Delete(const DeleteRangeRequest& request) {
  DeleteRangeResponse response;
  auto s = Invoke(Retry::kUnsentOnly, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return KV::NewStub(p.channel)->DeleteRange(c, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<TxnResponse> Client::Txn(const TxnRequest& request) {
  TxnResponse response;
  auto retry = TxnOnlyReads(request) ? Retry::kIdempotent : Retry::kUnsentOnly;
  auto s = Invoke(retry, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return KV::NewStub(p.channel)->Txn(c, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<CompactionResponse> Client::Compact(int64_t revision, bool physical) {
  CompactionRequest request;
  request.set_revision(revision);
  request.set_physical(physical);
  CompactionResponse response;
  auto s = Invoke(Retry::kUnsentOnly, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return KV::NewStub(p.channel)->Compact(c, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

std::unique_ptr<Watcher> Client::Watch(const WatchOptions& options,
                                       std::function<void(const WatchResponse&)> on_response) {
  return std::unique_ptr<Watcher>(new Watcher(this, options, std::move(on_response)));
}

// --- Lease ---

absl::StatusOr<LeaseGrantResponse> Client::LeaseGrant(int64_t ttl_seconds, int64_t id) {
  LeaseGrantRequest request;
  request.set_ttl(ttl_seconds);
  request.set_id(id);
  LeaseGrantResponse response;
  // With a caller-chosen id a repeat is refused ("lease already exists"), never doubled.
  auto retry = id != 0 ? Retry::kIdempotent : Retry::kUnsentOnly;
  auto s = Invoke(retry, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return Lease::NewStub(p.channel)->LeaseGrant(c, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<LeaseRevokeResponse> Client::LeaseRevoke(int64_t id) {
  LeaseRevokeRequest request;
  request.set_id(id);
  LeaseRevokeResponse response;
  auto s = Invoke(Retry::kUnsentOnly, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return Lease::NewStub(p.channel)->LeaseRevoke(c, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<LeaseTimeToLiveResponse> Client::LeaseTimeToLive(int64_t id, bool keys) {
  LeaseTimeToLiveRequest request;
  request.set_id(id);
  request.set_keys(keys);
  LeaseTimeToLiveResponse response;
  auto s = Invoke(Retry::kIdempotent, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return Lease::NewStub(p.channel)->LeaseTimeToLive(c, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<LeaseLeasesResponse> Client::LeaseLeases() {
  LeaseLeasesResponse response;
  auto s = Invoke(Retry::kIdempotent, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return Lease::NewStub(p.channel)->LeaseLeases(c, LeaseLeasesRequest(), &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<LeaseKeepAliveResponse> Client::LeaseKeepAliveOnce(int64_t id) {
  LeaseKeepAliveResponse response;
  auto s = Invoke(Retry::kIdempotent, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    auto stream = Lease::NewStub(p.channel)->LeaseKeepAlive(c);
    LeaseKeepAliveRequest request;
    request.set_id(id);
    if (stream->Write(request) && stream->Read(&response)) {
      stream->WritesDone();
      c->TryCancel();
      stream->Finish().IgnoreError();
      return grpc::Status::OK;
    }
    return stream->Finish();
  });
  if (!s.ok()) return s;
  return response;
}

std::unique_ptr<LeaseKeeper> Client::KeepAlive(
    int64_t id, std::function<void(const LeaseKeepAliveResponse&)> on_response) {
  return std::unique_ptr<LeaseKeeper>(new LeaseKeeper(this, id, std::move(on_response)));
}

// --- Cluster ---

absl::StatusOr<MemberListResponse> Client::MemberList() {
  MemberListResponse response;
  auto s = Invoke(Retry::kIdempotent, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return Cluster::NewStub(p.channel)->MemberList(c, MemberListRequest(), &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<MemberAddResponse> Client::MemberAdd(const std::vector<std::string>& urls,
                                                    bool learner) {
  MemberAddRequest request;
  for (const auto& url : urls) request.add_peerurls(url);
  request.set_islearner(learner);
  MemberAddResponse response;
  auto s = Invoke(Retry::kUnsentOnly, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return Cluster::NewStub(p.channel)->MemberAdd(c, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<MemberRemoveResponse> Client::MemberRemove(uint64_t id) {
  MemberRemoveRequest request;
  request.set_id(id);
  MemberRemoveResponse response;
  auto s = Invoke(Retry::kUnsentOnly, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return Cluster::NewStub(p.channel)->MemberRemove(c, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<MemberUpdateResponse> Client::MemberUpdate(uint64_t id,
                                                          const std::vector<std::string>& urls) {
  MemberUpdateRequest request;
  request.set_id(id);
  for (const auto& url : urls) request.add_peerurls(url);
  MemberUpdateResponse response;
  // Setting the same URLs again changes nothing, so a repeat is harmless.
  auto s = Invoke(Retry::kIdempotent, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return Cluster::NewStub(p.channel)->MemberUpdate(c, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<MemberPromoteResponse> Client::MemberPromote(uint64_t id) {
  MemberPromoteRequest request;
  request.set_id(id);
  MemberPromoteResponse response;
  auto s = Invoke(Retry::kUnsentOnly, [&](const EndpointPool::Pinned& p, grpc::ClientContext* c) {
    return Cluster::NewStub(p.channel)->MemberPromote(c, request, &response);
  });
  if (!s.ok()) return s;
  return response;
}

}  // namespace quorum::client
