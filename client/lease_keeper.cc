#include "client/lease_keeper.h"

#include "client/client.h"

namespace quorum::client {

using Clock = std::chrono::steady_clock;

LeaseKeeper::LeaseKeeper(
    Client* client, int64_t id,
    std::function<void(const etcdserverpb::LeaseKeepAliveResponse&)> on_response)
    : client_(client), id_(id), on_response_(std::move(on_response)) {
  thread_ = std::thread([this] { Run(); });
}

LeaseKeeper::~LeaseKeeper() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (live_context_ != nullptr) live_context_->TryCancel();
  }
  changed_.notify_all();
  thread_.join();
}

bool LeaseKeeper::WaitLost(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, wait, [&] { return !alive_.load(); });
}

bool LeaseKeeper::Sleep(std::chrono::milliseconds pause) {
  std::unique_lock<std::mutex> lock(mu_);
  return !changed_.wait_for(lock, pause, [&] { return stopping_; });
}

void LeaseKeeper::Run() {
  // Until the first renewal the lease's remaining time is unknown; assume the shortest TTL etcd
  // grants so a dead cluster is reported as a lost lease rather than never.
  Clock::time_point expires = Clock::now() + std::chrono::seconds(5);
  for (int failures = 0;; ++failures) {
    if (failures > 0 && !Sleep(RetryBackoff(std::min(failures - 1, 5)))) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    if (!RunStream(&expires) || Clock::now() >= expires) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        alive_.store(false);
      }
      changed_.notify_all();
      return;
    }
  }
}

bool LeaseKeeper::RunStream(Clock::time_point* expires) {
  auto pinned = client_->pool().Current();
  if (!EndpointPool::WaitConnected(*pinned.channel, client_->options().dial_timeout)) {
    client_->pool().MarkFailed(pinned.index);
    return true;
  }
  grpc::ClientContext context;
  if (!client_->Authorize(pinned.channel, &context).ok()) return true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return true;
    live_context_ = &context;
  }
  auto stream = etcdserverpb::Lease::NewStub(pinned.channel)->LeaseKeepAlive(&context);
  etcdserverpb::LeaseKeepAliveRequest request;
  request.set_id(id_);
  etcdserverpb::LeaseKeepAliveResponse response;
  bool lease_alive = true;
  while (stream->Write(request) && stream->Read(&response)) {
    if (response.ttl() <= 0) {
      lease_alive = false;  // etcd's answer for a lease that expired or was revoked
      break;
    }
    renewals_.fetch_add(1);
    *expires = Clock::now() + std::chrono::seconds(response.ttl());
    if (on_response_) on_response_(response);
    // etcd's clients renew at a third of the TTL: two renewals may fail before it runs out.
    auto pause = std::chrono::milliseconds(std::max<int64_t>(response.ttl() * 1000 / 3, 100));
    if (!Sleep(pause)) break;
  }
  context.TryCancel();
  auto status = stream->Finish();
  {
    std::lock_guard<std::mutex> lock(mu_);
    live_context_ = nullptr;
    if (stopping_) return true;
  }
  if (lease_alive) client_->pool().MarkFailed(pinned.index);
  // The server refusing the stream outright (e.g. UNIMPLEMENTED) will not get better.
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) return false;
  return lease_alive;
}

}  // namespace quorum::client
