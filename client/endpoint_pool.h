// The members a Client may talk to: one gRPC channel per endpoint and the one endpoint calls are
// pinned to now. Client, Watcher and LeaseKeeper move the pin to the next endpoint when the
// pinned member stops answering. Thread-safe.
#ifndef QUORUM_CLIENT_ENDPOINT_POOL_H_
#define QUORUM_CLIENT_ENDPOINT_POOL_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "client/tls_options.h"

namespace quorum::client {

// A channel to one endpoint with reconnect backoff short enough for a restarted member to be
// reachable again within about a second (gRPC's default grows to minutes).
// https:// endpoints (and bare ones when `tls` is configured) use TLS.
std::shared_ptr<grpc::Channel> NewEndpointChannel(const std::string& endpoint,
                                                  const TlsOptions& tls = {});

class EndpointPool {
 public:
  struct Pinned {
    size_t index = 0;
    std::string endpoint;
    std::shared_ptr<grpc::Channel> channel;
  };

  // `endpoints` must not be empty.
  explicit EndpointPool(std::vector<std::string> endpoints, TlsOptions tls = {});

  const std::vector<std::string>& endpoints() const { return endpoints_; }
  size_t size() const { return endpoints_.size(); }

  // The endpoint calls go to now.
  Pinned Current();
  // Reports that the member at `index` failed a call; moves the pin to the next endpoint unless
  // another caller already moved it (so N threads seeing one failure move it once).
  void MarkFailed(size_t index);
  // The channel of one named endpoint (for per-member calls such as Status); it need not be in
  // the list.
  std::shared_ptr<grpc::Channel> ChannelFor(const std::string& endpoint);

  // Waits up to `wait` for the channel to be connected; false at once if its last connect
  // failed (it is then in reconnect backoff). A call made on a channel that never
  // connected was never sent, which is what makes retrying a write safe.
  static bool WaitConnected(grpc::Channel& channel, std::chrono::milliseconds wait);

 private:
  const std::vector<std::string> endpoints_;
  const TlsOptions tls_;
  std::mutex mu_;
  size_t pinned_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::shared_ptr<grpc::Channel>>> others_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quorum::client

#endif  // QUORUM_CLIENT_ENDPOINT_POOL_H_
