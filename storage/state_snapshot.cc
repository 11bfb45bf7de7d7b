// Reading and installing the state machine's snapshot; see state_snapshot.h.
#include "storage/state_snapshot.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "raft/crash_point.h"
#include "rocksdb/iterator.h"
#include "storage/raft_log_store.h"
#include "storage/write_txn.h"

namespace quorum::storage {
namespace {

// Raft-log-family record present from Begin() to Finish(): the state families hold a mix of
// two points meanwhile. It lives outside the state families so that a snapshot never carries it.
constexpr std::string_view kInstallMarkKey = "state_install";

// Writes of an install are flushed in batches of about this size, to bound memory.
constexpr size_t kInstallBatchBytes = 4 << 20;

// Per-record cost counted against a chunk's byte budget besides key and value (framing).
constexpr size_t kRecordOverhead = 8;

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

bool IsIdentity(ColumnFamily family, const rocksdb::Slice& key) {
  return family == ColumnFamily::kMembers && key == ToSlice(kMemberIdentityKey);
}

// Adds to `batch` the deletion of every record of `family` but the identity. Keys are
// arbitrary bytes, so the range ends just past the last key present ("<last>\0" is its
// immediate successor) rather than at a guessed maximum key.
absl::Status AddDeleteAll(Backend* backend, ColumnFamily family, rocksdb::WriteBatch* batch) {
  rocksdb::ColumnFamilyHandle* handle = backend->Family(family);
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(backend->db()->NewIterator(options, handle));
  it->SeekToFirst();
  if (!it->Valid()) return FromRocksStatus(it->status(), "scan state family");
  std::string first = it->key().ToString();
  it->SeekToLast();
  if (!it->Valid()) return FromRocksStatus(it->status(), "scan state family");
  std::string end = it->key().ToString();
  end.push_back('\0');
  auto delete_range = [&](const std::string& from, const std::string& to) {
    if (from < to) batch->DeleteRange(handle, from, to);
  };
  if (family == ColumnFamily::kMembers) {
    const std::string keep(kMemberIdentityKey);
    delete_range(first, std::min(end, keep));
    delete_range(std::max(first, keep + '\0'), end);
  } else {
    delete_range(first, end);
  }
  return absl::OkStatus();
}

absl::StatusOr<ColumnFamily> StateFamilyNamed(std::string_view name) {
  for (ColumnFamily family : kStateFamilies) {
    if (ColumnFamilyName(family) == name) return family;
  }
  return absl::InvalidArgumentError(absl::StrCat("storage: snapshot record of family \"",
                                                 std::string(name),
                                                 "\", which a snapshot does not carry"));
}

}  // namespace

// ---- StateSnapshotReader ----

StateSnapshotReader::StateSnapshotReader(Backend* backend) : backend_(backend) {}

StateSnapshotReader::~StateSnapshotReader() {
  it_.reset();  // an iterator must not outlive the snapshot it reads
  if (snapshot_ != nullptr) backend_->db()->ReleaseSnapshot(snapshot_);
}

absl::StatusOr<std::unique_ptr<StateSnapshotReader>> StateSnapshotReader::Open(Backend* backend) {
  std::unique_ptr<StateSnapshotReader> reader(new StateSnapshotReader(backend));
  rocksdb::DB* db = backend->db();
  reader->snapshot_ = db->GetSnapshot();

  // The applied position and the membership are written in one batch with the change they
  // describe, so at any snapshot point they agree with the records.
  rocksdb::ReadOptions options;
  options.snapshot = reader->snapshot_;
  std::string value;
  rocksdb::Status s =
      db->Get(options, backend->Family(ColumnFamily::kMeta), ToSlice(kMetaApplied), &value);
  if (s.ok()) {
    if (!DecodeApplied(value, &reader->applied_.index, &reader->applied_.term,
                       &reader->revision_)) {
      return absl::DataLossError("storage: malformed applied record in meta family");
    }
  } else if (!s.IsNotFound()) {
    return FromRocksStatus(s, "read applied position");
  }
  absl::StatusOr<raftpb::ConfState> conf_state =
      RaftLogStore::ReadConfState(backend, reader->snapshot_);
  if (!conf_state.ok()) return conf_state.status();
  reader->conf_state_ = *std::move(conf_state);
  return reader;
}

absl::StatusOr<bool> StateSnapshotReader::Next(internalpb::SnapshotChunk* chunk, size_t max_bytes) {
  size_t added = 0;
  bool any = false;
  while (family_ < kStateFamilies.size()) {
    const ColumnFamily family = kStateFamilies[family_];
    if (it_ == nullptr) {
      rocksdb::ReadOptions options;
      options.snapshot = snapshot_;
      options.fill_cache = false;  // a full scan would evict the serving working set
      options.readahead_size = 2 << 20;
      it_.reset(backend_->db()->NewIterator(options, backend_->Family(family)));
      it_->SeekToFirst();
    }
    const std::string_view name = ColumnFamilyName(family);
    for (; it_->Valid(); it_->Next()) {
      if (IsIdentity(family, it_->key())) continue;
      const size_t size = it_->key().size() + it_->value().size() + kRecordOverhead;
      if (any && added + size > max_bytes) return true;
      internalpb::StateRecord* record = chunk->add_records();
      record->set_family(std::string(name));
      record->set_key(it_->key().data(), it_->key().size());
      record->set_value(it_->value().data(), it_->value().size());
      added += size;
      any = true;
    }
    if (!it_->status().ok()) return FromRocksStatus(it_->status(), "read state snapshot");
    it_.reset();
    ++family_;
  }
  return false;
}

// ---- StateInstaller ----

StateInstaller::StateInstaller(Backend* backend) : backend_(backend) {}
StateInstaller::~StateInstaller() = default;

absl::Status StateInstaller::Begin(const raftpb::Snapshot& snapshot) {
  if (phase_ != Phase::kIdle) {
    return absl::FailedPreconditionError("storage: snapshot install already begun");
  }
  rocksdb::WriteBatch batch;
  for (ColumnFamily family : kStateFamilies) {
    if (absl::Status s = AddDeleteAll(backend_, family, &batch); !s.ok()) return s;
  }
  batch.Put(backend_->Family(ColumnFamily::kRaftLog), ToSlice(kInstallMarkKey),
            snapshot.SerializeAsString());
  // Unsynced: a crash that loses this batch loses the mark with it, leaving the old state whole.
  if (absl::Status s = backend_->Write(&batch, /*sync=*/false); !s.ok()) return s;
  phase_ = Phase::kInstalling;
  return absl::OkStatus();
}

absl::Status StateInstaller::Add(const internalpb::SnapshotChunk& chunk) {
  if (phase_ != Phase::kInstalling) {
    return absl::FailedPreconditionError("storage: snapshot records added outside Begin/Finish");
  }
  rocksdb::WriteBatch batch;
  std::optional<ApplyMeta> applied;
  for (const internalpb::StateRecord& record : chunk.records()) {
    absl::StatusOr<ColumnFamily> family = StateFamilyNamed(record.family());
    if (!family.ok()) return family.status();
    if (IsIdentity(*family, ToSlice(record.key()))) continue;
    if (*family == ColumnFamily::kMeta && record.key() == kMetaApplied) {
      ApplyMeta meta;
      int64_t revision = 0;
      if (!DecodeApplied(record.value(), &meta.index, &meta.term, &revision)) {
        return absl::InvalidArgumentError("storage: malformed applied record in snapshot");
      }
      applied = meta;
    }
    batch.Put(backend_->Family(*family), record.key(), record.value());
  }
  // One chunk is one batch (chunks are about a megabyte); unsynced, Finish syncs.
  if (absl::Status s = backend_->Write(&batch, /*sync=*/false); !s.ok()) return s;
  QUORUM_CRASH_POINT("snapshot-install-chunk");
  if (applied.has_value()) applied_ = applied;
  return absl::OkStatus();
}

absl::Status StateInstaller::Finish(const raftpb::SnapshotMetadata& metadata) {
  if (phase_ != Phase::kInstalling) {
    return absl::FailedPreconditionError("storage: snapshot install finished without Begin");
  }
  rocksdb::WriteBatch batch;
  rocksdb::ColumnFamilyHandle* raft_log = backend_->Family(ColumnFamily::kRaftLog);
  RaftLogStore::PutConfState(metadata.conf_state(), &batch, raft_log);
  if (absl::Status s = RaftLogStore::AddInstalledSnapshot(backend_, metadata, &batch); !s.ok()) {
    return s;
  }
  batch.Delete(raft_log, ToSlice(kInstallMarkKey));
  // One WAL for every family: syncing this batch makes every earlier record durable too.
  if (absl::Status s = backend_->Write(&batch, backend_->sync_writes()); !s.ok()) return s;
  phase_ = Phase::kFinished;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<raftpb::Snapshot>> StateInstaller::Interrupted(Backend* backend) {
  std::string value;
  rocksdb::Status s =
      backend->db()->Get(rocksdb::ReadOptions(), backend->Family(ColumnFamily::kRaftLog),
                         ToSlice(kInstallMarkKey), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocksStatus(s, "read snapshot install mark");
  raftpb::Snapshot snapshot;
  if (!snapshot.ParseFromString(value)) {
    return absl::DataLossError("storage: the snapshot install mark cannot be decoded");
  }
  return snapshot;
}

}  // namespace quorum::storage
