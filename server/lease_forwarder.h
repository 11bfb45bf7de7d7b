// Lease requests that only the leader can answer (renewals and time-to-live: expiry times live
// in the leader's memory). A member answers them itself while it leads and otherwise forwards
// them to the leader over the peer URLs, retrying across a leader change until the request's
// deadline. The same object serves the forwarded calls on the peer server. The member owns it;
// gRPC handlers call Renew/TimeToLive from any thread and their callbacks never block.
#ifndef QUORUM_SERVER_LEASE_FORWARDER_H_
#define QUORUM_SERVER_LEASE_FORWARDER_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.pb.h"
#include "internalpb/peer.grpc.pb.h"
#include "server/lessor.h"

namespace quorum::server {

class LeaseForwarder {
 public:
  struct Callbacks {
    // The leader's id as this member knows it (0: none).
    std::function<uint64_t()> leader;
    // A channel to a peer, or null.
    std::function<std::shared_ptr<grpc::Channel>(uint64_t)> channel;
    // Runs `then` once this member has applied every entry committed as of the call (at once
    // if it has), or with an error at `deadline` or when the member stops. A lease another
    // member already answered the grant of is committed no later than the leader's commit
    // index, so once the leader has applied that far, "not found" is the truth.
    std::function<void(absl::Time deadline, absl::AnyInvocable<void(absl::Status)> then)>
        after_applied;
  };
  using RenewDone = absl::AnyInvocable<void(absl::StatusOr<int64_t> ttl)>;
  using TimeToLiveDone =
      absl::AnyInvocable<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)>;

  LeaseForwarder(uint64_t self_id, Lessor* lessor, Callbacks callbacks);
  // Fails what is still pending with "server stopped".
  ~LeaseForwarder();

  // The peer-server side: answers forwarded calls while this member leads.
  grpc::Service* service() { return &service_; }

  // Renews lease `id` on the leader; `done` gets the TTL, NOT_FOUND for an unknown lease, or
  // etcd's no-leader / timeout error at `deadline`.
  void Renew(int64_t id, absl::Time deadline, RenewDone done);
  void TimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& request, absl::Time deadline,
                  TimeToLiveDone done);

 private:
  struct Pending {
    std::variant<int64_t, etcdserverpb::LeaseTimeToLiveRequest> request;
    absl::Time deadline;
    absl::Time not_before;
    std::variant<RenewDone, TimeToLiveDone> done;
  };

  class Service final : public internalpb::LeaseForward::CallbackService {
   public:
    explicit Service(LeaseForwarder* owner) : owner_(owner) {}
    grpc::ServerUnaryReactor* Renew(grpc::CallbackServerContext* context,
                                    const etcdserverpb::LeaseKeepAliveRequest* request,
                                    etcdserverpb::LeaseKeepAliveResponse* response) override;
    grpc::ServerUnaryReactor* TimeToLive(grpc::CallbackServerContext* context,
                                         const etcdserverpb::LeaseTimeToLiveRequest* request,
                                         etcdserverpb::LeaseTimeToLiveResponse* response) override;

   private:
    LeaseForwarder* owner_;
  };

  // Answers as the leader (FAILED_PRECONDITION when not leading). A lease it does not know is
  // looked up again once it has applied what was committed when the question came, since it
  // may only not have applied the grant yet; NOT_FOUND after that is final.
  void AnswerRenew(int64_t id, absl::Time deadline, RenewDone done);
  void AnswerTimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& request, absl::Time deadline,
                        TimeToLiveDone done);
  absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> LookUp(
      const etcdserverpb::LeaseTimeToLiveRequest& request);

  void Enqueue(Pending pending);
  void Run();
  // One attempt: answers, forwards, or puts `pending` back for a retry.
  void Attempt(Pending pending);
  void Retry(Pending pending);
  static void Finish(Pending& pending, absl::Status status);

  const uint64_t self_id_;
  Lessor* const lessor_;
  const Callbacks callbacks_;
  Service service_{this};

  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // forwarded calls not yet answered
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_LEASE_FORWARDER_H_
