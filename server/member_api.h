// What the gRPC services may ask of a member, cut by the part of the API they serve, as etcd's
// server hands its services RaftKV, Lessor and friends rather than the whole server. The
// services hold these interfaces only: they propose through Raft, wait for read points, read
// the local store and report status, and never see the member's storage, Raft loop or threads.
// Completions run on the member's apply or driver threads (or at once, on refusal) and must not
// block. The implementation is Member (member.h).
#ifndef QUORUM_SERVER_MEMBER_API_H_
#define QUORUM_SERVER_MEMBER_API_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.pb.h"
#include "internalpb/internal.pb.h"
#include "server/apply_result.h"
#include "server/auth_store.h"

namespace quorum::server {

class WatchHub;
namespace metrics {
class GrpcServerMetrics;
}  // namespace metrics

// Writes through the log, linearizable read points and local reads (etcd's RaftKV).
class RaftKv {
 public:
  virtual ~RaftKv() = default;

  // Proposes a write. `done` runs exactly once: with the applied result, or with etcd's error
  // (too large, NOSPACE, too many requests, no leader, request timed out at `deadline`).
  virtual void Propose(internalpb::InternalRequest request, absl::Time deadline,
                       ProposalDone done) = 0;
  // Calls `done` with OK once every write committed before this call is applied locally (a
  // linearizable read point), or with etcd's error (no leader, timed out at `deadline`).
  virtual void ReadBarrier(absl::Time deadline, ReadDone done) = 0;

  // Reads the local store at once (serializable; after ReadBarrier, linearizable).
  virtual absl::StatusOr<etcdserverpb::RangeResponse> LocalRange(
      const etcdserverpb::RangeRequest& request) = 0;
  // A txn whose operations are all reads, from the local store.
  virtual absl::StatusOr<etcdserverpb::TxnResponse> LocalReadTxn(
      const etcdserverpb::TxnRequest& request) = 0;

  // Every watcher on this member (Watch, and the Election and Lock waits).
  virtual WatchHub* watch_hub() = 0;

  // Sets cluster_id, member_id and raft_term; the revision comes from the store's answer.
  virtual void FillHeader(etcdserverpb::ResponseHeader* header) const = 0;
  // A header for answers that carry no store result (the current revision).
  virtual etcdserverpb::ResponseHeader CurrentHeader() const = 0;
  // The deadline a request gets when its client set none (etcd: 5 s + 2 election timeouts).
  virtual absl::Time DefaultDeadline() const = 0;
  // etcd's --max-txn-ops.
  virtual int64_t MaxTxnOps() const = 0;
};

// Leases. Grant and revoke go through the log; renewals and time-to-live are answered by the
// leader, forwarded to it from any member.
class LeaseApi {
 public:
  using RenewDone = absl::AnyInvocable<void(absl::StatusOr<int64_t> ttl)>;
  using TimeToLiveDone =
      absl::AnyInvocable<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)>;

  virtual ~LeaseApi() = default;
  // A grant without an id gets one here.
  virtual void LeaseGrant(etcdserverpb::LeaseGrantRequest request, absl::Time deadline,
                          ProposalDone done) = 0;
  // `caller` must be allowed to write every key attached to the lease (checked when applied).
  virtual void LeaseRevoke(int64_t id, const AuthInfo& caller, absl::Time deadline,
                           ProposalDone done) = 0;
  virtual void LeaseRenew(int64_t id, absl::Time deadline, RenewDone done) = 0;
  virtual void LeaseTimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& request,
                               absl::Time deadline, TimeToLiveDone done) = 0;
  virtual std::vector<int64_t> Leases() const = 0;
};

// Membership changes through the log (MemberAdd/Remove/Promote/Update); `done` gets an OK
// result once the change is applied here.
class ClusterApi {
 public:
  virtual ~ClusterApi() = default;
  virtual void AddMember(etcdserverpb::Member member, absl::Time deadline, ProposalDone done) = 0;
  virtual void RemoveMember(uint64_t id, absl::Time deadline, ProposalDone done) = 0;
  virtual void PromoteMember(uint64_t id, absl::Time deadline, ProposalDone done) = 0;
  virtual void UpdateMember(uint64_t id, std::vector<std::string> peer_urls, absl::Time deadline,
                            ProposalDone done) = 0;
  virtual std::vector<etcdserverpb::Member> Members() const = 0;
};

// Maintenance: status, hashes, defragmentation, backups, alarms and leadership transfer.
class MaintenanceApi {
 public:
  virtual ~MaintenanceApi() = default;
  virtual etcdserverpb::StatusResponse Status() const = 0;
  // The alarms raised in the cluster, as this member has applied them.
  virtual std::vector<etcdserverpb::AlarmMember> Alarms() const = 0;
  virtual absl::StatusOr<etcdserverpb::HashKVResponse> HashKV(int64_t revision) const = 0;
  virtual absl::Status Defragment() = 0;
  // Writes a backup of the whole state (Maintenance.Snapshot) to a new file in the data dir and
  // returns its path; the caller removes it when done.
  virtual absl::StatusOr<std::string> WriteBackup() = 0;
  // Runs `task` on the member's background thread (long jobs such as writing a backup), which
  // the member joins before it releases anything a task may use.
  virtual void RunInBackground(absl::AnyInvocable<void() &&> task) = 0;
  // Hands leadership to `target` (MoveLeader). Only the leader may; `done` runs when `target`
  // leads or at the deadline.
  virtual void MoveLeader(uint64_t target, absl::Time deadline,
                          absl::AnyInvocable<void(absl::Status)> done) = 0;
};

// Users, roles, permissions and tokens (etcd's AuthStore); changes go through the log (Propose).
class AuthApi {
 public:
  virtual ~AuthApi() = default;
  virtual AuthStore& auth() = 0;
};

// Everything a member serves: what the service set is built from.
class MemberApi : public RaftKv,
                  public LeaseApi,
                  public ClusterApi,
                  public MaintenanceApi,
                  public AuthApi {
 public:
  // Where the client API's gRPC calls are counted (grpc_server_*_total on /metrics); null when
  // nothing counts them. Must outlive the gRPC server the services are registered on.
  virtual metrics::GrpcServerMetrics* grpc_metrics() { return nullptr; }
};

// The typed response an applied proposal produced (PutResponse, TxnResponse, ...), its header
// filled by `member`; or the proposal's error. A response of another type than the request's is
// a broken invariant of the apply path, not a client error.
template <typename Response>
absl::StatusOr<Response> TakeResponse(const RaftKv& member, ApplyResult result) {
  if (!result.status.ok()) return result.status;
  Response response;
  response.Swap(CheckedResponse<Response>(result.response.get()));
  member.FillHeader(response.mutable_header());
  return response;
}

}  // namespace quorum::server

#endif  // QUORUM_SERVER_MEMBER_API_H_
