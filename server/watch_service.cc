// etcdserverpb.Watch over a Member's watch hub: one bidirectional stream carries many watchers.
// Requests (create, cancel, progress) are handled as they arrive; responses leave in the order
// the hub queued them, one write at a time, so a watcher's "created" precedes its events.
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/auth_context.h"
#include "server/reactors.h"
#include "server/service_factories.h"
#include "server/watch_hub.h"

namespace quorum::server {
namespace {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;

// Reading pauses while the stream's queue is full (a client that sends requests but never reads
// cannot make the server queue without bound) and resumes as writes drain it. A client that
// closes its sending side keeps its watchers, as with etcd; the stream ends when the call is
// cancelled or a write fails.
class WatchStream final : public grpc::ServerBidiReactor<WatchRequest, WatchResponse> {
 public:
  WatchStream(WatchHub* hub, grpc::CallbackServerContext* context, AuthStore* auth)
      : hub_(hub), context_(context), auth_(auth) {
    stream_ = hub_->OpenStream([this] { MaybeWrite(); });
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      MaybeFinishLocked();
      return;
    }
    switch (request_.request_union_case()) {
      case WatchRequest::kCreateRequest:
        if (auto s = WatchPermitted(request_.create_request()); !s.ok()) {
          hub_->RefuseCreate(stream_, DeniedReason(s));
        } else {
          hub_->Create(stream_, std::move(*request_.mutable_create_request()));
        }
        break;
      case WatchRequest::kCancelRequest:
        hub_->Cancel(stream_, request_.cancel_request().watch_id());
        break;
      case WatchRequest::kProgressRequest:
        hub_->RequestProgress(stream_);
        break;
      default:
        break;
    }
    // Responses the request queued are written by the hub's wake; reading goes on meanwhile,
    // unless the queue is full.
    absl::MutexLock lock(&mu_);
    ResumeReadingLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      ended_ = true;
      MaybeFinishLocked();
      return;
    }
    WriteNextLocked();
    if (read_paused_) ResumeReadingLocked();
    MaybeFinishLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    ended_ = true;
    MaybeFinishLocked();
  }

  void OnDone() override {
    hub_->CloseStream(stream_);
    delete this;
  }

 private:
  // etcd's isWatchPermitted: read permission on the watched range, checked at create with the
  // key normalised as etcd does first (empty key: "\0"; range end "\0": no range end).
  absl::Status WatchPermitted(const etcdserverpb::WatchCreateRequest& create) {
    absl::StatusOr<AuthInfo> caller = CallerOf(*context_, *auth_);
    if (!caller.ok()) return caller.status();
    std::string key = create.key().empty() ? std::string(1, '\0') : create.key();
    std::string end = create.range_end() == std::string(1, '\0') ? "" : create.range_end();
    return auth_->Current()->CheckPermission(*caller, key, end, authpb::Permission::READ);
  }

  // The cancel reason etcd gives: the gRPC error's text (what Go prints for it).
  static std::string DeniedReason(const absl::Status& s) {
    const char* code = "PermissionDenied";
    std::string message(s.message());
    if (s.code() == absl::StatusCode::kUnauthenticated) {
      code = "Unauthenticated";
    } else if (s.code() == absl::StatusCode::kInvalidArgument) {
      code = "InvalidArgument";
    } else {
      message = std::string(ErrPermissionDenied().message());
    }
    return "rpc error: code = " + std::string(code) + " desc = " + message;
  }

  void MaybeWrite() {
    absl::MutexLock lock(&mu_);
    WriteNextLocked();
  }

  void ResumeReadingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (ended_ || finishing_) {
      // No more reads: the call is over.
      reading_ = false;
      read_paused_ = false;
      MaybeFinishLocked();
      return;
    }
    read_paused_ = hub_->Backlogged(stream_);
    if (!read_paused_) StartRead(&request_);
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || ended_ || finishing_) return;
    if (!hub_->Pop(stream_, &response_)) return;
    writing_ = true;
    StartWrite(&response_);
  }

  // Finish comes once, after the call was cancelled (or a write failed), with no write in
  // flight and no read pending.
  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finishing_ || !ended_ || writing_ || (reading_ && !read_paused_)) return;
    finishing_ = true;
    Finish(grpc::Status(grpc::StatusCode::CANCELLED, "watch stream closed"));
  }

  WatchHub* hub_;
  grpc::CallbackServerContext* context_;
  AuthStore* auth_;
  std::shared_ptr<WatchHub::Stream> stream_;
  WatchRequest request_;

  absl::Mutex mu_;
  WatchResponse response_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = true;  // a read is pending or paused
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;  // cancelled or a write failed
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
};

class WatchService final : public etcdserverpb::Watch::CallbackService {
 public:
  explicit WatchService(MemberApi* member) : member_(member) {}

  grpc::ServerBidiReactor<WatchRequest, WatchResponse>* Watch(
      grpc::CallbackServerContext* context) override {
    return new WatchStream(member_->watch_hub(), context, &member_->auth());
  }

 private:
  MemberApi* member_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewWatchService(MemberApi* member) {
  return std::make_unique<WatchService>(member);
}

}  // namespace quorum::server
