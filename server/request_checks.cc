#include "server/request_checks.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "proto/etcd_errors.h"
#include "storage/mvcc_store.h"

namespace quorum::server {
namespace {

using etcdserverpb::RequestOp;

// A deleted key interval as etcd's duplicate check sees it: [begin, end) or the single key
// `begin` when end is empty. Like etcd, an end of "\0" is compared as a plain string.
struct Interval {
  std::string begin;
  std::string end;

  bool Contains(const std::string& key) const {
    if (end.empty()) return key == begin;
    return begin <= key && key < end;
  }
};

struct WriteSet {
  absl::flat_hash_set<std::string> puts;
  std::vector<Interval> deletes;

  bool Deleted(const std::string& key) const {
    for (const auto& d : deletes) {
      if (d.Contains(key)) return true;
    }
    return false;
  }
};

absl::Status CheckTxnOps(const etcdserverpb::TxnRequest& request, uint64_t max_txn_ops);

absl::Status CheckRequestOp(const RequestOp& op, uint64_t max_txn_ops) {
  switch (op.request_case()) {
    case RequestOp::kRequestRange:
      return CheckRangeRequest(op.request_range());
    case RequestOp::kRequestPut:
      return CheckPutRequest(op.request_put());
    case RequestOp::kRequestDeleteRange:
      return CheckDeleteRangeRequest(op.request_delete_range());
    case RequestOp::kRequestTxn:
      return CheckTxnOps(op.request_txn(), max_txn_ops);
    default:
      // An empty op (etcd behaviour: answered as "key not found").
      return ErrKeyNotFound();
  }
}

// Collects the keys one branch list may write and fails on a conflict (etcd's checkIntervals).
absl::Status CollectWrites(const google::protobuf::RepeatedPtrField<RequestOp>& ops,
                           WriteSet* out) {
  for (const auto& op : ops) {
    if (op.request_case() != RequestOp::kRequestDeleteRange) continue;
    const auto& del = op.request_delete_range();
    out->deletes.push_back({del.key(), del.range_end()});
  }
  for (const auto& op : ops) {
    if (op.request_case() != RequestOp::kRequestTxn) continue;
    WriteSet then_set, else_set;
    if (auto s = CollectWrites(op.request_txn().success(), &then_set); !s.ok()) return s;
    if (auto s = CollectWrites(op.request_txn().failure(), &else_set); !s.ok()) return s;
    for (const auto& key : then_set.puts) {
      if (out->puts.contains(key) || out->Deleted(key)) return ErrDuplicateKey();
      out->puts.insert(key);
    }
    for (const auto& key : else_set.puts) {
      // Only one branch runs, so the same key in both branches is fine.
      if (out->puts.contains(key) && !then_set.puts.contains(key)) return ErrDuplicateKey();
      if (out->Deleted(key)) return ErrDuplicateKey();
      out->puts.insert(key);
    }
    for (auto& d : then_set.deletes) out->deletes.push_back(std::move(d));
    for (auto& d : else_set.deletes) out->deletes.push_back(std::move(d));
  }
  for (const auto& op : ops) {
    if (op.request_case() != RequestOp::kRequestPut) continue;
    const std::string& key = op.request_put().key();
    if (out->puts.contains(key) || out->Deleted(key)) return ErrDuplicateKey();
    out->puts.insert(key);
  }
  return absl::OkStatus();
}

// etcd's per-level checks: operation counts (nested txns get the budget left at this level)
// and every op's own request check.
absl::Status CheckTxnOps(const etcdserverpb::TxnRequest& request, uint64_t max_txn_ops) {
  uint64_t ops = std::max<uint64_t>({static_cast<uint64_t>(request.compare_size()),
                                     static_cast<uint64_t>(request.success_size()),
                                     static_cast<uint64_t>(request.failure_size())});
  if (ops > max_txn_ops) return ErrTooManyOps();
  for (const auto& cmp : request.compare()) {
    if (cmp.key().empty()) return ErrEmptyKey();
  }
  for (const auto& op : request.success()) {
    if (auto s = CheckRequestOp(op, max_txn_ops - ops); !s.ok()) return s;
  }
  for (const auto& op : request.failure()) {
    if (auto s = CheckRequestOp(op, max_txn_ops - ops); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckRangeRequest(const etcdserverpb::RangeRequest& request) {
  if (request.key().empty()) return ErrEmptyKey();
  return absl::OkStatus();
}

absl::Status CheckPutRequest(const etcdserverpb::PutRequest& request) {
  if (request.key().empty()) return ErrEmptyKey();
  if (request.ignore_value() && !request.value().empty()) return ErrValueProvided();
  if (request.ignore_lease() && request.lease() != 0) return ErrLeaseProvided();
  return absl::OkStatus();
}

absl::Status CheckDeleteRangeRequest(const etcdserverpb::DeleteRangeRequest& request) {
  if (request.key().empty()) return ErrEmptyKey();
  return absl::OkStatus();
}

absl::Status CheckTxnRequest(const etcdserverpb::TxnRequest& request, uint64_t max_txn_ops) {
  if (auto s = CheckTxnOps(request, max_txn_ops); !s.ok()) return s;
  // Checked after the counts so an oversized txn cannot make this walk expensive; it covers
  // the nested txns too, so it runs once, here.
  WriteSet success, failure;
  if (auto s = CollectWrites(request.success(), &success); !s.ok()) return s;
  return CollectWrites(request.failure(), &failure);
}

bool IsReadOnlyTxn(const etcdserverpb::TxnRequest& request) {
  return storage::MvccStore::IsReadOnlyTxn(request);
}

}  // namespace quorum::server
