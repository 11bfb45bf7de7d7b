#include "server/peer/snapshot_sender.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "internalpb/peer.grpc.pb.h"
#include "proto/etcd_errors.h"
#include "server/peer/peer_channel.h"
#include "spdlog/spdlog.h"

namespace quorum::server {
namespace {

// How long a transfer waits for the connection before it reports failure; Raft retries.
constexpr absl::Duration kConnectPatience = absl::Seconds(1);

}  // namespace

SnapshotSender::SnapshotSender(Config config, const PeerTransport::Callbacks* callbacks,
                               PeerCounters* counters,
                               std::function<std::shared_ptr<grpc::Channel>()> channel)
    : config_(config), callbacks_(callbacks), counters_(counters), channel_(std::move(channel)) {}

SnapshotSender::~SnapshotSender() {
  RequestStop();
  Join();
}

void SnapshotSender::Start(raftpb::Message message) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  if (in_flight_) {
    spdlog::info("snapshot to member {:x} at index {} dropped: another is in flight",
                 config_.peer_id, message.snapshot().metadata().index());
    return;
  }
  in_flight_ = true;
  pending_ = std::move(message);
  // The thread lives from the first snapshot to Stop; a peer that never needs one never has it.
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
}

void SnapshotSender::RequestStop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  if (active_context_ != nullptr) active_context_->TryCancel();
}

void SnapshotSender::Join() {
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    thread = std::move(thread_);
  }
  if (thread.joinable()) thread.join();
}

bool SnapshotSender::Stopping() {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

bool SnapshotSender::HasWork() const { return stopping_ || pending_.has_value(); }

void SnapshotSender::Run() {
  while (true) {
    raftpb::Message message;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &SnapshotSender::HasWork));
      if (stopping_) return;
      message = *std::move(pending_);
      pending_.reset();
    }
    const uint64_t index = message.snapshot().metadata().index();
    absl::Status status = Transfer(message);
    if (status.ok()) {
      PeerCounters::Add(counters_->snapshots_sent, 1);
      spdlog::info("sent snapshot at index {} to member {:x}", index, config_.peer_id);
    } else {
      spdlog::warn("sending snapshot at index {} to member {:x} failed: {}", index, config_.peer_id,
                   status.ToString());
    }
    {
      absl::MutexLock lock(&mu_);
      // A stopping transport reports nothing: its owner no longer listens.
      if (stopping_) return;
      // Cleared before the report: Raft may answer a failure with a new snapshot at once.
      in_flight_ = false;
    }
    callbacks_->snapshot_status(config_.peer_id, status.ok());
  }
}

absl::Status SnapshotSender::Transfer(const raftpb::Message& message) {
  std::shared_ptr<grpc::Channel> channel = channel_();
  // Check the peer is there before asking the state machine for a reader, which may be costly.
  if (!AwaitConnected(*channel, absl::Now() + kConnectPatience, [this] { return Stopping(); })) {
    return absl::UnavailableError("peer is not reachable");
  }
  absl::StatusOr<std::pair<raftpb::Message, std::unique_ptr<SnapshotReader>>> opened =
      callbacks_->open_snapshot(message);
  if (!opened.ok()) return opened.status();
  auto& [snapshot_message, reader] = *opened;

  grpc::ClientContext context;
  internalpb::PeerAck ack;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::CancelledError("transport is stopping");
    active_context_ = &context;
  }
  std::unique_ptr<internalpb::RaftPeer::Stub> stub = internalpb::RaftPeer::NewStub(channel);
  std::unique_ptr<grpc::ClientWriter<internalpb::SnapshotChunk>> writer =
      stub->Snapshot(&context, &ack);

  internalpb::SnapshotChunk chunk;
  internalpb::PeerHello* hello = chunk.mutable_hello();
  hello->set_cluster_id(config_.cluster_id);
  hello->set_from(config_.self_id);
  hello->set_to(config_.peer_id);
  *chunk.mutable_message() = snapshot_message;
  absl::Status reader_status;
  bool written = true;
  for (bool more = true; more;) {
    absl::StatusOr<bool> next = reader->Next(&chunk, config_.chunk_bytes);
    if (!next.ok()) {
      reader_status = next.status();
      context.TryCancel();
      break;
    }
    more = *next;
    chunk.set_last(!more);
    if (!writer->Write(chunk)) {
      written = false;  // the call is over; Finish says why
      break;
    }
    chunk.Clear();
  }
  if (reader_status.ok() && written) writer->WritesDone();
  grpc::Status call_status = writer->Finish();
  {
    absl::MutexLock lock(&mu_);
    active_context_ = nullptr;
  }
  if (!reader_status.ok()) return reader_status;
  if (!call_status.ok()) return FromGrpcStatus(call_status);
  if (!ack.error().empty()) {
    return absl::InternalError(absl::StrCat("peer could not stage it: ", ack.error()));
  }
  return absl::OkStatus();
}

}  // namespace quorum::server
