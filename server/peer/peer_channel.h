// gRPC settings of the peer protocol, both ends: how a member dials a peer URL (reconnect
// backoff, keepalive) and how its peer server is configured to match (ping policy, frame size).
// Used by the senders and the transport's server; kept together because the two must agree.
#ifndef QUORUM_SERVER_PEER_PEER_CHANNEL_H_
#define QUORUM_SERVER_PEER_PEER_CHANNEL_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "server/peer/tls_credentials.h"

namespace quorum::server {

// Metadata key the server sends once it has accepted a stream's hello, so a sender knows the
// stream is established rather than merely opened.
inline constexpr char kPeerAcceptedKey[] = "quorum-peer-accepted";
// The refusal a removed member's hello gets (etcd's words); the removed member stops on it.
inline constexpr char kPeerRemovedMessage[] =
    "the member has been permanently removed from the cluster";

// Largest frame a peer server accepts. Senders cut batches well below it (kMaxBatchBytes); a
// single Raft message is bounded by raft's own per-message limit.
inline constexpr int kMaxInboundFrameBytes = 256 << 20;
// A batch stops growing at this many bytes, so one slow frame does not hold back heartbeats.
inline constexpr size_t kMaxBatchBytes = 4 << 20;

// "http://host:port", "https://host:port" or "host:port" to a gRPC target.
std::string PeerTarget(const std::string& url);

// True for an https:// peer URL, which is dialed and served with TLS.
bool IsTlsUrl(const std::string& url);

// A channel to `url` that reconnects within about a second of the peer coming back and notices
// a dead peer within a few seconds (keepalive). https:// URLs are dialed with
// `security.channel` (the system roots when it is null), others in plain text.
std::shared_ptr<grpc::Channel> DialPeer(const std::string& url, const PeerSecurity& security);

// The credentials a peer listener on `url` serves with: `security.server` for https://.
std::shared_ptr<grpc::ServerCredentials> PeerListenerCredentials(const std::string& url,
                                                                 const PeerSecurity& security);

// Waits until `channel` is connected or `deadline` passes, checking `stop` every few tens of
// milliseconds so that a stopping transport is not held up. Starts connecting if idle.
bool AwaitConnected(grpc::Channel& channel, absl::Time deadline, const std::function<bool()>& stop);

// Listener settings matching DialPeer: refuses to share a port (SO_REUSEPORT off, so a second
// member on the same port fails to start), admits our keepalive pings, large frames.
void ConfigurePeerServer(grpc::ServerBuilder& builder);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_PEER_PEER_CHANNEL_H_
