// Registering watchers: streams, their watchers, and in-process watches. Getting events to them
// is in watch_hub_delivery.cc.
#include "server/watch_hub.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "server/watch_hub_records.h"

namespace quorum::server {

WatchHub::WatchHub(Options options, StoreAccess store, int64_t current_revision)
    : options_(std::move(options)),
      store_(std::move(store)),
      revision_(current_revision),
      next_progress_(absl::Now() + options_.progress_interval),
      thread_([this] { Run(); }) {}

WatchHub::~WatchHub() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

size_t WatchHub::watcher_count() const {
  absl::MutexLock lock(&mu_);
  return watchers_;
}

etcdserverpb::ResponseHeader WatchHub::Header(int64_t revision) const {
  etcdserverpb::ResponseHeader header;
  store_.fill_header(&header);
  header.set_revision(revision);
  return header;
}

void WatchHub::AddSynced(const WatcherPtr& w) {
  w->synced = true;
  if (w->from_key || !w->end.empty()) {
    ranged_.insert(w.get());
  } else {
    by_key_[w->key].insert(w.get());
  }
}

void WatchHub::RemoveSynced(const WatcherPtr& w) {
  if (!w->synced) return;
  w->synced = false;
  if (w->from_key || !w->end.empty()) {
    ranged_.erase(w.get());
    return;
  }
  auto it = by_key_.find(w->key);
  if (it == by_key_.end()) return;
  it->second.erase(w.get());
  if (it->second.empty()) by_key_.erase(it);
}

void WatchHub::Unsync(const WatcherPtr& w) {
  RemoveSynced(w);
  if (unsynced_.insert(w).second) ++w->stream->behind;
  work_ = true;
}

void WatchHub::Resync(const WatcherPtr& w) {
  if (unsynced_.erase(w) > 0) --w->stream->behind;
  AddSynced(w);
}

void WatchHub::RemoveWatcher(const WatcherPtr& w) {
  if (w->removed) return;
  w->removed = true;
  RemoveSynced(w);
  if (unsynced_.erase(w) > 0) --w->stream->behind;
  --watchers_;
}

std::shared_ptr<WatchHub::Stream> WatchHub::OpenStream(std::function<void()> wake) {
  auto stream = std::make_shared<Stream>();
  absl::MutexLock lock(&stream->wake_mu);
  stream->wake = std::move(wake);
  return stream;
}

void WatchHub::CloseStream(const std::shared_ptr<Stream>& stream) {
  {
    absl::MutexLock lock(&mu_);
    CloseLocked(*stream);
  }
  // Waits for a wake in progress on the hub thread.
  absl::MutexLock lock(&stream->wake_mu);
  stream->wake = nullptr;
}

void WatchHub::RefuseCreate(const std::shared_ptr<Stream>& stream, std::string reason) {
  absl::MutexLock lock(&mu_);
  if (stream->closed) return;
  etcdserverpb::WatchResponse refused;
  *refused.mutable_header() = Header(revision_);
  refused.set_created(true);
  refused.set_watch_id(-1);
  refused.set_canceled(true);
  refused.set_cancel_reason(std::move(reason));
  QueueLocked(*stream, std::move(refused));
}

void WatchHub::Create(const std::shared_ptr<Stream>& stream,
                      etcdserverpb::WatchCreateRequest request) {
  auto w = std::make_shared<Watcher>();
  w->stream = stream.get();
  // etcd's normalisation: an empty key means "\0"; a range end of "\0" means every key from
  // the key on.
  w->key = request.key().empty() ? std::string(1, '\0') : request.key();
  if (request.range_end() == std::string(1, '\0')) {
    w->from_key = true;
  } else {
    w->end = request.range_end();
  }
  for (int filter : request.filters()) {
    if (filter == etcdserverpb::WatchCreateRequest::NOPUT) w->no_put = true;
    if (filter == etcdserverpb::WatchCreateRequest::NODELETE) w->no_delete = true;
  }
  w->prev_kv = request.prev_kv();
  w->progress_notify = request.progress_notify();
  w->fragment = request.fragment();

  absl::MutexLock lock(&mu_);
  if (stream->closed) return;
  etcdserverpb::WatchResponse created;
  *created.mutable_header() = Header(revision_);
  created.set_created(true);
  const char* refused = nullptr;
  if (!w->end.empty() && w->key >= w->end) {
    refused = "mvcc: watcher range is empty";
  } else if (request.watch_id() != 0 && stream->watchers.contains(request.watch_id())) {
    refused = "mvcc: duplicate watch ID provided on the WatchStream";
  }
  if (refused != nullptr) {
    created.set_watch_id(-1);
    created.set_canceled(true);
    created.set_cancel_reason(refused);
    QueueLocked(*stream, std::move(created));
    return;
  }
  if (request.watch_id() != 0) {
    w->id = request.watch_id();
  } else {
    while (stream->watchers.contains(stream->next_id)) ++stream->next_id;
    w->id = stream->next_id++;
  }
  created.set_watch_id(w->id);
  // The created response goes first: events of the new watcher can only queue after it.
  QueueLocked(*stream, std::move(created));
  stream->watchers[w->id] = w;
  ++watchers_;
  // A start below 1 means "from the beginning" (etcd catches such a watcher up from the oldest
  // revision it still has).
  w->next_rev = request.start_revision() == 0 ? revision_ + 1
                                              : std::max<int64_t>(1, request.start_revision());
  if (w->next_rev > revision_) {
    AddSynced(w);
  } else {
    Unsync(w);
  }
}

void WatchHub::Cancel(const std::shared_ptr<Stream>& stream, int64_t watch_id) {
  absl::MutexLock lock(&mu_);
  auto it = stream->watchers.find(watch_id);
  if (it == stream->watchers.end()) return;
  RemoveWatcher(it->second);
  stream->watchers.erase(it);
  etcdserverpb::WatchResponse canceled;
  *canceled.mutable_header() = Header(revision_);
  canceled.set_watch_id(watch_id);
  canceled.set_canceled(true);
  QueueLocked(*stream, std::move(canceled));
}

void WatchHub::RequestProgress(const std::shared_ptr<Stream>& stream) {
  absl::MutexLock lock(&mu_);
  etcdserverpb::WatchResponse progress;
  *progress.mutable_header() = Header(revision_);
  progress.set_watch_id(-1);  // etcd: for every watcher of the stream
  QueueLocked(*stream, std::move(progress));
}

bool WatchHub::Backlogged(const std::shared_ptr<Stream>& stream) const {
  absl::MutexLock lock(&mu_);
  return !HasRoom(*stream);
}

bool WatchHub::Pop(const std::shared_ptr<Stream>& stream, etcdserverpb::WatchResponse* response) {
  absl::MutexLock lock(&mu_);
  if (stream->queue.empty()) return false;
  auto& [front, bytes] = stream->queue.front();
  *response = std::move(front);
  stream->queue_bytes -= bytes;
  stream->queue.pop_front();
  // Room again: watchers of this stream that fell behind can catch up.
  if (stream->behind > 0) work_ = true;
  return true;
}

std::shared_ptr<WatchHub::LocalWatch> WatchHub::WatchLocal(etcdserverpb::WatchCreateRequest request,
                                                           LocalHandler handler) {
  auto watch = std::make_shared<LocalWatch>();
  {
    absl::MutexLock lock(&watch->mu);
    watch->handler = std::move(handler);
  }
  watch->stream = std::make_shared<Stream>();
  watch->stream->local = watch;
  watch->stream->in_process = true;
  Create(watch->stream, std::move(request));
  return watch;
}

void WatchHub::CancelLocal(const std::shared_ptr<LocalWatch>& watch) {
  LocalHandler handler;
  {
    absl::MutexLock lock(&watch->mu);
    if (watch->ended) return;
    watch->ended = true;
    // Absent while the hub thread runs it; the hub thread then destroys it.
    handler = std::move(watch->handler);
  }
  absl::MutexLock lock(&mu_);
  CloseLocked(*watch->stream);
}

void WatchHub::CloseLocked(Stream& stream) {
  if (stream.closed) return;
  stream.closed = true;
  for (auto& [id, w] : stream.watchers) RemoveWatcher(w);
  stream.watchers.clear();
  stream.queue.clear();
  stream.queue_bytes = 0;
}

}  // namespace quorum::server
