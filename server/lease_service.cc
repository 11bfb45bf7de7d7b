// etcdserverpb.Lease over a Member: grants and revokes go through the log; keep-alives and
// time-to-live are answered by the leader (forwarded there from any member); the lease list is
// this member's applied state.
#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/auth_context.h"
#include "server/reactors.h"
#include "server/service_factories.h"

namespace quorum::server {
namespace {

using etcdserverpb::LeaseGrantRequest;
using etcdserverpb::LeaseGrantResponse;
using etcdserverpb::LeaseKeepAliveRequest;
using etcdserverpb::LeaseKeepAliveResponse;
using etcdserverpb::LeaseLeasesRequest;
using etcdserverpb::LeaseLeasesResponse;
using etcdserverpb::LeaseRevokeRequest;
using etcdserverpb::LeaseRevokeResponse;
using etcdserverpb::LeaseTimeToLiveRequest;
using etcdserverpb::LeaseTimeToLiveResponse;

// One keep-alive stream: each request renews one lease and is answered in order. A renewal in
// flight always completes (the forwarder guarantees it), so Finish is only ever called when
// nothing is pending, which is what lets OnDone delete the reactor.
class KeepAliveStream final
    : public grpc::ServerBidiReactor<LeaseKeepAliveRequest, LeaseKeepAliveResponse> {
 public:
  explicit KeepAliveStream(MemberApi* member) : member_(member) {
    // Released after construction and taken by every answer: the answers run on the lease
    // forwarder's thread, and this orders them after the fields were made, also for
    // ThreadSanitizer, which cannot see the hand-off inside gRPC.
    { absl::MutexLock lock(&mu_); }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);  // the client closed its side
      return;
    }
    const int64_t id = request_.id();
    // etcd takes the header before renewing, so an answer never names a revision later than
    // the renewal it reports.
    etcdserverpb::ResponseHeader header = member_->CurrentHeader();
    member_->LeaseRenew(id, member_->DefaultDeadline(),
                        [this, id, header](absl::StatusOr<int64_t> ttl) {
                          // etcd answers an unknown or expired lease with TTL 0 rather than an
                          // error.
                          if (!ttl.ok() && ttl.status().code() != absl::StatusCode::kNotFound) {
                            Finish(ToGrpcStatus(ttl.status()));
                            return;
                          }
                          {
                            absl::MutexLock lock(&mu_);
                            response_.Clear();
                            *response_.mutable_header() = header;
                            response_.set_id(id);
                            response_.set_ttl(ttl.ok() ? *ttl : 0);
                          }
                          StartWrite(&response_);
                        });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "keep-alive stream closed"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  MemberApi* member_;
  absl::Mutex mu_;
  LeaseKeepAliveRequest request_;
  LeaseKeepAliveResponse response_;
};

class LeaseService final : public etcdserverpb::Lease::CallbackService {
 public:
  explicit LeaseService(MemberApi* member) : member_(member) {}

  grpc::ServerUnaryReactor* LeaseGrant(grpc::CallbackServerContext* context,
                                       const LeaseGrantRequest* request,
                                       LeaseGrantResponse* response) override {
    // etcd grants leases to anyone with valid credentials (no permission is checked).
    if (auto caller = CallerOf(*context, member_->auth()); !caller.ok()) {
      return FinishUnary(context, caller.status());
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    member_->LeaseGrant(*request, RequestDeadline(context, *member_),
                        FinishWhenApplied(member_, reactor, response));
    return reactor;
  }

  grpc::ServerUnaryReactor* LeaseRevoke(grpc::CallbackServerContext* context,
                                        const LeaseRevokeRequest* request,
                                        LeaseRevokeResponse* response) override {
    absl::StatusOr<AuthInfo> caller = CallerOf(*context, member_->auth());
    if (!caller.ok()) return FinishUnary(context, caller.status());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    member_->LeaseRevoke(request->id(), *caller, RequestDeadline(context, *member_),
                         FinishWhenApplied(member_, reactor, response));
    return reactor;
  }

  grpc::ServerUnaryReactor* LeaseTimeToLive(grpc::CallbackServerContext* context,
                                            const LeaseTimeToLiveRequest* request,
                                            LeaseTimeToLiveResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    const int64_t id = request->id();
    member_->LeaseTimeToLive(
        *request, RequestDeadline(context, *member_),
        [this, reactor, response, id](absl::StatusOr<LeaseTimeToLiveResponse> answer) {
          if (answer.ok()) {
            response->Swap(&*answer);
          } else if (answer.status().code() == absl::StatusCode::kNotFound) {
            // etcd answers an unknown lease with TTL -1, not an error.
            response->set_id(id);
            response->set_ttl(-1);
          } else {
            reactor->Finish(ToGrpcStatus(answer.status()));
            return;
          }
          *response->mutable_header() = member_->CurrentHeader();
          reactor->Finish(grpc::Status::OK);
        });
    return reactor;
  }

  grpc::ServerUnaryReactor* LeaseLeases(grpc::CallbackServerContext* context,
                                        const LeaseLeasesRequest*,
                                        LeaseLeasesResponse* response) override {
    for (int64_t id : member_->Leases()) response->add_leases()->set_id(id);
    *response->mutable_header() = member_->CurrentHeader();
    return FinishUnary(context, absl::OkStatus());
  }

  grpc::ServerBidiReactor<LeaseKeepAliveRequest, LeaseKeepAliveResponse>* LeaseKeepAlive(
      grpc::CallbackServerContext*) override {
    return new KeepAliveStream(member_);
  }

 private:
  MemberApi* member_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewLeaseService(MemberApi* member) {
  return std::make_unique<LeaseService>(member);
}

}  // namespace quorum::server
