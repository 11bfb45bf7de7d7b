// A watch that survives member failures: Client::Watch starts one; its thread runs the Watch
// stream on the pinned member and, when that member goes away, creates the watch again on the
// next one from the revision after the last event it delivered.
#ifndef QUORUM_CLIENT_WATCHER_H_
#define QUORUM_CLIENT_WATCHER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace quorum::client {

class Client;

struct WatchOptions {
  std::string key;
  std::string range_end;       // empty: `key` only; PrefixRangeEnd(key) for a prefix
  int64_t start_revision = 0;  // 0: from now
  bool prev_kv = false;
  bool progress_notify = false;
};

class Watcher {
 public:
  // Cancels the watch and joins its thread; no callback runs after it returns.
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Waits until the server has accepted the watch (the first `created` answer), or `wait`.
  bool WaitCreated(std::chrono::milliseconds wait);
  // Waits up to `wait` for the watch to end by itself; returns why it ended: OUT_OF_RANGE with
  // etcd's message when the start revision was compacted, CANCELLED when the server canceled
  // it, CANCELLED after the Watcher is destroyed, DEADLINE_EXCEEDED while it still runs.
  absl::Status WaitEnded(std::chrono::milliseconds wait);
  // The revision the watch would resume from after a failover.
  int64_t next_revision() const { return next_revision_.load(); }
  // How many times the watch was created again on a member after its stream broke.
  int reconnects() const { return reconnects_.load(); }

 private:
  friend class Client;
  Watcher(Client* client, WatchOptions options,
          std::function<void(const etcdserverpb::WatchResponse&)> on_response);
  void Run();
  // One stream on one member; returns how it ended, or OK when the watch is over for good.
  absl::Status RunStream(bool* ended);
  void Finish(absl::Status status);

  Client* const client_;
  const WatchOptions options_;
  const std::function<void(const etcdserverpb::WatchResponse&)> on_response_;
  std::atomic<int64_t> next_revision_;
  std::atomic<int> reconnects_{0};

  std::mutex mu_;
  std::condition_variable changed_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool created_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_status_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* live_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

}  // namespace quorum::client

#endif  // QUORUM_CLIENT_WATCHER_H_
