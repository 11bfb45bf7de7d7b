#include "server/lease_forwarder.h"

#include <utility>

#include "absl/time/clock.h"
#include "proto/etcd_errors.h"

namespace quorum::server {
namespace {

// Between attempts while there is no leader or the leader is changing.
constexpr absl::Duration kRetryPause = absl::Milliseconds(50);
// One forwarded call's own limit, so that a leader that died mid-call is given up on quickly.
constexpr absl::Duration kCallTimeout = absl::Seconds(1);

// Worth another attempt, perhaps at another leader: the callee was not (or no longer) the
// leader, was still catching up, or could not be reached.
bool Retryable(absl::StatusCode code) {
  return code == absl::StatusCode::kFailedPrecondition || code == absl::StatusCode::kUnavailable ||
         code == absl::StatusCode::kDeadlineExceeded || code == absl::StatusCode::kCancelled;
}

}  // namespace

LeaseForwarder::LeaseForwarder(uint64_t self_id, Lessor* lessor, Callbacks callbacks)
    : self_id_(self_id),
      lessor_(lessor),
      callbacks_(std::move(callbacks)),
      thread_([this] { Run(); }) {}

LeaseForwarder::~LeaseForwarder() {
  std::deque<Pending> left;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
  {
    // Forwarded calls end by their own deadline; their callbacks finish or drop what they hold.
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* in_flight) { return *in_flight == 0; }, &in_flight_));
    left.swap(queue_);
  }
  for (Pending& pending : left) Finish(pending, ErrStopped());
}

void LeaseForwarder::Finish(Pending& pending, absl::Status status) {
  if (auto* done = std::get_if<RenewDone>(&pending.done)) {
    (*done)(std::move(status));
  } else {
    std::get<TimeToLiveDone>(pending.done)(std::move(status));
  }
}

void LeaseForwarder::Renew(int64_t id, absl::Time deadline, RenewDone done) {
  Enqueue(Pending{id, deadline, absl::InfinitePast(), std::move(done)});
}

void LeaseForwarder::TimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& request,
                                absl::Time deadline, TimeToLiveDone done) {
  Enqueue(Pending{request, deadline, absl::InfinitePast(), std::move(done)});
}

void LeaseForwarder::Enqueue(Pending pending) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(std::move(pending));
      return;
    }
  }
  // Outside the lock: a callback may call back in.
  Finish(pending, ErrStopped());
}

void LeaseForwarder::AnswerRenew(int64_t id, absl::Time deadline, RenewDone done) {
  absl::StatusOr<int64_t> ttl = lessor_->Renew(id);
  if (ttl.ok() || !absl::IsNotFound(ttl.status())) {
    done(std::move(ttl));
    return;
  }
  callbacks_.after_applied(deadline, [this, id, done = std::move(done)](absl::Status s) mutable {
    done(s.ok() ? lessor_->Renew(id) : absl::StatusOr<int64_t>(s));
  });
}

absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> LeaseForwarder::LookUp(
    const etcdserverpb::LeaseTimeToLiveRequest& request) {
  if (!lessor_->primary()) return absl::FailedPreconditionError("not the leader");
  absl::StatusOr<Lessor::TimeToLive> found = lessor_->Lookup(request.id(), request.keys());
  if (!found.ok()) return found.status();
  etcdserverpb::LeaseTimeToLiveResponse response;
  response.set_id(found->id);
  response.set_ttl(found->ttl);
  response.set_grantedttl(found->granted_ttl);
  for (std::string& key : found->keys) response.add_keys(std::move(key));
  return response;
}

void LeaseForwarder::AnswerTimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& request,
                                      absl::Time deadline, TimeToLiveDone done) {
  auto response = LookUp(request);
  if (response.ok() || !absl::IsNotFound(response.status())) {
    done(std::move(response));
    return;
  }
  callbacks_.after_applied(deadline,
                           [this, request, done = std::move(done)](absl::Status s) mutable {
                             if (s.ok()) {
                               done(LookUp(request));
                             } else {
                               done(s);
                             }
                           });
}

void LeaseForwarder::Run() {
  while (true) {
    std::deque<Pending> due;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(
          absl::Condition(
              +[](LeaseForwarder* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                return self->stopping_ ||
                       (!self->queue_.empty() && self->queue_.front().not_before <= absl::Now());
              },
              this),
          kRetryPause);
      if (stopping_) return;
      const absl::Time now = absl::Now();
      std::deque<Pending> later;
      for (Pending& pending : queue_) {
        (pending.not_before <= now ? due : later).push_back(std::move(pending));
      }
      queue_.swap(later);
    }
    for (Pending& pending : due) Attempt(std::move(pending));
  }
}

void LeaseForwarder::Retry(Pending pending) {
  const absl::Time now = absl::Now();
  if (now >= pending.deadline) {
    Finish(pending, callbacks_.leader() == 0 ? ErrNoLeader() : ErrTimeout());
    return;
  }
  pending.not_before = now + kRetryPause;
  Enqueue(std::move(pending));
}

void LeaseForwarder::Attempt(Pending pending) {
  const uint64_t leader = callbacks_.leader();
  if (leader == 0) {
    Retry(std::move(pending));
    return;
  }
  if (leader == self_id_) {
    // The answer may come later (from the apply thread); a retryable one sends the request
    // round again, perhaps to a new leader.
    auto pending_ptr = std::make_shared<Pending>(std::move(pending));
    const absl::Time deadline = pending_ptr->deadline;
    auto answered = [this, pending_ptr](const absl::Status& status) {
      if (status.ok() || !Retryable(status.code())) return false;
      Retry(std::move(*pending_ptr));
      return true;
    };
    if (auto* id = std::get_if<int64_t>(&pending_ptr->request)) {
      AnswerRenew(*id, deadline, [pending_ptr, answered](absl::StatusOr<int64_t> ttl) mutable {
        if (answered(ttl.status())) return;
        std::get<RenewDone>(pending_ptr->done)(std::move(ttl));
      });
    } else {
      AnswerTimeToLive(
          std::get<etcdserverpb::LeaseTimeToLiveRequest>(pending_ptr->request), deadline,
          [pending_ptr,
           answered](absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> response) mutable {
            if (answered(response.status())) return;
            std::get<TimeToLiveDone>(pending_ptr->done)(std::move(response));
          });
    }
    return;
  }

  std::shared_ptr<grpc::Channel> channel = callbacks_.channel(leader);
  if (channel == nullptr) {
    Retry(std::move(pending));
    return;
  }
  // The call's state lives until its callback has run.
  struct Call {
    grpc::ClientContext context;
    std::unique_ptr<internalpb::LeaseForward::Stub> stub;
    etcdserverpb::LeaseKeepAliveRequest renew;
    etcdserverpb::LeaseKeepAliveResponse renewed;
    etcdserverpb::LeaseTimeToLiveRequest ttl;
    etcdserverpb::LeaseTimeToLiveResponse ttl_answer;
    Pending pending;
  };
  auto call = std::make_shared<Call>();
  call->context.set_deadline(
      absl::ToChronoTime(std::min(pending.deadline, absl::Now() + kCallTimeout)));
  call->stub = internalpb::LeaseForward::NewStub(channel);
  call->pending = std::move(pending);
  {
    absl::MutexLock lock(&mu_);
    ++in_flight_;
  }
  auto finished = [this, call](grpc::Status status) {
    absl::Status result = FromGrpcStatus(status);
    if (!result.ok() && Retryable(result.code())) {
      Retry(std::move(call->pending));
    } else if (auto* done = std::get_if<RenewDone>(&call->pending.done)) {
      (*done)(result.ok() ? absl::StatusOr<int64_t>(call->renewed.ttl())
                          : absl::StatusOr<int64_t>(result));
    } else {
      std::get<TimeToLiveDone>(call->pending.done)(
          result.ok() ? absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>(call->ttl_answer)
                      : absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>(result));
    }
    absl::MutexLock lock(&mu_);
    --in_flight_;
  };
  if (auto* id = std::get_if<int64_t>(&call->pending.request)) {
    call->renew.set_id(*id);
    call->stub->async()->Renew(&call->context, &call->renew, &call->renewed, std::move(finished));
  } else {
    call->ttl = std::get<etcdserverpb::LeaseTimeToLiveRequest>(call->pending.request);
    call->stub->async()->TimeToLive(&call->context, &call->ttl, &call->ttl_answer,
                                    std::move(finished));
  }
}

grpc::ServerUnaryReactor* LeaseForwarder::Service::Renew(
    grpc::CallbackServerContext* context, const etcdserverpb::LeaseKeepAliveRequest* request,
    etcdserverpb::LeaseKeepAliveResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const int64_t id = request->id();
  owner_->AnswerRenew(id, absl::FromChrono(context->deadline()),
                      [reactor, response, id](absl::StatusOr<int64_t> ttl) {
                        if (ttl.ok()) {
                          response->set_id(id);
                          response->set_ttl(*ttl);
                        }
                        reactor->Finish(ToGrpcStatus(ttl.status()));
                      });
  return reactor;
}

grpc::ServerUnaryReactor* LeaseForwarder::Service::TimeToLive(
    grpc::CallbackServerContext* context, const etcdserverpb::LeaseTimeToLiveRequest* request,
    etcdserverpb::LeaseTimeToLiveResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  owner_->AnswerTimeToLive(
      *request, absl::FromChrono(context->deadline()),
      [reactor, response](absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> answer) {
        if (answer.ok()) *response = *std::move(answer);
        reactor->Finish(ToGrpcStatus(answer.status()));
      });
  return reactor;
}

}  // namespace quorum::server
