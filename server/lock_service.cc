// v3lockpb.Lock over a Member, as etcd's server runs concurrency.Mutex: a locker owns the key
// "<name>/<lease id in hex>" attached to its lease, and holds the lock once every key created
// under the name before its own is deleted. A waiting Lock is a chain of completions (grant,
// txn, read, watch, read, ...), not a thread; a Lock that does not get the lock, cancelled ones
// included, removes the key it made.
#include <memory>
#include <utility>

#include "server/coordination_steps.h"
#include "server/reactors.h"
#include "server/request_checks.h"
#include "server/service_factories.h"
#include "v3lockpb/v3lock.grpc.pb.h"

namespace quorum::server {
namespace {

// etcd's Mutex.Lock.
class LockCall final : public coordination::WaitingCall<v3lockpb::LockResponse> {
 public:
  LockCall(MemberApi* member, const v3lockpb::LockRequest& request, absl::Time deadline)
      : member_(member), request_(request), deadline_(deadline), prefix_(request.name() + "/") {}

 private:
  std::shared_ptr<LockCall> self() {
    return std::static_pointer_cast<LockCall>(shared_from_this());
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
      // Cancelled while the lease was granted: nothing made yet; the lease expires by itself,
      // as etcd's orphaned session does.
      absl::MutexLock lock(&mu_);
      if (cancelled_) return;
      key_ = coordination::OwnKey(prefix_, lease);
    }
    etcdserverpb::TxnRequest txn;
    *txn.add_compare() = coordination::CreateRevisionIs(key_, 0);
    coordination::AddPut(txn.mutable_success(), key_, "", lease);
    coordination::AddRange(txn.mutable_success(), FirstCreated());
    coordination::AddRange(txn.mutable_failure(), coordination::OneKey(key_));
    coordination::AddRange(txn.mutable_failure(), FirstCreated());
    coordination::ProposeTxn(member_, std::move(txn), deadline_,
                             [self = self()](absl::StatusOr<etcdserverpb::TxnResponse> resp) {
                               self->Placed(std::move(resp));
                             });
  }

  void Placed(absl::StatusOr<etcdserverpb::TxnResponse> resp) {
    if (!resp.ok()) return (void)Answer(resp.status());
    int64_t my_rev = resp->header().revision();
    if (!resp->succeeded()) my_rev = resp->responses(0).response_range().kvs(0).create_revision();
    const auto& owner = resp->responses(1).response_range().kvs();
    if (owner.empty() || owner[0].create_revision() == my_rev) {
      v3lockpb::LockResponse out;
      out.set_key(key_);
      *out.mutable_header() = resp->header();
      if (!Answer(std::move(out))) Release();  // cancelled meanwhile: nobody holds it
      return;
    }
    auto wait = std::make_shared<coordination::DeletesWait>(member_, prefix_, my_rev - 1);
    bool cancelled = false;
    {
      absl::MutexLock lock(&mu_);
      cancelled = cancelled_;
      if (!cancelled) wait_ = wait;
    }
    if (cancelled) return Release();
    wait->Start([self = self()](absl::StatusOr<etcdserverpb::ResponseHeader> header) {
      self->Waited(std::move(header));
    });
  }

  void Waited(absl::StatusOr<etcdserverpb::ResponseHeader> header) {
    {
      // Whoever takes the wait out settles the key: a cancel that came first released it.
      absl::MutexLock lock(&mu_);
      if (wait_ == nullptr) return;
      wait_.reset();
    }
    if (!header.ok()) {
      // Not acquired: give the place up so that nobody waits behind an abandoned key.
      Release();
      return (void)Answer(header.status());
    }
    v3lockpb::LockResponse out;
    out.set_key(key_);
    *out.mutable_header() = *header;
    if (!Answer(std::move(out))) Release();
  }

  void OnCancelled() override {
    std::shared_ptr<coordination::DeletesWait> wait;
    {
      absl::MutexLock lock(&mu_);
      wait = std::move(wait_);
    }
    if (wait == nullptr) return;  // a completion in flight settles the key
    wait->Cancel();
    Release();
  }

  // etcd's Mutex.Unlock, under a deadline of its own: the call's may be over, the key must go
  // anyway (etcd uses the client's context for it, not the call's).
  void Release() {
    coordination::DeleteKey(member_, key_, member_->DefaultDeadline(),
                            [](absl::StatusOr<etcdserverpb::DeleteRangeResponse>) {});
  }

  etcdserverpb::RangeRequest FirstCreated() const {
    return coordination::EdgeByCreation(prefix_, etcdserverpb::RangeRequest::ASCEND);
  }

  MemberApi* const member_;
  const v3lockpb::LockRequest request_;
  const absl::Time deadline_;
  const std::string prefix_;
  std::string key_;  // set before the txn is proposed, read-only after
  std::shared_ptr<coordination::DeletesWait> wait_ ABSL_GUARDED_BY(mu_);
};

class LockService final : public v3lockpb::Lock::CallbackService {
 public:
  explicit LockService(MemberApi* member) : member_(member) {}

  grpc::ServerUnaryReactor* Lock(grpc::CallbackServerContext* context,
                                 const v3lockpb::LockRequest* request,
                                 v3lockpb::LockResponse* response) override {
    if (auto s = coordination::CheckCallerOnPrefix(*context, member_, request->name() + "/",
                                                   /*write=*/true);
        !s.ok()) {
      return coordination::Refuse(context, s);
    }
    return LockCall::Serve(
        std::make_shared<LockCall>(member_, *request, RequestDeadline(context, *member_)),
        response);
  }

  grpc::ServerUnaryReactor* Unlock(grpc::CallbackServerContext* context,
                                   const v3lockpb::UnlockRequest* request,
                                   v3lockpb::UnlockResponse* response) override {
    internalpb::InternalRequest internal;
    internal.mutable_delete_range()->set_key(request->key());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (auto s = CheckDeleteRangeRequest(internal.delete_range()); !s.ok()) {
      reactor->Finish(coordination::AsClientError(s));
      return reactor;
    }
    if (auto s = coordination::CheckCaller(*context, member_, request->key(), "", /*write=*/true);
        !s.ok()) {
      reactor->Finish(coordination::AsClientError(s));
      return reactor;
    }
    coordination::DeleteKey(
        member_, request->key(), RequestDeadline(context, *member_),
        [reactor, response](absl::StatusOr<etcdserverpb::DeleteRangeResponse> deleted) {
          if (deleted.ok()) *response->mutable_header() = deleted->header();
          reactor->Finish(coordination::AsClientError(deleted.status()));
        });
    return reactor;
  }

 private:
  MemberApi* member_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewLockService(MemberApi* member) {
  return std::make_unique<LockService>(member);
}

}  // namespace quorum::server
