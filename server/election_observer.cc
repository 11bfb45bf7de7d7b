#include "server/election_observer.h"

#include <deque>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "proto/etcd_keys.h"
#include "server/coordination_steps.h"

namespace quorum::server {
namespace {

using Reactor = grpc::ServerWriteReactor<v3electionpb::LeaderResponse>;

// The shared side of one Observe call: its read completions hold it, its watches hold it
// weakly, and the reactor holds it until the call is done. It reaches the reactor only until it
// finishes the call.
class Observer : public std::enable_shared_from_this<Observer> {
 public:
  Observer(MemberApi* member, std::string name) : member_(member), prefix_(std::move(name) + "/") {}

  void Start(Reactor* reactor) {
    {
      absl::MutexLock lock(&mu_);
      reactor_ = reactor;
    }
    Look();
  }

  void WriteDone(bool ok) {
    if (!ok) End(coordination::ContextCanceled());
    WriteNext(/*done_writing=*/true);
  }

  void Cancel() { End(coordination::ContextCanceled()); }

 private:
  // The oldest key under the election: its leader (etcd's WithFirstCreate).
  void Look() {
    uint64_t generation = NextGeneration();
    coordination::LinearRange(
        member_, coordination::EdgeByCreation(prefix_, etcdserverpb::RangeRequest::ASCEND),
        member_->DefaultDeadline(),
        [self = shared_from_this(), generation](absl::StatusOr<etcdserverpb::RangeResponse> first) {
          self->Found(generation, std::move(first));
        });
  }

  void Found(uint64_t generation, absl::StatusOr<etcdserverpb::RangeResponse> first) {
    // etcd ends Observe without an error when its observer stops (a failed read, a lost
    // watch); only a cancelled call reports the cancellation.
    if (!first.ok()) return End(absl::OkStatus());
    if (first->kvs_size() > 0) {
      if (!Send(generation, first->header(), first->kvs(0))) return;
      return Follow(first->kvs(0).key(), first->header().revision() + 1);
    }
    // No leader yet: the first key put under the election is the leader.
    etcdserverpb::WatchCreateRequest create;
    create.set_key(prefix_);
    create.set_range_end(PrefixRangeEnd(prefix_));
    create.set_start_revision(first->header().revision());
    Watch(std::move(create),
          [](Observer& self, uint64_t generation, const etcdserverpb::WatchResponse& response) {
            for (const mvccpb::Event& event : response.events()) {
              if (event.type() != mvccpb::Event::PUT) continue;
              etcdserverpb::ResponseHeader header = response.header();
              header.set_revision(event.kv().mod_revision());
              if (self.Send(generation, header, event.kv())) {
                self.Follow(event.kv().key(), header.revision() + 1);
              }
              return false;
            }
            return true;
          });
  }

  // Every change of the leader's key: proclaimed values go out, the deletion starts over.
  void Follow(const std::string& key, int64_t from) {
    etcdserverpb::WatchCreateRequest create;
    create.set_key(key);
    create.set_start_revision(from);
    Watch(std::move(create),
          [](Observer& self, uint64_t generation, const etcdserverpb::WatchResponse& response) {
            for (const mvccpb::Event& event : response.events()) {
              if (event.type() == mvccpb::Event::DELETE) {
                self.Look();
                return false;
              }
              if (!self.Send(generation, response.header(), event.kv())) return false;
            }
            return true;
          });
  }

  // Watches for the current step; `step` gets each response while the step is current and
  // returns whether it wants more.
  using Step = bool (*)(Observer&, uint64_t, const etcdserverpb::WatchResponse&);
  void Watch(etcdserverpb::WatchCreateRequest create, Step step) {
    const uint64_t generation = NextGeneration();
    std::weak_ptr<Observer> weak = weak_from_this();
    auto watch = member_->watch_hub()->WatchLocal(
        std::move(create), [weak, generation, step](etcdserverpb::WatchResponse response) {
          std::shared_ptr<Observer> self = weak.lock();
          if (self == nullptr || !self->Current(generation)) return false;
          if (response.canceled()) {
            self->End(absl::OkStatus());
            return false;
          }
          return step(*self, generation, response);
        });
    bool stale = false;
    {
      absl::MutexLock lock(&mu_);
      stale = ended_ || generation_ != generation;
      if (!stale) watch_ = watch;
    }
    if (stale) member_->watch_hub()->CancelLocal(watch);
  }

  // Starts a step: the previous step's watch (done by now) is dropped.
  uint64_t NextGeneration() {
    absl::MutexLock lock(&mu_);
    watch_.reset();
    return ++generation_;
  }

  bool Current(uint64_t generation) {
    absl::MutexLock lock(&mu_);
    return !ended_ && generation_ == generation;
  }

  // Queues a response behind the write in flight; false once the call is over or the step is
  // no longer current.
  bool Send(uint64_t generation, const etcdserverpb::ResponseHeader& header,
            const mvccpb::KeyValue& kv) {
    {
      absl::MutexLock lock(&mu_);
      if (ended_ || generation_ != generation) return false;
      v3electionpb::LeaderResponse& response = queue_.emplace_back();
      *response.mutable_header() = header;
      *response.mutable_kv() = kv;
    }
    WriteNext(/*done_writing=*/false);
    return true;
  }

  // Starts the next write if none is in flight, or finishes the call once it ended and the
  // last write is done. No lock across StartWrite or Finish: gRPC may react inline.
  void WriteNext(bool done_writing) {
    Reactor* reactor = nullptr;
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      if (done_writing) writing_ = false;
      if (writing_ || reactor_ == nullptr) return;
      if (ended_) {
        finish = true;
        reactor = std::exchange(reactor_, nullptr);
      } else if (!queue_.empty()) {
        writing_ = true;
        current_ = std::move(queue_.front());
        queue_.pop_front();
        reactor = reactor_;
      } else {
        return;
      }
    }
    if (finish) return reactor->Finish(coordination::AsClientError(end_status_));
    reactor->StartWrite(&current_);
  }

  void End(absl::Status status) {
    std::shared_ptr<WatchHub::LocalWatch> watch;
    {
      absl::MutexLock lock(&mu_);
      if (ended_) return;
      ended_ = true;
      end_status_ = std::move(status);
      queue_.clear();
      watch = std::move(watch_);
    }
    if (watch != nullptr) member_->watch_hub()->CancelLocal(watch);
    WriteNext(/*done_writing=*/false);
  }

  MemberApi* const member_;
  const std::string prefix_;
  absl::Mutex mu_;
  Reactor* reactor_ ABSL_GUARDED_BY(mu_) = nullptr;  // null once the call is finished
  // Responses behind the one in flight, and that one (gRPC reads it until OnWriteDone).
  std::deque<v3electionpb::LeaderResponse> queue_ ABSL_GUARDED_BY(mu_);
  v3electionpb::LeaderResponse current_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<WatchHub::LocalWatch> watch_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // the current step's
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_status_ ABSL_GUARDED_BY(mu_);
};

class ObserveReactor final : public Reactor {
 public:
  explicit ObserveReactor(std::shared_ptr<Observer> observer) : observer_(std::move(observer)) {}
  void OnWriteDone(bool ok) override { observer_->WriteDone(ok); }
  void OnCancel() override { observer_->Cancel(); }
  void OnDone() override { delete this; }

 private:
  const std::shared_ptr<Observer> observer_;
};

}  // namespace

Reactor* NewElectionObserver(MemberApi* member, std::string name) {
  auto observer = std::make_shared<Observer>(member, std::move(name));
  auto* reactor = new ObserveReactor(observer);
  observer->Start(reactor);
  return reactor;
}

}  // namespace quorum::server
