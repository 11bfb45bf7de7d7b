#include "client/endpoint_pool.h"

#include "absl/strings/strip.h"

namespace quorum::client {

std::shared_ptr<grpc::Channel> NewEndpointChannel(const std::string& endpoint,
                                                  const TlsOptions& tls) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(INT32_MAX);
  args.SetMaxSendMessageSize(INT32_MAX);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  // gRPC takes the minimum reconnect backoff as the time one connect attempt may last (the
  // handshake up to the server's first SETTINGS frame). Long enough for a TLS handshake on a
  // loaded machine, short enough that a frozen or cut-off member is given up on in a second
  // and the call fails over.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // After a failed connect the channel re-resolves; the resolver's default pause between
  // resolutions would hold a reconnect back for seconds.
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 100);
  // A member that is frozen or cut off (not just killed) is noticed by keepalive pings, so
  // long-lived watch and lease streams move on instead of waiting forever.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  // Each endpoint gets its own channel; without this, channels to one target share a
  // subchannel and a failure of one looks like a failure of all.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(EndpointTarget(endpoint), EndpointCredentials(endpoint, tls),
                                   args);
}

EndpointPool::EndpointPool(std::vector<std::string> endpoints, TlsOptions tls)
    : endpoints_(std::move(endpoints)), tls_(std::move(tls)) {
  std::lock_guard<std::mutex> lock(mu_);
  channels_.resize(endpoints_.size());
}

EndpointPool::Pinned EndpointPool::Current() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!channels_[pinned_]) channels_[pinned_] = NewEndpointChannel(endpoints_[pinned_], tls_);
  return Pinned{pinned_, endpoints_[pinned_], channels_[pinned_]};
}

void EndpointPool::MarkFailed(size_t index) {
  std::lock_guard<std::mutex> lock(mu_);
  if (pinned_ == index) pinned_ = (pinned_ + 1) % endpoints_.size();
}

std::shared_ptr<grpc::Channel> EndpointPool::ChannelFor(const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string target = EndpointTarget(endpoint);
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    if (EndpointTarget(endpoints_[i]) != target) continue;
    if (!channels_[i]) channels_[i] = NewEndpointChannel(endpoints_[i], tls_);
    return channels_[i];
  }
  for (auto& [name, channel] : others_) {
    if (name == target) return channel;
  }
  others_.emplace_back(target, NewEndpointChannel(endpoint, tls_));
  return others_.back().second;
}

bool EndpointPool::WaitConnected(grpc::Channel& channel, std::chrono::milliseconds wait) {
  auto deadline = std::chrono::system_clock::now() + wait;
  while (true) {
    auto state = channel.GetState(/*try_to_connect=*/true);
    if (state == GRPC_CHANNEL_READY) return true;
    // A refused or failed connect shows at once as TRANSIENT_FAILURE: move on now rather than
    // wait out the dial timeout on a member that is down.
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) return false;
    if (!channel.WaitForStateChange(state, deadline)) return false;
  }
}

}  // namespace quorum::client
