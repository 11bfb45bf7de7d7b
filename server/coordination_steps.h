// The steps of etcd's client-side recipes (concurrency.Election, concurrency.Mutex) run on the
// member's own KV, Lease and Watch paths, for the Election and Lock services; and WaitingCall,
// the shared side of a unary call those services answer from completions. Nothing here blocks:
// each step's completion runs once, on the thread that finished the step (the apply thread, the
// member's timer, the watch hub's thread, or the caller's own when the member refuses at once),
// so a completion must neither block nor assume a thread.
#ifndef QUORUM_SERVER_COORDINATION_STEPS_H_
#define QUORUM_SERVER_COORDINATION_STEPS_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.pb.h"
#include "server/member_api.h"
#include "server/watch_hub.h"

namespace quorum::server::coordination {

// etcd's session default: a campaign or lock without a lease gets one of 60 seconds.
inline constexpr int64_t kSessionTtl = 60;

template <typename T>
using Then = absl::AnyInvocable<void(absl::StatusOr<T>)>;

// The key a candidate or locker owns: "<prefix><lease id in hex>".
std::string OwnKey(const std::string& prefix, int64_t lease);
etcdserverpb::Compare CreateRevisionIs(const std::string& key, int64_t revision);
// The one key under `prefix` created first (ASCEND: etcd's WithFirstCreate) or last (DESCEND:
// WithLastCreate).
etcdserverpb::RangeRequest EdgeByCreation(const std::string& prefix,
                                          etcdserverpb::RangeRequest::SortOrder order);
etcdserverpb::RangeRequest OneKey(const std::string& key);
void AddPut(google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>* ops,
            const std::string& key, const std::string& value, int64_t lease);
void AddRange(google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>* ops,
              etcdserverpb::RangeRequest range);

// etcd runs these services as clients of its own KV API, and the errors that client returns
// reach the caller as plain errors: gRPC code UNKNOWN, the server's message kept. Callers
// branch on the message, so the code is etcd's too.
grpc::Status AsClientError(const absl::Status& status);
// Auth for these services. etcd runs them as clients of its own KV API with the caller's
// credentials; here the caller's permissions on the keys a call touches are checked when the
// call arrives (read on `key`..`range_end`, and write with `write`), and the steps then run
// with the member's own root identity.
absl::Status CheckCaller(const grpc::ServerContextBase& context, MemberApi* member,
                         const std::string& key, const std::string& range_end, bool write);
// The same for every key under `prefix`.
absl::Status CheckCallerOnPrefix(const grpc::ServerContextBase& context, MemberApi* member,
                                 const std::string& prefix, bool write);
// Finishes `context`'s call at once with `status` as a client error.
grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context, const absl::Status& status);

// What a waiting call answers once its client cancelled it.
absl::Status ContextCanceled();

// etcd's session lease: `lease` when the caller gave one (at once), else one of kSessionTtl
// granted through the log.
void SessionLease(MemberApi* member, int64_t lease, absl::Time deadline, Then<int64_t> then);
// Through the log; `then` gets the applied result or etcd's error.
void GrantLease(MemberApi* member, int64_t ttl, absl::Time deadline, Then<int64_t> then);
void ProposeTxn(MemberApi* member, etcdserverpb::TxnRequest txn, absl::Time deadline,
                Then<etcdserverpb::TxnResponse> then);
void DeleteKey(MemberApi* member, const std::string& key, absl::Time deadline,
               Then<etcdserverpb::DeleteRangeResponse> then);
// A linearizable read: a read barrier, then the local store.
void LinearRange(MemberApi* member, etcdserverpb::RangeRequest range, absl::Time deadline,
                 Then<etcdserverpb::RangeResponse> then);

// etcd's waitDeletes: completes once no key under `prefix` with create revision <=
// `max_create_rev` is left, with the header of the read that found none; or with the error of a
// read or a lost watch. Completions hold it strongly (they always come); its watches hold it
// weakly, so its owner keeps it while it waits. Cancel stops it: `done` then never runs.
class DeletesWait : public std::enable_shared_from_this<DeletesWait> {
 public:
  DeletesWait(MemberApi* member, std::string prefix, int64_t max_create_rev)
      : member_(member), prefix_(std::move(prefix)), max_create_rev_(max_create_rev) {}
  ~DeletesWait();
  void Start(Then<etcdserverpb::ResponseHeader> done);
  void Cancel();

 private:
  void Look();
  void Found(absl::StatusOr<etcdserverpb::RangeResponse> found);
  // Runs `done_` once, unless cancelled.
  void Complete(absl::StatusOr<etcdserverpb::ResponseHeader> result);

  MemberApi* const member_;
  const std::string prefix_;
  const int64_t max_create_rev_;
  absl::Mutex mu_;
  Then<etcdserverpb::ResponseHeader> done_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<WatchHub::LocalWatch> watch_ ABSL_GUARDED_BY(mu_);
  // Counts the watches made: only the newest one's handler may move the wait on.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

// The shared side of a unary call answered from completions. gRPC owns the reactor until
// OnDone; completions hold this object, never the reactor, and reach the reactor only through
// Answer, which finishes it once: after that, the call may be gone. A client's cancel answers
// the call at once ("context canceled") and runs OnCancelled, where a subclass stops what it
// waits for and removes what it made; the completions still in flight then find the call
// answered and clean up behind themselves.
template <typename Response>
class WaitingCall : public std::enable_shared_from_this<WaitingCall<Response>> {
 public:
  virtual ~WaitingCall() = default;

  // The reactor gRPC gets for `call`; it keeps `call` alive until the call is done.
  static grpc::ServerUnaryReactor* Serve(std::shared_ptr<WaitingCall> call, Response* response) {
    auto* reactor = new Reactor(call);
    {
      absl::MutexLock lock(&call->mu_);
      call->reactor_ = reactor;
      call->response_ = response;
    }
    call->Start();
    return reactor;
  }

 protected:
  virtual void Start() = 0;
  // Called once when the client cancels a call not yet answered, after it is answered.
  virtual void OnCancelled() {}

  // Answers the call, once; false when it was answered already (or cancelled), in which case
  // the caller undoes what the answer would have handed over.
  bool Answer(absl::StatusOr<Response> result) {
    grpc::ServerUnaryReactor* reactor = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (reactor_ == nullptr) return false;
      reactor = std::exchange(reactor_, nullptr);
      if (result.ok()) response_->Swap(&*result);
    }
    // No lock across Finish: gRPC may run OnDone inline, which frees the reactor.
    reactor->Finish(AsClientError(result.status()));
    return true;
  }

  // Guards the subclass's state as well; never held across a call into the member.
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;

 private:
  class Reactor final : public grpc::ServerUnaryReactor {
   public:
    explicit Reactor(std::shared_ptr<WaitingCall> call) : call_(std::move(call)) {}
    void OnCancel() override { call_->Cancel(); }
    void OnDone() override { delete this; }

   private:
    const std::shared_ptr<WaitingCall> call_;
  };

  void Cancel() {
    grpc::ServerUnaryReactor* reactor = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (reactor_ == nullptr) return;  // answered already: the answer stands
      reactor = std::exchange(reactor_, nullptr);
      cancelled_ = true;
    }
    OnCancelled();
    reactor->Finish(AsClientError(ContextCanceled()));
  }

  grpc::ServerUnaryReactor* reactor_ ABSL_GUARDED_BY(mu_) = nullptr;
  Response* response_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace quorum::server::coordination

#endif  // QUORUM_SERVER_COORDINATION_STEPS_H_
