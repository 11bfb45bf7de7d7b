// Disk side of inbound snapshots: the staging file a received snapshot is written to before Raft
// hears of it, and the worker thread that does that disk work so that gRPC reactors never wait
// on write() or fsync(). Used by the RaftPeer service (peer_service.cc); StagedSnapshot reads the
// files back (transport.h).
#ifndef QUORUM_SERVER_PEER_SNAPSHOT_STAGING_H_
#define QUORUM_SERVER_PEER_SNAPSHOT_STAGING_H_

#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "internalpb/peer.pb.h"

namespace quorum::server {

// "<term>-<index>.snap" in hex, so that names sort by position in the log (etcd's naming).
std::string StagedSnapshotName(uint64_t term, uint64_t index);

// Creates `dir` if missing and removes the ".snap.<n>.tmp" files a crash left behind: they were
// never renamed, so nothing refers to them.
absl::Status PrepareSnapshotDir(const std::string& dir);

// One snapshot being staged: length-delimited SnapshotChunk frames appended to
// "<dir>/<name>.<n>.tmp" (n unique in the process); Commit() makes it durable and renames it to
// "<dir>/<name>". Dropping an uncommitted file removes it. Not thread-safe; one owner at a time.
class SnapshotStagingFile {
 public:
  static absl::StatusOr<std::unique_ptr<SnapshotStagingFile>> Create(const std::string& dir,
                                                                     const std::string& name);
  // Takes ownership of `fd`, open on `tmp_path`; use Create().
  SnapshotStagingFile(std::string dir, std::string tmp_path, std::string final_path, int fd);
  ~SnapshotStagingFile();

  SnapshotStagingFile(const SnapshotStagingFile&) = delete;
  SnapshotStagingFile& operator=(const SnapshotStagingFile&) = delete;

  absl::Status Append(const internalpb::SnapshotChunk& chunk);
  // fsyncs the file, renames it into place and fsyncs the directory, so that the path handed
  // to Raft survives a crash. Returns that path.
  absl::StatusOr<std::string> Commit();

 private:
  std::string dir_;
  std::string tmp_path_;
  std::string final_path_;
  int fd_;
  bool committed_ = false;
};

// Runs disk tasks one at a time, in the order posted, on its own thread.
class StagingWorker {
 public:
  StagingWorker();
  // Runs what is still queued, then joins.
  ~StagingWorker();

  StagingWorker(const StagingWorker&) = delete;
  StagingWorker& operator=(const StagingWorker&) = delete;

  void Post(absl::AnyInvocable<void() &&> task);

 private:
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run();

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_PEER_SNAPSHOT_STAGING_H_
