// MvccStore: opening and rebuilding, committing a write txn, and the small accessors.
#include "storage/mvcc_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "proto/etcd_errors.h"
#include "raft/crash_point.h"
#include "raft/fatal.h"
#include "rocksdb/iterator.h"
#include "storage/write_txn.h"

namespace quorum::storage {
namespace {

using google::protobuf::internal::WireFormatLite;

void PutU64(uint64_t v, std::string* out) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, 8);
}

uint64_t GetU64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

// The fields of a stored KeyValue the index needs, read without copying the value (restart
// time is dominated by this loop on large stores).
struct RecordHeader {
  std::string_view key;
  int64_t create_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

bool ParseRecordHeader(std::string_view data, RecordHeader* out) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(data.data()),
                                            static_cast<int>(data.size()));
  while (true) {
    uint32_t tag = in.ReadTag();
    if (tag == 0) return true;
    uint64_t v = 0;
    switch (tag) {
      case (mvccpb::KeyValue::kKeyFieldNumber << 3) | 2: {
        uint32_t len = 0;
        if (!in.ReadVarint32(&len)) return false;
        size_t pos = static_cast<size_t>(in.CurrentPosition());
        if (len > data.size() - pos) return false;
        out->key = data.substr(pos, len);
        if (!in.Skip(static_cast<int>(len))) return false;
        break;
      }
      case mvccpb::KeyValue::kCreateRevisionFieldNumber << 3:
        if (!in.ReadVarint64(&v)) return false;
        out->create_revision = static_cast<int64_t>(v);
        break;
      case mvccpb::KeyValue::kVersionFieldNumber << 3:
        if (!in.ReadVarint64(&v)) return false;
        out->version = static_cast<int64_t>(v);
        break;
      case mvccpb::KeyValue::kLeaseFieldNumber << 3:
        if (!in.ReadVarint64(&v)) return false;
        out->lease = static_cast<int64_t>(v);
        break;
      default:
        if (!WireFormatLite::SkipField(&in, tag)) return false;
    }
  }
}

absl::StatusOr<std::optional<std::string>> GetMeta(rocksdb::DB* db,
                                                   rocksdb::ColumnFamilyHandle* meta,
                                                   std::string_view key) {
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), meta, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocksStatus(s, absl::StrCat("read meta ", std::string(key)));
  return std::optional<std::string>(std::move(value));
}

}  // namespace

std::string EncodeApplied(uint64_t index, uint64_t term, int64_t revision) {
  std::string out;
  out.reserve(24);
  PutU64(index, &out);
  PutU64(term, &out);
  PutU64(static_cast<uint64_t>(revision), &out);
  return out;
}

bool DecodeApplied(std::string_view value, uint64_t* index, uint64_t* term, int64_t* revision) {
  if (value.size() != 24) return false;
  *index = GetU64(value.data());
  *term = GetU64(value.data() + 8);
  *revision = static_cast<int64_t>(GetU64(value.data() + 16));
  return true;
}

std::string EncodeInt64(int64_t value) {
  std::string out;
  PutU64(static_cast<uint64_t>(value), &out);
  return out;
}

bool DecodeInt64(std::string_view value, int64_t* out) {
  if (value.size() != 8) return false;
  *out = static_cast<int64_t>(GetU64(value.data()));
  return true;
}

MvccStore::MvccStore(Backend* backend, const Options& options)
    : options_(options),
      backend_(backend),
      kv_(backend->Family(ColumnFamily::kKv)),
      meta_(backend->Family(ColumnFamily::kMeta)) {}

MvccStore::~MvccStore() = default;

absl::StatusOr<std::unique_ptr<MvccStore>> MvccStore::Open(Backend* backend) {
  return Open(backend, Options());
}

absl::StatusOr<std::unique_ptr<MvccStore>> MvccStore::Open(Backend* backend,
                                                           const Options& options) {
  std::unique_ptr<MvccStore> store(new MvccStore(backend, options));
  if (absl::Status status = store->Restore(); !status.ok()) return status;
  return store;
}

absl::Status MvccStore::Restore() {
  absl::MutexLock write_lock(&write_mu_);
  rocksdb::DB* db = backend_->db();

  uint64_t applied_index = 0, applied_term = 0;
  int64_t stored_rev = 1;
  absl::StatusOr<std::optional<std::string>> applied = GetMeta(db, meta_, kMetaApplied);
  if (!applied.ok()) return applied.status();
  if (applied->has_value() &&
      !DecodeApplied(**applied, &applied_index, &applied_term, &stored_rev)) {
    return absl::DataLossError("storage: malformed applied record in meta family");
  }
  int64_t finished = -1, scheduled = -1;
  for (auto [name, out] :
       {std::pair{kMetaCompactFinished, &finished}, std::pair{kMetaCompactScheduled, &scheduled}}) {
    absl::StatusOr<std::optional<std::string>> value = GetMeta(db, meta_, name);
    if (!value.ok()) return value.status();
    if (value->has_value() && !DecodeInt64(**value, out)) {
      return absl::DataLossError(absl::StrCat("storage: malformed ", std::string(name), " record"));
    }
  }

  // Replay every record in revision order into the index (etcd store.restore).
  KeyIndex index;
  int64_t last_rev = 1;
  rocksdb::ReadOptions read_options;
  read_options.fill_cache = false;
  read_options.readahead_size = 2 << 20;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, kv_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    Revision rev;
    bool tombstone = false;
    RecordHeader header;
    if (!DecodeRevisionKey(std::string_view(it->key().data(), it->key().size()), &rev,
                           &tombstone) ||
        !ParseRecordHeader(std::string_view(it->value().data(), it->value().size()), &header)) {
      return absl::DataLossError(
          absl::StrCat("storage: malformed kv record with key of ", it->key().size(), " bytes"));
    }
    std::shared_ptr<const std::string> record;
    if (!tombstone && index.cached_bytes() < options_.value_cache_bytes) {
      record = std::make_shared<const std::string>(it->value().data(), it->value().size());
    }
    index.Restore(header.key, rev, tombstone, header.create_revision, header.version, header.lease,
                  std::move(record));
    last_rev = rev.main;
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "scan kv family");
  it.reset();

  {
    absl::MutexLock lock(&index_mu_);
    index_ = std::move(index);
    cached_bytes_ = index_.cached_bytes();
    applied_ = ApplyMeta{applied_index, applied_term};
    compact_rev_ = finished;
    // Records above the compacted revision are never deleted, so the newest record, the
    // recorded revision and the compaction bound agree unless every key below was compacted.
    current_rev_ = std::max({int64_t{1}, stored_rev, last_rev, finished});
  }
  // A crash between scheduling a compaction and finishing it: finish it now (etcd resumes the
  // scheduled compaction on restore).
  if (scheduled > finished) {
    {
      absl::MutexLock lock(&index_mu_);
      compact_rev_ = scheduled;
    }
    if (absl::Status status = CompactTo(scheduled); !status.ok()) return status;
  }
  return absl::OkStatus();
}

int64_t MvccStore::CurrentRevision() const {
  absl::ReaderMutexLock lock(&index_mu_);
  return current_rev_;
}

int64_t MvccStore::CompactedRevision() const {
  absl::ReaderMutexLock lock(&index_mu_);
  return compact_rev_;
}

ApplyMeta MvccStore::Applied() const {
  absl::ReaderMutexLock lock(&index_mu_);
  return applied_;
}

size_t MvccStore::KeyCount() const {
  absl::ReaderMutexLock lock(&index_mu_);
  return index_.live_keys();
}

void MvccStore::SetEventSink(EventSink sink) {
  absl::MutexLock lock(&write_mu_);
  sink_ = std::move(sink);
}

void MvccStore::SetLeaseChecker(LeaseChecker exists) {
  absl::MutexLock lock(&write_mu_);
  lease_exists_ = std::move(exists);
}

absl::Status MvccStore::Commit(WriteTxn& txn, const ApplyMeta& meta) {
  const bool wrote = !txn.pending.events.empty();
  const int64_t rev = wrote ? txn.begin_rev + 1 : txn.begin_rev;
  rocksdb::Status s = txn.batch.Put(meta_, kMetaApplied, EncodeApplied(meta.index, meta.term, rev));
  if (!s.ok()) return FromRocksStatus(s, "build write batch");
  // The applied index is in the same batch as the entry's changes: there is no moment between
  // "applied" and "recorded", only before the batch and after it.
  QUORUM_CRASH_POINT("apply-before-commit");
  if (absl::Status status = Persist(&txn.batch); !status.ok()) return status;
  QUORUM_CRASH_POINT("apply-after-commit");

  {
    absl::MutexLock lock(&index_mu_);
    for (size_t sub = 0; sub < txn.pending.events.size(); ++sub) {
      const mvccpb::Event& event = txn.pending.events[sub];
      Revision at{rev, static_cast<int64_t>(sub)};
      if (event.type() == mvccpb::Event::PUT) {
        index_.Put(event.kv().key(), at, event.kv().lease(), std::move(txn.pending.records[sub]));
      } else if (!index_.Tombstone(event.kv().key(), at)) {
        Fatal(absl::StrCat("delete of key '", event.kv().key(), "' at revision ", rev,
                           " but the key is not live in the index"));
      }
    }
    current_rev_ = rev;
    applied_ = meta;
    cached_bytes_ = index_.cached_bytes();
  }
  if (wrote && sink_) sink_(rev, txn.pending.events);
  return absl::OkStatus();
}

absl::Status MvccStore::Persist(rocksdb::WriteBatch* batch) {
  return backend_->Write(batch, backend_->sync_writes() && options_.sync_writes);
}

absl::Status MvccStore::MarkApplied(const ApplyMeta& meta) {
  return MarkApplied(meta, RecordChanges());
}

absl::Status MvccStore::MarkApplied(const ApplyMeta& meta, const RecordChanges& records) {
  absl::MutexLock write_lock(&write_mu_);
  WriteTxn txn(CurrentRevision());
  records.AddTo(backend_, &txn.batch);
  return Commit(txn, meta);
}

std::vector<LeasedKey> MvccStore::LeasedKeys() const {
  std::vector<LeasedKey> out;
  absl::ReaderMutexLock lock(&index_mu_);
  index_.ForEachLive([&](std::string_view key, const KeyHistory& history) {
    if (history.lease != 0) out.push_back(LeasedKey{std::string(key), history.lease});
  });
  return out;
}

int64_t MvccStore::LeaseOf(std::string_view key) const {
  absl::ReaderMutexLock lock(&index_mu_);
  const KeyHistory* history = index_.FindLive(key);
  return history == nullptr ? 0 : history->lease;
}

absl::StatusOr<std::vector<mvccpb::Event>> MvccStore::ReadEvents(int64_t from_rev,
                                                                 int64_t to_rev) const {
  rocksdb::DB* db = backend_->db();
  const rocksdb::Snapshot* snapshot = nullptr;
  {
    absl::ReaderMutexLock lock(&index_mu_);
    if (from_rev < compact_rev_) return ErrCompacted();
    to_rev = std::min(to_rev, current_rev_);
    // Taken under the lock: a compaction that starts later deletes records only after it has
    // raised compact_rev_, so the snapshot still holds every record at or above from_rev.
    snapshot = db->GetSnapshot();
  }
  std::vector<mvccpb::Event> events;
  std::string lower = RevisionKey(Revision{std::max<int64_t>(from_rev, 0), 0});
  std::string upper = RevisionKey(Revision{to_rev + 1, 0});
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.snapshot = snapshot;
  read_options.iterate_upper_bound = &upper_slice;
  absl::Status status;
  if (from_rev <= to_rev) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, kv_));
    for (it->Seek(lower); it->Valid(); it->Next()) {
      Revision rev;
      bool tombstone = false;
      mvccpb::Event& event = events.emplace_back();
      if (!DecodeRevisionKey(std::string_view(it->key().data(), it->key().size()), &rev,
                             &tombstone) ||
          !event.mutable_kv()->ParseFromArray(it->value().data(),
                                              static_cast<int>(it->value().size()))) {
        status = absl::DataLossError("storage: malformed kv record");
        break;
      }
      if (tombstone) {
        event.set_type(mvccpb::Event::DELETE);
        event.mutable_kv()->set_mod_revision(rev.main);
      }
    }
    if (status.ok() && !it->status().ok()) status = FromRocksStatus(it->status(), "read events");
  }
  db->ReleaseSnapshot(snapshot);
  if (!status.ok()) return status;
  return events;
}

}  // namespace quorum::storage
