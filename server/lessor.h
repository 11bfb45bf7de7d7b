// The lessor: every lease of the cluster, the keys attached to each, and (on the leader only)
// when each expires. Grants and revokes are log entries applied by the apply thread on every
// member; renewals, expiry and time-to-live are the leader's alone, kept in memory. A member
// that becomes leader gives every lease its full TTL again (plus the election timeout), so no
// lease expires because leadership moved (etcd's lessor.Promote); a member that loses
// leadership stops expiring anything.
//
// Threading: every method is thread-safe. The apply thread calls the Apply-side methods (in log
// order), the store's event sink calls OnEvents, gRPC handlers call Renew/Lookup/List, and the
// member's timer calls Expired.
#ifndef QUORUM_SERVER_LESSOR_H_
#define QUORUM_SERVER_LESSOR_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mvccpb/kv.pb.h"
#include "storage/backend.h"
#include "storage/mvcc_store.h"

namespace quorum::server {

// etcd's MaxLeaseTTL: about 285 years, in seconds.
inline constexpr int64_t kMaxLeaseTtl = 9'000'000'000;

class Lessor {
 public:
  struct Options {
    // etcd's minimum TTL: 1.5 election timeouts, rounded up to whole seconds. Shorter grants get
    // it instead, so a lease cannot expire during the election that follows a leader failure.
    int64_t min_ttl_seconds = 2;
    std::function<absl::Time()> now = [] { return absl::Now(); };
  };

  struct TimeToLive {
    int64_t id = 0;
    int64_t ttl = 0;          // seconds left (whole seconds, rounded down, as etcd)
    int64_t granted_ttl = 0;  // the TTL it was granted with (after the minimum rule)
    std::vector<std::string> keys;
  };

  explicit Lessor(Options options);

  // Replaces every lease with what `backend`'s lease family holds and reattaches `keys` (the
  // store's live keys with a lease). Used at open and after a snapshot is installed. Leases
  // loaded on the leader start a fresh TTL.
  absl::Status Load(storage::Backend* backend, const std::vector<storage::LeasedKey>& keys);

  // Apply side. CheckGrant says whether a grant may be applied (etcd's errors otherwise) and
  // with which TTL; Granted records it once the batch holding its record is durable.
  absl::StatusOr<int64_t> CheckGrant(int64_t id, int64_t ttl) const;
  void Granted(int64_t id, int64_t ttl);
  bool Exists(int64_t id) const;
  // The keys attached to `id`, sorted (empty when none or unknown).
  std::vector<std::string> Keys(int64_t id) const;
  void Revoked(int64_t id);
  // Attaches and detaches keys as the store's changes say (PUT with a lease attaches, to that
  // lease only; DELETE detaches).
  void OnEvents(const std::vector<mvccpb::Event>& events);

  // The lease family's record for a lease, and the batch operations that write or remove it.

  // Leader side.
  void Promote(absl::Duration extend);
  void Demote();
  bool primary() const;
  // Renews `id` for a full TTL and returns it. NOT_FOUND for an unknown lease, UNAVAILABLE for
  // an expired one whose revoke is under way; FAILED_PRECONDITION when not the leader.
  absl::StatusOr<int64_t> Renew(int64_t id);
  // NOT_FOUND for an unknown lease. Off the leader, ttl is the granted TTL.
  absl::StatusOr<TimeToLive> Lookup(int64_t id, bool with_keys) const;
  // Every lease id, ascending.
  std::vector<int64_t> List() const;
  // Up to `limit` leases whose time is up and whose revoke is not already under way; each is
  // marked under way for `retry` (after which, still unrevoked, it is offered again).
  std::vector<int64_t> Expired(size_t limit, absl::Duration retry);
  size_t size() const;

 private:
  struct Lease {
    int64_t ttl = 0;
    absl::Time expiry = absl::InfiniteFuture();
    absl::Time revoke_retry = absl::InfinitePast();
    absl::btree_set<std::string> keys;
  };

  void DetachLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  bool primary_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<int64_t, Lease> leases_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> key_lease_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_LESSOR_H_
