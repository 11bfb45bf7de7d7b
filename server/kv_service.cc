// etcdserverpb.KV over a Member: checks each request as etcd does, reads locally, and proposes
// writes, finishing the call from the apply thread once the write is durable and applied.
#include "etcdserverpb/rpc.grpc.pb.h"
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
    return Read(context, request->serializable(), response,
                [this, request] { return member_->LocalRange(*request); });
  }

  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* context, const PutRequest* request,
                                PutResponse* response) override {
    if (auto s = CheckPutRequest(*request); !s.ok()) return FinishUnary(context, s);
    internalpb::InternalRequest internal;
    *internal.mutable_put() = *request;
    return ProposeAndFinish(member_, context, std::move(internal), response);
  }

  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* context,
                                        const DeleteRangeRequest* request,
                                        DeleteRangeResponse* response) override {
    if (auto s = CheckDeleteRangeRequest(*request); !s.ok()) return FinishUnary(context, s);
    internalpb::InternalRequest internal;
    *internal.mutable_delete_range() = *request;
    return ProposeAndFinish(member_, context, std::move(internal), response);
  }

  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* context, const TxnRequest* request,
                                TxnResponse* response) override {
    if (auto s = CheckTxnRequest(*request, member_->MaxTxnOps()); !s.ok()) {
      return FinishUnary(context, s);
    }
    if (IsReadOnlyTxn(*request)) {
      // etcd serves a read-only txn without a log entry; linearizable unless every range in it
      // is serializable.
      return Read(context, AllRangesSerializable(*request), response,
                  [this, request] { return member_->LocalReadTxn(*request); });
    }
    internalpb::InternalRequest internal;
    *internal.mutable_txn() = *request;
    return ProposeAndFinish(member_, context, std::move(internal), response);
  }

  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* context,
                                    const CompactionRequest* request,
                                    CompactionResponse* response) override {
    internalpb::InternalRequest internal;
    *internal.mutable_compaction() = *request;
    return ProposeAndFinish(member_, context, std::move(internal), response);
  }

 private:
  // Answers from the local store: at once when serializable, otherwise once everything
  // committed before now is applied here (a linearizable read point).
  template <typename Response, typename LocalRead>
  grpc::ServerUnaryReactor* Read(grpc::CallbackServerContext* context, bool serializable,
                                 Response* response, LocalRead read) {
    if (serializable) {
      auto result = read();
      if (!result.ok()) return FinishUnary(context, result.status());
      response->Swap(&*result);
      return FinishUnary(context, absl::OkStatus());
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    member_->ReadBarrier(RequestDeadline(context, *member_),
                         [reactor, response, read = std::move(read)](absl::Status ready) {
                           if (!ready.ok()) return reactor->Finish(ToGrpcStatus(ready));
                           auto result = read();
                           if (!result.ok()) return reactor->Finish(ToGrpcStatus(result.status()));
                           response->Swap(&*result);
                           reactor->Finish(grpc::Status::OK);
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
