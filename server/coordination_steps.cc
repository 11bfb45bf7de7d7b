#include "server/coordination_steps.h"

#include "absl/strings/str_format.h"
#include "proto/etcd_errors.h"
#include "proto/etcd_keys.h"
#include "server/auth_context.h"

namespace quorum::server::coordination {

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

etcdserverpb::RangeRequest EdgeByCreation(const std::string& prefix,
                                          etcdserverpb::RangeRequest::SortOrder order) {
  etcdserverpb::RangeRequest range;
  range.set_key(prefix);
  range.set_range_end(PrefixRangeEnd(prefix));
  range.set_sort_target(etcdserverpb::RangeRequest::CREATE);
  range.set_sort_order(order);
  range.set_limit(1);
  return range;
}

etcdserverpb::RangeRequest OneKey(const std::string& key) {
  etcdserverpb::RangeRequest range;
  range.set_key(key);
  return range;
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

grpc::Status AsClientError(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return ToGrpcStatus(absl::Status(absl::StatusCode::kUnknown, status.message()));
}

absl::Status ContextCanceled() { return absl::CancelledError("context canceled"); }

namespace {

// The steps' own writes: the caller was checked when the call arrived (CheckCaller).
void StampRoot(MemberApi* member, internalpb::InternalRequest* request) {
  Stamp(AuthInfo{kRootUser, member->auth().Current()->revision()}, request);
}

template <typename Response>
ProposalDone Typed(MemberApi* member, Then<Response> then) {
  return [member, then = std::move(then)](ApplyResult result) mutable {
    then(TakeResponse<Response>(*member, std::move(result)));
  };
}

}  // namespace

absl::Status CheckCaller(const grpc::ServerContextBase& context, MemberApi* member,
                         const std::string& key, const std::string& range_end, bool write) {
  absl::StatusOr<AuthInfo> caller = CallerOf(context, member->auth());
  if (!caller.ok()) return caller.status();
  std::shared_ptr<const AuthState> auth = member->auth().Current();
  if (auto s = auth->CheckPermission(*caller, key, range_end, authpb::Permission::READ); !s.ok()) {
    return s;
  }
  if (!write) return absl::OkStatus();
  return auth->CheckPermission(*caller, key, range_end, authpb::Permission::WRITE);
}

absl::Status CheckCallerOnPrefix(const grpc::ServerContextBase& context, MemberApi* member,
                                 const std::string& prefix, bool write) {
  return CheckCaller(context, member, prefix, PrefixRangeEnd(prefix), write);
}

grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(AsClientError(status));
  return reactor;
}

void SessionLease(MemberApi* member, int64_t lease, absl::Time deadline, Then<int64_t> then) {
  if (lease != 0) return then(lease);
  GrantLease(member, kSessionTtl, deadline, std::move(then));
}

void GrantLease(MemberApi* member, int64_t ttl, absl::Time deadline, Then<int64_t> then) {
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(ttl);
  member->LeaseGrant(
      std::move(request), deadline,
      Typed<etcdserverpb::LeaseGrantResponse>(
          member, [then = std::move(then)](
                      absl::StatusOr<etcdserverpb::LeaseGrantResponse> granted) mutable {
            if (!granted.ok()) return then(granted.status());
            then(granted->id());
          }));
}

void ProposeTxn(MemberApi* member, etcdserverpb::TxnRequest txn, absl::Time deadline,
                Then<etcdserverpb::TxnResponse> then) {
  internalpb::InternalRequest internal;
  *internal.mutable_txn() = std::move(txn);
  StampRoot(member, &internal);
  member->Propose(std::move(internal), deadline, Typed(member, std::move(then)));
}

void DeleteKey(MemberApi* member, const std::string& key, absl::Time deadline,
               Then<etcdserverpb::DeleteRangeResponse> then) {
  internalpb::InternalRequest internal;
  internal.mutable_delete_range()->set_key(key);
  StampRoot(member, &internal);
  member->Propose(std::move(internal), deadline, Typed(member, std::move(then)));
}

void LinearRange(MemberApi* member, etcdserverpb::RangeRequest range, absl::Time deadline,
                 Then<etcdserverpb::RangeResponse> then) {
  member->ReadBarrier(deadline, [member, range = std::move(range),
                                 then = std::move(then)](absl::Status ready) mutable {
    if (!ready.ok()) return then(ready);
    then(member->LocalRange(range));
  });
}

DeletesWait::~DeletesWait() {
  // Ended before it goes (its owner cancels it, or it completed); this only guards a watch left
  // behind by a path that forgot to.
  if (watch_ != nullptr) member_->watch_hub()->CancelLocal(watch_);
}

void DeletesWait::Start(Then<etcdserverpb::ResponseHeader> done) {
  {
    absl::MutexLock lock(&mu_);
    if (ended_) return;  // cancelled before it started
    done_ = std::move(done);
  }
  Look();
}

void DeletesWait::Cancel() {
  Then<etcdserverpb::ResponseHeader> done;
  std::shared_ptr<WatchHub::LocalWatch> watch;
  {
    absl::MutexLock lock(&mu_);
    ended_ = true;
    done = std::move(done_);
    watch = std::move(watch_);
  }
  if (watch != nullptr) member_->watch_hub()->CancelLocal(watch);
}

void DeletesWait::Complete(absl::StatusOr<etcdserverpb::ResponseHeader> result) {
  Then<etcdserverpb::ResponseHeader> done;
  std::shared_ptr<WatchHub::LocalWatch> watch;
  {
    absl::MutexLock lock(&mu_);
    if (ended_) return;
    ended_ = true;
    done = std::move(done_);
    watch = std::move(watch_);
  }
  if (watch != nullptr) member_->watch_hub()->CancelLocal(watch);
  done(std::move(result));
}

void DeletesWait::Look() {
  // The newest key created at or before max_create_rev: the one to wait for.
  etcdserverpb::RangeRequest last = EdgeByCreation(prefix_, etcdserverpb::RangeRequest::DESCEND);
  last.set_max_create_revision(max_create_rev_);
  LinearRange(member_, std::move(last), member_->DefaultDeadline(),
              [self = shared_from_this()](absl::StatusOr<etcdserverpb::RangeResponse> found) {
                self->Found(std::move(found));
              });
}

void DeletesWait::Found(absl::StatusOr<etcdserverpb::RangeResponse> found) {
  if (!found.ok()) return Complete(found.status());
  if (found->kvs_size() == 0) return Complete(found->header());
  uint64_t generation = 0;
  {
    absl::MutexLock lock(&mu_);
    if (ended_) return;
    generation = ++generation_;
  }
  etcdserverpb::WatchCreateRequest create;
  create.set_key(found->kvs(0).key());
  create.set_start_revision(found->header().revision());
  std::weak_ptr<DeletesWait> weak = weak_from_this();
  auto watch = member_->watch_hub()->WatchLocal(
      std::move(create), [weak, generation](etcdserverpb::WatchResponse response) {
        std::shared_ptr<DeletesWait> self = weak.lock();
        if (self == nullptr) return false;
        if (response.canceled()) {
          self->Complete(response.compact_revision() > 0
                             ? ErrCompacted()
                             : absl::AbortedError(response.cancel_reason()));
          return false;
        }
        for (const mvccpb::Event& event : response.events()) {
          if (event.type() != mvccpb::Event::DELETE) continue;
          {
            absl::MutexLock lock(&self->mu_);
            if (self->ended_ || self->generation_ != generation) return false;
            self->watch_.reset();  // ends as this returns false
          }
          self->Look();
          return false;
        }
        return true;
      });
  bool stale = false;
  {
    // The handler may have run already, even into the next look: keep this watch only while it
    // is the current one.
    absl::MutexLock lock(&mu_);
    stale = ended_ || generation_ != generation;
    if (!stale) watch_ = watch;
  }
  if (stale) member_->watch_hub()->CancelLocal(watch);
}

}  // namespace quorum::server::coordination
