#include "server/peer/snapshot_staging.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/util/delimited_message_util.h"
#include "server/peer/transport.h"
#include "spdlog/spdlog.h"

namespace quorum::server {
namespace {

constexpr char kTmpSuffix[] = ".tmp";

// Tells apart the staging files of transfers of the same snapshot: a sender that gave up and
// retried may still have its first stream being staged here, and the two must not share a file.
std::atomic<uint64_t> next_staging_id{1};

absl::Status ErrnoError(absl::string_view what, const std::string& path, int error) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(error)));
}

absl::Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", dir, errno);
  int rc = ::fsync(fd);
  int error = errno;
  ::close(fd);
  if (rc != 0) return ErrnoError("fsync", dir, error);
  return absl::OkStatus();
}

// Reads the frames of a staged snapshot in order.
class FileStagedSnapshot final : public StagedSnapshot {
 public:
  FileStagedSnapshot(std::string path, int fd) : path_(std::move(path)), fd_(fd), input_(fd) {}
  ~FileStagedSnapshot() override { ::close(fd_); }

  absl::StatusOr<bool> Next(internalpb::SnapshotChunk* chunk) override {
    chunk->Clear();
    bool clean_eof = false;
    if (google::protobuf::util::ParseDelimitedFromZeroCopyStream(chunk, &input_, &clean_eof)) {
      return true;
    }
    if (clean_eof) return false;
    if (input_.GetErrno() != 0) return ErrnoError("read", path_, input_.GetErrno());
    return absl::DataLossError(absl::StrCat("staged snapshot ", path_, " has a torn frame"));
  }

 private:
  std::string path_;
  int fd_;
  google::protobuf::io::FileInputStream input_;
};

}  // namespace

std::string StagedSnapshotName(uint64_t term, uint64_t index) {
  return absl::StrFormat("%016x-%016x.snap", term, index);
}

absl::Status PrepareSnapshotDir(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create snapshot dir ", dir, ": ", error.message()));
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    std::string name = entry.path().filename().string();
    if (absl::StrContains(name, ".snap.") && absl::EndsWith(name, kTmpSuffix)) {
      spdlog::info("removing unfinished staged snapshot {}", entry.path().string());
      std::filesystem::remove(entry.path(), error);
    }
  }
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot list snapshot dir ", dir, ": ", error.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SnapshotStagingFile>> SnapshotStagingFile::Create(
    const std::string& dir, const std::string& name) {
  std::string final_path = (std::filesystem::path(dir) / name).string();
  std::string tmp_path = absl::StrCat(final_path, ".", next_staging_id.fetch_add(1), kTmpSuffix);
  int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("create", tmp_path, errno);
  return std::make_unique<SnapshotStagingFile>(dir, std::move(tmp_path), std::move(final_path), fd);
}

SnapshotStagingFile::SnapshotStagingFile(std::string dir, std::string tmp_path,
                                         std::string final_path, int fd)
    : dir_(std::move(dir)),
      tmp_path_(std::move(tmp_path)),
      final_path_(std::move(final_path)),
      fd_(fd) {}

SnapshotStagingFile::~SnapshotStagingFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
}

absl::Status SnapshotStagingFile::Append(const internalpb::SnapshotChunk& chunk) {
  // A FileOutputStream per chunk keeps no buffered bytes between calls, so a failed write is
  // reported by the chunk that caused it.
  google::protobuf::io::FileOutputStream output(fd_);
  if (!google::protobuf::util::SerializeDelimitedToZeroCopyStream(chunk, &output) ||
      !output.Flush()) {
    return ErrnoError("write", tmp_path_, output.GetErrno());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SnapshotStagingFile::Commit() {
  if (::fsync(fd_) != 0) return ErrnoError("fsync", tmp_path_, errno);
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) return ErrnoError("close", tmp_path_, errno);
  if (::rename(tmp_path_.c_str(), final_path_.c_str()) != 0) {
    return ErrnoError("rename", tmp_path_, errno);
  }
  committed_ = true;
  if (absl::Status status = SyncDir(dir_); !status.ok()) return status;
  return final_path_;
}

absl::StatusOr<std::unique_ptr<StagedSnapshot>> StagedSnapshot::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    if (error == ENOENT) {
      return absl::NotFoundError(absl::StrCat("staged snapshot ", path, " does not exist"));
    }
    return ErrnoError("open", path, error);
  }
  return std::make_unique<FileStagedSnapshot>(path, fd);
}

StagingWorker::StagingWorker() : thread_([this] { Run(); }) {}

StagingWorker::~StagingWorker() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void StagingWorker::Post(absl::AnyInvocable<void() &&> task) {
  absl::MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
}

bool StagingWorker::HasWorkOrStopping() const { return stopping_ || !tasks_.empty(); }

void StagingWorker::Run() {
  while (true) {
    absl::AnyInvocable<void() &&> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &StagingWorker::HasWorkOrStopping));
      if (tasks_.empty()) return;  // stopping, and nothing left to run
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    std::move(task)();
  }
}

}  // namespace quorum::server
