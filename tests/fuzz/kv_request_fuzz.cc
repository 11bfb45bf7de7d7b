// libFuzzer target: KV requests as a client puts them on the wire. The input is a sequence of
// (kind byte, length varint, protobuf bytes); each is decoded into a Put, Range, DeleteRange,
// Txn or Compaction request, checked as the gRPC handlers check it (server/request_checks.h),
// and if it passes applied to an MvccStore opened on an emptied RocksDB backend (the store
// directly: the server's Applier needs the lessor, alarms, membership and auth with it). Nothing
// may crash, and the store must keep its promises: the revision never goes back and grows by one
// per write, a Put reads back, a deleted range reads empty, a Range honours its limit.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "etcdserverpb/rpc.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/stubs/logging.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "server/request_checks.h"
#include "storage/backend.h"
#include "storage/mvcc_store.h"

namespace {

using quorum::storage::ApplyMeta;
using quorum::storage::MvccStore;

constexpr uint64_t kMaxTxnOps = 128;  // etcd's --max-txn-ops default
constexpr int64_t kLiveLease = 7;     // the one lease that exists

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "broken: %s\n", what);
  std::abort();
}

std::string DataDir() {
  static const std::string dir = [] {
    std::string d = "/dev/shm";
    if (!std::filesystem::is_directory(d)) d = std::filesystem::temp_directory_path().string();
    return d + "/quorum-kv-fuzz-" + std::to_string(::getpid());
  }();
  return dir;
}

// The backend, emptied of what the previous input wrote. Opening RocksDB for every input would
// leave a few inputs a second; emptying its families gives the store the same fresh start.
quorum::storage::Backend& EmptyBackend() {
  static quorum::storage::Backend* backend = [] {
    std::filesystem::remove_all(DataDir());
    quorum::storage::Backend::Options options;
    options.path = DataDir();
    options.sync_writes = false;
    options.block_cache_bytes = 1 << 20;
    // A few megabytes at most: /dev/shm may be smaller than the reserve a member keeps.
    options.reserve_bytes = 0;
    auto opened = quorum::storage::Backend::Open(options);
    Check(opened.ok(), "a fresh backend opens");
    std::atexit([] { std::filesystem::remove_all(DataDir()); });
    return opened->release();
  }();
  rocksdb::WriteBatch batch;
  for (int family = 0; family < quorum::storage::kColumnFamilyCount; ++family) {
    rocksdb::ColumnFamilyHandle* handle =
        backend->Family(static_cast<quorum::storage::ColumnFamily>(family));
    std::unique_ptr<rocksdb::Iterator> it(backend->db()->NewIterator({}, handle));
    for (it->SeekToFirst(); it->Valid(); it->Next()) batch.Delete(handle, it->key());
    Check(it->status().ok(), "the backend lists its records");
  }
  Check(backend->db()->Write({}, &batch).ok(), "the backend empties");
  return *backend;
}

// The value `key` reads at the current revision, if any.
std::optional<std::string> Get(const MvccStore& store, const std::string& key) {
  etcdserverpb::RangeRequest get;
  get.set_key(key);
  auto got = store.Range(get);
  Check(got.ok(), "a key reads back");
  if (got->kvs_size() == 0) return std::nullopt;
  return got->kvs(0).value();
}

void ApplyPut(MvccStore& store, const etcdserverpb::PutRequest& put, ApplyMeta meta) {
  if (!quorum::server::CheckPutRequest(put).ok()) return;
  const int64_t before = store.CurrentRevision();
  auto done = store.Put(put, meta);
  if (!done.ok()) {
    Check(store.CurrentRevision() == before, "a refused put leaves the revision");
    return;
  }
  Check(store.CurrentRevision() == before + 1, "a put makes one revision");
  Check(done->header().revision() == before + 1, "a put answers its revision");
  if (!put.ignore_value()) Check(Get(store, put.key()) == put.value(), "a put reads back");
}

void ApplyRange(const MvccStore& store, const etcdserverpb::RangeRequest& range) {
  if (!quorum::server::CheckRangeRequest(range).ok()) return;
  auto got = store.Range(range);
  if (!got.ok()) return;
  if (range.limit() > 0) Check(got->kvs_size() <= range.limit(), "a range honours its limit");
  Check(got->count() >= (range.count_only() ? 0 : got->kvs_size()), "count covers the kvs");
}

void ApplyDelete(MvccStore& store, const etcdserverpb::DeleteRangeRequest& del, ApplyMeta meta) {
  if (!quorum::server::CheckDeleteRangeRequest(del).ok()) return;
  const int64_t before = store.CurrentRevision();
  auto done = store.DeleteRange(del, meta);
  if (!done.ok()) return;
  Check(store.CurrentRevision() == before + (done->deleted() > 0 ? 1 : 0),
        "a delete makes one revision when it deletes");
  if (del.range_end().empty()) Check(!Get(store, del.key()).has_value(), "a deleted key is gone");
}

void ApplyTxn(MvccStore& store, const etcdserverpb::TxnRequest& txn, ApplyMeta meta) {
  if (!quorum::server::CheckTxnRequest(txn, kMaxTxnOps).ok()) return;
  const int64_t before = store.CurrentRevision();
  if (quorum::server::IsReadOnlyTxn(txn)) {
    (void)store.ReadTxn(txn);
    Check(store.CurrentRevision() == before, "a read-only txn writes nothing");
    return;
  }
  (void)store.Txn(txn, meta);
  const int64_t after = store.CurrentRevision();
  Check(after == before || after == before + 1, "a txn makes at most one revision");
}

void ApplyCompaction(MvccStore& store, const etcdserverpb::CompactionRequest& compact,
                     ApplyMeta meta) {
  const int64_t before = store.CurrentRevision();
  const int64_t compacted = store.CompactedRevision();
  auto done = store.Compact(compact, meta);
  Check(store.CurrentRevision() == before, "compaction keeps the revision");
  if (done.ok()) Check(store.CompactedRevision() >= compacted, "compaction never goes back");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(
        [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
    return true;
  }();
  (void)quiet;
  quorum::storage::Backend& backend = EmptyBackend();
  {
    MvccStore::Options store_options;
    store_options.sync_writes = false;
    auto opened = MvccStore::Open(&backend, store_options);
    Check(opened.ok(), "a fresh store opens");
    MvccStore& store = **opened;
    store.SetLeaseChecker([](int64_t lease) { return lease == kLiveLease; });

    google::protobuf::io::CodedInputStream in(data, static_cast<int>(size));
    uint64_t index = 0;
    uint8_t kind = 0;
    uint32_t length = 0;
    while (in.ReadRaw(&kind, 1) && in.ReadVarint32(&length)) {
      std::string bytes;
      if (!in.ReadString(&bytes, static_cast<int>(length))) break;
      const ApplyMeta meta{++index, 1};
      const int64_t before = store.CurrentRevision();
      switch (kind % 5) {
        case 0: {
          etcdserverpb::PutRequest put;
          if (put.ParseFromString(bytes)) ApplyPut(store, put, meta);
          break;
        }
        case 1: {
          etcdserverpb::RangeRequest range;
          if (range.ParseFromString(bytes)) ApplyRange(store, range);
          break;
        }
        case 2: {
          etcdserverpb::DeleteRangeRequest del;
          if (del.ParseFromString(bytes)) ApplyDelete(store, del, meta);
          break;
        }
        case 3: {
          etcdserverpb::TxnRequest txn;
          if (txn.ParseFromString(bytes)) ApplyTxn(store, txn, meta);
          break;
        }
        default: {
          etcdserverpb::CompactionRequest compact;
          if (compact.ParseFromString(bytes)) ApplyCompaction(store, compact, meta);
          break;
        }
      }
      Check(store.CurrentRevision() >= before, "the revision never goes back");
    }
  }
  return 0;
}
