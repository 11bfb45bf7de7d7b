// etcdserverpb.Watch over a Member's watch hub: one bidirectional stream carries many watchers.
// Requests (create, cancel, progress) are handled as they arrive; responses leave in the order
// the hub queued them, one write at a time, so a watcher's "created" precedes its events.
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/reactors.h"
#include "server/service_factories.h"

namespace quorum::server {
namespace {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;

class WatchStream final : public grpc::ServerBidiReactor<WatchRequest, WatchResponse> {
 public:
  explicit WatchStream(WatchHub* hub) : hub_(hub) {
    stream_ = hub_->OpenStream([this] { MaybeWrite(); });
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client closed its side (or the call ended): etcd ends the stream too.
      hub_->CloseStream(stream_);
      absl::MutexLock lock(&mu_);
      reading_ = false;
      MaybeFinishLocked(grpc::Status::OK);
      return;
    }
    switch (request_.request_union_case()) {
      case WatchRequest::kCreateRequest:
        hub_->Create(stream_, std::move(*request_.mutable_create_request()));
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
    // Responses the request queued are written by the hub's wake; reading goes on meanwhile.
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      hub_->CloseStream(stream_);
      absl::MutexLock lock(&mu_);
      writing_ = false;
      failed_ = true;
      MaybeFinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch stream closed"));
      return;
    }
    absl::MutexLock lock(&mu_);
    writing_ = false;
    WriteNextLocked();
  }

  void OnDone() override {
    hub_->CloseStream(stream_);
    delete this;
  }

 private:
  void MaybeWrite() {
    absl::MutexLock lock(&mu_);
    WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finishing_ || failed_) return;
    if (!hub_->Pop(stream_, &response_)) {
      if (!reading_) MaybeFinishLocked(grpc::Status::OK);
      return;
    }
    writing_ = true;
    StartWrite(&response_);
  }

  // Finish may be called once, and only with no write in flight (the read side is done or
  // the stream failed).
  void MaybeFinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finishing_ || writing_) return;
    if (reading_ && !failed_) return;
    finishing_ = true;
    Finish(std::move(status));
  }

  WatchHub* hub_;
  std::shared_ptr<WatchHub::Stream> stream_;
  WatchRequest request_;

  absl::Mutex mu_;
  WatchResponse response_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = true;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
};

class WatchService final : public etcdserverpb::Watch::CallbackService {
 public:
  explicit WatchService(Member* member) : member_(member) {}

  grpc::ServerBidiReactor<WatchRequest, WatchResponse>* Watch(
      grpc::CallbackServerContext*) override {
    return new WatchStream(member_->watch_hub());
  }

 private:
  Member* member_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewWatchService(Member* member) {
  return std::make_unique<WatchService>(member);
}

}  // namespace quorum::server
