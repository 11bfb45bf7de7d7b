// v3electionpb.Election and v3lockpb.Lock over a Member, with etcd's semantics: a candidate or
// locker owns the key "<name>/<lease id in hex>" attached to its lease; candidates are ordered by
// create revision; each waits until every key created before its own is deleted. Calls that
// may wait (Campaign, Lock, Observe) run on threads of their own through LocalKv; a call the
// client cancels stops waiting, and a cancelled Campaign or Lock removes the key it created.
#include <memory>
#include <utility>

#include "absl/strings/str_format.h"
#include "proto/etcd_keys.h"
#include "server/local_kv.h"
#include "server/reactors.h"
#include "server/request_checks.h"
#include "server/service_factories.h"
#include "v3electionpb/v3election.grpc.pb.h"
#include "v3lockpb/v3lock.grpc.pb.h"

namespace quorum::server {
namespace {

// etcd's session default: a campaign or lock without a lease gets one of 60 seconds.
constexpr int64_t kSessionTtl = 60;

std::string OwnKey(const std::string& prefix, int64_t lease) {
  return absl::StrFormat("%s%x", prefix, lease);
}

etcdserverpb::Compare CreateRevisionIs(const std::string& key, int64_t revision) {
  etcdserverpb::Compare compare;
  compare.set_key(key);
  compare.set_target(etcdserverpb::Compare::CREATE);
  compare.set_result(etcdserverpb::Compare::EQUAL);
  compare.set_create_revision(revision);
  return compare;
}

// The oldest key under `prefix` (etcd's WithFirstCreate).
etcdserverpb::RangeRequest FirstCreated(const std::string& prefix) {
  return EdgeByCreation(prefix, etcdserverpb::RangeRequest::ASCEND);
}

void AddPut(google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>* ops,
            const std::string& key, const std::string& value, int64_t lease) {
  etcdserverpb::PutRequest* put = ops->Add()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  put->set_lease(lease);
}

void AddRange(google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>* ops,
              etcdserverpb::RangeRequest range) {
  *ops->Add()->mutable_request_range() = std::move(range);
}

etcdserverpb::RangeRequest OneKey(const std::string& key) {
  etcdserverpb::RangeRequest range;
  range.set_key(key);
  return range;
}

// etcd runs these services as clients of its own KV API, and the errors that client returns
// reach the caller as plain errors: gRPC code UNKNOWN, the server's message kept. Callers
// branch on the message, so the code is etcd's too.
grpc::Status AsClientError(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return ToGrpcStatus(absl::Status(absl::StatusCode::kUnknown, status.message()));
}

// A unary call finished from a call thread.
template <typename Response>
void Answer(grpc::ServerUnaryReactor* reactor, Response* response,
            absl::StatusOr<Response> result) {
  if (result.ok()) response->Swap(&*result);
  reactor->Finish(AsClientError(result.status()));
}

class Candidate {
 public:
  Candidate(MemberApi* member, LocalKv* kv) : member_(member), kv_(kv) {}

  // etcd's Election.Proclaim: only while the key still has the creation revision it won with.
  absl::StatusOr<etcdserverpb::ResponseHeader> Proclaim(const v3electionpb::LeaderKey& leader,
                                                        const std::string& value) {
    etcdserverpb::TxnRequest txn;
    *txn.add_compare() = CreateRevisionIs(leader.key(), leader.rev());
    AddPut(txn.mutable_success(), leader.key(), value, leader.lease());
    auto resp = kv_->Txn(std::move(txn), member_->DefaultDeadline());
    if (!resp.ok()) return resp.status();
    if (!resp->succeeded()) return ErrElectionNotLeader();
    return resp->header();
  }

  absl::StatusOr<etcdserverpb::ResponseHeader> Resign(const v3electionpb::LeaderKey& leader) {
    etcdserverpb::TxnRequest txn;
    *txn.add_compare() = CreateRevisionIs(leader.key(), leader.rev());
    txn.add_success()->mutable_request_delete_range()->set_key(leader.key());
    auto resp = kv_->Txn(std::move(txn), member_->DefaultDeadline());
    if (!resp.ok()) return resp.status();
    return resp->header();
  }

  absl::StatusOr<v3electionpb::CampaignResponse> Campaign(const v3electionpb::CampaignRequest& req,
                                                          absl::Time deadline) {
    int64_t lease = req.lease();
    if (lease == 0) {
      absl::StatusOr<int64_t> granted = kv_->GrantLease(kSessionTtl, deadline);
      if (!granted.ok()) return granted.status();
      lease = *granted;
    }
    const std::string prefix = req.name() + "/";
    v3electionpb::LeaderKey leader;
    leader.set_name(req.name());
    leader.set_key(OwnKey(prefix, lease));
    leader.set_lease(lease);
    etcdserverpb::TxnRequest txn;
    *txn.add_compare() = CreateRevisionIs(leader.key(), 0);
    AddPut(txn.mutable_success(), leader.key(), req.value(), lease);
    AddRange(txn.mutable_failure(), OneKey(leader.key()));
    auto resp = kv_->Txn(std::move(txn), deadline);
    if (!resp.ok()) return resp.status();
    leader.set_rev(resp->header().revision());
    if (!resp->succeeded()) {
      // Already a candidate with this lease: keep the place, update the value.
      const mvccpb::KeyValue& kv = resp->responses(0).response_range().kvs(0);
      leader.set_rev(kv.create_revision());
      if (kv.value() != req.value()) {
        if (auto proclaimed = Proclaim(leader, req.value()); !proclaimed.ok()) {
          (void)Detached().Resign(leader);
          return proclaimed.status();
        }
      }
    }
    if (auto waited = kv_->WaitDeletes(prefix, leader.rev() - 1); !waited.ok()) {
      if (waited.status().code() == absl::StatusCode::kCancelled) (void)Detached().Resign(leader);
      return waited.status();
    }
    v3electionpb::CampaignResponse out;
    *out.mutable_header() = resp->header();
    *out.mutable_leader() = std::move(leader);
    return out;
  }

 private:
  // Cleanup outlives the call: the client may be gone, the key must go anyway (etcd uses the
  // client's own context for it, not the call's).
  Candidate Detached() { return Candidate(member_, &detached_kv_); }

  MemberApi* member_;
  LocalKv* kv_;
  LocalKv detached_kv_{member_, [] { return false; }};
};

// Observe: the current leader, then each change (a proclaimed value, or the next leader once
// the current one's key is deleted), until the client cancels.
class ObserveStream final : public grpc::ServerWriteReactor<v3electionpb::LeaderResponse> {
 public:
  ObserveStream(MemberApi* member, CallThreads* threads, grpc::CallbackServerContext* context,
                std::string name)
      : member_(member), context_(context), name_(std::move(name)) {
    if (!threads->Start([this] { Run(); })) {
      {
        absl::MutexLock lock(&mu_);
        no_thread_ = true;
      }
      Finish(ToGrpcStatus(ErrTooManyRequests()));
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    write_ok_ = ok;
  }
  void OnDone() override {
    bool no_thread = false;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      no_thread = no_thread_;
    }
    // Without a thread of its own nobody else frees it.
    if (no_thread) delete this;
  }

 private:
  bool Send(etcdserverpb::ResponseHeader header, mvccpb::KeyValue kv) {
    {
      absl::MutexLock lock(&mu_);
      response_.Clear();
      *response_.mutable_header() = std::move(header);
      *response_.mutable_kv() = std::move(kv);
      writing_ = true;
    }
    StartWrite(&response_);
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](bool* writing) { return !*writing; }, &writing_));
    return write_ok_;
  }

  absl::Status Observe() {
    LocalKv kv(member_, [this] { return context_->IsCancelled(); });
    const std::string prefix = name_ + "/";
    while (true) {
      auto first = kv.Range(FirstCreated(prefix), member_->DefaultDeadline());
      if (!first.ok()) return first.status();
      etcdserverpb::ResponseHeader header;
      mvccpb::KeyValue leader;
      if (first->kvs_size() == 0) {
        auto put =
            kv.WaitFor(prefix, PrefixRangeEnd(prefix), first->header().revision(),
                       [](const mvccpb::Event& e) { return e.type() == mvccpb::Event::PUT; });
        if (!put.ok()) return put.status();
        header = put->header;
        leader = put->event.kv();
        header.set_revision(leader.mod_revision());
      } else {
        header = first->header();
        leader = first->kvs(0);
      }
      if (!Send(header, leader)) return absl::CancelledError("observer went away");
      int64_t next = header.revision() + 1;
      while (true) {
        auto change = kv.WaitFor(leader.key(), "", next, [](const mvccpb::Event&) { return true; });
        if (!change.ok()) return change.status();
        if (change->event.type() == mvccpb::Event::DELETE) break;
        next = change->event.kv().mod_revision() + 1;
        if (!Send(change->header, change->event.kv())) {
          return absl::CancelledError("observer went away");
        }
      }
    }
  }

  void Run() {
    absl::Status status = Observe();
    // etcd ends Observe without an error when its observer stops (a failed read, a lost watch);
    // only a cancelled call reports the cancellation.
    if (!context_->IsCancelled()) status = absl::OkStatus();
    // Reactions may run inline, so no lock is held across Finish or StartWrite.
    Finish(AsClientError(status));
    {
      // The reactor belongs to gRPC until OnDone; only then may this thread free it.
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&done_));
    }
    delete this;
  }

  MemberApi* member_;
  grpc::CallbackServerContext* context_;
  const std::string name_;
  absl::Mutex mu_;
  v3electionpb::LeaderResponse response_;  // written only while no write is in flight
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_ok_ ABSL_GUARDED_BY(mu_) = true;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool no_thread_ ABSL_GUARDED_BY(mu_) = false;
};

// Runs a waiting call on its own thread, or refuses it when too many are waiting already.
void RunOrRefuse(CallThreads& threads, grpc::ServerUnaryReactor* reactor,
                 std::function<void()> call) {
  if (!threads.Start(std::move(call))) reactor->Finish(ToGrpcStatus(ErrTooManyRequests()));
}

class ElectionService final : public v3electionpb::Election::CallbackService {
 public:
  explicit ElectionService(MemberApi* member) : member_(member) {}

  grpc::ServerUnaryReactor* Campaign(grpc::CallbackServerContext* context,
                                     const v3electionpb::CampaignRequest* request,
                                     v3electionpb::CampaignResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    RunOrRefuse(threads_, reactor, [this, context, request, response, reactor] {
      LocalKv kv(member_, [context] { return context->IsCancelled(); });
      Candidate candidate(member_, &kv);
      Answer(reactor, response, candidate.Campaign(*request, RequestDeadline(context, *member_)));
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* Proclaim(grpc::CallbackServerContext* context,
                                     const v3electionpb::ProclaimRequest* request,
                                     v3electionpb::ProclaimResponse* response) override {
    if (!request->has_leader()) return FinishUnary(context, ErrMissingLeaderKey());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    RunOrRefuse(threads_, reactor, [this, context, request, response, reactor] {
      LocalKv kv(member_, [context] { return context->IsCancelled(); });
      auto header = Candidate(member_, &kv).Proclaim(request->leader(), request->value());
      if (header.ok()) *response->mutable_header() = *header;
      reactor->Finish(AsClientError(header.status()));
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* Resign(grpc::CallbackServerContext* context,
                                   const v3electionpb::ResignRequest* request,
                                   v3electionpb::ResignResponse* response) override {
    if (!request->has_leader()) return FinishUnary(context, ErrMissingLeaderKey());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    RunOrRefuse(threads_, reactor, [this, context, request, response, reactor] {
      LocalKv kv(member_, [context] { return context->IsCancelled(); });
      auto header = Candidate(member_, &kv).Resign(request->leader());
      if (header.ok()) *response->mutable_header() = *header;
      reactor->Finish(AsClientError(header.status()));
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* Leader(grpc::CallbackServerContext* context,
                                   const v3electionpb::LeaderRequest* request,
                                   v3electionpb::LeaderResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    RunOrRefuse(threads_, reactor, [this, context, request, response, reactor] {
      LocalKv kv(member_, [context] { return context->IsCancelled(); });
      auto first =
          kv.Range(FirstCreated(request->name() + "/"), RequestDeadline(context, *member_));
      if (!first.ok()) return reactor->Finish(AsClientError(first.status()));
      if (first->kvs_size() == 0) return reactor->Finish(AsClientError(ErrElectionNoLeader()));
      *response->mutable_header() = first->header();
      *response->mutable_kv() = first->kvs(0);
      reactor->Finish(grpc::Status::OK);
    });
    return reactor;
  }

  grpc::ServerWriteReactor<v3electionpb::LeaderResponse>* Observe(
      grpc::CallbackServerContext* context, const v3electionpb::LeaderRequest* request) override {
    return new ObserveStream(member_, &threads_, context, request->name());
  }

 private:
  MemberApi* member_;
  CallThreads threads_;  // last: joined before the rest goes
};

class LockService final : public v3lockpb::Lock::CallbackService {
 public:
  explicit LockService(MemberApi* member) : member_(member) {}

  grpc::ServerUnaryReactor* Lock(grpc::CallbackServerContext* context,
                                 const v3lockpb::LockRequest* request,
                                 v3lockpb::LockResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    RunOrRefuse(threads_, reactor, [this, context, request, response, reactor] {
      LocalKv kv(member_, [context] { return context->IsCancelled(); });
      Answer(reactor, response, Acquire(kv, *request, RequestDeadline(context, *member_)));
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* Unlock(grpc::CallbackServerContext* context,
                                   const v3lockpb::UnlockRequest* request,
                                   v3lockpb::UnlockResponse* response) override {
    internalpb::InternalRequest internal;
    internal.mutable_delete_range()->set_key(request->key());
    if (auto s = CheckDeleteRangeRequest(internal.delete_range()); !s.ok()) {
      grpc::ServerUnaryReactor* refused = context->DefaultReactor();
      refused->Finish(AsClientError(s));
      return refused;
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    member_->Propose(std::move(internal), RequestDeadline(context, *member_),
                     [this, reactor, response](ApplyResult result) {
                       auto deleted = TakeResponse<etcdserverpb::DeleteRangeResponse>(
                           *member_, std::move(result));
                       if (deleted.ok()) *response->mutable_header() = deleted->header();
                       reactor->Finish(AsClientError(deleted.status()));
                     });
    return reactor;
  }

 private:
  // etcd's Mutex.Lock.
  absl::StatusOr<v3lockpb::LockResponse> Acquire(LocalKv& kv, const v3lockpb::LockRequest& req,
                                                 absl::Time deadline) {
    int64_t lease = req.lease();
    if (lease == 0) {
      absl::StatusOr<int64_t> granted = kv.GrantLease(kSessionTtl, deadline);
      if (!granted.ok()) return granted.status();
      lease = *granted;
    }
    const std::string prefix = req.name() + "/";
    const std::string key = OwnKey(prefix, lease);
    etcdserverpb::TxnRequest txn;
    *txn.add_compare() = CreateRevisionIs(key, 0);
    AddPut(txn.mutable_success(), key, "", lease);
    AddRange(txn.mutable_success(), FirstCreated(prefix));
    AddRange(txn.mutable_failure(), OneKey(key));
    AddRange(txn.mutable_failure(), FirstCreated(prefix));
    auto resp = kv.Txn(std::move(txn), deadline);
    if (!resp.ok()) return resp.status();
    int64_t my_rev = resp->header().revision();
    if (!resp->succeeded()) my_rev = resp->responses(0).response_range().kvs(0).create_revision();
    v3lockpb::LockResponse out;
    out.set_key(key);
    const auto& owner = resp->responses(1).response_range().kvs();
    if (owner.empty() || owner[0].create_revision() == my_rev) {
      *out.mutable_header() = resp->header();
      return out;
    }
    auto waited = kv.WaitDeletes(prefix, my_rev - 1);
    if (!waited.ok()) {
      // Not acquired: give the place up so that nobody waits behind an abandoned key.
      // With a context of its own: the caller's may be cancelled, the key must go anyway.
      (void)LocalKv(member_, [] { return false; }).Delete(key, member_->DefaultDeadline());
      return waited.status();
    }
    *out.mutable_header() = *waited;
    return out;
  }

  MemberApi* member_;
  CallThreads threads_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewElectionService(MemberApi* member) {
  return std::make_unique<ElectionService>(member);
}

std::unique_ptr<grpc::Service> NewLockService(MemberApi* member) {
  return std::make_unique<LockService>(member);
}

}  // namespace quorum::server
