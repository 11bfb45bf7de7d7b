// The watch hub: every watcher on this member, fed by the MVCC store's committed changes. The
// apply thread hands each revision's events to OnCommit, which queues responses for the synced
// watchers that match; a watcher whose stream has too much queued already, or that starts in
// the past, is unsynced and caught up by the hub's own thread from the store's history, chunk
// by chunk, as its stream drains (etcd's synced / unsynced watcher groups). So a slow client
// never stalls the apply path or other watchers, and queued memory per stream is bounded.
//
// Every watcher sees each event once, in revision order: a revision is either delivered live
// (synced) or read back from history (unsynced), never both, since the switch to synced happens
// under the hub's lock at the revision OnCommit last saw.
//
// Threading: OnCommit runs on the apply thread (under the store's writer lock: it only reads the
// store and queues). Streams are driven from gRPC threads. Wake callbacks run on the hub thread,
// never under a hub lock, and never after CloseStream returns. In-process watches (WatchLocal,
// for the Election and Lock services) get their responses on the hub thread too.
#ifndef QUORUM_SERVER_WATCH_HUB_H_
#define QUORUM_SERVER_WATCH_HUB_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvccpb/kv.pb.h"

namespace quorum::storage {
class MvccStore;
}  // namespace quorum::storage

namespace quorum::server {

class WatchHub {
 public:
  // How the hub reads the member's store from its own thread (the store may be replaced by a
  // snapshot, so the member answers under its own lock).
  struct StoreAccess {
    // Events with revision in [from, to]; OUT_OF_RANGE when `from` is compacted.
    std::function<absl::StatusOr<std::vector<mvccpb::Event>>(int64_t from, int64_t to)> events;
    // The key's value at `rev`, if it existed then.
    std::function<std::optional<mvccpb::KeyValue>(const std::string& key, int64_t rev)> value_at;
    std::function<int64_t()> compacted;
    // Fills the header's cluster, member and term.
    std::function<void(etcdserverpb::ResponseHeader*)> fill_header;
  };

  struct Options {
    // A stream's queued responses beyond which its watchers fall behind into catch-up.
    size_t stream_queue_bytes = 1 << 20;
    size_t stream_queue_responses = 256;
    // Revisions read from history per catch-up round.
    int64_t catch_up_revisions = 256;
    // Empty responses to idle watchers that asked for progress notifications (etcd: 10 min).
    absl::Duration progress_interval = absl::Minutes(10);
    // Largest response before a watcher that allows fragments gets its events split.
    size_t max_response_bytes = 1536 * 1024;
  };

  class Stream;

  WatchHub(Options options, StoreAccess store, int64_t current_revision);
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Apply thread: the events of one committed revision; `store` is the store that made them
  // (read for previous values).
  void OnCommit(int64_t revision, const std::vector<mvccpb::Event>& events,
                const storage::MvccStore& store);
  // The store was replaced (a snapshot installed) at `current_revision`: every watcher catches
  // up from the new store.
  void Reset(int64_t current_revision);

  // A stream of watchers. `wake` is called (on the hub thread) when it has responses to take.
  std::shared_ptr<Stream> OpenStream(std::function<void()> wake);
  // Removes the stream's watchers; no wake runs for it after this returns.
  void CloseStream(const std::shared_ptr<Stream>& stream);

  // etcd's WatchCreateRequest: queues the "created" response (or a refusal: created and
  // canceled with the reason) ahead of any event of the new watcher.
  void Create(const std::shared_ptr<Stream>& stream, etcdserverpb::WatchCreateRequest request);
  // Queues the refusal of a create request that never became a watcher (created and canceled,
  // watch id -1, with `reason`), as etcd answers a watch its caller may not read.
  void RefuseCreate(const std::shared_ptr<Stream>& stream, std::string reason);
  // Queues a "canceled" response if the stream had that watcher (none otherwise, as etcd).
  void Cancel(const std::shared_ptr<Stream>& stream, int64_t watch_id);
  // Queues a progress response (watch id -1) at the current revision.
  void RequestProgress(const std::shared_ptr<Stream>& stream);
  // True while the stream has as much queued as it may hold: its reader should stop taking
  // requests until it drains (control responses are queued whatever the room).
  bool Backlogged(const std::shared_ptr<Stream>& stream) const;
  // Takes the next queued response of the stream; false when there is none.
  bool Pop(const std::shared_ptr<Stream>& stream, etcdserverpb::WatchResponse* response);

  // In-process watching, for the recipes the server runs on its own store (waiting for a key's
  // deletion, observing an election). One watcher made from `request` as for Create; `handler`
  // gets each of its responses but the "created" one, in order, on the hub thread and never
  // under a hub lock, until it returns false or the watch is cancelled. A refused or compacted
  // watcher's "canceled" response is its last. The handler must not block; it may call the hub.
  using LocalHandler = absl::AnyInvocable<bool(etcdserverpb::WatchResponse)>;
  class LocalWatch;
  std::shared_ptr<LocalWatch> WatchLocal(etcdserverpb::WatchCreateRequest request,
                                         LocalHandler handler);
  // Ends the watch from any thread, the hub thread included (a handler may cancel its own watch
  // or another). Once it returns the handler is not called again, except for a call already
  // running on the hub thread; the handler is destroyed by whichever of the two comes last.
  // Dropping the last reference to a watch also ends it (at the next delivery, without
  // releasing its watcher until then); cancel explicitly to release the watcher at once. Every
  // watch ends before the hub goes (the member's services are stopped first).
  void CancelLocal(const std::shared_ptr<LocalWatch>& watch);

  size_t watcher_count() const;

 private:
  struct Watcher;
  using WatcherPtr = std::shared_ptr<Watcher>;

  bool Matches(const Watcher& w, const mvccpb::Event& event) const;
  // Queues `events` (all matching, at revisions up to `revision`) for `w`.
  void QueueEvents(Watcher& w, std::vector<mvccpb::Event> events, int64_t revision)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void QueueLocked(Stream& stream, etcdserverpb::WatchResponse response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasRoom(const Stream& stream) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddSynced(const WatcherPtr& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveSynced(const WatcherPtr& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveWatcher(const WatcherPtr& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unsync(const WatcherPtr& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Resync(const WatcherPtr& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  etcdserverpb::ResponseHeader Header(int64_t revision) const;

  // Closes the stream's watchers and drops its queue.
  void CloseLocked(Stream& stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hub thread: hands an in-process watch's queued responses to its handler.
  void DeliverLocal(const std::shared_ptr<Stream>& stream);

  void Run();
  // One round of catch-up for the unsynced watchers whose streams have room. Returns true if
  // there may be more to do at once.
  bool CatchUp();
  void SendProgress() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WakeDirty();

  const Options options_;
  const StoreAccess store_;

  mutable absl::Mutex mu_;
  int64_t revision_ ABSL_GUARDED_BY(mu_);  // the latest revision OnCommit (or Reset) saw
  // Synced watchers by exact key, and those over a range.
  absl::flat_hash_map<std::string, absl::flat_hash_set<Watcher*>> by_key_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<Watcher*> ranged_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<WatcherPtr> unsynced_ ABSL_GUARDED_BY(mu_);
  size_t watchers_ ABSL_GUARDED_BY(mu_) = 0;
  // Streams with responses queued since their last wake.
  std::vector<std::shared_ptr<Stream>> dirty_ ABSL_GUARDED_BY(mu_);
  bool work_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time next_progress_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_WATCH_HUB_H_
