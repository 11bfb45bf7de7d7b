// quorum::client::Client: the etcd v3 API over a list of member endpoints, for C++ programs and
// quorumctl. Any etcd v3 server answers it (quorumd or etcd 3.4).
//
// Contract:
// - Calls go to one pinned member. When it fails with UNAVAILABLE (killed, connection refused,
//   "etcdserver: no leader", ...) the pin moves to the next endpoint.
// - Reads and other idempotent calls (Range, read-only Txn, Status, MemberList, lease queries,
//   KeepAliveOnce, Campaign/Lock with the caller's lease, ...) are retried on UNAVAILABLE with
//   exponential backoff, on the next member, until the request timeout.
// - Writes (Put, DeleteRange, Txn with writes, Compact, LeaseGrant, member changes) are retried
//   only while no member accepted the connection, so the request was never sent. Once sent, an
//   UNAVAILABLE answer is returned to the caller: the write may or may not have been applied, and
//   repeating it blindly could apply it twice.
// - Errors are absl::Status with etcd's gRPC code and message unchanged
//   (e.g. OUT_OF_RANGE "etcdserver: mvcc: required revision has been compacted").
// - Thread-safe: one Client may be shared by any number of threads.
#ifndef QUORUM_CLIENT_CLIENT_H_
#define QUORUM_CLIENT_CLIENT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/auth_token.h"
#include "client/endpoint_pool.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "proto/etcd_keys.h"
#include "v3electionpb/v3election.grpc.pb.h"
#include "v3lockpb/v3lock.grpc.pb.h"

namespace quorum::client {

class Watcher;
struct WatchOptions;
class LeaseKeeper;

struct ClientOptions {
  // host:port or http://host:port of each member; at least one.
  std::vector<std::string> endpoints;
  // How long one member may take to accept a connection before the next is tried.
  std::chrono::milliseconds dial_timeout{2000};
  // The whole of one call, retries included.
  std::chrono::milliseconds request_timeout{5000};
  // TLS settings, files already loaded (LoadTlsFiles).
  TlsOptions tls;
  // etcd auth: with a user, the client logs in (Authenticate) before its first call and sends
  // the token with every call, as clientv3 does; a server with auth disabled gets no token.
  std::string user;
  std::string password;
};

// The prefix range end etcd uses for `--prefix` ("a/" -> "a0"; all 0xff -> "\0").
using ::quorum::PrefixRangeEnd;

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientOptions& options() const { return options_; }
  // The endpoint calls go to now (changes on failover).
  std::string PinnedEndpoint();

  // --- KV ---
  absl::StatusOr<etcdserverpb::RangeResponse> Range(const etcdserverpb::RangeRequest& request);
  absl::StatusOr<etcdserverpb::RangeResponse> Get(const std::string& key);
  absl::StatusOr<etcdserverpb::PutResponse> Put(const etcdserverpb::PutRequest& request);
  absl::StatusOr<etcdserverpb::PutResponse> Put(const std::string& key, const std::string& value,
                                                int64_t lease = 0);
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> Delete(
      const etcdserverpb::DeleteRangeRequest& request);
  // Retried like a read when every branch only reads.
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(const etcdserverpb::TxnRequest& request);
  absl::StatusOr<etcdserverpb::CompactionResponse> Compact(int64_t revision, bool physical);

  // Streams events of [key, range_end) to `on_response` from a background thread until the
  // returned Watcher is destroyed or the server ends the watch (compaction, cancel). After a
  // member dies the watch is created again on another member from the revision after the last
  // event delivered, so no event is missed or repeated.
  std::unique_ptr<Watcher> Watch(
      const WatchOptions& options,
      std::function<void(const etcdserverpb::WatchResponse&)> on_response);

  // --- Lease ---
  absl::StatusOr<etcdserverpb::LeaseGrantResponse> LeaseGrant(int64_t ttl_seconds, int64_t id = 0);
  absl::StatusOr<etcdserverpb::LeaseRevokeResponse> LeaseRevoke(int64_t id);
  absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> LeaseTimeToLive(int64_t id, bool keys);
  absl::StatusOr<etcdserverpb::LeaseLeasesResponse> LeaseLeases();
  // One renewal; a TTL <= 0 in the answer means the lease is gone.
  absl::StatusOr<etcdserverpb::LeaseKeepAliveResponse> LeaseKeepAliveOnce(int64_t id);
  // Renews lease `id` every TTL/3 from a background thread, across member failures, until the
  // LeaseKeeper is destroyed or the lease expires. `on_response` (optional) sees each renewal.
  std::unique_ptr<LeaseKeeper> KeepAlive(
      int64_t id,
      std::function<void(const etcdserverpb::LeaseKeepAliveResponse&)> on_response = nullptr);

  // --- Cluster ---
  absl::StatusOr<etcdserverpb::MemberListResponse> MemberList();
  absl::StatusOr<etcdserverpb::MemberAddResponse> MemberAdd(const std::vector<std::string>& urls,
                                                            bool learner);
  absl::StatusOr<etcdserverpb::MemberRemoveResponse> MemberRemove(uint64_t id);
  absl::StatusOr<etcdserverpb::MemberUpdateResponse> MemberUpdate(
      uint64_t id, const std::vector<std::string>& urls);
  absl::StatusOr<etcdserverpb::MemberPromoteResponse> MemberPromote(uint64_t id);

  // --- Maintenance: these name the member they ask; it need not be in the endpoint list ---
  absl::StatusOr<etcdserverpb::StatusResponse> Status(const std::string& endpoint);
  absl::StatusOr<etcdserverpb::StatusResponse> Status(const std::string& endpoint,
                                                      std::chrono::milliseconds timeout);
  absl::StatusOr<etcdserverpb::HashKVResponse> HashKV(const std::string& endpoint,
                                                      int64_t revision);
  absl::Status Defragment(const std::string& endpoint);
  // Streams a backup from `endpoint` into `sink`, blob by blob (no overall deadline: a large
  // database takes as long as it takes; a dead member ends the stream with an error).
  absl::Status Snapshot(const std::string& endpoint,
                        const std::function<absl::Status(const std::string& blob)>& sink);
  // Sent to `leader_endpoint`, which must be the leader.
  absl::StatusOr<etcdserverpb::MoveLeaderResponse> MoveLeader(const std::string& leader_endpoint,
                                                              uint64_t target_id);
  absl::StatusOr<etcdserverpb::AlarmResponse> Alarm(const etcdserverpb::AlarmRequest& request);

  // --- Election and Lock (etcd's v3election / v3lock services) ---
  // Blocks until `lease` holds leadership of `name`, or `timeout`. Safe to retry: the server
  // keys the candidate by lease, so a repeated campaign finds its own key.
  absl::StatusOr<v3electionpb::LeaderKey> Campaign(const std::string& name, int64_t lease,
                                                   const std::string& value,
                                                   std::chrono::milliseconds timeout);
  absl::Status Proclaim(const v3electionpb::LeaderKey& leader, const std::string& value);
  absl::StatusOr<v3electionpb::LeaderResponse> Leader(const std::string& name);
  absl::Status Resign(const v3electionpb::LeaderKey& leader);
  // Calls `on_leader` with each new leader of `name` until it returns false or the stream ends.
  absl::Status Observe(const std::string& name,
                       const std::function<bool(const v3electionpb::LeaderResponse&)>& on_leader);
  // Blocks until `lease` holds lock `name` or `timeout`; returns the key that owns the lock.
  absl::StatusOr<std::string> Lock(const std::string& name, int64_t lease,
                                   std::chrono::milliseconds timeout);
  absl::Status Unlock(const std::string& key);

  // --- Auth (etcd's Auth service; user and role changes need root once auth is enabled) ---
  // Logs in now with the options' user (no-op without one); etcd's error when refused.
  absl::Status Login();
  absl::StatusOr<etcdserverpb::AuthEnableResponse> AuthEnable();
  absl::StatusOr<etcdserverpb::AuthDisableResponse> AuthDisable();
  absl::StatusOr<etcdserverpb::AuthUserAddResponse> UserAdd(const std::string& name,
                                                            const std::string& password,
                                                            bool no_password);
  absl::StatusOr<etcdserverpb::AuthUserGetResponse> UserGet(const std::string& name);
  absl::StatusOr<etcdserverpb::AuthUserListResponse> UserList();
  absl::StatusOr<etcdserverpb::AuthUserDeleteResponse> UserDelete(const std::string& name);
  absl::StatusOr<etcdserverpb::AuthUserChangePasswordResponse> UserChangePassword(
      const std::string& name, const std::string& password);
  absl::StatusOr<etcdserverpb::AuthUserGrantRoleResponse> UserGrantRole(const std::string& user,
                                                                        const std::string& role);
  absl::StatusOr<etcdserverpb::AuthUserRevokeRoleResponse> UserRevokeRole(const std::string& user,
                                                                          const std::string& role);
  absl::StatusOr<etcdserverpb::AuthRoleAddResponse> RoleAdd(const std::string& name);
  absl::StatusOr<etcdserverpb::AuthRoleGetResponse> RoleGet(const std::string& name);
  absl::StatusOr<etcdserverpb::AuthRoleListResponse> RoleList();
  absl::StatusOr<etcdserverpb::AuthRoleDeleteResponse> RoleDelete(const std::string& name);
  absl::StatusOr<etcdserverpb::AuthRoleGrantPermissionResponse> RoleGrantPermission(
      const std::string& name, const authpb::Permission& perm);
  absl::StatusOr<etcdserverpb::AuthRoleRevokePermissionResponse> RoleRevokePermission(
      const std::string& name, const std::string& key, const std::string& range_end);

  EndpointPool& pool() { return pool_; }

 private:
  friend class Watcher;
  friend class LeaseKeeper;
  enum class Retry { kIdempotent, kUnsentOnly };
  using Attempt = std::function<grpc::Status(const EndpointPool::Pinned&, grpc::ClientContext*)>;

  // Runs `attempt` on the pinned member under the retry rules above, within `timeout`.
  absl::Status Invoke(Retry retry, std::chrono::milliseconds timeout, const Attempt& attempt);
  absl::Status Invoke(Retry retry, const Attempt& attempt) {
    return Invoke(retry, options_.request_timeout, attempt);
  }

  // Adds the login token to `context` (logging in over `channel` first when none is held).
  absl::Status Authorize(const std::shared_ptr<grpc::Channel>& channel,
                         grpc::ClientContext* context) {
    return auth_.Authorize(channel, context);
  }

  const ClientOptions options_;
  EndpointPool pool_;
  AuthToken auth_;
};

// Backoff before retry number `attempt` (0-based): 25 ms doubling up to 1 s, with jitter.
std::chrono::milliseconds RetryBackoff(int attempt);

}  // namespace quorum::client

#endif  // QUORUM_CLIENT_CLIENT_H_
