// The election as quorum-elect runs it, directly on the etcd v3 KV and Watch APIs with etcd's
// concurrency.Election key layout, so that `etcdctl elect -l NAME` observes our members:
//   - each candidate puts "<name>/<lease id in hex>" under its lease (create if absent, in a
//     Txn comparing the key's create_revision with 0);
//   - the candidate whose key has the lowest create_revision leads; each other one watches the
//     newest key older than its own for deletion, then looks again;
//   - the leader watches its own key: when it goes (deleted, or its lease expired) it has lost.
// One thread per campaign, owned by the elector, which hears the outcome as events.
#ifndef QUORUM_CLIENT_ELECT_CAMPAIGN_H_
#define QUORUM_CLIENT_ELECT_CAMPAIGN_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/elect/cancellation.h"
#include "client/elect/endpoints.h"
#include "client/elect/events.h"
#include "client/elect/state_log.h"

namespace quorum::elect {

struct CampaignSettings {
  std::string election;  // keys go under "<election>/"
  std::string value;     // stored in our key
  // Bounds each unary call (and paces retries).
  absl::Duration call_timeout;
  // Bounds each watch; then the campaign reads the keys again, so that a member that hangs
  // without closing the stream cannot stall the campaign for longer.
  absl::Duration watch_timeout;
};

class Campaign {
 public:
  Campaign(EndpointPool& endpoints, CampaignSettings settings, EventQueue& events, StateLog& log);
  ~Campaign();
  Campaign(const Campaign&) = delete;
  Campaign& operator=(const Campaign&) = delete;

  // The key a candidate holding `lease` campaigns with: "<election>/<lease in lowercase hex>".
  std::string KeyFor(int64_t lease) const;

  // Campaigns with `lease` in a thread: pushes kStandby each time it starts waiting for another
  // key, kElected once no older key is left, then kKeyLost if its key goes away; kLeaseLost if
  // the server no longer knows the lease; kRefused if the cluster refuses our user (no
  // permission on the election's keys, bad credentials). REQUIRES: not running.
  void Start(int64_t lease);
  // Stops the campaign thread (cancelling a call in flight) and joins it. The key stays: it
  // goes with the lease.
  void Stop();
  // Abandons the call in flight, to be made again at once on the current endpoint: called when
  // another thread found the endpoint failing, as a watch on a frozen member would otherwise
  // wait out its whole bound. Any thread.
  void MoveToCurrentEndpoint();

 private:
  struct Predecessor {
    std::optional<std::string> key;  // none: we are the oldest
    int64_t revision = 0;            // the revision the keys were read at
  };
  struct OwnKey {
    bool exists = false;
    int64_t create_revision = 0;
    int64_t revision = 0;  // the revision it was read at
  };

  void Run(int64_t lease);
  // Runs `call` (with the login token) on the current endpoint until it succeeds, fails for
  // good, or the campaign is stopped; moves to the next endpoint after each retryable failure
  // and logs in again when the token is stale. A login runs outside the cancellable call, so
  // Stop() may wait for one (bounded by the call timeout).
  template <typename T>
  absl::StatusOr<T> WithRetries(const std::function<absl::StatusOr<T>(const EndpointPool::Endpoint&,
                                                                      grpc::ClientContext&)>& call);
  absl::StatusOr<int64_t> CreateKey(const EndpointPool::Endpoint& endpoint,
                                    grpc::ClientContext& context, const std::string& key,
                                    int64_t lease);
  absl::StatusOr<Predecessor> FindPredecessor(const EndpointPool::Endpoint& endpoint,
                                              grpc::ClientContext& context, int64_t revision);
  absl::StatusOr<OwnKey> ReadKey(const EndpointPool::Endpoint& endpoint,
                                 grpc::ClientContext& context, const std::string& key);
  // OK once `key` is deleted at or after `revision`; DEADLINE_EXCEEDED when the watch timed
  // out and ABORTED when the server cancelled it (both: read again); other errors as they are.
  absl::StatusOr<bool> WaitDeleted(const EndpointPool::Endpoint& endpoint,
                                   grpc::ClientContext& context, const std::string& key,
                                   int64_t revision);

  EndpointPool& endpoints_;
  CampaignSettings settings_;
  EventQueue& events_;
  StateLog& log_;
  Cancellation cancellation_;
  std::thread thread_;
};

}  // namespace quorum::elect

#endif  // QUORUM_CLIENT_ELECT_CAMPAIGN_H_
