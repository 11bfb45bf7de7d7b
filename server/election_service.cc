// v3electionpb.Election over a Member, as etcd's server runs concurrency.Election: a candidate
// owns the key "<name>/<lease id in hex>" attached to its lease; candidates are ordered by
// create revision, and each leads once every key created before its own is deleted. Campaign is
// a chain of completions (grant, txn, read, watch, ...), Observe a chain of reads and watches
// feeding the stream; neither holds a thread while it waits. A cancelled Campaign removes the
// key it made; Proclaim, Resign and Leader answer from a single completion.
#include <memory>
#include <utility>

#include "server/coordination_steps.h"
#include "server/election_observer.h"
#include "server/reactors.h"
#include "server/service_factories.h"
#include "v3electionpb/v3election.grpc.pb.h"

namespace quorum::server {
namespace {

using coordination::Then;

// etcd's Election.Proclaim: only while the key still has the creation revision it won with.
void Proclaim(MemberApi* member, const v3electionpb::LeaderKey& leader, const std::string& value,
              Then<etcdserverpb::ResponseHeader> then) {
  etcdserverpb::TxnRequest txn;
  *txn.add_compare() = coordination::CreateRevisionIs(leader.key(), leader.rev());
  coordination::AddPut(txn.mutable_success(), leader.key(), value, leader.lease());
  coordination::ProposeTxn(
      member, std::move(txn), member->DefaultDeadline(),
      [then = std::move(then)](absl::StatusOr<etcdserverpb::TxnResponse> resp) mutable {
        if (!resp.ok()) return then(resp.status());
        if (!resp->succeeded()) return then(ErrElectionNotLeader());
        then(resp->header());
      });
}

// etcd's Election.Resign, under a deadline of its own: when it cleans up after a cancelled
// Campaign the call is over, and the key must go anyway.
void Resign(MemberApi* member, const v3electionpb::LeaderKey& leader,
            Then<etcdserverpb::ResponseHeader> then) {
  etcdserverpb::TxnRequest txn;
  *txn.add_compare() = coordination::CreateRevisionIs(leader.key(), leader.rev());
  txn.add_success()->mutable_request_delete_range()->set_key(leader.key());
  coordination::ProposeTxn(
      member, std::move(txn), member->DefaultDeadline(),
      [then = std::move(then)](absl::StatusOr<etcdserverpb::TxnResponse> resp) mutable {
        if (!resp.ok()) return then(resp.status());
        then(resp->header());
      });
}

void Abandon(MemberApi* member, const v3electionpb::LeaderKey& leader) {
  Resign(member, leader, [](absl::StatusOr<etcdserverpb::ResponseHeader>) {});
}

// An Observe refused before it started (the caller may not read the election's keys).
class RefusedObserve final : public grpc::ServerWriteReactor<v3electionpb::LeaderResponse> {
 public:
  explicit RefusedObserve(const absl::Status& status) {
    Finish(coordination::AsClientError(status));
  }
  void OnDone() override { delete this; }
};

// etcd's Election.Campaign.
class CampaignCall final : public coordination::WaitingCall<v3electionpb::CampaignResponse> {
 public:
  CampaignCall(MemberApi* member, const v3electionpb::CampaignRequest& request, absl::Time deadline)
      : member_(member), request_(request), deadline_(deadline) {}

 private:
  std::shared_ptr<CampaignCall> self() {
    return std::static_pointer_cast<CampaignCall>(shared_from_this());
  }

  void Start() override {
    coordination::SessionLease(member_, request_.lease(), deadline_,
                               [self = self()](absl::StatusOr<int64_t> lease) {
                                 if (!lease.ok()) return (void)self->Answer(lease.status());
                                 self->Propose(*lease);
                               });
  }

  void Propose(int64_t lease) {
    {
      // Cancelled while the lease was granted: nothing made yet (the lease expires by itself).
      absl::MutexLock lock(&mu_);
      if (cancelled_) return;
      leader_.set_name(request_.name());
      leader_.set_key(coordination::OwnKey(request_.name() + "/", lease));
      leader_.set_lease(lease);
    }
    etcdserverpb::TxnRequest txn;
    *txn.add_compare() = coordination::CreateRevisionIs(leader_.key(), 0);
    coordination::AddPut(txn.mutable_success(), leader_.key(), request_.value(), lease);
    coordination::AddRange(txn.mutable_failure(), coordination::OneKey(leader_.key()));
    coordination::ProposeTxn(member_, std::move(txn), deadline_,
                             [self = self()](absl::StatusOr<etcdserverpb::TxnResponse> resp) {
                               self->Placed(std::move(resp));
                             });
  }

  void Placed(absl::StatusOr<etcdserverpb::TxnResponse> resp) {
    if (!resp.ok()) return (void)Answer(resp.status());
    header_ = resp->header();
    leader_.set_rev(resp->header().revision());
    if (!resp->succeeded()) {
      // Already a candidate with this lease: keep the place, update the value.
      const mvccpb::KeyValue& kv = resp->responses(0).response_range().kvs(0);
      leader_.set_rev(kv.create_revision());
      if (kv.value() != request_.value()) {
        return Proclaim(member_, leader_, request_.value(),
                        [self = self()](absl::StatusOr<etcdserverpb::ResponseHeader> header) {
                          if (header.ok()) return self->Wait();
                          Abandon(self->member_, self->leader_);
                          self->Answer(header.status());
                        });
      }
    }
    Wait();
  }

  void Wait() {
    auto wait = std::make_shared<coordination::DeletesWait>(member_, request_.name() + "/",
                                                            leader_.rev() - 1);
    bool cancelled = false;
    {
      absl::MutexLock lock(&mu_);
      cancelled = cancelled_;
      if (!cancelled) wait_ = wait;
    }
    if (cancelled) return Abandon(member_, leader_);
    wait->Start([self = self()](absl::StatusOr<etcdserverpb::ResponseHeader> header) {
      self->Waited(std::move(header));
    });
  }

  void Waited(absl::StatusOr<etcdserverpb::ResponseHeader> waited) {
    {
      // Whoever takes the wait out settles the key: a cancel that came first resigned.
      absl::MutexLock lock(&mu_);
      if (wait_ == nullptr) return;
      wait_.reset();
    }
    // etcd resigns only when the call is cancelled; a lost watch leaves the candidacy in place.
    if (!waited.ok()) return (void)Answer(waited.status());
    v3electionpb::CampaignResponse out;
    *out.mutable_header() = header_;
    *out.mutable_leader() = leader_;
    if (!Answer(std::move(out))) Abandon(member_, leader_);
  }

  void OnCancelled() override {
    std::shared_ptr<coordination::DeletesWait> wait;
    {
      absl::MutexLock lock(&mu_);
      wait = std::move(wait_);
    }
    if (wait == nullptr) return;  // a completion in flight settles the key
    wait->Cancel();
    Abandon(member_, leader_);
  }

  MemberApi* const member_;
  const v3electionpb::CampaignRequest request_;
  const absl::Time deadline_;
  // Set by one completion before the next step starts, read-only once the wait starts.
  v3electionpb::LeaderKey leader_;
  etcdserverpb::ResponseHeader header_;
  std::shared_ptr<coordination::DeletesWait> wait_ ABSL_GUARDED_BY(mu_);
};

class ElectionService final : public v3electionpb::Election::CallbackService {
 public:
  explicit ElectionService(MemberApi* member) : member_(member) {}

  grpc::ServerUnaryReactor* Campaign(grpc::CallbackServerContext* context,
                                     const v3electionpb::CampaignRequest* request,
                                     v3electionpb::CampaignResponse* response) override {
    if (auto s = coordination::CheckCallerOnPrefix(*context, member_, request->name() + "/",
                                                   /*write=*/true);
        !s.ok()) {
      return coordination::Refuse(context, s);
    }
    return CampaignCall::Serve(
        std::make_shared<CampaignCall>(member_, *request, RequestDeadline(context, *member_)),
        response);
  }

  grpc::ServerUnaryReactor* Proclaim(grpc::CallbackServerContext* context,
                                     const v3electionpb::ProclaimRequest* request,
                                     v3electionpb::ProclaimResponse* response) override {
    if (!request->has_leader()) return FinishUnary(context, ErrMissingLeaderKey());
    if (auto s = coordination::CheckCaller(*context, member_, request->leader().key(), "",
                                           /*write=*/true);
        !s.ok()) {
      return coordination::Refuse(context, s);
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    server::Proclaim(member_, request->leader(), request->value(), AnswerHeader(reactor, response));
    return reactor;
  }

  grpc::ServerUnaryReactor* Resign(grpc::CallbackServerContext* context,
                                   const v3electionpb::ResignRequest* request,
                                   v3electionpb::ResignResponse* response) override {
    if (!request->has_leader()) return FinishUnary(context, ErrMissingLeaderKey());
    if (auto s = coordination::CheckCaller(*context, member_, request->leader().key(), "",
                                           /*write=*/true);
        !s.ok()) {
      return coordination::Refuse(context, s);
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    server::Resign(member_, request->leader(), AnswerHeader(reactor, response));
    return reactor;
  }

  grpc::ServerUnaryReactor* Leader(grpc::CallbackServerContext* context,
                                   const v3electionpb::LeaderRequest* request,
                                   v3electionpb::LeaderResponse* response) override {
    if (auto s = coordination::CheckCallerOnPrefix(*context, member_, request->name() + "/",
                                                   /*write=*/false);
        !s.ok()) {
      return coordination::Refuse(context, s);
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    coordination::LinearRange(
        member_,
        coordination::EdgeByCreation(request->name() + "/", etcdserverpb::RangeRequest::ASCEND),
        RequestDeadline(context, *member_),
        [reactor, response](absl::StatusOr<etcdserverpb::RangeResponse> first) {
          if (!first.ok()) return reactor->Finish(coordination::AsClientError(first.status()));
          if (first->kvs_size() == 0) {
            return reactor->Finish(coordination::AsClientError(ErrElectionNoLeader()));
          }
          *response->mutable_header() = first->header();
          *response->mutable_kv() = first->kvs(0);
          reactor->Finish(grpc::Status::OK);
        });
    return reactor;
  }

  grpc::ServerWriteReactor<v3electionpb::LeaderResponse>* Observe(
      grpc::CallbackServerContext* context, const v3electionpb::LeaderRequest* request) override {
    if (auto s = coordination::CheckCallerOnPrefix(*context, member_, request->name() + "/",
                                                   /*write=*/false);
        !s.ok()) {
      return new RefusedObserve(s);
    }
    return NewElectionObserver(member_, request->name());
  }

 private:
  // Finishes a default reactor with the header a step produced.
  template <typename Response>
  static Then<etcdserverpb::ResponseHeader> AnswerHeader(grpc::ServerUnaryReactor* reactor,
                                                         Response* response) {
    return [reactor, response](absl::StatusOr<etcdserverpb::ResponseHeader> header) {
      if (header.ok()) *response->mutable_header() = *header;
      reactor->Finish(coordination::AsClientError(header.status()));
    };
  }

  MemberApi* member_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewElectionService(MemberApi* member) {
  return std::make_unique<ElectionService>(member);
}

}  // namespace quorum::server
