#include "server/local_kv.h"

#include <memory>
#include <system_error>
#include <utility>

#include "absl/time/clock.h"
#include "proto/etcd_errors.h"
#include "proto/etcd_keys.h"
#include "server/watch_hub.h"

namespace quorum::server {
namespace {

// How often a wait looks at whether its call was cancelled.
constexpr absl::Duration kCancelPoll = absl::Milliseconds(50);

// A result filled by a callback that may run after the waiter gave up; hence shared.
template <typename T>
struct Slot {
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::StatusOr<T> value ABSL_GUARDED_BY(mu) = absl::UnknownError("unset");
  void Set(absl::StatusOr<T> v) {
    absl::MutexLock lock(&mu);
    value = std::move(v);
    done = true;
  }
};

template <typename Response>
ProposalDone FillSlot(std::shared_ptr<Slot<Response>> slot, MemberApi* member) {
  return [slot, member](ApplyResult result) {
    slot->Set(TakeResponse<Response>(*member, std::move(result)));
  };
}

}  // namespace

etcdserverpb::RangeRequest EdgeByCreation(const std::string& prefix,
                                          etcdserverpb::RangeRequest::SortOrder order) {
  etcdserverpb::RangeRequest range;
  range.set_key(prefix);
  range.set_range_end(PrefixRangeEnd(prefix));
  range.set_sort_target(etcdserverpb::RangeRequest::CREATE);
  range.set_sort_order(order);
  range.set_limit(1);
  return range;
}

absl::Status LocalKv::Await(absl::Mutex* mu, const bool* done, absl::Time deadline) {
  absl::MutexLock lock(mu);
  while (!*done) {
    if (cancelled_()) return absl::CancelledError("context canceled");
    if (absl::Now() >= deadline) return ErrTimeout();
    mu->AwaitWithTimeout(absl::Condition(done), kCancelPoll);
  }
  return absl::OkStatus();
}

absl::StatusOr<etcdserverpb::RangeResponse> LocalKv::Range(etcdserverpb::RangeRequest request,
                                                           absl::Time deadline) {
  auto slot = std::make_shared<Slot<bool>>();
  member_->ReadBarrier(deadline, [slot](absl::Status ready) {
    slot->Set(ready.ok() ? absl::StatusOr<bool>(true) : absl::StatusOr<bool>(ready));
  });
  if (absl::Status s = Await(&slot->mu, &slot->done, deadline); !s.ok()) return s;
  {
    absl::MutexLock lock(&slot->mu);
    if (!slot->value.ok()) return slot->value.status();
  }
  return member_->LocalRange(request);
}

absl::StatusOr<etcdserverpb::TxnResponse> LocalKv::Txn(etcdserverpb::TxnRequest request,
                                                       absl::Time deadline) {
  auto slot = std::make_shared<Slot<etcdserverpb::TxnResponse>>();
  internalpb::InternalRequest internal;
  *internal.mutable_txn() = std::move(request);
  member_->Propose(std::move(internal), deadline, FillSlot(slot, member_));
  if (absl::Status s = Await(&slot->mu, &slot->done, deadline); !s.ok()) return s;
  absl::MutexLock lock(&slot->mu);
  return std::move(slot->value);
}

absl::StatusOr<etcdserverpb::DeleteRangeResponse> LocalKv::Delete(const std::string& key,
                                                                  absl::Time deadline) {
  auto slot = std::make_shared<Slot<etcdserverpb::DeleteRangeResponse>>();
  internalpb::InternalRequest internal;
  internal.mutable_delete_range()->set_key(key);
  member_->Propose(std::move(internal), deadline, FillSlot(slot, member_));
  if (absl::Status s = Await(&slot->mu, &slot->done, deadline); !s.ok()) return s;
  absl::MutexLock lock(&slot->mu);
  return std::move(slot->value);
}

absl::StatusOr<int64_t> LocalKv::GrantLease(int64_t ttl, absl::Time deadline) {
  auto slot = std::make_shared<Slot<etcdserverpb::LeaseGrantResponse>>();
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(ttl);
  member_->LeaseGrant(std::move(request), deadline, FillSlot(slot, member_));
  if (absl::Status s = Await(&slot->mu, &slot->done, deadline); !s.ok()) return s;
  absl::MutexLock lock(&slot->mu);
  if (!slot->value.ok()) return slot->value.status();
  return slot->value->id();
}

absl::StatusOr<LocalKv::Change> LocalKv::WaitFor(
    const std::string& key, const std::string& range_end, int64_t revision,
    const std::function<bool(const mvccpb::Event&)>& stop) {
  struct Signal {
    absl::Mutex mu;
    bool woke ABSL_GUARDED_BY(mu) = false;
  };
  auto signal = std::make_shared<Signal>();
  WatchHub* hub = member_->watch_hub();
  std::shared_ptr<WatchHub::Stream> stream = hub->OpenStream([signal] {
    absl::MutexLock lock(&signal->mu);
    signal->woke = true;
  });
  etcdserverpb::WatchCreateRequest create;
  create.set_key(key);
  create.set_range_end(range_end);
  create.set_start_revision(revision);
  hub->Create(stream, std::move(create));

  absl::StatusOr<Change> result = absl::CancelledError("context canceled");
  bool finished = false;
  while (!finished) {
    etcdserverpb::WatchResponse response;
    while (!finished && hub->Pop(stream, &response)) {
      if (response.canceled()) {
        result = response.compact_revision() > 0 ? ErrCompacted()
                                                 : absl::AbortedError(response.cancel_reason());
        finished = true;
        break;
      }
      for (const mvccpb::Event& event : response.events()) {
        if (stop(event)) {
          result = Change{event, response.header()};
          finished = true;
          break;
        }
      }
    }
    if (finished || cancelled_()) break;
    absl::MutexLock lock(&signal->mu);
    signal->mu.AwaitWithTimeout(absl::Condition(&signal->woke), kCancelPoll);
    signal->woke = false;
  }
  hub->CloseStream(stream);
  return result;
}

absl::StatusOr<etcdserverpb::ResponseHeader> LocalKv::WaitDeletes(const std::string& prefix,
                                                                  int64_t max_create_rev) {
  while (true) {
    // The newest key created at or before max_create_rev: the one to wait for.
    etcdserverpb::RangeRequest last = EdgeByCreation(prefix, etcdserverpb::RangeRequest::DESCEND);
    last.set_max_create_revision(max_create_rev);
    absl::StatusOr<etcdserverpb::RangeResponse> found = Range(last, member_->DefaultDeadline());
    if (!found.ok()) return found.status();
    if (found->kvs_size() == 0) return found->header();
    absl::StatusOr<Change> deleted =
        WaitFor(found->kvs(0).key(), "", found->header().revision(),
                [](const mvccpb::Event& e) { return e.type() == mvccpb::Event::DELETE; });
    if (!deleted.ok()) return deleted.status();
  }
}

CallThreads::~CallThreads() {
  std::list<Slot> all;
  {
    // Spliced, not copied: running threads keep writing to their own slot.
    absl::MutexLock lock(&mu_);
    all.splice(all.end(), slots_);
  }
  for (Slot& slot : all) {
    if (slot.thread.joinable()) slot.thread.join();
  }
}

bool CallThreads::Start(std::function<void()> call) {
  absl::MutexLock lock(&mu_);
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (it->finished) {
      it->thread.join();
      it = slots_.erase(it);
    } else {
      ++it;
    }
  }
  if (slots_.size() >= kMaxRunning) return false;
  Slot& slot = slots_.emplace_back();
  try {
    slot.thread = std::thread([this, &slot, call = std::move(call)] {
      call();
      absl::MutexLock lock(&mu_);
      slot.finished = true;
    });
  } catch (const std::system_error&) {
    slots_.pop_back();
    return false;
  }
  return true;
}

}  // namespace quorum::server
