// PeerTransport over gRPC: a RaftPeer server on the peer listeners for inbound streams and
// snapshots, and one PeerSender per peer for outbound ones.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "internalpb/peer.grpc.pb.h"
#include "server/peer/peer_channel.h"
#include "server/peer/peer_sender.h"
#include "server/peer/peer_service.h"
#include "server/peer/peer_stats.h"
#include "server/peer/snapshot_staging.h"
#include "server/peer/transport.h"
#include "spdlog/spdlog.h"

namespace quorum::server {
namespace {

class GrpcPeerTransport final : public PeerTransport {
 public:
  GrpcPeerTransport(Options options, Callbacks callbacks)
      : options_(std::move(options)), callbacks_(std::move(callbacks)) {}

  ~GrpcPeerTransport() override { Stop(); }

  absl::Status Listen() {
    if (!options_.snapshot_dir.empty()) {
      if (absl::Status status = PrepareSnapshotDir(options_.snapshot_dir); !status.ok()) {
        return status;
      }
    }
    if (options_.listen.empty()) {
      return absl::InvalidArgumentError("no peer listen address");
    }
    worker_ = std::make_unique<StagingWorker>();
    service_ = std::make_unique<RaftPeerService>(
        RaftPeerService::Config{.cluster_id = options_.cluster_id,
                                .self_id = options_.self_id,
                                .snapshot_dir = options_.snapshot_dir,
                                .is_removed = options_.is_removed},
        callbacks_.deliver, worker_.get(), &counters_);
    grpc::ServerBuilder builder;
    ConfigurePeerServer(builder);
    std::vector<int> ports(options_.listen.size(), 0);
    for (size_t i = 0; i < options_.listen.size(); ++i) {
      builder.AddListeningPort(PeerTarget(options_.listen[i]),
                               PeerListenerCredentials(options_.listen[i], options_.security),
                               &ports[i]);
    }
    builder.RegisterService(service_.get());
    for (grpc::Service* service : options_.services) builder.RegisterService(service);
    server_ = builder.BuildAndStart();
    for (size_t i = 0; i < ports.size(); ++i) {
      if (server_ == nullptr || ports[i] == 0) {
        server_.reset();
        return absl::UnavailableError(
            absl::StrCat("cannot listen for peers on ", options_.listen[i],
                         " (address in use or not local; is another member running on it?)"));
      }
    }
    spdlog::info("member {:x} listening for peers on {}", options_.self_id,
                 absl::StrJoin(options_.listen, ", "));
    if (options_.round_trip) prober_ = std::thread([this] { ProbeLoop(); });
    return absl::OkStatus();
  }

  void SetPeer(uint64_t id, const std::vector<std::string>& urls) override {
    absl::MutexLock lock(&mu_);
    if (stopped_ || id == options_.self_id) return;
    auto it = senders_.find(id);
    if (it != senders_.end()) {
      it->second->SetUrls(urls);
      return;
    }
    senders_.emplace(id,
                     std::make_unique<PeerSender>(
                         PeerSender::Config{.cluster_id = options_.cluster_id,
                                            .self_id = options_.self_id,
                                            .peer_id = id,
                                            .queue_limit = options_.queue_limit,
                                            .snapshot_chunk_bytes = options_.snapshot_chunk_bytes,
                                            .security = options_.security},
                         urls, &callbacks_, &counters_));
  }

  void RemovePeer(uint64_t id) override {
    std::unique_ptr<PeerSender> sender;
    {
      absl::MutexLock lock(&mu_);
      auto it = senders_.find(id);
      if (it == senders_.end()) return;
      sender = std::move(it->second);
      senders_.erase(it);
    }
    // Joined outside the lock: its thread may be calling back into the owner.
    sender.reset();
  }

  void Send(std::vector<raftpb::Message> messages) override {
    // Grouped by peer so that each sender's lock is taken once per Send.
    absl::flat_hash_map<uint64_t, std::vector<raftpb::Message>> by_peer;
    for (raftpb::Message& message : messages) {
      by_peer[message.to()].push_back(std::move(message));
    }
    absl::ReaderMutexLock lock(&mu_);
    for (auto& [peer, peer_messages] : by_peer) {
      auto it = senders_.find(peer);
      if (it != senders_.end()) it->second->Enqueue(std::move(peer_messages));
    }
  }

  std::shared_ptr<grpc::Channel> PeerChannel(uint64_t id) override {
    absl::ReaderMutexLock lock(&mu_);
    auto it = senders_.find(id);
    return it == senders_.end() ? nullptr : it->second->CurrentChannel();
  }

  bool Connected(uint64_t id) const override {
    absl::ReaderMutexLock lock(&mu_);
    auto it = senders_.find(id);
    return it != senders_.end() && it->second->Connected();
  }

  Stats GetStats() const override { return counters_.Read(); }
  std::vector<PeerTraffic> GetPeerTraffic() const override { return counters_.ReadTraffic(); }

  void Stop() override {
    absl::MutexLock stop_lock(&stop_mu_);
    absl::flat_hash_map<uint64_t, std::unique_ptr<PeerSender>> senders;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
      senders.swap(senders_);
      if (probe_context_ != nullptr) probe_context_->TryCancel();
    }
    if (prober_.joinable()) prober_.join();
    for (auto& [id, sender] : senders) sender->RequestStop();
    for (auto& [id, sender] : senders) sender->Join();
    senders.clear();
    if (server_ != nullptr) {
      service_->CloseDelivery();
      // Open streams never end by themselves; the deadline cancels them at once.
      server_->Shutdown(std::chrono::system_clock::now());
      service_->WaitForReactors();
      server_->Wait();
      server_.reset();
    }
    service_.reset();
    worker_.reset();  // after the reactors: they finish through it
    spdlog::info("member {:x} peer transport stopped", options_.self_id);
  }

 private:
  // Probes each connected peer once per probe_interval, one after another, and reports the
  // round trips. Runs until Stop().
  void ProbeLoop() {
    while (true) {
      std::vector<std::pair<uint64_t, std::shared_ptr<grpc::Channel>>> peers;
      {
        absl::MutexLock lock(&mu_);
        if (mu_.AwaitWithTimeout(absl::Condition(&stopped_),
                                 absl::FromChrono(options_.probe_interval))) {
          return;
        }
        for (const auto& [id, sender] : senders_) {
          if (sender->Connected()) peers.emplace_back(id, sender->CurrentChannel());
        }
      }
      for (const auto& [id, channel] : peers) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + kProbeTimeout);
        {
          absl::MutexLock lock(&mu_);
          if (stopped_) return;
          probe_context_ = &context;
        }
        internalpb::PeerProbe request;
        internalpb::PeerProbe response;
        const auto start = std::chrono::steady_clock::now();
        grpc::Status status =
            internalpb::RaftPeer::NewStub(channel)->Probe(&context, request, &response);
        const auto rtt = std::chrono::steady_clock::now() - start;
        {
          absl::MutexLock lock(&mu_);
          probe_context_ = nullptr;
        }
        // A peer of an older version answers UNIMPLEMENTED, which is a round trip all the same.
        if (status.ok() || status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
          options_.round_trip(id, std::chrono::duration_cast<std::chrono::nanoseconds>(rtt));
        }
      }
    }
  }

  const Options options_;
  const Callbacks callbacks_;
  PeerCounters counters_;

  // Declared in the order they are built; Stop() tears them down in reverse.
  std::unique_ptr<StagingWorker> worker_;
  std::unique_ptr<RaftPeerService> service_;
  std::unique_ptr<grpc::Server> server_;

  absl::Mutex stop_mu_;
  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<uint64_t, std::unique_ptr<PeerSender>> senders_ ABSL_GUARDED_BY(mu_);
  // The probe in flight, cancelled by Stop().
  grpc::ClientContext* probe_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread prober_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PeerTransport>> PeerTransport::Start(const Options& options,
                                                                    Callbacks callbacks) {
  auto transport = std::make_unique<GrpcPeerTransport>(options, std::move(callbacks));
  if (absl::Status status = transport->Listen(); !status.ok()) {
    transport->Stop();
    return status;
  }
  return transport;
}

}  // namespace quorum::server
