#include "storage/disk_faults.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "raft/crash_point.h"
#include "rocksdb/file_system.h"

namespace quorum::storage {
namespace {

enum class Fault { kSyncError, kWriteError };

struct Armed {
  Fault fault;
  int64_t from_call;
};

// Counts the WAL's syncs or writes across every WAL file of the process; from the armed call on,
// each one fails.
class Trigger {
 public:
  explicit Trigger(Armed armed) : armed_(armed) {}
  rocksdb::IOStatus Next(Fault fault) {
    if (fault != armed_.fault) return rocksdb::IOStatus::OK();
    if (calls_.fetch_add(1) + 1 < armed_.from_call) return rocksdb::IOStatus::OK();
    return rocksdb::IOStatus::IOError(fault == Fault::kSyncError
                                          ? "injected disk fault: fsync of the WAL failed"
                                          : "injected disk fault: write to the WAL failed");
  }

 private:
  const Armed armed_;
  std::atomic<int64_t> calls_{0};
};

class FaultyWal : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultyWal(std::unique_ptr<rocksdb::FSWritableFile> file, Trigger* trigger)
      : FSWritableFileOwnerWrapper(std::move(file)), trigger_(trigger) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    if (auto s = trigger_->Next(Fault::kWriteError); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Append(data, options, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    if (auto s = trigger_->Next(Fault::kWriteError); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Append(data, options, info, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) override {
    if (auto s = trigger_->Next(Fault::kSyncError); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Sync(options, dbg);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    if (auto s = trigger_->Next(Fault::kSyncError); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Fsync(options, dbg);
  }

 private:
  Trigger* trigger_;
};

class FaultyFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit FaultyFileSystem(Armed armed)
      : FileSystemWrapper(rocksdb::FileSystem::Default()), trigger_(armed) {}
  const char* Name() const override { return "QuorumDiskFaults"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = FileSystemWrapper::NewWritableFile(name, options, file, dbg);
    return Wrap(name, s, file);
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& name, const std::string& old_name,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* file,
                                      rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = FileSystemWrapper::ReuseWritableFile(name, old_name, options, file, dbg);
    return Wrap(name, s, file);
  }

 private:
  // WAL files are <number>.log in the database directory.
  rocksdb::IOStatus Wrap(const std::string& name, rocksdb::IOStatus s,
                         std::unique_ptr<rocksdb::FSWritableFile>* file) {
    if (s.ok() && std::string_view(name).ends_with(".log")) {
      *file = std::make_unique<FaultyWal>(std::move(*file), &trigger_);
    }
    return s;
  }

  Trigger trigger_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<rocksdb::Env>> ArmedDiskFaultEnv() {
  const char* env = std::getenv("QUORUM_DISK_FAULT");
  if (env == nullptr || *env == '\0') return nullptr;
#ifndef QUORUM_CRASH_POINTS
  return absl::FailedPreconditionError(
      "QUORUM_DISK_FAULT is set but this build has no disk faults "
      "(configure with -DQUORUM_CRASH_POINTS=ON)");
#else
  const ArmedSpec spec = ParseArmedSpec(env);
  const bool known = spec.name == "wal-sync-error" || spec.name == "wal-write-error";
  if (!known || !spec.count.has_value()) {
    return absl::InvalidArgumentError(
        std::string("QUORUM_DISK_FAULT=") + env +
        ": expected wal-sync-error:<n> or wal-write-error:<n> with n a positive number");
  }
  const Armed armed{spec.name == "wal-sync-error" ? Fault::kSyncError : Fault::kWriteError,
                    *spec.count};
  return rocksdb::NewCompositeEnv(std::make_shared<FaultyFileSystem>(armed));
#endif
}

}  // namespace quorum::storage
