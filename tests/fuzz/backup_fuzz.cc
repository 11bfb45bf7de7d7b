// libFuzzer target: arbitrary bytes as a backup file (storage/backup.h), in either format. The
// reader must refuse them with an error or read them, never crash; what it reads must be the
// same on a second read, with or without the checksum check, and `snapshot status` must agree
// that the file is readable.
//
// The seeds in tests/fuzz/corpus/backup are real backups of a small store in both formats;
// QUORUM_BACKUP_FUZZ_SEEDS=<dir> fuzz-backup writes them again (and exits).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "storage/backend.h"
#include "storage/backup.h"
#include "storage/mvcc_store.h"

namespace {

using quorum::storage::BackupReadOptions;

std::string InputPath() {
  static const std::string path = [] {
    std::string dir = "/dev/shm";
    if (!std::filesystem::is_directory(dir)) dir = std::filesystem::temp_directory_path().string();
    return dir + "/quorum-backup-fuzz-" + std::to_string(::getpid()) + ".db";
  }();
  return path;
}

// Every chunk the reader hands out, serialized; false when it refused the file.
bool ReadChunks(const std::string& path, bool verify, std::vector<std::string>* chunks) {
  BackupReadOptions options;
  options.verify_checksum = verify;
  absl::Status status = quorum::storage::ReadBackup(
      path,
      [&](const quorum::internalpb::SnapshotChunk& chunk) {
        chunks->push_back(chunk.SerializeAsString());
        return absl::OkStatus();
      },
      options);
  if (status.ok()) return true;
  // The documented refusals; anything else would be a reader that lost track of the file.
  if (!absl::IsInvalidArgument(status) && !absl::IsDataLoss(status)) {
    std::fprintf(stderr, "unexpected refusal: %s\n", status.ToString().c_str());
    std::abort();
  }
  return false;
}

void WriteSeeds(const std::string& dir) {
  quorum::storage::Backend::Options options;
  options.path = dir + "/source-db";
  options.sync_writes = false;
  auto backend = quorum::storage::Backend::Open(options);
  if (!backend.ok()) std::abort();
  {
    auto store = quorum::storage::MvccStore::Open(backend->get());
    if (!store.ok()) std::abort();
    uint64_t index = 0;
    for (const char* key : {"a", "foo", "foo/bar", "zz"}) {
      etcdserverpb::PutRequest put;
      put.set_key(key);
      put.set_value(std::string("value of ") + key);
      if (!(*store)->Put(put, {++index, 2}).ok()) std::abort();
    }
    etcdserverpb::DeleteRangeRequest del;
    del.set_key("zz");
    if (!(*store)->DeleteRange(del, {++index, 2}).ok()) std::abort();
  }
  using quorum::storage::BackupFormat;
  if (!quorum::storage::WriteBackup(backend->get(), dir + "/etcd.db", {BackupFormat::kEtcd}).ok() ||
      !quorum::storage::WriteBackup(backend->get(), dir + "/quorum.db", {BackupFormat::kQuorum})
           .ok()) {
    std::abort();
  }
  backend->reset();
  std::filesystem::remove_all(options.path);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // A frame that is not a chunk is refused either way; protobuf's log line about it is noise.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  if (const char* dir = std::getenv("QUORUM_BACKUP_FUZZ_SEEDS")) {
    WriteSeeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = InputPath();
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) std::abort();
    if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
  }
  // Most inputs fail the SHA-256; reading without it reaches the structure behind it.
  std::vector<std::string> unchecked;
  const bool readable = ReadChunks(path, false, &unchecked);
  std::vector<std::string> again;
  if (ReadChunks(path, false, &again) != readable || again != unchecked) std::abort();
  std::vector<std::string> checked;
  if (ReadChunks(path, true, &checked) && (!readable || checked != unchecked)) std::abort();
  // Status reads the whole file as well (an etcd backend's hash is not compared there).
  (void)quorum::storage::ReadBackupStatus(path);
  std::remove(path.c_str());
  return 0;
}
