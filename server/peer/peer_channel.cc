#include "server/peer/peer_channel.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace quorum::server {
namespace {

// The channel's own reconnect backoff. The maximum bounds how long a restarted peer waits to
// be dialed again. GRPC_ARG_MIN_RECONNECT_BACKOFF_MS stays at its default: gRPC also uses it as
// the connect timeout, and a short one fails connects on a busy host.
constexpr int kInitialReconnectBackoffMs = 100;
constexpr int kMaxReconnectBackoffMs = 1000;
// A peer that does not answer a ping within kKeepaliveTimeoutMs of it is declared dead, which
// fails its stream so the sender reconnects (and Connected() turns false).
constexpr int kKeepaliveTimeMs = 1000;
constexpr int kKeepaliveTimeoutMs = 1000;
// The server must tolerate pings that often, or it answers with GOAWAY "too_many_pings".
constexpr int kMinPingIntervalMs = 500;

}  // namespace

std::string PeerTarget(const std::string& url) {
  absl::string_view target = url;
  if (!absl::ConsumePrefix(&target, "http://")) absl::ConsumePrefix(&target, "https://");
  absl::ConsumeSuffix(&target, "/");
  return std::string(target);
}

bool IsTlsUrl(const std::string& url) { return absl::StartsWith(url, "https://"); }

std::shared_ptr<grpc::Channel> DialPeer(const std::string& url, const PeerSecurity& security) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kInitialReconnectBackoffMs);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
  // A failed connect makes the channel resolve the target again; the DNS resolver's default
  // pause between resolutions would hold a restarted peer's reconnect back by seconds.
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 100);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Each channel gets its own connection: two transports in one process (tests, tools) must
  // not share a subchannel, or stopping one would disturb the other.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(-1);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (IsTlsUrl(url)) {
    credentials =
        security.channel ? security.channel : grpc::SslCredentials(grpc::SslCredentialsOptions());
  }
  return grpc::CreateCustomChannel(PeerTarget(url), credentials, args);
}

std::shared_ptr<grpc::ServerCredentials> PeerListenerCredentials(const std::string& url,
                                                                 const PeerSecurity& security) {
  if (IsTlsUrl(url) && security.server) return security.server;
  return grpc::InsecureServerCredentials();
}

bool AwaitConnected(grpc::Channel& channel, absl::Time deadline,
                    const std::function<bool()>& stop) {
  constexpr absl::Duration kSlice = absl::Milliseconds(50);
  while (!stop()) {
    absl::Time now = absl::Now();
    if (now >= deadline) return false;
    if (channel.WaitForConnected(absl::ToChronoTime(std::min(deadline, now + kSlice)))) {
      return true;
    }
  }
  return false;
}

void ConfigurePeerServer(grpc::ServerBuilder& builder) {
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 2 * kKeepaliveTimeMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             kMinPingIntervalMs);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.SetMaxReceiveMessageSize(kMaxInboundFrameBytes);
}

}  // namespace quorum::server
