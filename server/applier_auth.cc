// Applier: auth. etcd checks write permissions when the entry is applied, not only when it is
// proposed, so a write proposed before its user lost a permission is refused on every member
// alike ("permission denied", or "revision of auth store is old" for credentials checked
// before an auth change). Auth changes themselves need root once auth is enabled.
#include "proto/etcd_errors.h"
#include "server/applier.h"

namespace quorum::server {
namespace {

using authpb::Permission;

absl::Status CheckOps(const AuthState& auth, const AuthInfo& info,
                      const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops);

// etcd's checkTxnAuth: every compare reads; each op as on its own; nested txns too.
absl::Status CheckTxn(const AuthState& auth, const AuthInfo& info,
                      const etcdserverpb::TxnRequest& txn) {
  for (const auto& compare : txn.compare()) {
    if (auto s = auth.CheckPermission(info, compare.key(), compare.range_end(), Permission::READ);
        !s.ok()) {
      return s;
    }
  }
  if (auto s = CheckOps(auth, info, txn.success()); !s.ok()) return s;
  return CheckOps(auth, info, txn.failure());
}

absl::Status CheckOps(const AuthState& auth, const AuthInfo& info,
                      const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops) {
  for (const auto& op : ops) {
    absl::Status s;
    if (op.has_request_range()) {
      s = auth.CheckPermission(info, op.request_range().key(), op.request_range().range_end(),
                               Permission::READ);
    } else if (op.has_request_put()) {
      s = auth.CheckPermission(info, op.request_put().key(), "", Permission::WRITE);
    } else if (op.has_request_delete_range()) {
      const auto& del = op.request_delete_range();
      if (del.prev_kv())
        s = auth.CheckPermission(info, del.key(), del.range_end(), Permission::READ);
      if (s.ok()) s = auth.CheckPermission(info, del.key(), del.range_end(), Permission::WRITE);
    } else if (op.has_request_txn()) {
      s = CheckTxn(auth, info, op.request_txn());
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Applier::CheckPermissions(const internalpb::InternalRequest& request) const {
  if (state_.auth == nullptr) return absl::OkStatus();
  std::shared_ptr<const AuthState> auth = state_.auth->Current();
  if (!auth->enabled()) return absl::OkStatus();
  const AuthInfo info{request.auth_user(), request.auth_revision()};
  // etcd's checkLeasePuts: whoever cannot write every key of a lease may neither revoke it nor
  // attach another key to it.
  auto check_lease_keys = [&](int64_t lease) -> absl::Status {
    if (lease == 0 || state_.lessor == nullptr) return absl::OkStatus();
    for (const std::string& key : state_.lessor->Keys(lease)) {
      if (auto s = auth->CheckPermission(info, key, "", Permission::WRITE); !s.ok()) return s;
    }
    return absl::OkStatus();
  };
  switch (request.request_case()) {
    case internalpb::InternalRequest::kPut: {
      const auto& put = request.put();
      if (auto s = auth->CheckPermission(info, put.key(), "", Permission::WRITE); !s.ok()) return s;
      if (auto s = check_lease_keys(put.lease()); !s.ok()) return s;
      if (put.prev_kv()) return auth->CheckPermission(info, put.key(), "", Permission::READ);
      return absl::OkStatus();
    }
    case internalpb::InternalRequest::kDeleteRange: {
      const auto& del = request.delete_range();
      if (auto s = auth->CheckPermission(info, del.key(), del.range_end(), Permission::WRITE);
          !s.ok()) {
        return s;
      }
      if (del.prev_kv()) {
        return auth->CheckPermission(info, del.key(), del.range_end(), Permission::READ);
      }
      return absl::OkStatus();
    }
    case internalpb::InternalRequest::kTxn:
      return CheckTxn(*auth, info, request.txn());
    case internalpb::InternalRequest::kLeaseRevoke:
      return check_lease_keys(request.lease_revoke().id());
    default:
      return absl::OkStatus();
  }
}

ApplyResult Applier::ApplyAuthChange(const internalpb::InternalRequest& request,
                                     const storage::ApplyMeta& meta) {
  ApplyResult result;
  auto refuse = [&](absl::Status status) {
    result.status = std::move(status);
    if (auto s = state_.store->MarkApplied(meta); !s.ok()) result.status = s;
    return std::move(result);
  };
  if (state_.auth == nullptr) return refuse(ErrUnimplemented("auth"));
  const AuthInfo info{request.auth_user(), request.auth_revision()};
  // Authenticate needs no admin: its password was checked by the proposer.
  if (!request.has_authenticate()) {
    if (auto s = state_.auth->Current()->CheckAdmin(info); !s.ok()) return refuse(s);
  }
  AuthState next;
  storage::RecordChanges records;
  auto response = state_.auth->Stage(request, &next, &records);
  if (!response.ok()) return refuse(response.status());
  result.status = state_.store->MarkApplied(meta, records);
  if (!result.status.ok()) return result;
  state_.auth->Commit(std::move(next), request, meta.index, response->get());
  result.response = *std::move(response);
  return result;
}

}  // namespace quorum::server
