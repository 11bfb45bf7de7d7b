// Getting events to watchers: live from each commit (OnCommit), caught up from the store's
// history for watchers that fell behind or started in the past (CatchUp, on the hub thread),
// progress notifications, and the wakes and in-process deliveries that follow.
#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "google/protobuf/io/coded_stream.h"
#include "server/watch_hub.h"
#include "server/watch_hub_records.h"
#include "storage/mvcc_store.h"

namespace quorum::server {

namespace {

// etcd's rule for which events get a previous value: all but the creation of a key.
bool IsCreate(const mvccpb::Event& event) {
  return event.type() == mvccpb::Event::PUT &&
         event.kv().create_revision() == event.kv().mod_revision();
}

}  // namespace

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
    if (stream->in_process) {
      DeliverLocal(stream);
      continue;
    }
    absl::MutexLock lock(&stream->wake_mu);
    if (stream->wake) stream->wake();
  }
}

void WatchHub::DeliverLocal(const std::shared_ptr<Stream>& stream) {
  std::shared_ptr<LocalWatch> watch = stream->local.lock();
  std::deque<std::pair<etcdserverpb::WatchResponse, size_t>> taken;
  {
    absl::MutexLock lock(&mu_);
    if (watch == nullptr) {
      // Its owner dropped it without cancelling: release the watcher now.
      CloseLocked(*stream);
      return;
    }
    taken.swap(stream->queue);
    stream->queue_bytes = 0;
    if (stream->behind > 0) work_ = true;
  }
  LocalHandler handler;
  {
    absl::MutexLock lock(&watch->mu);
    if (watch->ended) return;
    handler = std::move(watch->handler);
  }
  bool more = true;
  for (auto& [response, bytes] : taken) {
    if (response.created() && !response.canceled()) continue;
    const bool last = response.canceled();
    more = handler(std::move(response)) && !last;
    if (!more) break;
  }
  {
    absl::MutexLock lock(&watch->mu);
    if (more && !watch->ended) {
      watch->handler = std::move(handler);
      return;
    }
    watch->ended = true;
  }
  absl::MutexLock lock(&mu_);
  CloseLocked(*stream);
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
