// MvccStore write path: Put and DeleteRange, alone or as ops of a txn
// (etcdserver/apply.go Put/DeleteRange and mvcc/kvstore_txn.go put/delete).
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/etcd_errors.h"
#include "rocksdb/db.h"
#include "storage/mvcc_store.h"
#include "storage/write_txn.h"

namespace quorum::storage {
absl::Status MvccStore::CheckLease(int64_t lease) const {
  if (lease != 0 && lease_exists_ && !lease_exists_(lease)) return ErrLeaseNotFound();
  return absl::OkStatus();
}

absl::StatusOr<std::optional<mvccpb::KeyValue>> MvccStore::LatestInTxn(const WriteTxn& txn,
                                                                       std::string_view key) const {
  if (auto it = txn.pending.latest.find(key); it != txn.pending.latest.end()) {
    const mvccpb::Event& event = txn.pending.events[it->second];
    if (event.type() != mvccpb::Event::PUT) return std::optional<mvccpb::KeyValue>();
    return std::optional<mvccpb::KeyValue>(event.kv());
  }
  std::optional<KeyAt> at;
  std::shared_ptr<const std::string> record;
  {
    absl::ReaderMutexLock lock(&index_mu_);
    // The writer holds write_mu_, so the live history is the latest state.
    if (const KeyHistory* history = index_.FindLive(key)) {
      at = KeyAt{history->Latest(), 0, 0};
      record = history->record;
    }
  }
  if (!at) return std::optional<mvccpb::KeyValue>();
  std::optional<mvccpb::KeyValue> kv(std::in_place);
  rocksdb::PinnableSlice value;
  if (record != nullptr) {
    value.PinSelf(*record);
  } else {
    char rev_key[kTombstoneKeySize];
    size_t n = EncodeRevisionKey(at->mod, false, rev_key);
    rocksdb::Status s =
        backend_->db()->Get(rocksdb::ReadOptions(), kv_, rocksdb::Slice(rev_key, n), &value);
    if (!s.ok()) return FromRocksStatus(s, absl::StrCat("read kv record at ", at->mod.main));
  }
  if (!kv->ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(
        absl::StrCat("storage: kv record at revision ", at->mod.main, " does not parse"));
  }
  return kv;
}

absl::StatusOr<etcdserverpb::PutResponse> MvccStore::PutInTxn(WriteTxn& txn,
                                                              const etcdserverpb::PutRequest& req) {
  const int64_t rev = txn.begin_rev + 1;
  const int64_t sub = static_cast<int64_t>(txn.pending.events.size());
  etcdserverpb::PutResponse resp;

  std::optional<mvccpb::KeyValue> prev;
  bool have_prev = false;
  if (req.ignore_value() || req.ignore_lease() || req.prev_kv()) {
    absl::StatusOr<std::optional<mvccpb::KeyValue>> latest = LatestInTxn(txn, req.key());
    if (!latest.ok()) return latest.status();
    prev = std::move(*latest);
    have_prev = true;
  }
  if ((req.ignore_value() || req.ignore_lease()) && !prev) return ErrKeyNotFound();

  // Creation revision and version continue the key's generation, or start a new one.
  int64_t created = rev;
  int64_t version = 1;
  if (have_prev) {
    if (prev) {
      created = prev->create_revision();
      version = prev->version() + 1;
    }
  } else if (auto it = txn.pending.latest.find(req.key()); it != txn.pending.latest.end()) {
    const mvccpb::Event& event = txn.pending.events[it->second];
    if (event.type() == mvccpb::Event::PUT) {
      created = event.kv().create_revision();
      version = event.kv().version() + 1;
    }
  } else {
    absl::ReaderMutexLock lock(&index_mu_);
    if (std::optional<KeyAt> at = index_.Get(req.key(), txn.begin_rev)) {
      created = at->created;
      version = at->version + 1;
    }
  }

  mvccpb::Event& event = txn.pending.events.emplace_back();
  event.set_type(mvccpb::Event::PUT);
  mvccpb::KeyValue* kv = event.mutable_kv();
  kv->set_key(req.key());
  kv->set_create_revision(created);
  kv->set_mod_revision(rev);
  kv->set_version(version);
  kv->set_value(req.ignore_value() ? prev->value() : req.value());
  kv->set_lease(req.ignore_lease() ? prev->lease() : req.lease());

  // Within the cache budget the serialized record is kept for the index to serve reads of
  // the key's latest revision from memory.
  std::shared_ptr<std::string> record;
  std::string* serialized = &txn.scratch;
  if (cached_bytes_ < options_.value_cache_bytes) {
    record = std::make_shared<std::string>();
    serialized = record.get();
  }
  serialized->clear();
  kv->SerializeToString(serialized);
  char rev_key[kTombstoneKeySize];
  size_t n = EncodeRevisionKey(Revision{rev, sub}, false, rev_key);
  rocksdb::Status s = txn.batch.Put(kv_, rocksdb::Slice(rev_key, n), *serialized);
  if (!s.ok()) return FromRocksStatus(s, "build write batch");
  txn.pending.records.push_back(std::move(record));
  txn.pending.latest[req.key()] = static_cast<size_t>(sub);

  if (req.prev_kv() && prev) *resp.mutable_prev_kv() = std::move(*prev);
  resp.mutable_header()->set_revision(rev);
  return resp;
}

absl::StatusOr<etcdserverpb::DeleteRangeResponse> MvccStore::DeleteInTxn(
    WriteTxn& txn, const etcdserverpb::DeleteRangeRequest& req) {
  const KeyRange range = KeyRange::FromRequest(req.key(), req.range_end());
  const int64_t read_rev = txn.ReadRevision();
  std::vector<Hit> hits;
  std::vector<std::string> keys;
  int64_t count = 0;
  {
    absl::ReaderMutexLock lock(&index_mu_);
    CollectHits(range, read_rev, &txn.pending, std::numeric_limits<size_t>::max(), &hits, &count,
                &keys);
  }
  etcdserverpb::DeleteRangeResponse resp;
  if (req.prev_kv()) {
    if (absl::Status status = FetchKeyValues(hits, read_rev, resp.mutable_prev_kvs());
        !status.ok()) {
      return status;
    }
  }

  const int64_t rev = txn.begin_rev + 1;
  for (std::string& key : keys) {
    const int64_t sub = static_cast<int64_t>(txn.pending.events.size());
    mvccpb::Event& event = txn.pending.events.emplace_back();
    event.set_type(mvccpb::Event::DELETE);
    mvccpb::KeyValue* kv = event.mutable_kv();
    kv->set_key(key);
    // The stored tombstone holds only the key (etcd); the event also names the revision.
    txn.scratch.clear();
    kv->SerializeToString(&txn.scratch);
    kv->set_mod_revision(rev);
    char rev_key[kTombstoneKeySize];
    size_t n = EncodeRevisionKey(Revision{rev, sub}, true, rev_key);
    rocksdb::Status s = txn.batch.Put(kv_, rocksdb::Slice(rev_key, n), txn.scratch);
    if (!s.ok()) return FromRocksStatus(s, "build write batch");
    txn.pending.records.push_back(nullptr);
    txn.pending.latest[std::move(key)] = static_cast<size_t>(sub);
  }
  resp.set_deleted(static_cast<int64_t>(keys.size()));
  resp.mutable_header()->set_revision(txn.pending.events.empty() ? txn.begin_rev : rev);
  return resp;
}

absl::StatusOr<etcdserverpb::PutResponse> MvccStore::Put(const etcdserverpb::PutRequest& req,
                                                         const ApplyMeta& meta) {
  // The first two are etcd's gRPC-layer checks, repeated so that no caller can store a request
  // etcd would have refused.
  if (req.ignore_value() && !req.value().empty()) return ErrValueProvided();
  if (req.ignore_lease() && req.lease() != 0) return ErrLeaseProvided();
  absl::MutexLock write_lock(&write_mu_);
  // etcd checks the lease before looking at the key (applierV3backend.Put).
  if (absl::Status status = CheckLease(req.lease()); !status.ok()) return status;
  WriteTxn txn(CurrentRevision());
  absl::StatusOr<etcdserverpb::PutResponse> resp = PutInTxn(txn, req);
  if (!resp.ok()) return resp.status();
  if (absl::Status status = Commit(txn, meta); !status.ok()) return status;
  return resp;
}

absl::StatusOr<etcdserverpb::DeleteRangeResponse> MvccStore::DeleteRange(
    const etcdserverpb::DeleteRangeRequest& req, const ApplyMeta& meta) {
  absl::MutexLock write_lock(&write_mu_);
  WriteTxn txn(CurrentRevision());
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> resp = DeleteInTxn(txn, req);
  if (!resp.ok()) return resp.status();
  if (absl::Status status = Commit(txn, meta); !status.ok()) return status;
  return resp;
}

absl::Status MvccStore::DeleteKeys(const std::vector<std::string>& keys, const ApplyMeta& meta,
                                   const RecordChanges& records) {
  absl::MutexLock write_lock(&write_mu_);
  WriteTxn txn(CurrentRevision());
  etcdserverpb::DeleteRangeRequest req;
  for (const std::string& key : keys) {
    req.set_key(key);
    if (absl::StatusOr<etcdserverpb::DeleteRangeResponse> resp = DeleteInTxn(txn, req);
        !resp.ok()) {
      return resp.status();
    }
  }
  records.AddTo(backend_, &txn.batch);
  return Commit(txn, meta);
}

}  // namespace quorum::storage
