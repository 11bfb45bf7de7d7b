// quorum-elect's lease: granted once per campaign, kept alive over the LeaseKeepAlive stream by
// a thread of its own, revoked on resignation. The elector owns it and learns of every renewal
// (and of the lease's loss) through the event queue.
#ifndef QUORUM_CLIENT_ELECT_LEASE_KEEPER_H_
#define QUORUM_CLIENT_ELECT_LEASE_KEEPER_H_

#include <cstdint>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/elect/cancellation.h"
#include "client/elect/endpoints.h"
#include "client/elect/events.h"
#include "client/elect/options.h"
#include "client/elect/state_log.h"

namespace quorum::elect {

class LeaseKeeper {
 public:
  // Renews every `retry_period` (times a jitter in [1, kJitterFactor)); each attempt is bounded
  // by `retry_period` so that a member that hangs costs one period, then the next endpoint is
  // tried.
  LeaseKeeper(EndpointPool& endpoints, absl::Duration retry_period, EventQueue& events,
              StateLog& log);
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  struct Grant {
    int64_t lease = 0;
    Renewal renewal;
  };
  // One LeaseGrant attempt on the current endpoint, bounded by `timeout`. A refusal of our user
  // (EndpointPool::Refused) comes back as the server sent it. On a retryable error the next
  // endpoint becomes current for the next attempt; a stale token is dropped and comes back as
  // UNAUTHENTICATED (the next attempt logs in again).
  absl::StatusOr<Grant> GrantOnce(int64_t ttl_seconds, absl::Duration timeout);

  // Starts renewing `lease` in a thread; pushes kRenewed per successful keep-alive, and
  // kLeaseLost (then stops) when the server answers that the lease has expired or is unknown,
  // kRefused (then stops) when the cluster refuses our user (e.g. a new login fails).
  // REQUIRES: not running.
  void Start(int64_t lease);
  // Stops renewing; returns once the renewal thread has ended (an attempt in flight is
  // cancelled).
  void Stop();

  // Revokes `lease` in at most one try per endpoint (moving on from failing members, logging in
  // again after a stale token), each bounded by `timeout`. A lease the server does not know
  // counts as revoked.
  absl::Status Revoke(int64_t lease, absl::Duration timeout);

 private:
  void RenewLoop(int64_t lease);
  // One keep-alive exchange. Returns the TTL the server answered (0: the lease is gone).
  absl::StatusOr<int64_t> RenewOnce(int64_t lease, const EndpointPool::Endpoint& endpoint);

  EndpointPool& endpoints_;
  absl::Duration retry_period_;
  EventQueue& events_;
  StateLog& log_;
  Cancellation cancellation_;
  std::thread thread_;
};

}  // namespace quorum::elect

#endif  // QUORUM_CLIENT_ELECT_LEASE_KEEPER_H_
