#include "server/peer/peer_sender.h"

#include <algorithm>
#include <utility>

#include "internalpb/peer.grpc.pb.h"
#include "server/peer/peer_channel.h"
#include "spdlog/spdlog.h"

namespace quorum::server {
namespace {

// Our own retry pacing on top of the channel's: the first retry comes quickly (a peer that just
// restarted), later ones at most a second apart, like the channel's reconnect backoff.
constexpr absl::Duration kInitialBackoff = absl::Milliseconds(50);
constexpr absl::Duration kMaxBackoff = absl::Seconds(1);
// How often an idle sender checks that its connection is still up, so Connected() turns false
// for a peer that went away while nothing was being sent.
constexpr absl::Duration kIdleCheck = absl::Milliseconds(200);

}  // namespace

struct PeerSender::Stream {
  grpc::ClientContext context;
  internalpb::PeerAck ack;
  std::unique_ptr<internalpb::RaftPeer::Stub> stub;
  std::unique_ptr<grpc::ClientWriter<internalpb::PeerFrame>> writer;
};

PeerSender::PeerSender(Config config, std::vector<std::string> urls,
                       const PeerTransport::Callbacks* callbacks, PeerCounters* counters)
    : config_(config),
      callbacks_(callbacks),
      counters_(counters),
      traffic_(counters->TrafficOf(config.peer_id)),
      urls_(std::move(urls)),
      snapshots_({.cluster_id = config.cluster_id,
                  .self_id = config.self_id,
                  .peer_id = config.peer_id,
                  .chunk_bytes = config.snapshot_chunk_bytes},
                 callbacks, counters, [this] { return CurrentChannel(); }),
      thread_([this] { Run(); }) {}

PeerSender::~PeerSender() {
  RequestStop();
  Join();
}

void PeerSender::Enqueue(std::vector<raftpb::Message> messages) {
  std::vector<raftpb::Message> snapshots;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    uint64_t dropped = 0;
    for (raftpb::Message& message : messages) {
      if (message.type() == raftpb::MSG_SNAPSHOT) {
        snapshots.push_back(std::move(message));
      } else if (queue_.size() < config_.queue_limit) {
        queue_.push_back(std::move(message));
      } else {
        ++dropped;
      }
    }
    if (dropped > 0) {
      overflowed_ = true;
      PeerCounters::Add(counters_->messages_dropped, dropped);
    }
  }
  for (raftpb::Message& snapshot : snapshots) snapshots_.Start(std::move(snapshot));
}

void PeerSender::SetUrls(std::vector<std::string> urls) {
  absl::MutexLock lock(&mu_);
  if (urls == urls_) return;
  urls_ = std::move(urls);
  urls_changed_ = true;
}

void PeerSender::RequestStop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (active_context_ != nullptr) active_context_->TryCancel();
  }
  snapshots_.RequestStop();
}

void PeerSender::Join() {
  if (thread_.joinable()) thread_.join();
  snapshots_.Join();
}

bool PeerSender::HasWork() const {
  return stopping_ || urls_changed_ || overflowed_ || !queue_.empty();
}

bool PeerSender::Stopping() {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

std::shared_ptr<grpc::Channel> PeerSender::CurrentChannel() {
  absl::MutexLock lock(&mu_);
  if (urls_changed_) {
    urls_changed_ = false;
    url_index_ = 0;
    channel_.reset();
  }
  if (!channel_) {
    url_index_ = urls_.empty() ? 0 : url_index_ % urls_.size();
    channel_ = DialPeer(urls_.empty() ? std::string() : urls_[url_index_], config_.security);
  }
  return channel_;
}

void PeerSender::Run() {
  absl::Duration backoff = kInitialBackoff;
  std::unique_ptr<Stream> stream;
  while (!Stopping()) {
    if (!stream) {
      // Waiting for the connection is the backoff: it returns as soon as the peer is up.
      stream = Connect(backoff);
      if (!stream) {
        if (Stopping()) break;
        DropQueued();
        if (std::exchange(hello_refused_, false)) {
          // Connected but refused: waiting for the connection is no backoff here.
          absl::MutexLock lock(&mu_);
          mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
        }
        backoff = std::min(backoff * 2, kMaxBackoff);
        continue;
      }
      backoff = kInitialBackoff;
    }

    bool overflowed = false;
    bool redial = false;
    {
      absl::MutexLock lock(&mu_);
      if (pending_.empty()) {
        mu_.AwaitWithTimeout(absl::Condition(this, &PeerSender::HasWork), kIdleCheck);
      }
      if (stopping_) break;
      redial = urls_changed_;
      overflowed = std::exchange(overflowed_, false);
      // Take everything queued at once; the frame is built outside the lock so that Enqueue
      // never waits for it.
      if (pending_.empty()) pending_.swap(queue_);
    }
    // Raft learns that messages were lost at the full queue; their successors may still go.
    if (overflowed) callbacks_->unreachable(config_.peer_id);

    if (pending_.empty()) {
      if (redial) {
        Close(std::move(stream), /*cancel=*/true, "peer URLs changed");
      } else if (CurrentChannel()->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_READY) {
        Close(std::move(stream), /*cancel=*/true, "connection lost");
      }
      continue;
    }
    // One frame holds everything taken, up to kMaxBatchBytes (and at least one message).
    internalpb::PeerFrame frame;
    auto* messages = frame.mutable_batch()->mutable_messages();
    size_t bytes = 0;
    while (!pending_.empty() && (messages->empty() || bytes < kMaxBatchBytes)) {
      bytes += pending_.front().ByteSizeLong();
      *messages->Add() = std::move(pending_.front());
      pending_.pop_front();
    }
    const int count = messages->size();
    if (!stream->writer->Write(frame)) {
      PeerCounters::Add(counters_->messages_dropped, count);
      Close(std::move(stream), /*cancel=*/false, "write failed");
      callbacks_->unreachable(config_.peer_id);
      continue;
    }
    PeerCounters::Add(counters_->frames_sent, 1);
    PeerCounters::Add(counters_->messages_sent, count);
    PeerCounters::Add(traffic_.sent_bytes, bytes);
    if (redial) Close(std::move(stream), /*cancel=*/true, "peer URLs changed");
  }
  if (stream) Close(std::move(stream), /*cancel=*/true, "stopping");
}

std::unique_ptr<PeerSender::Stream> PeerSender::Connect(absl::Duration patience) {
  std::shared_ptr<grpc::Channel> channel = CurrentChannel();
  if (!AwaitConnected(*channel, absl::Now() + patience, [this] { return Stopping(); })) {
    absl::MutexLock lock(&mu_);
    // With several URLs, try the next one; a single URL keeps its channel and its backoff.
    if (urls_.size() > 1) {
      url_index_ = (url_index_ + 1) % urls_.size();
      channel_.reset();
    }
    if (!outage_logged_ && !stopping_) {
      outage_logged_ = true;
      spdlog::warn("member {:x} is not reachable; retrying", config_.peer_id);
    }
    return nullptr;
  }

  auto stream = std::make_unique<Stream>();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return nullptr;
    active_context_ = &stream->context;
  }
  stream->stub = internalpb::RaftPeer::NewStub(channel);
  stream->writer = stream->stub->Stream(&stream->context, &stream->ack);
  internalpb::PeerFrame hello_frame;
  internalpb::PeerHello* hello = hello_frame.mutable_hello();
  hello->set_cluster_id(config_.cluster_id);
  hello->set_from(config_.self_id);
  hello->set_to(config_.peer_id);
  // The server answers a hello it accepts with initial metadata (kPeerAcceptedKey); one it
  // refuses ends the call instead.
  bool accepted = false;
  if (stream->writer->Write(hello_frame)) {
    stream->writer->WaitForInitialMetadata();
    const auto& metadata = stream->context.GetServerInitialMetadata();
    accepted = metadata.find(kPeerAcceptedKey) != metadata.end();
  }
  if (!accepted) {
    // Refused (another cluster, wrong member) or the call failed: Finish says which.
    hello_refused_ = true;
    Close(std::move(stream), /*cancel=*/false, "hello not accepted");
    return nullptr;
  }
  connected_.store(true, std::memory_order_release);
  outage_logged_ = false;
  spdlog::info("connected to member {:x}", config_.peer_id);
  return stream;
}

void PeerSender::Close(std::unique_ptr<Stream> stream, bool cancel, const char* why) {
  const bool was_connected = connected_.exchange(false, std::memory_order_acq_rel);
  if (cancel) stream->context.TryCancel();
  grpc::Status status = stream->writer->Finish();
  {
    absl::MutexLock lock(&mu_);
    active_context_ = nullptr;
  }
  if (cancel || Stopping()) return;
  if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
      status.error_message() == kPeerRemovedMessage) {
    if (!outage_logged_) {
      outage_logged_ = true;
      spdlog::warn("member {:x} refused this member: {}", config_.peer_id, kPeerRemovedMessage);
    }
    if (callbacks_->removed) callbacks_->removed();
    return;
  }
  if (was_connected || !outage_logged_) {
    outage_logged_ = true;
    spdlog::warn("stream to member {:x} ended ({}): {} {}", config_.peer_id, why,
                 static_cast<int>(status.error_code()), status.error_message());
  }
}

void PeerSender::DropQueued() {
  size_t dropped = pending_.size();
  pending_.clear();
  bool overflowed = false;
  {
    absl::MutexLock lock(&mu_);
    dropped += queue_.size();
    queue_.clear();
    overflowed = std::exchange(overflowed_, false);
  }
  if (dropped > 0) PeerCounters::Add(counters_->messages_dropped, dropped);
  if (dropped > 0 || overflowed) callbacks_->unreachable(config_.peer_id);
}

}  // namespace quorum::server
