// MvccStore read path: Range with etcd 3.4's limit, count, sort and filter rules
// (etcdserver/apply.go applierV3backend.Range and mvcc/kvstore_txn.go rangeKeys).
#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "proto/etcd_errors.h"
#include "rocksdb/db.h"
#include "storage/mvcc_store.h"
#include "storage/write_txn.h"

namespace quorum::storage {
namespace {

using etcdserverpb::RangeRequest;
using KvList = google::protobuf::RepeatedPtrField<mvccpb::KeyValue>;

constexpr size_t kUnlimited = std::numeric_limits<size_t>::max();

// Reorders `kvs` by `target`. Stable, so keys that tie stay in key order: Go's sort.Sort that
// etcd uses is an insertion sort (hence stable) for up to 12 elements.
void SortKvs(KvList* kvs, RangeRequest::SortTarget target, bool descend) {
  auto less = [target](const mvccpb::KeyValue* a, const mvccpb::KeyValue* b) {
    switch (target) {
      case RangeRequest::VERSION:
        return a->version() < b->version();
      case RangeRequest::CREATE:
        return a->create_revision() < b->create_revision();
      case RangeRequest::MOD:
        return a->mod_revision() < b->mod_revision();
      case RangeRequest::VALUE:
        return a->value() < b->value();
      default:
        return a->key() < b->key();
    }
  };
  if (descend) {
    std::stable_sort(
        kvs->pointer_begin(), kvs->pointer_end(),
        [&](const mvccpb::KeyValue* a, const mvccpb::KeyValue* b) { return less(b, a); });
  } else {
    std::stable_sort(kvs->pointer_begin(), kvs->pointer_end(), less);
  }
}

// Drops the kvs for which `prune` holds, keeping the order of the rest.
template <typename Pred>
void PruneKvs(KvList* kvs, Pred prune) {
  auto keep_end = std::stable_partition(kvs->pointer_begin(), kvs->pointer_end(),
                                        [&](const mvccpb::KeyValue* kv) { return !prune(*kv); });
  int kept = static_cast<int>(keep_end - kvs->pointer_begin());
  kvs->DeleteSubrange(kept, kvs->size() - kept);
}

}  // namespace

absl::StatusOr<etcdserverpb::RangeResponse> MvccStore::Range(const RangeRequest& req) const {
  ReadView view;
  {
    absl::ReaderMutexLock lock(&index_mu_);
    view.rev = current_rev_;
  }
  return RangeAt(req, view);
}

absl::StatusOr<etcdserverpb::RangeResponse> MvccStore::RangeAt(const RangeRequest& req,
                                                               const ReadView& view) const {
  const KeyRange range = KeyRange::FromRequest(req.key(), req.range_end());
  const bool filtered = req.min_mod_revision() != 0 || req.max_mod_revision() != 0 ||
                        req.min_create_revision() != 0 || req.max_create_revision() != 0;
  // etcd fetches everything when it must sort or filter, else limit+1 to learn `more`.
  const bool sorting = req.sort_order() != RangeRequest::NONE;
  const bool key_descend = sorting && req.sort_order() == RangeRequest::DESCEND &&
                           req.sort_target() == RangeRequest::KEY;
  size_t store_limit = kUnlimited;
  if (!sorting && !filtered && req.limit() > 0) store_limit = static_cast<size_t>(req.limit()) + 1;
  // Sorting by key ascending is the index order: the first limit+1 keys are all that can be
  // returned, whatever follows.
  if (sorting && !filtered && req.limit() > 0 && req.sort_order() == RangeRequest::ASCEND &&
      req.sort_target() == RangeRequest::KEY) {
    store_limit = static_cast<size_t>(req.limit()) + 1;
  }

  const int64_t read_rev = req.revision() <= 0 ? view.rev : req.revision();
  std::vector<Hit> hits;
  int64_t count = 0;
  {
    absl::ReaderMutexLock lock(&index_mu_);
    if (req.revision() > view.rev) return ErrFutureRev();
    if (read_rev < compact_rev_) return ErrCompacted();
    const PendingWrites* pending = read_rev == view.rev ? view.pending : nullptr;
    CollectHits(range, read_rev, pending, req.count_only() ? 0 : store_limit, &hits, &count,
                nullptr);
  }

  etcdserverpb::RangeResponse resp;
  resp.mutable_header()->set_revision(view.rev);
  resp.set_count(count);
  if (req.count_only() || hits.empty()) return resp;

  // Sorting by key descending picks the last limit+1 keys, in reverse: no need to read others.
  if (key_descend && !filtered && req.limit() > 0) {
    size_t want = static_cast<size_t>(req.limit()) + 1;
    if (hits.size() > want) hits.erase(hits.begin(), hits.end() - want);
    std::reverse(hits.begin(), hits.end());
  }

  KvList* kvs = resp.mutable_kvs();
  if (absl::Status status = FetchKeyValues(hits, read_rev, kvs); !status.ok()) return status;

  if (req.max_mod_revision() != 0) {
    PruneKvs(kvs, [&](const mvccpb::KeyValue& kv) {
      return kv.mod_revision() > req.max_mod_revision();
    });
  }
  if (req.min_mod_revision() != 0) {
    PruneKvs(kvs, [&](const mvccpb::KeyValue& kv) {
      return kv.mod_revision() < req.min_mod_revision();
    });
  }
  if (req.max_create_revision() != 0) {
    PruneKvs(kvs, [&](const mvccpb::KeyValue& kv) {
      return kv.create_revision() > req.max_create_revision();
    });
  }
  if (req.min_create_revision() != 0) {
    PruneKvs(kvs, [&](const mvccpb::KeyValue& kv) {
      return kv.create_revision() < req.min_create_revision();
    });
  }

  // etcd: sort_order NONE with a target other than KEY still sorts, ascending; the fetch limit
  // above was decided on the order as given, so such a sort sees only the first limit+1 keys.
  RangeRequest::SortOrder order = req.sort_order();
  if (req.sort_target() != RangeRequest::KEY && order == RangeRequest::NONE) {
    order = RangeRequest::ASCEND;
  }
  const bool already_ordered =
      req.sort_target() == RangeRequest::KEY &&
      (order == RangeRequest::ASCEND || (key_descend && !filtered && req.limit() > 0));
  if (!already_ordered && (order == RangeRequest::ASCEND || order == RangeRequest::DESCEND)) {
    SortKvs(kvs, req.sort_target(), order == RangeRequest::DESCEND);
  }

  if (req.limit() > 0 && kvs->size() > req.limit()) {
    kvs->DeleteSubrange(static_cast<int>(req.limit()), kvs->size() - static_cast<int>(req.limit()));
    resp.set_more(true);
  }
  if (req.keys_only()) {
    for (mvccpb::KeyValue& kv : *kvs) kv.clear_value();
  }
  return resp;
}

MvccStore::Hit MvccStore::CommittedHit(const KeyAt& at, const KeyHistory& history) {
  Hit hit{at.mod, at.created, at.version, nullptr, nullptr};
  if (history.record != nullptr && history.Live() && at.mod == history.Latest()) {
    hit.record = history.record;
  }
  return hit;
}

void MvccStore::CollectHits(const KeyRange& range, int64_t at_rev, const PendingWrites* pending,
                            size_t store_limit, std::vector<Hit>* hits, int64_t* count,
                            std::vector<std::string>* keys) const {
  auto emit = [&](std::string_view key, const Hit& hit) {
    ++*count;
    if (hits->size() < store_limit) {
      hits->push_back(hit);
      if (keys != nullptr) keys->emplace_back(key);
    }
  };
  if (pending == nullptr || pending->latest.empty()) {
    index_.Visit(range, at_rev,
                 [&](std::string_view key, const KeyAt& at, const KeyHistory& history) {
                   emit(key, CommittedHit(at, history));
                   return true;
                 });
    return;
  }

  // Inside a write txn that has written: the committed state (index at the revision before
  // the txn) overlaid with the txn's own changes, merged in key order.
  auto p = range.single ? pending->latest.find(range.key) : pending->latest.lower_bound(range.key);
  auto in_range = [&](auto it) { return it != pending->latest.end() && range.Contains(it->first); };
  auto emit_pending = [&](auto it) {
    const mvccpb::Event& event = pending->events[it->second];
    if (event.type() != mvccpb::Event::PUT) return;
    const mvccpb::KeyValue& kv = event.kv();
    emit(it->first, Hit{Revision{kv.mod_revision(), static_cast<int64_t>(it->second)},
                        kv.create_revision(), kv.version(), &kv, nullptr});
  };
  index_.Visit(range, pending->rev - 1,
               [&](std::string_view key, const KeyAt& at, const KeyHistory& history) {
                 while (in_range(p) && std::string_view(p->first) < key) emit_pending(p++);
                 if (in_range(p) && std::string_view(p->first) == key) {
                   emit_pending(p++);
                 } else {
                   emit(key, CommittedHit(at, history));
                 }
                 return true;
               });
  while (in_range(p)) emit_pending(p++);
}

absl::Status MvccStore::FetchKeyValues(const std::vector<Hit>& hits, int64_t read_rev,
                                       KvList* out) const {
  out->Reserve(static_cast<int>(hits.size()));
  // Committed records are read in one MultiGet; records written by the running txn are copied.
  std::vector<char> key_bytes(hits.size() * kRevisionKeySize);
  std::vector<rocksdb::Slice> keys;
  std::vector<size_t> slots;
  keys.reserve(hits.size());
  slots.reserve(hits.size());
  for (size_t i = 0; i < hits.size(); ++i) {
    mvccpb::KeyValue* kv = out->Add();
    if (hits[i].pending != nullptr) {
      *kv = *hits[i].pending;
      continue;
    }
    if (hits[i].record != nullptr) {
      if (!kv->ParseFromString(*hits[i].record)) {
        return absl::DataLossError(absl::StrCat("storage: cached record at revision ",
                                                hits[i].rev.main, " does not parse"));
      }
      continue;
    }
    char* key = key_bytes.data() + i * kRevisionKeySize;
    EncodeRevisionKey(hits[i].rev, false, key);
    keys.emplace_back(key, kRevisionKeySize);
    slots.push_back(i);
  }
  if (keys.empty()) return absl::OkStatus();

  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  backend_->db()->MultiGet(rocksdb::ReadOptions(), kv_, keys.size(), keys.data(), values.data(),
                           statuses.data());
  for (size_t j = 0; j < keys.size(); ++j) {
    if (statuses[j].IsNotFound()) {
      // The only thing that removes a record a reader was pointed at is a compaction that
      // started after the lookup; the read then answers as if it had come after it.
      if (CompactedRevision() > read_rev) return ErrCompacted();
      return absl::DataLossError(absl::StrCat("storage: kv record at revision ",
                                              hits[slots[j]].rev.main, "/", hits[slots[j]].rev.sub,
                                              " is missing"));
    }
    if (!statuses[j].ok()) return FromRocksStatus(statuses[j], "read kv record");
    if (!(*out)[static_cast<int>(slots[j])].ParseFromArray(values[j].data(),
                                                           static_cast<int>(values[j].size()))) {
      return absl::DataLossError(absl::StrCat("storage: kv record at revision ",
                                              hits[slots[j]].rev.main, " does not parse"));
    }
  }
  return absl::OkStatus();
}

}  // namespace quorum::storage
