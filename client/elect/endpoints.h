// The cluster's endpoints as quorum-elect uses them: one gRPC channel per endpoint, a current
// one that every call goes to until it fails with an error that means "try another member", and
// the login whose token every call carries. Shared by the lease keeper and the campaign threads;
// thread-safe.
#ifndef QUORUM_CLIENT_ELECT_ENDPOINTS_H_
#define QUORUM_CLIENT_ELECT_ENDPOINTS_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/auth_token.h"
#include "client/endpoint_pool.h"
#include "client/kv_client.h"

namespace quorum::elect {

class EndpointPool {
 public:
  // `tls` (files loaded) secures every endpoint's channel when configured. With a `user`,
  // every call carries the token of its login, and each login takes at most `login_timeout`.
  explicit EndpointPool(std::vector<std::string> endpoints, const client::TlsOptions& tls = {},
                        std::string user = "", std::string password = "",
                        absl::Duration login_timeout = absl::Seconds(5));

  struct Endpoint {
    size_t index;
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
  };
  // The endpoint calls should go to now.
  Endpoint Current();
  // Adds the login token to `context` (nothing without a user), first logging in over
  // `endpoint` when no token is held. Errors are the login's, judged like a call's.
  absl::Status Authorize(const Endpoint& endpoint, grpc::ClientContext* context);
  // Reports that a call to endpoint `index` failed with `status`. If the failure means the
  // member cannot serve (down, cut off, no leader, too slow), the next endpoint becomes
  // current, unless another caller has moved on already. Returns true if it did rotate. A
  // token the cluster no longer takes is dropped instead: the next call logs in again.
  bool Failed(size_t index, const absl::Status& status);
  // True when `status` says the cluster no longer takes our token (it expired, or the member
  // restarted): Failed() drops it and the call, made again, logs in again.
  bool StaleToken(const absl::Status& status) const { return auth_.NeedsNewLogin(status); }
  // True when the call that failed with `status` may succeed if made again (after Failed()):
  // IsRetryable, or a stale token.
  bool MayPassLater(const absl::Status& status) const;
  // True when `status` says the cluster refuses this user and no retry can change it: no
  // permission on the keys ("etcdserver: permission denied"), a wrong name or password, or auth
  // enabled on the cluster and no user given. quorum-elect reports these and exits.
  bool Refused(const absl::Status& status) const;
  size_t size() const { return addresses_.size(); }
  // Called (outside the pool's lock, on the thread that reported the failure) after each
  // switch to another endpoint, so that long calls still bound to the old one can move too.
  // REQUIRES: set before any other thread uses the pool.
  void OnSwitch(std::function<void()> listener) { on_switch_ = std::move(listener); }

 private:
  std::mutex mu_;
  std::vector<std::string> addresses_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  size_t current_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> on_switch_;
  client::AuthToken auth_;
};

// True for the errors after which a call may succeed on another member or later: the member is
// unreachable or has no leader (UNAVAILABLE), or it did not answer in time.
bool IsRetryable(const absl::Status& status);

// A gRPC status as the absl::Status the rest of quorum uses (the codes are the same).
using client::FromGrpc;

// The point `timeout` from now, as a gRPC ClientContext's deadline.
std::chrono::system_clock::time_point DeadlineAfter(absl::Duration timeout);

}  // namespace quorum::elect

#endif  // QUORUM_CLIENT_ELECT_ENDPOINTS_H_
