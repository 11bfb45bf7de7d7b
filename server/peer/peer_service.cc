#include "server/peer/peer_service.h"

#include <filesystem>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/peer/peer_channel.h"
#include "spdlog/spdlog.h"

namespace quorum::server {
namespace {

std::string DescribeHello(const internalpb::PeerHello& hello) {
  return absl::StrCat("member ", absl::Hex(hello.from()), " of cluster ",
                      absl::Hex(hello.cluster_id()));
}

// A long-lived stream of message batches from one peer. gRPC owns it until OnDone, where it
// deletes itself (the callback API's ownership rule).
class InboundStream final : public grpc::ServerReadReactor<internalpb::PeerFrame> {
 public:
  InboundStream(RaftPeerService* service, grpc::CallbackServerContext* context)
      : service_(service), context_(context) {
    StartRead(&frame_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The peer closed the stream, or it was cancelled (peer gone, server shutting down).
      if (hello_seen_) spdlog::info("message stream from member {:x} closed", from_);
      Finish(grpc::Status::OK);
      return;
    }
    if (!hello_seen_) {
      if (!Accept()) return;
    } else if (frame_.has_batch()) {
      PeerCounters::Add(service_->counters()->frames_received, 1);
      PeerCounters::Add(service_->counters()->messages_received, frame_.batch().messages_size());
      PeerCounters::Add(traffic_->received_bytes, frame_.batch().ByteSizeLong());
      if (!service_->Deliver(frame_.mutable_batch())) {
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "member is stopping"));
        return;
      }
    }
    frame_.Clear();
    StartRead(&frame_);
  }

  void OnDone() override {
    service_->ReactorDone();
    delete this;
  }

 private:
  // Checks the first frame; on success tells the sender through initial metadata.
  bool Accept() {
    absl::Status status = frame_.has_hello()
                              ? service_->CheckHello(frame_.hello())
                              : absl::FailedPreconditionError("first frame is not a hello");
    if (!status.ok()) {
      spdlog::warn("refused message stream from {}: {}", DescribeHello(frame_.hello()),
                   std::string(status.message()));
      Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, std::string(status.message())));
      return false;
    }
    hello_seen_ = true;
    from_ = frame_.hello().from();
    traffic_ = &service_->counters()->TrafficOf(from_);
    spdlog::info("accepted message stream from member {:x}", from_);
    context_->AddInitialMetadata(kPeerAcceptedKey, "1");
    StartSendInitialMetadata();
    return true;
  }

  RaftPeerService* const service_;
  grpc::CallbackServerContext* const context_;
  internalpb::PeerFrame frame_;
  bool hello_seen_ = false;
  uint64_t from_ = 0;
  PeerCounters::Traffic* traffic_ = nullptr;  // from_'s, once the hello is accepted
};

// One inbound snapshot. Chunks are read one at a time; each is written to the staging file on
// the staging worker, which then asks for the next, so a slow disk slows the sender (through
// gRPC flow control) instead of piling chunks up in memory or blocking a gRPC thread.
class InboundSnapshot final : public grpc::ServerReadReactor<internalpb::SnapshotChunk> {
 public:
  InboundSnapshot(RaftPeerService* service, internalpb::PeerAck* ack)
      : service_(service), ack_(ack) {
    StartRead(&chunk_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The sender stopped before the last chunk: drop what was staged.
      service_->worker()->Post([this] {
        file_.reset();
        Finish(grpc::Status(grpc::StatusCode::ABORTED, "snapshot ended before its last chunk"));
      });
      return;
    }
    if (first_) {
      first_ = false;
      absl::Status status = service_->CheckHello(chunk_.hello());
      if (status.ok() && chunk_.message().type() != raftpb::MSG_SNAPSHOT) {
        status = absl::FailedPreconditionError("first chunk does not carry a MSG_SNAPSHOT");
      }
      if (status.ok() && service_->config().snapshot_dir.empty()) {
        status = absl::FailedPreconditionError("this member has no snapshot dir");
      }
      if (!status.ok()) {
        spdlog::warn("refused snapshot from {}: {}", DescribeHello(chunk_.hello()),
                     std::string(status.message()));
        Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, std::string(status.message())));
        return;
      }
      message_ = chunk_.message();
    }
    service_->worker()->Post(
        [this, chunk = std::move(chunk_)]() mutable { StageChunk(std::move(chunk)); });
  }

  void OnDone() override {
    service_->ReactorDone();
    delete this;
  }

 private:
  // On the staging worker.
  void StageChunk(internalpb::SnapshotChunk chunk) {
    absl::Status status = Append(chunk);
    if (!status.ok()) {
      Fail(status);
      return;
    }
    if (!chunk.last()) {
      chunk_.Clear();
      StartRead(&chunk_);
      return;
    }
    absl::StatusOr<std::string> path = file_->Commit();
    file_.reset();
    if (!path.ok()) {
      Fail(path.status());
      return;
    }
    const raftpb::SnapshotMetadata& metadata = message_.snapshot().metadata();
    spdlog::info("staged snapshot from member {:x} at term {} index {} in {}", message_.from(),
                 metadata.term(), metadata.index(), *path);
    message_.mutable_snapshot()->set_data(*path);
    if (!service_->Deliver(std::move(message_))) {
      std::error_code ignored;
      std::filesystem::remove(*path, ignored);
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "member is stopping"));
      return;
    }
    PeerCounters::Add(service_->counters()->snapshots_received, 1);
    Finish(grpc::Status::OK);
  }

  absl::Status Append(const internalpb::SnapshotChunk& chunk) {
    if (!file_) {
      const raftpb::SnapshotMetadata& metadata = message_.snapshot().metadata();
      absl::StatusOr<std::unique_ptr<SnapshotStagingFile>> file = SnapshotStagingFile::Create(
          service_->config().snapshot_dir, StagedSnapshotName(metadata.term(), metadata.index()));
      if (!file.ok()) return file.status();
      file_ = *std::move(file);
    }
    return file_->Append(chunk);
  }

  // The peer hears of the failure in the ack; the status stays OK so that the ack is sent.
  void Fail(const absl::Status& status) {
    file_.reset();
    spdlog::error("staging snapshot from member {:x} failed: {}", message_.from(),
                  status.ToString());
    ack_->set_error(std::string(status.message()));
    Finish(grpc::Status::OK);
  }

  RaftPeerService* const service_;
  internalpb::PeerAck* const ack_;
  internalpb::SnapshotChunk chunk_;
  bool first_ = true;
  raftpb::Message message_;
  // Touched only on the staging worker.
  std::unique_ptr<SnapshotStagingFile> file_;
};

}  // namespace

RaftPeerService::RaftPeerService(Config config, std::function<void(raftpb::Message)> deliver,
                                 StagingWorker* worker, PeerCounters* counters)
    : config_(std::move(config)),
      deliver_(std::move(deliver)),
      worker_(worker),
      counters_(counters) {}

grpc::ServerReadReactor<internalpb::PeerFrame>* RaftPeerService::Stream(
    grpc::CallbackServerContext* context, internalpb::PeerAck* /*ack*/) {
  ReactorStarted();
  return new InboundStream(this, context);
}

grpc::ServerUnaryReactor* RaftPeerService::Probe(grpc::CallbackServerContext* context,
                                                 const internalpb::PeerProbe* /*request*/,
                                                 internalpb::PeerProbe* /*response*/) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerReadReactor<internalpb::SnapshotChunk>* RaftPeerService::Snapshot(
    grpc::CallbackServerContext* /*context*/, internalpb::PeerAck* ack) {
  ReactorStarted();
  return new InboundSnapshot(this, ack);
}

absl::Status RaftPeerService::CheckHello(const internalpb::PeerHello& hello) const {
  if (hello.cluster_id() != config_.cluster_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("cluster ID mismatch: peer is in cluster ", absl::Hex(hello.cluster_id()),
                     ", this member is in cluster ", absl::Hex(config_.cluster_id)));
  }
  if (config_.is_removed && config_.is_removed(hello.from()))
    return absl::FailedPreconditionError(kPeerRemovedMessage);
  if (hello.to() != config_.self_id) {
    return absl::FailedPreconditionError(absl::StrCat("member ID mismatch: peer addressed member ",
                                                      absl::Hex(hello.to()), ", this is member ",
                                                      absl::Hex(config_.self_id)));
  }
  return absl::OkStatus();
}

bool RaftPeerService::Deliver(internalpb::MessageBatch* batch) {
  absl::ReaderMutexLock lock(&deliver_mu_);
  if (!delivery_open_) return false;
  for (raftpb::Message& message : *batch->mutable_messages()) {
    // A MSG_SNAPSHOT reaches Raft only through Snapshot, with its state staged; one on the
    // message stream would carry no usable state.
    if (message.type() == raftpb::MSG_SNAPSHOT) {
      spdlog::warn("dropped MSG_SNAPSHOT from member {:x} sent on the message stream",
                   message.from());
      continue;
    }
    deliver_(std::move(message));
  }
  return true;
}

bool RaftPeerService::Deliver(raftpb::Message message) {
  absl::ReaderMutexLock lock(&deliver_mu_);
  if (!delivery_open_) return false;
  deliver_(std::move(message));
  return true;
}

void RaftPeerService::CloseDelivery() {
  absl::MutexLock lock(&deliver_mu_);
  delivery_open_ = false;
}

void RaftPeerService::ReactorStarted() {
  absl::MutexLock lock(&reactors_mu_);
  ++live_reactors_;
}

void RaftPeerService::ReactorDone() {
  absl::MutexLock lock(&reactors_mu_);
  --live_reactors_;
}

void RaftPeerService::WaitForReactors() {
  absl::MutexLock lock(&reactors_mu_);
  while (!reactors_mu_.AwaitWithTimeout(absl::Condition(
                                            +[](int* live) { return *live == 0; }, &live_reactors_),
                                        absl::Seconds(10))) {
    spdlog::warn("still waiting for {} peer streams to finish", live_reactors_);
  }
}

}  // namespace quorum::server
