// etcdserverpb.KV over a Member: checks each request as etcd does, reads locally, and proposes
// writes, finishing the call from the apply thread once the write is durable and applied.
// Auth as etcd: reads check the caller's read permission here; writes carry the caller into
// the log and the applier checks them.
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/auth_context.h"
#include "server/reactors.h"
#include "server/request_checks.h"
#include "server/service_factories.h"

namespace quorum::server {
namespace {

bool AllRangesSerializable(const etcdserverpb::TxnRequest& txn) {
  for (const auto* ops : {&txn.success(), &txn.failure()}) {
    for (const auto& op : *ops) {
      if (op.has_request_range() && !op.request_range().serializable()) return false;
    }
  }
  return true;
}

// A read-only txn reads every compared key and every range it holds (etcd's checkTxnAuth).
absl::Status CheckReadTxn(const AuthState& auth, const AuthInfo& caller,
                          const etcdserverpb::TxnRequest& txn) {
  for (const auto& compare : txn.compare()) {
    if (auto s = auth.CheckPermission(caller, compare.key(), compare.range_end(),
                                      authpb::Permission::READ);
        !s.ok()) {
      return s;
    }
  }
  for (const auto* ops : {&txn.success(), &txn.failure()}) {
    for (const auto& op : *ops) {
      if (!op.has_request_range()) continue;
      if (auto s = auth.CheckPermission(caller, op.request_range().key(),
                                        op.request_range().range_end(), authpb::Permission::READ);
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

using etcdserverpb::CompactionRequest;
using etcdserverpb::CompactionResponse;
using etcdserverpb::DeleteRangeRequest;
using etcdserverpb::DeleteRangeResponse;
using etcdserverpb::PutRequest;
using etcdserverpb::PutResponse;
using etcdserverpb::RangeRequest;
using etcdserverpb::RangeResponse;
using etcdserverpb::TxnRequest;
using etcdserverpb::TxnResponse;

class KvService final : public etcdserverpb::KV::CallbackService {
 public:
  explicit KvService(MemberApi* member) : member_(member) {}

  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* context, const RangeRequest* request,
                                  RangeResponse* response) override {
    if (auto s = CheckRangeRequest(*request); !s.ok()) return FinishUnary(context, s);
    return Read(
        context, request->serializable(), response,
        [request](const AuthState& auth, const AuthInfo& caller) {
          return auth.CheckPermission(caller, request->key(), request->range_end(),
                                      authpb::Permission::READ);
        },
        [this, request] { return member_->LocalRange(*request); });
  }

  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* context, const PutRequest* request,
                                PutResponse* response) override {
    if (auto s = CheckPutRequest(*request); !s.ok()) return FinishUnary(context, s);
    internalpb::InternalRequest internal;
    *internal.mutable_put() = *request;
    return Propose(context, std::move(internal), response);
  }

  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* context,
                                        const DeleteRangeRequest* request,
                                        DeleteRangeResponse* response) override {
    if (auto s = CheckDeleteRangeRequest(*request); !s.ok()) return FinishUnary(context, s);
    internalpb::InternalRequest internal;
    *internal.mutable_delete_range() = *request;
    return Propose(context, std::move(internal), response);
  }

  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* context, const TxnRequest* request,
                                TxnResponse* response) override {
    if (auto s = CheckTxnRequest(*request, member_->MaxTxnOps()); !s.ok()) {
      return FinishUnary(context, s);
    }
    if (IsReadOnlyTxn(*request)) {
      // etcd serves a read-only txn without a log entry; linearizable unless every range in it
      // is serializable.
      return Read(
          context, AllRangesSerializable(*request), response,
          [request](const AuthState& auth, const AuthInfo& caller) {
            return CheckReadTxn(auth, caller, *request);
          },
          [this, request] { return member_->LocalReadTxn(*request); });
    }
    internalpb::InternalRequest internal;
    *internal.mutable_txn() = *request;
    return Propose(context, std::move(internal), response);
  }

  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* context,
                                    const CompactionRequest* request,
                                    CompactionResponse* response) override {
    internalpb::InternalRequest internal;
    *internal.mutable_compaction() = *request;
    return Propose(context, std::move(internal), response);
  }

 private:
  // Proposes a write stamped with its caller; the applier checks its permissions.
  template <typename Response>
  grpc::ServerUnaryReactor* Propose(grpc::CallbackServerContext* context,
                                    internalpb::InternalRequest internal, Response* response) {
    absl::StatusOr<AuthInfo> caller = CallerOf(*context, member_->auth());
    if (!caller.ok()) return FinishUnary(context, caller.status());
    Stamp(*caller, &internal);
    return ProposeAndFinish(member_, context, std::move(internal), response);
  }

  // Answers from the local store: at once when serializable, otherwise once everything
  // committed before now is applied here (a linearizable read point). etcd's doSerialize: the
  // caller's permission is checked at the read, which is refused if the auth store changed
  // while it was made.
  template <typename Response, typename Permitted, typename LocalRead>
  grpc::ServerUnaryReactor* Read(grpc::CallbackServerContext* context, bool serializable,
                                 Response* response, Permitted permitted, LocalRead read) {
    absl::StatusOr<AuthInfo> caller = CallerOf(*context, member_->auth());
    if (!caller.ok()) return FinishUnary(context, caller.status());
    auto answer = [this, response, caller = *caller, permitted = std::move(permitted),
                   read = std::move(read)]() -> absl::Status {
      if (auto s = permitted(*member_->auth().Current(), caller); !s.ok()) return s;
      auto result = read();
      if (!result.ok()) return result.status();
      if (auto s = CheckStillCurrent(caller, member_->auth()); !s.ok()) return s;
      response->Swap(&*result);
      return absl::OkStatus();
    };
    if (serializable) return FinishUnary(context, answer());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    member_->ReadBarrier(RequestDeadline(context, *member_),
                         [reactor, answer = std::move(answer)](absl::Status ready) mutable {
                           if (!ready.ok()) return reactor->Finish(ToGrpcStatus(ready));
                           reactor->Finish(ToGrpcStatus(answer()));
                         });
    return reactor;
  }

  MemberApi* member_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewKvService(MemberApi* member) {
  return std::make_unique<KvService>(member);
}

}  // namespace quorum::server
