// The watch hub over a real MVCC store: live delivery with previous values, replay from
// history, filters, a slow stream that falls behind and catches up with every event exactly
// once, cancellation by compaction, refusals, fragments, progress notifications; in-process
// watches and their cancellation.
#include "server/watch_hub.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "storage/store_fixture.h"

namespace quorum::server {
namespace {

using etcdserverpb::WatchCreateRequest;
using etcdserverpb::WatchResponse;

constexpr absl::Duration kWait = absl::Seconds(10);

class WatchHubTest : public storage::testing::StoreTest {
 protected:
  void StartHub(WatchHub::Options options = {}) {
    WatchHub::StoreAccess access{
        .events = [this](int64_t from, int64_t to) { return store_->ReadEvents(from, to); },
        .value_at = [this](const std::string& key, int64_t rev) -> std::optional<mvccpb::KeyValue> {
          auto found = store_->Range(storage::testing::RangeReq(key, "", rev));
          if (!found.ok() || found->kvs_size() == 0) return std::nullopt;
          return found->kvs(0);
        },
        .compacted = [this] { return store_->CompactedRevision(); },
        .fill_header = [](etcdserverpb::ResponseHeader* h) { h->set_member_id(7); }};
    hub_ = std::make_unique<WatchHub>(options, std::move(access), store_->CurrentRevision());
    store_->SetEventSink([this](int64_t rev, const std::vector<mvccpb::Event>& events) {
      hub_->OnCommit(rev, events, *store_);
    });
  }
  void TearDown() override {
    for (auto& stream : streams_) hub_->CloseStream(stream);
    store_->SetEventSink(nullptr);
    hub_.reset();
    StoreTest::TearDown();
  }

  std::shared_ptr<WatchHub::Stream> Open() {
    streams_.push_back(hub_->OpenStream([this] {
      absl::MutexLock lock(&wake_mu_);
      ++wakes_;
    }));
    return streams_.back();
  }

  static WatchCreateRequest Create(std::string key, std::string end = "", int64_t start = 0) {
    WatchCreateRequest create;
    create.set_key(std::move(key));
    create.set_range_end(std::move(end));
    create.set_start_revision(start);
    return create;
  }

  // Takes responses until `enough` says so or the wait runs out.
  std::vector<WatchResponse> Take(
      const std::shared_ptr<WatchHub::Stream>& stream,
      const std::function<bool(const std::vector<WatchResponse>&)>& enough) {
    std::vector<WatchResponse> got;
    const absl::Time deadline = absl::Now() + kWait;
    while (!enough(got) && absl::Now() < deadline) {
      WatchResponse response;
      if (hub_->Pop(stream, &response)) {
        got.push_back(std::move(response));
        continue;
      }
      absl::MutexLock lock(&wake_mu_);
      const int seen = wakes_;
      std::pair<int*, int> since(&wakes_, seen);
      wake_mu_.AwaitWithTimeout(
          absl::Condition(
              +[](std::pair<int*, int>* p) { return *p->first != p->second; }, &since),
          absl::Milliseconds(20));
    }
    return got;
  }

  static size_t EventCount(const std::vector<WatchResponse>& responses) {
    size_t n = 0;
    for (const auto& r : responses) n += r.events_size();
    return n;
  }

  bool WaitUntilNoWatchers() {
    const absl::Time deadline = absl::Now() + kWait;
    while (hub_->watcher_count() > 0 && absl::Now() < deadline)
      absl::SleepFor(absl::Milliseconds(5));
    return hub_->watcher_count() == 0;
  }

  std::unique_ptr<WatchHub> hub_;
  std::vector<std::shared_ptr<WatchHub::Stream>> streams_;
  absl::Mutex wake_mu_;
  int wakes_ ABSL_GUARDED_BY(wake_mu_) = 0;
};

TEST_F(WatchHubTest, LiveEventsArriveAfterCreatedWithPreviousValues) {
  StartHub();
  auto stream = Open();
  WatchCreateRequest create = Create("k");
  create.set_prev_kv(true);
  hub_->Create(stream, create);
  Put("k", "v1");
  Put("other", "x");
  Put("k", "v2");
  Delete("k");
  auto got = Take(stream, [](const auto& r) { return EventCount(r) >= 3; });
  ASSERT_GE(got.size(), 4u);
  EXPECT_TRUE(got[0].created());
  EXPECT_EQ(got[0].watch_id(), 0);
  EXPECT_EQ(got[0].header().revision(), 1);
  std::vector<std::string> seen;
  for (size_t i = 1; i < got.size(); ++i) {
    for (const auto& e : got[i].events()) {
      seen.push_back(absl::StrCat(e.type() == mvccpb::Event::PUT ? "PUT " : "DELETE ",
                                  e.kv().value(), "@", e.kv().mod_revision(),
                                  " prev=", e.prev_kv().value()));
    }
  }
  // A creation has no previous value (etcd); the delete carries the deleting revision.
  EXPECT_EQ(seen,
            (std::vector<std::string>{"PUT v1@2 prev=", "PUT v2@4 prev=v1", "DELETE @5 prev=v2"}));
}

TEST_F(WatchHubTest, StartRevisionInThePastReplaysHistoryThenGoesLive) {
  Put("a/1", "x");  // rev 2
  Put("b", "y");    // rev 3
  Put("a/2", "z");  // rev 4
  StartHub();
  auto stream = Open();
  hub_->Create(stream, Create("a/", "a0", 2));
  auto replay = Take(stream, [](const auto& r) { return EventCount(r) >= 2; });
  Put("a/3", "w");  // rev 5, live
  auto live = Take(stream, [](const auto& r) { return EventCount(r) >= 1; });
  std::vector<int64_t> revisions;
  for (const auto* part : {&replay, &live}) {
    for (const auto& r : *part) {
      for (const auto& e : r.events()) revisions.push_back(e.kv().mod_revision());
    }
  }
  EXPECT_EQ(revisions, (std::vector<int64_t>{2, 4, 5}));
}

TEST_F(WatchHubTest, FiltersDropPutsOrDeletes) {
  StartHub();
  auto stream = Open();
  WatchCreateRequest no_put = Create("k");
  no_put.add_filters(WatchCreateRequest::NOPUT);
  no_put.set_watch_id(10);
  WatchCreateRequest no_delete = Create("k");
  no_delete.add_filters(WatchCreateRequest::NODELETE);
  no_delete.set_watch_id(11);
  hub_->Create(stream, no_put);
  hub_->Create(stream, no_delete);
  Put("k", "v");
  Delete("k");
  auto got = Take(stream, [](const auto& r) { return EventCount(r) >= 2; });
  for (const auto& r : got) {
    for (const auto& e : r.events()) {
      if (r.watch_id() == 10) EXPECT_EQ(e.type(), mvccpb::Event::DELETE);
      if (r.watch_id() == 11) EXPECT_EQ(e.type(), mvccpb::Event::PUT);
    }
  }
  EXPECT_EQ(EventCount(got), 2u);
}

TEST_F(WatchHubTest, SlowStreamFallsBehindAndGetsEveryEventOnceInOrder) {
  WatchHub::Options options;
  options.stream_queue_responses = 4;  // tiny: the watcher falls behind at once
  options.catch_up_revisions = 7;
  StartHub(options);
  auto slow = Open();
  auto fast = Open();
  hub_->Create(slow, Create("k", "l"));
  hub_->Create(fast, Create("k", "l"));
  constexpr int kWrites = 200;
  // The fast stream is drained while writing; the slow one only afterwards.
  std::vector<WatchResponse> fast_got;
  for (int i = 0; i < kWrites; ++i) {
    Put("k" + std::to_string(i % 5), std::to_string(i));
    WatchResponse r;
    while (hub_->Pop(fast, &r)) fast_got.push_back(r);
  }
  auto rest =
      Take(fast, [&](const auto& r) { return EventCount(fast_got) + EventCount(r) >= kWrites; });
  fast_got.insert(fast_got.end(), rest.begin(), rest.end());
  auto slow_got = Take(slow, [](const auto& r) { return EventCount(r) >= kWrites; });
  for (const auto* got : {&fast_got, &slow_got}) {
    std::vector<int64_t> revisions;
    for (const auto& r : *got) {
      for (const auto& e : r.events()) revisions.push_back(e.kv().mod_revision());
    }
    ASSERT_EQ(revisions.size(), static_cast<size_t>(kWrites));
    for (int i = 0; i < kWrites; ++i) EXPECT_EQ(revisions[i], i + 2);
  }
  // Nothing more arrives for the slow one: no duplicates after the catch-up.
  Put("k0", "last");
  auto after = Take(slow, [](const auto& r) { return EventCount(r) >= 1; });
  ASSERT_EQ(EventCount(after), 1u);
  EXPECT_EQ(after[0].events(0).kv().mod_revision(), kWrites + 2);
}

TEST_F(WatchHubTest, WatchFromCompactedRevisionIsCancelledWithCompactRevision) {
  for (int i = 0; i < 5; ++i) Put("k", std::to_string(i));  // revs 2..6
  ASSERT_TRUE(Compact(5).ok());
  StartHub();
  auto stream = Open();
  hub_->Create(stream, Create("k", "", 3));
  auto got = Take(stream, [](const auto& r) { return r.size() >= 2; });
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].created());
  EXPECT_TRUE(got[1].canceled());
  EXPECT_EQ(got[1].compact_revision(), 5);
  EXPECT_EQ(hub_->watcher_count(), 0u);
}

TEST_F(WatchHubTest, DuplicateIdAndEmptyRangeAreRefusedAsEtcdDoes) {
  StartHub();
  auto stream = Open();
  WatchCreateRequest first = Create("k");
  first.set_watch_id(5);
  hub_->Create(stream, first);
  hub_->Create(stream, first);
  hub_->Create(stream, Create("b", "a"));
  hub_->Cancel(stream, 99);  // unknown: no answer
  hub_->Cancel(stream, 5);
  auto got = Take(stream, [](const auto& r) { return r.size() >= 4; });
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].watch_id(), 5);
  EXPECT_FALSE(got[0].canceled());
  EXPECT_EQ(got[1].watch_id(), -1);
  EXPECT_TRUE(got[1].created() && got[1].canceled());
  EXPECT_EQ(got[1].cancel_reason(), "mvcc: duplicate watch ID provided on the WatchStream");
  EXPECT_EQ(got[2].cancel_reason(), "mvcc: watcher range is empty");
  EXPECT_EQ(got[3].watch_id(), 5);
  EXPECT_TRUE(got[3].canceled());
  EXPECT_FALSE(got[3].created());
}

TEST_F(WatchHubTest, LargeReplayIsSplitIntoFragmentsWhenAsked) {
  const std::string big(1000, 'x');
  for (int i = 0; i < 50; ++i) Put("k" + std::to_string(i), big);
  WatchHub::Options options;
  options.max_response_bytes = 10 * 1024;
  options.catch_up_revisions = 1000;
  StartHub(options);
  auto stream = Open();
  WatchCreateRequest create = Create("k", "l", 2);
  create.set_fragment(true);
  hub_->Create(stream, create);
  auto got = Take(stream, [](const auto& r) { return EventCount(r) >= 50; });
  ASSERT_GT(got.size(), 3u);
  for (size_t i = 1; i + 1 < got.size(); ++i) {
    EXPECT_TRUE(got[i].fragment());
    EXPECT_LT(got[i].ByteSizeLong(), 12u * 1024);
  }
  EXPECT_FALSE(got.back().fragment());
  EXPECT_EQ(EventCount(got), 50u);
}

TEST_F(WatchHubTest, IdleWatchersAskingForProgressGetEmptyResponses) {
  WatchHub::Options options;
  options.progress_interval = absl::Milliseconds(50);
  StartHub(options);
  auto stream = Open();
  WatchCreateRequest create = Create("k");
  create.set_progress_notify(true);
  hub_->Create(stream, create);
  Put("other", "x");
  auto got = Take(stream, [](const auto& r) { return r.size() >= 2; });
  ASSERT_GE(got.size(), 2u);
  EXPECT_EQ(got[1].events_size(), 0);
  EXPECT_EQ(got[1].watch_id(), 0);
  EXPECT_EQ(got[1].header().revision(), 2);

  hub_->RequestProgress(stream);
  auto asked = Take(stream, [](const auto& r) {
    for (const auto& x : r) {
      if (x.watch_id() == -1) return true;
    }
    return false;
  });
  EXPECT_EQ(asked.back().watch_id(), -1);
}

// In-process watches (WatchLocal): what the Election and Lock services wait with.
class LocalWatchTest : public WatchHubTest {
 protected:
  // A handler that records each response and wants more while `more` says so.
  WatchHub::LocalHandler Record(std::function<bool(const WatchResponse&)> more = nullptr) {
    return [this, more = std::move(more)](WatchResponse response) {
      absl::MutexLock lock(&got_mu_);
      got_.push_back(response);
      return more == nullptr || more(response);
    };
  }
  // Waits until `count` responses were recorded; returns them.
  std::vector<WatchResponse> Recorded(size_t count) {
    absl::MutexLock lock(&got_mu_);
    std::pair<std::vector<WatchResponse>*, size_t> want(&got_, count);
    got_mu_.AwaitWithTimeout(absl::Condition(
                                 +[](std::pair<std::vector<WatchResponse>*, size_t>* w) {
                                   return w->first->size() >= w->second;
                                 },
                                 &want),
                             kWait);
    return got_;
  }
  size_t RecordedCount() {
    absl::MutexLock lock(&got_mu_);
    return got_.size();
  }

  absl::Mutex got_mu_;
  std::vector<WatchResponse> got_ ABSL_GUARDED_BY(got_mu_);
};

TEST_F(LocalWatchTest, HandlerGetsEventsInOrderButNotTheCreatedResponse) {
  StartHub();
  auto watch = hub_->WatchLocal(Create("k"), Record());
  Put("k", "v1");
  Put("other", "x");
  Delete("k");
  auto got = Recorded(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[0].created());
  EXPECT_EQ(got[0].events(0).type(), mvccpb::Event::PUT);
  EXPECT_EQ(got[0].events(0).kv().value(), "v1");
  EXPECT_EQ(got[1].events(0).type(), mvccpb::Event::DELETE);
  hub_->CancelLocal(watch);
  EXPECT_EQ(hub_->watcher_count(), 0u);
}

TEST_F(LocalWatchTest, HandlerThatReturnsFalseEndsTheWatchAndReleasesItsWatcher) {
  StartHub();
  const int64_t first = Put("k", "v1");
  Put("k", "v2");
  // From the past: caught up from history; one response is enough for it.
  auto watch =
      hub_->WatchLocal(Create("k", "", first), Record([](const WatchResponse&) { return false; }));
  ASSERT_EQ(Recorded(1).size(), 1u);
  EXPECT_TRUE(WaitUntilNoWatchers());
  Put("k", "v3");
  Put("k", "v4");
  // A watch of its own that sees v4 proves the hub delivered past it.
  auto probe_seen = std::make_shared<absl::Notification>();
  auto probe = hub_->WatchLocal(Create("k", "", first), [probe_seen](WatchResponse response) {
    for (const auto& event : response.events()) {
      if (event.kv().value() == "v4") probe_seen->Notify();
    }
    return !probe_seen->HasBeenNotified();
  });
  EXPECT_TRUE(probe_seen->WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(RecordedCount(), 1u);
  hub_->CancelLocal(probe);
}

TEST_F(LocalWatchTest, CancelFromAnyThreadStopsDeliveryIncludingFromItsOwnHandler) {
  StartHub();
  std::shared_ptr<WatchHub::LocalWatch> self_cancelling;
  absl::Notification assigned;
  self_cancelling = hub_->WatchLocal(Create("a"), Record([&](const WatchResponse&) {
                                       assigned.WaitForNotification();
                                       hub_->CancelLocal(self_cancelling);  // on the hub thread
                                       return true;
                                     }));
  assigned.Notify();
  auto other = hub_->WatchLocal(Create("b"), Record());
  EXPECT_EQ(hub_->watcher_count(), 2u);
  hub_->CancelLocal(other);
  EXPECT_EQ(hub_->watcher_count(), 1u);
  Put("b", "never seen");
  Put("a", "once");
  ASSERT_EQ(Recorded(1).size(), 1u);
  EXPECT_TRUE(WaitUntilNoWatchers());
  Put("a", "not again");
  Put("b", "nor this");
  EXPECT_EQ(RecordedCount(), 1u);
}

TEST_F(LocalWatchTest, CompactedStartEndsWithTheCanceledResponse) {
  StartHub();
  for (int i = 0; i < 5; ++i) Put("k", absl::StrCat("v", i));
  ASSERT_TRUE(Compact(4).ok());
  auto watch = hub_->WatchLocal(Create("k", "", 2), Record());
  auto got = Recorded(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].canceled());
  EXPECT_EQ(got[0].compact_revision(), 4);
  EXPECT_TRUE(WaitUntilNoWatchers());
}

}  // namespace
}  // namespace quorum::server
