// MvccStore Txn: compare evaluation, request checks along the chosen path, and applying the ops
// of the chosen branches as one revision (etcdserver/apply.go Txn, compareToPath,
// applyCompare, checkRequests, applyTxn).
#include <limits>
#include <utility>

#include "proto/etcd_errors.h"
#include "storage/mvcc_store.h"
#include "storage/write_txn.h"

namespace quorum::storage {
namespace {

using etcdserverpb::Compare;
using etcdserverpb::RequestOp;
using etcdserverpb::TxnRequest;

int CompareInt(int64_t a, int64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

// etcd compareKV: a target value of the wrong oneof case compares as zero (or empty).
bool CompareKv(const Compare& c, const mvccpb::KeyValue& kv) {
  int result = 0;
  switch (c.target()) {
    case Compare::VALUE: {
      // Both arms must be views: mixing a string with "" would make a temporary.
      std::string_view want = c.target_union_case() == Compare::kValue ? std::string_view(c.value())
                                                                       : std::string_view();
      int cmp = std::string_view(kv.value()).compare(want);
      result = cmp < 0 ? -1 : (cmp > 0 ? 1 : 0);
      break;
    }
    case Compare::CREATE:
      result =
          CompareInt(kv.create_revision(),
                     c.target_union_case() == Compare::kCreateRevision ? c.create_revision() : 0);
      break;
    case Compare::MOD:
      result = CompareInt(kv.mod_revision(),
                          c.target_union_case() == Compare::kModRevision ? c.mod_revision() : 0);
      break;
    case Compare::VERSION:
      result =
          CompareInt(kv.version(), c.target_union_case() == Compare::kVersion ? c.version() : 0);
      break;
    case Compare::LEASE:
      result = CompareInt(kv.lease(), c.target_union_case() == Compare::kLease ? c.lease() : 0);
      break;
    default:
      break;
  }
  switch (c.result()) {
    case Compare::EQUAL:
      return result == 0;
    case Compare::NOT_EQUAL:
      return result != 0;
    case Compare::GREATER:
      return result > 0;
    case Compare::LESS:
      return result < 0;
    default:
      return true;
  }
}

const google::protobuf::RepeatedPtrField<RequestOp>& Branch(const TxnRequest& req,
                                                            const TxnPath& path) {
  return path.succeeded ? req.success() : req.failure();
}

}  // namespace

bool MvccStore::IsReadOnlyTxn(const TxnRequest& req) {
  for (const auto* ops : {&req.success(), &req.failure()}) {
    for (const RequestOp& op : *ops) {
      if (op.request_case() != RequestOp::kRequestRange) return false;
    }
  }
  return true;
}

absl::StatusOr<bool> MvccStore::CompareHolds(const Compare& c, int64_t at_rev) const {
  const KeyRange range = KeyRange::FromRequest(c.key(), c.range_end());
  std::vector<Hit> hits;
  int64_t count = 0;
  {
    absl::ReaderMutexLock lock(&index_mu_);
    // etcd: a compare whose read fails is false.
    if (at_rev < compact_rev_) return false;
    CollectHits(range, at_rev, nullptr, std::numeric_limits<size_t>::max(), &hits, &count, nullptr);
  }
  if (hits.empty()) {
    // A missing key has no value to compare (nil and empty are the same on the wire), so a
    // value compare fails; other targets compare as 0 (etcd applyCompare).
    if (c.target() == Compare::VALUE) return false;
    return CompareKv(c, mvccpb::KeyValue());
  }
  if (c.target() == Compare::VALUE || c.target() == Compare::LEASE) {
    google::protobuf::RepeatedPtrField<mvccpb::KeyValue> kvs;
    if (absl::Status status = FetchKeyValues(hits, at_rev, &kvs); !status.ok()) {
      if (status == ErrCompacted()) return false;
      return status;
    }
    for (const mvccpb::KeyValue& kv : kvs) {
      if (!CompareKv(c, kv)) return false;
    }
    return true;
  }
  // Revisions and versions are in the index: no need to read the records.
  mvccpb::KeyValue kv;
  for (const Hit& hit : hits) {
    kv.set_create_revision(hit.created);
    kv.set_mod_revision(hit.rev.main);
    kv.set_version(hit.version);
    if (!CompareKv(c, kv)) return false;
  }
  return true;
}

absl::StatusOr<TxnPath> MvccStore::EvaluatePath(const TxnRequest& req, int64_t at_rev) const {
  TxnPath path;
  path.succeeded = true;
  for (const Compare& c : req.compare()) {
    absl::StatusOr<bool> holds = CompareHolds(c, at_rev);
    if (!holds.ok()) return holds.status();
    if (!*holds) {
      path.succeeded = false;
      break;
    }
  }
  // Nested compares see the state before the whole txn, like the outer ones.
  for (const RequestOp& op : Branch(req, path)) {
    if (op.request_case() != RequestOp::kRequestTxn) continue;
    absl::StatusOr<TxnPath> nested = EvaluatePath(op.request_txn(), at_rev);
    if (!nested.ok()) return nested.status();
    path.nested.push_back(std::move(*nested));
  }
  return path;
}

absl::Status MvccStore::CheckPuts(const TxnRequest& req, const TxnPath& path,
                                  int64_t at_rev) const {
  size_t nested = 0;
  for (const RequestOp& op : Branch(req, path)) {
    if (op.request_case() == RequestOp::kRequestTxn) {
      if (absl::Status s = CheckPuts(op.request_txn(), path.nested[nested++], at_rev); !s.ok()) {
        return s;
      }
      continue;
    }
    if (op.request_case() != RequestOp::kRequestPut) continue;
    const etcdserverpb::PutRequest& put = op.request_put();
    if (put.ignore_value() && !put.value().empty()) return ErrValueProvided();
    if (put.ignore_lease() && put.lease() != 0) return ErrLeaseProvided();
    // Against the state before the txn, as etcd checks (checkRequestPut).
    if (put.ignore_value() || put.ignore_lease()) {
      absl::ReaderMutexLock lock(&index_mu_);
      if (!index_.Get(put.key(), at_rev)) return ErrKeyNotFound();
    }
    if (absl::Status s = CheckLease(put.lease()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status MvccStore::CheckRanges(const TxnRequest& req, const TxnPath& path, int64_t rev,
                                    int64_t compacted) const {
  size_t nested = 0;
  for (const RequestOp& op : Branch(req, path)) {
    if (op.request_case() == RequestOp::kRequestTxn) {
      if (absl::Status s = CheckRanges(op.request_txn(), path.nested[nested++], rev, compacted);
          !s.ok()) {
        return s;
      }
      continue;
    }
    if (op.request_case() != RequestOp::kRequestRange) continue;
    // etcd checkRequestRange: note a negative revision counts as compacted here, unlike in a
    // plain Range.
    int64_t want = op.request_range().revision();
    if (want == 0) continue;
    if (want > rev) return ErrFutureRev();
    if (want < compacted) return ErrCompacted();
  }
  return absl::OkStatus();
}

absl::Status MvccStore::ApplyReadOps(const TxnRequest& req, const TxnPath& path, int64_t read_rev,
                                     etcdserverpb::TxnResponse* resp) const {
  resp->set_succeeded(path.succeeded);
  for (const RequestOp& op : Branch(req, path)) {
    etcdserverpb::ResponseOp* out = resp->add_responses();
    if (op.request_case() != RequestOp::kRequestRange) continue;
    absl::StatusOr<etcdserverpb::RangeResponse> range =
        RangeAt(op.request_range(), ReadView{read_rev, nullptr});
    if (!range.ok()) return range.status();
    *out->mutable_response_range() = std::move(*range);
  }
  return absl::OkStatus();
}

absl::Status MvccStore::ApplyWriteOps(const TxnRequest& req, const TxnPath& path, WriteTxn& txn,
                                      etcdserverpb::TxnResponse* resp) {
  resp->set_succeeded(path.succeeded);
  size_t nested = 0;
  for (const RequestOp& op : Branch(req, path)) {
    etcdserverpb::ResponseOp* out = resp->add_responses();
    switch (op.request_case()) {
      case RequestOp::kRequestRange: {
        absl::StatusOr<etcdserverpb::RangeResponse> range =
            RangeAt(op.request_range(), ReadView{txn.ReadRevision(), &txn.pending});
        if (!range.ok()) return range.status();
        *out->mutable_response_range() = std::move(*range);
        break;
      }
      case RequestOp::kRequestPut: {
        absl::StatusOr<etcdserverpb::PutResponse> put = PutInTxn(txn, op.request_put());
        if (!put.ok()) return put.status();
        *out->mutable_response_put() = std::move(*put);
        break;
      }
      case RequestOp::kRequestDeleteRange: {
        absl::StatusOr<etcdserverpb::DeleteRangeResponse> del =
            DeleteInTxn(txn, op.request_delete_range());
        if (!del.ok()) return del.status();
        *out->mutable_response_delete_range() = std::move(*del);
        break;
      }
      case RequestOp::kRequestTxn: {
        // etcd gives a nested txn response an empty header; only the outer one has a revision.
        etcdserverpb::TxnResponse* inner = out->mutable_response_txn();
        inner->mutable_header();
        if (absl::Status s = ApplyWriteOps(op.request_txn(), path.nested[nested++], txn, inner);
            !s.ok()) {
          return s;
        }
        break;
      }
      default:
        break;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<etcdserverpb::TxnResponse> MvccStore::Txn(const TxnRequest& req,
                                                         const ApplyMeta& meta) {
  absl::MutexLock write_lock(&write_mu_);
  int64_t begin_rev = 0, compacted = 0;
  {
    absl::ReaderMutexLock lock(&index_mu_);
    begin_rev = current_rev_;
    compacted = compact_rev_;
  }
  absl::StatusOr<TxnPath> path = EvaluatePath(req, begin_rev);
  if (!path.ok()) return path.status();
  if (!IsReadOnlyTxn(req)) {
    if (absl::Status s = CheckPuts(req, *path, begin_rev); !s.ok()) return s;
  }
  if (absl::Status s = CheckRanges(req, *path, begin_rev, compacted); !s.ok()) return s;

  WriteTxn txn(begin_rev);
  etcdserverpb::TxnResponse resp;
  if (absl::Status s = ApplyWriteOps(req, *path, txn, &resp); !s.ok()) return s;
  resp.mutable_header()->set_revision(txn.ReadRevision());
  if (absl::Status s = Commit(txn, meta); !s.ok()) return s;
  return resp;
}

absl::StatusOr<etcdserverpb::TxnResponse> MvccStore::ReadTxn(const TxnRequest& req) const {
  if (!IsReadOnlyTxn(req)) {
    return absl::InvalidArgumentError("storage: ReadTxn needs a txn whose ops are all ranges");
  }
  int64_t rev = 0, compacted = 0;
  {
    absl::ReaderMutexLock lock(&index_mu_);
    rev = current_rev_;
    compacted = compact_rev_;
  }
  absl::StatusOr<TxnPath> path = EvaluatePath(req, rev);
  if (!path.ok()) return path.status();
  if (absl::Status s = CheckRanges(req, *path, rev, compacted); !s.ok()) return s;
  etcdserverpb::TxnResponse resp;
  if (absl::Status s = ApplyReadOps(req, *path, rev, &resp); !s.ok()) return s;
  resp.mutable_header()->set_revision(rev);
  return resp;
}

}  // namespace quorum::storage
