#include "server/watch_hub.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "google/protobuf/io/coded_stream.h"

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

namespace {

// etcd's rule for which events get a previous value: all but the creation of a key.
bool IsCreate(const mvccpb::Event& event) {
  return event.type() == mvccpb::Event::PUT &&
         event.kv().create_revision() == event.kv().mod_revision();
}

}  // namespace

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

bool WatchHub::Matches(const Watcher& w, const mvccpb::Event& event) const {
  if (event.type() == mvccpb::Event::PUT ? w.no_put : w.no_delete) return false;
  const std::string& key = event.kv().key();
  if (w.from_key) return key >= w.key;
  if (w.end.empty()) return key == w.key;
  return key >= w.key && key < w.end;
}

bool WatchHub::HasRoom(const Stream& stream) const {
  return stream.queue.size() < options_.stream_queue_responses &&
         stream.queue_bytes < options_.stream_queue_bytes;
}

void WatchHub::QueueLocked(Stream& stream, etcdserverpb::WatchResponse response) {
  if (stream.closed) return;
  const size_t bytes = response.ByteSizeLong();
  stream.queue_bytes += bytes;
  stream.queue.emplace_back(std::move(response), bytes);
  if (!stream.dirty) {
    stream.dirty = true;
    dirty_.push_back(stream.shared_from_this());
  }
}

void WatchHub::QueueEvents(Watcher& w, std::vector<mvccpb::Event> events, int64_t revision) {
  w.idle = false;
  etcdserverpb::WatchResponse response;
  *response.mutable_header() = Header(revision);
  response.set_watch_id(w.id);
  for (mvccpb::Event& event : events) *response.add_events() = std::move(event);
  if (!w.fragment || response.ByteSizeLong() < options_.max_response_bytes ||
      response.events_size() < 2) {
    QueueLocked(*w.stream, std::move(response));
    return;
  }
  // etcd's fragmenting: as many events per response as fit (at least one), every part but the
  // last marked as a fragment. A part's size is kept as a running sum of its encoded events
  // (each a one-byte tag, a length and the event) rather than measured again per event.
  etcdserverpb::WatchResponse part;
  size_t part_bytes = 0;
  const auto start_part = [&] {
    part.Clear();
    *part.mutable_header() = response.header();
    part.set_watch_id(w.id);
    part.set_fragment(true);
    part_bytes = part.ByteSizeLong();
  };
  const auto encoded = [](const mvccpb::Event& event) {
    const size_t size = event.ByteSizeLong();
    return 1 + google::protobuf::io::CodedOutputStream::VarintSize64(size) + size;
  };
  start_part();
  for (int i = 0; i < response.events_size(); ++i) {
    const size_t event_bytes = encoded(response.events(i));
    *part.add_events() = std::move(*response.mutable_events(i));
    part_bytes += event_bytes;
    if (part.events_size() > 1 && part_bytes >= options_.max_response_bytes) {
      mvccpb::Event last = std::move(*part.mutable_events(part.events_size() - 1));
      part.mutable_events()->RemoveLast();
      QueueLocked(*w.stream, std::move(part));
      start_part();
      *part.add_events() = std::move(last);
      part_bytes += event_bytes;
    }
  }
  part.set_fragment(false);
  QueueLocked(*w.stream, std::move(part));
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

void WatchHub::OnCommit(int64_t revision, const std::vector<mvccpb::Event>& events,
                        const storage::MvccStore& store) {
  absl::MutexLock lock(&mu_);
  revision_ = revision;
  if (watchers_ == 0) return;
  // Each synced watcher's events of this revision, in their order.
  absl::flat_hash_map<Watcher*, std::vector<mvccpb::Event>> matched;
  for (const mvccpb::Event& event : events) {
    const auto offer = [&](Watcher* w) {
      if (revision >= w->next_rev && Matches(*w, event)) matched[w].push_back(event);
    };
    if (auto it = by_key_.find(event.kv().key()); it != by_key_.end()) {
      for (Watcher* w : it->second) offer(w);
    }
    for (Watcher* w : ranged_) offer(w);
  }
  // Previous values, read once per key however many watchers want them.
  absl::flat_hash_map<std::string, std::optional<mvccpb::KeyValue>> before;
  const auto previous = [&](const std::string& key) -> const std::optional<mvccpb::KeyValue>& {
    auto it = before.find(key);
    if (it != before.end()) return it->second;
    etcdserverpb::RangeRequest at;
    at.set_key(key);
    at.set_revision(revision - 1);
    absl::StatusOr<etcdserverpb::RangeResponse> found = store.Range(at);
    std::optional<mvccpb::KeyValue> value;
    if (found.ok() && found->kvs_size() > 0) value = found->kvs(0);
    return before.emplace(key, std::move(value)).first->second;
  };
  for (auto& [w, evs] : matched) {
    if (!HasRoom(*w->stream)) {
      // Falls behind: this revision and what follows come from history once the stream drains.
      w->next_rev = std::max(w->next_rev, revision);
      Unsync(w->stream->watchers.at(w->id));
      continue;
    }
    if (w->prev_kv) {
      for (mvccpb::Event& event : evs) {
        if (IsCreate(event)) continue;
        const std::optional<mvccpb::KeyValue>& value = previous(event.kv().key());
        if (value.has_value()) *event.mutable_prev_kv() = *value;
      }
    }
    QueueEvents(*w, std::move(evs), revision);
    w->next_rev = revision + 1;
  }
}

void WatchHub::Reset(int64_t current_revision) {
  absl::MutexLock lock(&mu_);
  revision_ = current_revision;
  std::vector<WatcherPtr> synced;
  for (auto& [key, set] : by_key_) {
    for (Watcher* w : set) synced.push_back(w->stream->watchers.at(w->id));
  }
  for (Watcher* w : ranged_) synced.push_back(w->stream->watchers.at(w->id));
  for (const WatcherPtr& w : synced) Unsync(w);
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
    if (!stream->closed) {
      stream->closed = true;
      for (auto& [id, w] : stream->watchers) RemoveWatcher(w);
      stream->watchers.clear();
      stream->queue.clear();
      stream->queue_bytes = 0;
    }
  }
  // Waits for a wake in progress on the hub thread.
  absl::MutexLock lock(&stream->wake_mu);
  stream->wake = nullptr;
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

void WatchHub::SendProgress() {
  // etcd: an empty response, at the current revision, to each synced watcher that asked for
  // progress and got no events during the last interval.
  const auto notify = [&](Watcher* w) {
    if (!w->progress_notify) return;
    if (w->idle) {
      etcdserverpb::WatchResponse progress;
      *progress.mutable_header() = Header(revision_);
      progress.set_watch_id(w->id);
      QueueLocked(*w->stream, std::move(progress));
    }
    w->idle = true;
  };
  for (auto& [key, set] : by_key_) {
    for (Watcher* w : set) notify(w);
  }
  for (Watcher* w : ranged_) notify(w);
}

void WatchHub::WakeDirty() {
  std::vector<std::shared_ptr<Stream>> dirty;
  {
    absl::MutexLock lock(&mu_);
    dirty.swap(dirty_);
    for (auto& stream : dirty) stream->dirty = false;
  }
  for (auto& stream : dirty) {
    absl::MutexLock lock(&stream->wake_mu);
    if (stream->wake) stream->wake();
  }
}

bool WatchHub::CatchUp() {
  // At most this many watchers per round, so one round's work stays small.
  constexpr size_t kWatchersPerRound = 512;
  std::vector<WatcherPtr> chosen;
  int64_t from = 0;
  int64_t to = 0;
  {
    absl::MutexLock lock(&mu_);
    for (const WatcherPtr& w : unsynced_) {
      if (chosen.size() >= kWatchersPerRound) break;
      if (!HasRoom(*w->stream)) continue;
      chosen.push_back(w);
      from = chosen.size() == 1 ? w->next_rev : std::min(from, w->next_rev);
    }
    if (chosen.empty()) return false;
    // Written so that a watcher starting near the largest revision cannot overflow it.
    to = from > revision_ - options_.catch_up_revisions ? revision_
                                                        : from + options_.catch_up_revisions - 1;
  }
  const int64_t compacted = store_.compacted();
  absl::StatusOr<std::vector<mvccpb::Event>> events =
      from <= to ? store_.events(std::max(from, compacted), to)
                 : absl::StatusOr<std::vector<mvccpb::Event>>(std::vector<mvccpb::Event>{});
  // Previous values, read once per (key, revision) however many watchers want them.
  absl::flat_hash_map<std::pair<std::string, int64_t>, std::optional<mvccpb::KeyValue>> before;
  if (events.ok()) {
    bool any_prev = false;
    for (const WatcherPtr& w : chosen) any_prev = any_prev || w->prev_kv;
    if (any_prev) {
      for (const mvccpb::Event& event : *events) {
        if (IsCreate(event)) continue;
        auto key = std::make_pair(event.kv().key(), event.kv().mod_revision() - 1);
        if (!before.contains(key)) before[key] = store_.value_at(key.first, key.second);
      }
    }
  }

  absl::MutexLock lock(&mu_);
  for (const WatcherPtr& w : chosen) {
    if (w->removed || w->synced) continue;
    if (compacted > 0 && w->next_rev < compacted) {
      // etcd: a watcher whose history is gone is cancelled, naming the compacted revision.
      etcdserverpb::WatchResponse cancel;
      *cancel.mutable_header() = Header(0);
      cancel.set_watch_id(w->id);
      cancel.set_compact_revision(compacted);
      cancel.set_canceled(true);
      QueueLocked(*w->stream, std::move(cancel));
      Stream* stream = w->stream;
      RemoveWatcher(w);
      stream->watchers.erase(w->id);
      continue;
    }
    if (!events.ok()) continue;  // tried again next round
    // Another watcher of the same stream may have filled it this round: wait for the next.
    if (!HasRoom(*w->stream)) continue;
    std::vector<mvccpb::Event> mine;
    for (const mvccpb::Event& event : *events) {
      if (event.kv().mod_revision() < w->next_rev || !Matches(*w, event)) continue;
      mine.push_back(event);
      if (w->prev_kv && !IsCreate(event)) {
        auto it = before.find(std::make_pair(event.kv().key(), event.kv().mod_revision() - 1));
        if (it != before.end() && it->second.has_value()) {
          *mine.back().mutable_prev_kv() = *it->second;
        }
      }
    }
    if (!mine.empty()) QueueEvents(*w, std::move(mine), to);
    w->next_rev = std::max(w->next_rev, to + 1);
    if (w->next_rev > revision_) Resync(w);
  }
  return true;
}

void WatchHub::Run() {
  // Catch-up and progress are also checked this often when nothing signals.
  constexpr absl::Duration kPoll = absl::Milliseconds(100);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(
                               +[](WatchHub* hub) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                 return hub->stopping_ || hub->work_ || !hub->dirty_.empty();
                               },
                               this),
                           kPoll);
      if (stopping_) return;
      work_ = false;
      const absl::Time now = absl::Now();
      if (now >= next_progress_) {
        SendProgress();
        next_progress_ = now + options_.progress_interval;
      }
    }
    WakeDirty();
    // Rounds until every watcher that can catch up has, waking streams after each.
    for (int round = 0; round < 64 && CatchUp(); ++round) WakeDirty();
  }
}

}  // namespace quorum::server
