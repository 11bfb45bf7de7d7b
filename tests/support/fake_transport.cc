// In-process peer network; see fake_transport.h.
#include "tests/support/fake_transport.h"

namespace quorum::testing {

std::unique_ptr<FakeTransport> FakeNetwork::Join(uint64_t id,
                                                 server::PeerTransport::Callbacks callbacks) {
  {
    absl::MutexLock lock(&mu_);
    members_[id] = std::move(callbacks);
  }
  return std::make_unique<FakeTransport>(this, id);
}

void FakeNetwork::Leave(uint64_t id) {
  absl::MutexLock lock(&mu_);
  members_.erase(id);
}

void FakeNetwork::Queue(std::vector<raftpb::Message> messages) {
  absl::MutexLock lock(&mu_);
  for (raftpb::Message& m : messages) queue_.push_back(std::move(m));
}

size_t FakeNetwork::pending() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

bool FakeNetwork::LinkUp(uint64_t from, uint64_t to) const {
  absl::MutexLock lock(&mu_);
  return members_.count(to) > 0 && cut_.count({from, to}) == 0;
}

void FakeNetwork::Partition(const std::set<uint64_t>& side) {
  absl::MutexLock lock(&mu_);
  for (const auto& [a, unused_a] : members_) {
    for (const auto& [b, unused_b] : members_) {
      if (side.count(a) != side.count(b)) cut_.insert({a, b});
    }
  }
}

void FakeNetwork::Cut(uint64_t from, uint64_t to) {
  absl::MutexLock lock(&mu_);
  cut_.insert({from, to});
}

void FakeNetwork::Heal() {
  absl::MutexLock lock(&mu_);
  cut_.clear();
  drop_ = nullptr;
}

void FakeNetwork::SetDropFilter(std::function<bool(const raftpb::Message&)> drop) {
  absl::MutexLock lock(&mu_);
  drop_ = std::move(drop);
}

size_t FakeNetwork::DeliverAll() {
  std::deque<raftpb::Message> batch;
  {
    absl::MutexLock lock(&mu_);
    batch.swap(queue_);
  }
  size_t delivered = 0;
  for (raftpb::Message& m : batch) {
    // Callbacks run without the lock: a receiver may send (and so queue) at once.
    std::function<void(raftpb::Message)> deliver;
    std::function<void(uint64_t)> unreachable;
    std::function<void(uint64_t, bool)> snapshot_status;
    bool lost = false;
    {
      absl::MutexLock lock(&mu_);
      auto to = members_.find(m.to());
      lost = to == members_.end() || cut_.count({m.from(), m.to()}) > 0 || (drop_ && drop_(m));
      if (!lost) deliver = to->second.deliver;
      if (auto from = members_.find(m.from()); from != members_.end()) {
        unreachable = from->second.unreachable;
        snapshot_status = from->second.snapshot_status;
      }
    }
    const bool snapshot = m.type() == raftpb::MSG_SNAPSHOT;
    const uint64_t to = m.to();
    if (lost) {
      if (unreachable) unreachable(to);
      if (snapshot && snapshot_status) snapshot_status(to, false);
      continue;
    }
    if (deliver) deliver(std::move(m));
    ++delivered;
    if (snapshot && snapshot_status) snapshot_status(to, true);
  }
  return delivered;
}

void FakeTransport::SetPeer(uint64_t id, const std::vector<std::string>&) {
  absl::MutexLock lock(&mu_);
  peers_.insert(id);
}

void FakeTransport::RemovePeer(uint64_t id) {
  absl::MutexLock lock(&mu_);
  peers_.erase(id);
}

std::set<uint64_t> FakeTransport::peers() const {
  absl::MutexLock lock(&mu_);
  return peers_;
}

void FakeTransport::Send(std::vector<raftpb::Message> messages) {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    sent_ += messages.size();
  }
  network_->Queue(std::move(messages));
}

void FakeTransport::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  network_->Leave(id_);
}

server::PeerTransport::Stats FakeTransport::GetStats() const {
  absl::MutexLock lock(&mu_);
  Stats stats;
  stats.messages_sent = sent_;
  stats.frames_sent = sent_;
  return stats;
}

}  // namespace quorum::testing
