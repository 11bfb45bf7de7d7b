#include "storage/backend.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "raft/crash_point.h"
#include "rocksdb/cache.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/table_properties_collectors.h"
#include "storage/disk_faults.h"

namespace quorum::storage {
namespace {

constexpr std::string_view kFamilyNames[kColumnFamilyCount] = {
    "kv", "meta", "raft_log", "lease", "members", "auth",
};

rocksdb::BlockBasedTableOptions TableOptions(const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.block_size = 16 << 10;
  table.format_version = 5;
  // No bloom filters anywhere: the kv and raft_log families are looked up by keys that only
  // grow, so files barely overlap and the index block finds the single candidate; the other
  // families are tiny and live in the block cache.
  table.cache_index_and_filter_blocks = false;
  return table;
}

rocksdb::ColumnFamilyOptions FamilyOptions(ColumnFamily family,
                                           const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions options;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(TableOptions(cache)));
  options.level_compaction_dynamic_level_bytes = true;
  // Upper levels hold recent, soon-rewritten data: compressing it costs CPU on every flush and
  // compaction for no lasting gain. The bottom level holds nearly all bytes of a large store.
  options.compression = rocksdb::kNoCompression;
  options.bottommost_compression = rocksdb::kLZ4Compression;
  switch (family) {
    case ColumnFamily::kKv:
    case ColumnFamily::kRaftLog:
      options.write_buffer_size = 64 << 20;
      options.max_write_buffer_number = 4;
      options.target_file_size_base = 64 << 20;
      // Compaction of the MVCC history (and Raft log truncation) deletes long runs of keys;
      // rewrite files dense with deletions early so scans do not wade through them.
      options.table_properties_collector_factories.push_back(
          rocksdb::NewCompactOnDeletionCollectorFactory(16384, 8192));
      break;
    default:
      // Small records rewritten in place (applied index on every write): a small memtable keeps
      // the WAL from being pinned by a family that would otherwise rarely flush.
      options.write_buffer_size = 4 << 20;
      options.max_write_buffer_number = 2;
      break;
  }
  return options;
}

rocksdb::DBOptions DatabaseOptions() {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_background_jobs = 2;
  options.bytes_per_sync = 1 << 20;
  options.wal_bytes_per_sync = 0;
  // With several families one WAL file stays alive until every family has flushed past it;
  // bound the total so a rarely written family cannot make the WAL grow without limit.
  options.max_total_wal_size = 256 << 20;
  options.keep_log_file_num = 4;
  // The member loop's synced log appends and the applier's unsynced state writes share this
  // database: with pipelined writes an apply batch waits for the WAL only, not for the memtable
  // insert of a group that is still fsyncing, which took a third off a write's latency.
  options.enable_pipelined_write = true;
  options.max_log_file_size = 8 << 20;
  return options;
}

absl::Status CheckDirectory(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("storage: database path is empty");
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("storage: cannot create database directory ", path, ": ", ec.message()));
  }
  if (!std::filesystem::is_directory(path, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("storage: database path ", path, " exists and is not a directory"));
  }
  if (::access(path.c_str(), W_OK | X_OK) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("storage: database directory ", path, " is not writable"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view ColumnFamilyName(ColumnFamily family) {
  return kFamilyNames[static_cast<int>(family)];
}

absl::Status FromRocksStatus(const rocksdb::Status& status, std::string_view what) {
  if (status.ok()) return absl::OkStatus();
  std::string message = absl::StrCat("storage: ", std::string(what), ": ", status.ToString());
  if (status.IsNoSpace() || status.subcode() == rocksdb::Status::kNoSpace) {
    return absl::ResourceExhaustedError(message);
  }
  if (status.IsCorruption()) return absl::DataLossError(message);
  if (status.IsNotFound()) return absl::NotFoundError(message);
  return absl::InternalError(message);
}

absl::StatusOr<std::unique_ptr<Backend>> Backend::Open(const Options& options) {
  if (absl::Status status = CheckDirectory(options.path); !status.ok()) return status;

  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::DBOptions db_options = DatabaseOptions();
  absl::StatusOr<std::unique_ptr<rocksdb::Env>> env = ArmedDiskFaultEnv();
  if (!env.ok()) return env.status();
  if (*env != nullptr) db_options.env = env->get();

  // RocksDB insists that every family present on disk is opened, so start from what exists
  // (nothing, for a new database) and add ours.
  std::vector<std::string> existing;
  rocksdb::Status listed = rocksdb::DB::ListColumnFamilies(db_options, options.path, &existing);
  if (!listed.ok()) existing.clear();

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (int i = 0; i < kColumnFamilyCount; ++i) {
    auto family = static_cast<ColumnFamily>(i);
    descriptors.emplace_back(std::string(ColumnFamilyName(family)), FamilyOptions(family, cache));
  }
  for (const std::string& name : existing) {
    bool known = name == rocksdb::kDefaultColumnFamilyName;
    for (std::string_view ours : kFamilyNames) known = known || name == ours;
    if (!known) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status opened =
      rocksdb::DB::Open(db_options, options.path, descriptors, &handles, &raw_db);
  if (!opened.ok()) {
    std::string text = opened.ToString();
    if (opened.IsIOError() &&
        (absl::StrContains(text, "LOCK") || absl::StrContains(text, "lock"))) {
      return absl::FailedPreconditionError(
          absl::StrCat("storage: database ", options.path,
                       " is in use by another process (could not take its lock): ", text));
    }
    if (absl::StrContains(text, "Permission denied")) {
      return absl::PermissionDeniedError(
          absl::StrCat("storage: cannot open database ", options.path, ": ", text));
    }
    return FromRocksStatus(opened, absl::StrCat("open database ", options.path));
  }
  std::unique_ptr<rocksdb::DB> db(raw_db);

  std::array<rocksdb::ColumnFamilyHandle*, kColumnFamilyCount> families{};
  for (int i = 0; i < kColumnFamilyCount; ++i) families[i] = handles[i + 1];
  // Families we do not know of stay open only as long as RocksDB needs them to be.
  for (size_t i = kColumnFamilyCount + 1; i < handles.size(); ++i) {
    db->DestroyColumnFamilyHandle(handles[i]).PermitUncheckedError();
  }
  return std::unique_ptr<Backend>(
      new Backend(options, *std::move(env), std::move(db), families, handles[0]));
}

Backend::Backend(const Options& options, std::unique_ptr<rocksdb::Env> env,
                 std::unique_ptr<rocksdb::DB> db,
                 std::array<rocksdb::ColumnFamilyHandle*, kColumnFamilyCount> families,
                 rocksdb::ColumnFamilyHandle* default_family)
    : options_(options),
      env_(std::move(env)),
      db_(std::move(db)),
      families_(families),
      default_family_(default_family) {}

Backend::~Backend() {
  for (rocksdb::ColumnFamilyHandle* handle : families_) {
    db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  }
  db_->DestroyColumnFamilyHandle(default_family_).PermitUncheckedError();
  db_->Close().PermitUncheckedError();
}

absl::Status Backend::Write(rocksdb::WriteBatch* batch) {
  return Write(batch, options_.sync_writes);
}

absl::Status Backend::CheckRoom() {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t checked = room_checked_ns_.load(std::memory_order_relaxed);
  if (now - checked >= 100'000'000 &&
      room_checked_ns_.compare_exchange_strong(checked, now, std::memory_order_relaxed)) {
    struct statvfs fs;
    if (::statvfs(options_.path.c_str(), &fs) == 0) {
      free_bytes_.store(static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize,
                        std::memory_order_relaxed);
    }
  }
  const uint64_t free = free_bytes_.load(std::memory_order_relaxed);
  if (free >= options_.reserve_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "storage: no space left on device: ", free, " bytes free under ", options_.path,
      ", less than the ", options_.reserve_bytes,
      " kept for the database's flushes and logs; make room and start the member again"));
}

absl::Status Backend::Write(rocksdb::WriteBatch* batch, bool sync) {
  if (absl::Status room = CheckRoom(); !room.ok()) return room;
  rocksdb::WriteOptions write_options;
  write_options.sync = sync;
  return FromRocksStatus(db_->Write(write_options, batch), "write batch");
}

uint64_t Backend::SizeBytes() const {
  uint64_t total = 0;
  for (rocksdb::ColumnFamilyHandle* handle : families_) {
    uint64_t value = 0;
    if (db_->GetIntProperty(handle, rocksdb::DB::Properties::kLiveSstFilesSize, &value)) {
      total += value;
    }
    if (db_->GetIntProperty(handle, rocksdb::DB::Properties::kCurSizeAllMemTables, &value)) {
      total += value;
    }
  }
  return total;
}

uint64_t Backend::LiveBytes() const {
  uint64_t live = 0;
  for (rocksdb::ColumnFamilyHandle* handle : families_) {
    uint64_t value = 0;
    if (db_->GetIntProperty(handle, rocksdb::DB::Properties::kEstimateLiveDataSize, &value)) {
      live += value;
    }
    if (db_->GetIntProperty(handle, rocksdb::DB::Properties::kCurSizeAllMemTables, &value)) {
      live += value;
    }
  }
  return std::min(live, SizeBytes());
}

absl::Status Backend::Defragment() {
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (ColumnFamily family : {ColumnFamily::kKv, ColumnFamily::kMeta, ColumnFamily::kRaftLog}) {
    rocksdb::Status s = db_->CompactRange(options, Family(family), nullptr, nullptr);
    if (!s.ok()) return FromRocksStatus(s, "defragment");
    QUORUM_CRASH_POINT("defrag-between-families");
  }
  return absl::OkStatus();
}

}  // namespace quorum::storage
