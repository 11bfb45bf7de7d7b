// FakeNetwork and FakeTransport: in-process stand-ins for the gRPC peer transport. Each member
// joins the network with its PeerTransport::Callbacks and gets a FakeTransport; messages it sends
// wait in the network until the test calls DeliverAll(), which hands them to the receivers'
// deliver callbacks on the calling thread, except across cut links. Used by RaftDriver tests
// (and any test that wires several members in one process) so no sockets or sleeps are needed.
#ifndef QUORUM_TESTS_SUPPORT_FAKE_TRANSPORT_H_
#define QUORUM_TESTS_SUPPORT_FAKE_TRANSPORT_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/peer/transport.h"

namespace quorum::testing {

class FakeTransport;

// Thread-safe: members' loops may Send from their own threads while the test delivers.
class FakeNetwork {
 public:
  // A transport for member `id`. Messages addressed to `id` reach callbacks.deliver. The
  // transport must not outlive the network; it leaves the network when destroyed or stopped.
  std::unique_ptr<FakeTransport> Join(uint64_t id, server::PeerTransport::Callbacks callbacks);

  // Delivers the messages queued when called, in send order. A message across a cut link, to a
  // member not joined, or matched by the drop filter is lost: its sender hears `unreachable`
  // (and, for a snapshot, a failed snapshot_status). A delivered snapshot is reported ok to its
  // sender. Returns the number delivered.
  size_t DeliverAll();
  size_t pending() const;

  // Cuts every link between `side` and the other members, both ways.
  void Partition(const std::set<uint64_t>& side);
  // Cuts the link from `from` to `to` (one way).
  void Cut(uint64_t from, uint64_t to);
  // Restores every link and clears the drop filter.
  void Heal();
  void SetDropFilter(std::function<bool(const raftpb::Message&)> drop);
  bool LinkUp(uint64_t from, uint64_t to) const;

 private:
  friend class FakeTransport;
  void Queue(std::vector<raftpb::Message> messages);
  void Leave(uint64_t id);

  mutable absl::Mutex mu_;
  std::map<uint64_t, server::PeerTransport::Callbacks> members_ ABSL_GUARDED_BY(mu_);
  std::deque<raftpb::Message> queue_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<uint64_t, uint64_t>> cut_ ABSL_GUARDED_BY(mu_);
  std::function<bool(const raftpb::Message&)> drop_ ABSL_GUARDED_BY(mu_);
};

class FakeTransport : public server::PeerTransport {
 public:
  FakeTransport(FakeNetwork* network, uint64_t id) : network_(network), id_(id) {}
  ~FakeTransport() override { Stop(); }

  // Peers are recorded but not needed: the network routes by id.
  void SetPeer(uint64_t id, const std::vector<std::string>& urls) override;
  void RemovePeer(uint64_t id) override;
  void Send(std::vector<raftpb::Message> messages) override;
  std::shared_ptr<grpc::Channel> PeerChannel(uint64_t) override { return nullptr; }
  bool Connected(uint64_t id) const override { return network_->LinkUp(id_, id); }
  void Stop() override;
  Stats GetStats() const override;

  std::set<uint64_t> peers() const;

 private:
  FakeNetwork* const network_;
  const uint64_t id_;
  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::set<uint64_t> peers_ ABSL_GUARDED_BY(mu_);
  uint64_t sent_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace quorum::testing

#endif  // QUORUM_TESTS_SUPPORT_FAKE_TRANSPORT_H_
