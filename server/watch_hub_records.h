// The watch hub's records of its watchers, streams and in-process watches, shared by the hub's
// own files (watch_hub.cc: registration; watch_hub_delivery.cc: getting events to watchers).
// Nothing outside the hub includes it.
#ifndef QUORUM_SERVER_WATCH_HUB_RECORDS_H_
#define QUORUM_SERVER_WATCH_HUB_RECORDS_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "server/watch_hub.h"

namespace quorum::server {

struct WatchHub::Watcher {
  Stream* stream = nullptr;
  int64_t id = 0;
  std::string key;
  std::string end;        // empty: the single key (unless from_key)
  bool from_key = false;  // every key >= key
  bool no_put = false;
  bool no_delete = false;
  bool prev_kv = false;
  bool progress_notify = false;
  bool fragment = false;
  // The first revision not yet delivered (or, for a synced watcher started in the future, the
  // first it wants).
  int64_t next_rev = 0;
  bool synced = false;
  bool removed = false;
  // etcd's progress flag: no events since the last progress tick.
  bool idle = true;
};

class WatchHub::Stream : public std::enable_shared_from_this<WatchHub::Stream> {
 public:
  absl::Mutex wake_mu;
  std::function<void()> wake ABSL_GUARDED_BY(wake_mu);
  // Set once, before the stream is shared, for the stream of an in-process watch: the hub
  // thread hands its responses to the watch's handler instead of waking anybody. Weak: the
  // watch's owner holds it, and a dropped watch just stops taking responses.
  std::weak_ptr<LocalWatch> local;
  bool in_process = false;
  // The rest is guarded by the hub's mu_.
  // Queued responses with their encoded sizes (measured once, when queued).
  std::deque<std::pair<etcdserverpb::WatchResponse, size_t>> queue;
  size_t queue_bytes = 0;
  absl::flat_hash_map<int64_t, WatcherPtr> watchers;
  int64_t next_id = 0;
  int behind = 0;  // its watchers in the catch-up set
  bool closed = false;
  bool dirty = false;
};

class WatchHub::LocalWatch {
 public:
  std::shared_ptr<Stream> stream;
  absl::Mutex mu;
  // Held here between deliveries; the hub thread takes it out while it calls it, so a cancel
  // from another thread never destroys it mid-call.
  LocalHandler handler ABSL_GUARDED_BY(mu);
  bool ended ABSL_GUARDED_BY(mu) = false;
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_WATCH_HUB_RECORDS_H_
