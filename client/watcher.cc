#include "client/watcher.h"

#include "client/client.h"
#include "client/kv_client.h"

namespace quorum::client {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;

Watcher::Watcher(Client* client, WatchOptions options,
                 std::function<void(const WatchResponse&)> on_response)
    : client_(client),
      options_(std::move(options)),
      on_response_(std::move(on_response)),
      next_revision_(options_.start_revision) {
  thread_ = std::thread([this] { Run(); });
}

Watcher::~Watcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (live_context_ != nullptr) live_context_->TryCancel();
  }
  changed_.notify_all();
  thread_.join();
}

bool Watcher::WaitCreated(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, wait, [&] { return created_ || ended_; }) && created_;
}

absl::Status Watcher::WaitEnded(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!changed_.wait_for(lock, wait, [&] { return ended_; })) {
    return absl::DeadlineExceededError("watch still running");
  }
  return end_status_;
}

void Watcher::Finish(absl::Status status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ended_ = true;
    end_status_ = std::move(status);
  }
  changed_.notify_all();
}

void Watcher::Run() {
  for (int failures = 0;; ++failures) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (failures > 0) {
        changed_.wait_for(lock, RetryBackoff(std::min(failures - 1, 5)), [&] { return stopping_; });
      }
      if (stopping_) break;
    }
    bool ended = false;
    absl::Status status = RunStream(&ended);
    if (ended) {
      Finish(status);
      return;
    }
  }
  Finish(absl::CancelledError("watch closed by the client"));
}

absl::Status Watcher::RunStream(bool* ended) {
  auto pinned = client_->pool().Current();
  if (!EndpointPool::WaitConnected(*pinned.channel, client_->options().dial_timeout)) {
    client_->pool().MarkFailed(pinned.index);
    return absl::UnavailableError("connection to " + pinned.endpoint + " failed");
  }
  grpc::ClientContext context;
  if (auto s = client_->Authorize(pinned.channel, &context); !s.ok()) return s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::CancelledError("stopping");
    live_context_ = &context;
  }
  auto stream = etcdserverpb::Watch::NewStub(pinned.channel)->Watch(&context);
  WatchRequest request;
  auto* create = request.mutable_create_request();
  create->set_key(options_.key);
  create->set_range_end(options_.range_end);
  create->set_start_revision(next_revision_.load());
  create->set_prev_kv(options_.prev_kv);
  create->set_progress_notify(options_.progress_notify);
  bool sent = stream->Write(request);
  WatchResponse response;
  while (sent && stream->Read(&response)) {
    if (response.created()) {
      // A watch "from now" resumes after the revision it was created at, so an event between
      // creation and a failover is not lost.
      if (next_revision_.load() == 0) next_revision_.store(response.header().revision() + 1);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (created_) reconnects_.fetch_add(1);
        created_ = true;
      }
      changed_.notify_all();
    }
    if (response.events_size() > 0) {
      next_revision_.store(response.events(response.events_size() - 1).kv().mod_revision() + 1);
    }
    if (response.canceled()) {
      on_response_(response);
      *ended = true;
      context.TryCancel();
      stream->Finish().IgnoreError();
      std::lock_guard<std::mutex> lock(mu_);
      live_context_ = nullptr;
      if (response.compact_revision() > 0) {
        return absl::OutOfRangeError("etcdserver: mvcc: required revision has been compacted");
      }
      return absl::CancelledError(response.cancel_reason().empty() ? "watch canceled by the server"
                                                                   : response.cancel_reason());
    }
    if (!response.created() || response.events_size() > 0) on_response_(response);
  }
  auto status = FromGrpc(stream->Finish());
  std::lock_guard<std::mutex> lock(mu_);
  live_context_ = nullptr;
  if (stopping_) return absl::CancelledError("stopping");
  // Anything but a deliberate cancel means the member is gone or unusable: try the next.
  client_->pool().MarkFailed(pinned.index);
  if (status.code() == absl::StatusCode::kUnimplemented) {
    *ended = true;
  }
  return status;
}

}  // namespace quorum::client
