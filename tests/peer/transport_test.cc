// Message streams between transports in one process on loopback: order, batching, the hello
// check, unreachable reports, reconnect after a restart, the bounded queue, Stop.
#include "server/peer/transport.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "peer/peer_test_support.h"

namespace quorum::server {
namespace {

using testing::kWait;
using testing::Listen;
using testing::MakeMessage;
using testing::PickFreePort;
using testing::Recorder;
using testing::Url;

constexpr uint64_t kCluster = 0xc1;

struct Member {
  uint64_t id;
  int port;
  Recorder recorder;
  std::unique_ptr<PeerTransport> transport;
};

PeerTransport::Options MakeOptions(uint64_t cluster, uint64_t id, int port) {
  PeerTransport::Options options;
  options.cluster_id = cluster;
  options.self_id = id;
  options.listen = {Listen(port)};
  return options;
}

void StartMember(Member& member, PeerTransport::Options options) {
  absl::StatusOr<std::unique_ptr<PeerTransport>> transport =
      PeerTransport::Start(options, member.recorder.Callbacks());
  ASSERT_TRUE(transport.ok()) << transport.status();
  member.transport = *std::move(transport);
}

void StartMember(Member& member, uint64_t cluster = kCluster) {
  StartMember(member, MakeOptions(cluster, member.id, member.port));
}

// Wires every member to every other.
void Connect(std::vector<Member*> members) {
  for (Member* from : members) {
    for (Member* to : members) {
      if (from != to) from->transport->SetPeer(to->id, {Url(to->port)});
    }
  }
}

// Starts two members with default options and wires them to each other.
void StartAndConnect(Member& a, Member& b) {
  StartMember(a);
  StartMember(b);
  Connect({&a, &b});
}

// Waits until `from` has a stream to each of `peers`. A sender that cannot connect within its
// backoff drops what is queued (raft resends), so tests that count every message wait for the
// streams first.
bool AwaitConnected(const Member& from, std::vector<uint64_t> peers) {
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline) {
    bool all = true;
    for (uint64_t peer : peers) all = all && from.transport->Connected(peer);
    if (all) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

// The messages `recorder` got from `from`, by index.
std::vector<uint64_t> IndexesFrom(Recorder& recorder, uint64_t from) {
  std::vector<uint64_t> indexes;
  for (const raftpb::Message& message : recorder.Delivered()) {
    if (message.from() == from) indexes.push_back(message.index());
  }
  return indexes;
}

std::vector<uint64_t> Iota(uint64_t count) {
  std::vector<uint64_t> values(count);
  for (uint64_t i = 0; i < count; ++i) values[i] = i;
  return values;
}

TEST(PeerTransportTest, DeliversMessagesInOrderPerPeerInBatches) {
  Member a{.id = 1, .port = PickFreePort()};
  Member b{.id = 2, .port = PickFreePort()};
  Member c{.id = 3, .port = PickFreePort()};
  PeerTransport::Options options = MakeOptions(kCluster, a.id, a.port);
  options.queue_limit = 1 << 16;
  StartMember(a, options);
  StartMember(b);
  StartMember(c);
  Connect({&a, &b, &c});
  ASSERT_TRUE(AwaitConnected(a, {b.id, c.id}));
  ASSERT_TRUE(AwaitConnected(b, {a.id}));

  // Bursts from one thread, as a leader's member loop sends each Ready's messages.
  constexpr uint64_t kPerPeer = 20000;
  constexpr uint64_t kBurst = 500;
  for (uint64_t start = 0; start < kPerPeer; start += kBurst) {
    std::vector<raftpb::Message> messages;
    for (uint64_t i = start; i < start + kBurst; ++i) {
      messages.push_back(MakeMessage(a.id, b.id, i, 64));
      messages.push_back(MakeMessage(a.id, c.id, i, 64));
    }
    a.transport->Send(std::move(messages));
  }
  // And one message back, to show streams go both ways.
  b.transport->Send({MakeMessage(b.id, a.id, 7)});

  ASSERT_TRUE(b.recorder.WaitForDelivered(kPerPeer));
  ASSERT_TRUE(c.recorder.WaitForDelivered(kPerPeer));
  ASSERT_TRUE(a.recorder.WaitForDelivered(1));
  EXPECT_EQ(IndexesFrom(b.recorder, a.id), Iota(kPerPeer));
  EXPECT_EQ(IndexesFrom(c.recorder, a.id), Iota(kPerPeer));
  EXPECT_EQ(IndexesFrom(a.recorder, b.id), std::vector<uint64_t>{7});
  for (const raftpb::Message& message : b.recorder.Delivered()) {
    ASSERT_EQ(message.to(), b.id);
    ASSERT_EQ(message.entries_size(), 1);
    ASSERT_EQ(message.entries(0).data().size(), 64u);
  }

  PeerTransport::Stats stats = a.transport->GetStats();
  EXPECT_EQ(stats.messages_sent, 2 * kPerPeer);
  EXPECT_EQ(stats.messages_dropped, 0u);
  // Each burst holds kBurst messages per peer, so a sender that batches writes at most one
  // frame per burst; one frame per message would be kPerPeer.
  EXPECT_LE(stats.frames_sent, 2 * kPerPeer / kBurst);
  EXPECT_EQ(b.transport->GetStats().messages_received, kPerPeer);
  EXPECT_TRUE(a.transport->Connected(b.id));
  EXPECT_TRUE(a.transport->Connected(c.id));
  EXPECT_FALSE(a.transport->Connected(99));
}

TEST(PeerTransportTest, CountsMessageBytesPerPeerBothWays) {
  Member a{.id = 1, .port = PickFreePort()};
  Member b{.id = 2, .port = PickFreePort()};
  StartAndConnect(a, b);
  ASSERT_TRUE(AwaitConnected(a, {b.id}));
  ASSERT_TRUE(AwaitConnected(b, {a.id}));
  constexpr uint64_t kMessages = 100;
  std::vector<raftpb::Message> messages;
  for (uint64_t i = 0; i < kMessages; ++i) messages.push_back(MakeMessage(a.id, b.id, i, 64));
  a.transport->Send(std::move(messages));
  b.transport->Send({MakeMessage(b.id, a.id, 7, 64)});
  ASSERT_TRUE(b.recorder.WaitForDelivered(kMessages));
  ASSERT_TRUE(a.recorder.WaitForDelivered(1));

  auto traffic_with = [](const PeerTransport& transport, uint64_t peer) {
    for (const PeerTransport::PeerTraffic& t : transport.GetPeerTraffic()) {
      if (t.peer == peer) return t;
    }
    return PeerTransport::PeerTraffic{};
  };
  // A sender counts a frame once its write has completed, which can be just after the receiver
  // delivered it: wait (bounded) for both senders' counts.
  for (int wait = 0; wait < 500; ++wait) {
    if (traffic_with(*a.transport, b.id).sent_bytes >= kMessages * 64 &&
        traffic_with(*b.transport, a.id).sent_bytes >= 64) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Each message carries 64 bytes of entry data plus its header fields.
  const PeerTransport::PeerTraffic a_to_b = traffic_with(*a.transport, b.id);
  const PeerTransport::PeerTraffic b_from_a = traffic_with(*b.transport, a.id);
  EXPECT_GE(a_to_b.sent_bytes, kMessages * 64);
  EXPECT_LE(a_to_b.sent_bytes, kMessages * 128);
  // The receiver counts the frame as it arrived: the same messages, plus a few bytes each of
  // framing.
  EXPECT_GE(b_from_a.received_bytes, a_to_b.sent_bytes);
  EXPECT_LE(b_from_a.received_bytes, a_to_b.sent_bytes + kMessages * 4);
  EXPECT_GE(a_to_b.received_bytes, 64u);
  EXPECT_GE(b_from_a.sent_bytes, 64u);
  EXPECT_LT(b_from_a.sent_bytes, 128u);
}

TEST(PeerTransportTest, ProbesConnectedPeersAndReportsRoundTrips) {
  // Declared before the transports, which report into them until they stop.
  absl::Mutex mu;
  std::vector<std::pair<uint64_t, std::chrono::nanoseconds>> trips;
  Member a{.id = 1, .port = PickFreePort()};
  Member b{.id = 2, .port = PickFreePort()};
  PeerTransport::Options options = MakeOptions(kCluster, a.id, a.port);
  options.probe_interval = std::chrono::milliseconds(20);
  options.round_trip = [&](uint64_t peer, std::chrono::nanoseconds rtt) {
    absl::MutexLock lock(&mu);
    trips.emplace_back(peer, rtt);
  };
  StartMember(a, options);
  StartMember(b);
  Connect({&a, &b});
  ASSERT_TRUE(AwaitConnected(a, {b.id}));
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(
                                        +[](decltype(trips)* t) { return t->size() >= 2; }, &trips),
                                    kWait));
    for (const auto& [peer, rtt] : trips) {
      EXPECT_EQ(peer, b.id);
      EXPECT_GT(rtt.count(), 0);
      EXPECT_LE(rtt, PeerTransport::kProbeTimeout);
    }
  }
  // Stop cancels a probe in flight and ends the probe thread.
  a.transport->Stop();
}

TEST(PeerTransportTest, RefusesMemberOfAnotherCluster) {
  Member a{.id = 1, .port = PickFreePort()};
  Member stranger{.id = 2, .port = PickFreePort()};
  StartMember(a);
  StartMember(stranger, /*cluster=*/kCluster + 1);
  stranger.transport->SetPeer(a.id, {Url(a.port)});

  stranger.transport->Send({MakeMessage(stranger.id, a.id, 1)});
  ASSERT_TRUE(stranger.recorder.WaitForUnreachable(a.id));
  EXPECT_FALSE(stranger.transport->Connected(a.id));
  EXPECT_EQ(a.recorder.DeliveredCount(), 0u);
  EXPECT_EQ(a.transport->GetStats().frames_received, 0u);
}

TEST(PeerTransportTest, RefusesHelloAddressedToAnotherMember) {
  Member a{.id = 1, .port = PickFreePort()};
  Member b{.id = 2, .port = PickFreePort()};
  StartMember(a);
  StartMember(b);
  // a believes member 3 lives at b's URL.
  a.transport->SetPeer(3, {Url(b.port)});

  a.transport->Send({MakeMessage(a.id, 3, 1)});
  ASSERT_TRUE(a.recorder.WaitForUnreachable(3));
  EXPECT_FALSE(a.transport->Connected(3));
  EXPECT_EQ(b.recorder.DeliveredCount(), 0u);
}

TEST(PeerTransportTest, DownPeerIsUnreachableAndReceivesOnceRestarted) {
  Member a{.id = 1, .port = PickFreePort()};
  Member b{.id = 2, .port = PickFreePort()};
  StartMember(a);
  a.transport->SetPeer(b.id, {Url(b.port)});

  // Nobody listens on b's port yet.
  a.transport->Send({MakeMessage(a.id, b.id, 0)});
  ASSERT_TRUE(a.recorder.WaitForUnreachable(b.id));
  EXPECT_FALSE(a.transport->Connected(b.id));

  for (int round = 0; round < 2; ++round) {
    // b comes up on the same port (in round 1: comes back after a stop).
    StartMember(b);
    const size_t before = b.recorder.DeliveredCount();
    absl::Time started = absl::Now();
    uint64_t index = 1;
    while (b.recorder.DeliveredCount() == before && absl::Now() - started < kWait) {
      a.transport->Send({MakeMessage(a.id, b.id, index++)});
      b.recorder.WaitForDelivered(before + 1, absl::Milliseconds(20));
    }
    ASSERT_GT(b.recorder.DeliveredCount(), before) << "round " << round;
    // Reconnect backoff is capped near a second; allow for a loaded machine.
    EXPECT_LT(absl::Now() - started, absl::Seconds(5)) << "round " << round;
    EXPECT_TRUE(a.transport->Connected(b.id));

    // Take b down: a notices on its next write or idle check and reports what it lost.
    const int unreachable = a.recorder.Unreachable(b.id);
    b.transport->Stop();
    b.transport.reset();
    started = absl::Now();
    while (a.recorder.Unreachable(b.id) == unreachable && absl::Now() - started < kWait) {
      a.transport->Send({MakeMessage(a.id, b.id, index++)});
      a.recorder.WaitForUnreachable(b.id, unreachable + 1, absl::Milliseconds(20));
    }
    ASSERT_GT(a.recorder.Unreachable(b.id), unreachable) << "round " << round;
    EXPECT_FALSE(a.transport->Connected(b.id));
  }
}

TEST(PeerTransportTest, FullQueueDropsAndReportsUnreachable) {
  Member a{.id = 1, .port = PickFreePort()};
  PeerTransport::Options options = MakeOptions(kCluster, a.id, a.port);
  options.queue_limit = 8;
  StartMember(a, options);
  a.transport->SetPeer(2, {Url(PickFreePort())});  // down

  std::vector<raftpb::Message> messages;
  for (uint64_t i = 0; i < 100; ++i) messages.push_back(MakeMessage(a.id, 2, i));
  a.transport->Send(std::move(messages));
  // Send counts its drops before it returns; the sender may drop the 8 queued ones too.
  EXPECT_GE(a.transport->GetStats().messages_dropped, 92u);
  EXPECT_TRUE(a.recorder.WaitForUnreachable(2));
}

TEST(PeerTransportTest, MessagesToUnknownOrRemovedPeersAreDropped) {
  Member a{.id = 1, .port = PickFreePort()};
  Member b{.id = 2, .port = PickFreePort()};
  StartAndConnect(a, b);
  ASSERT_TRUE(AwaitConnected(a, {b.id}));
  a.transport->Send({MakeMessage(a.id, b.id, 1)});
  ASSERT_TRUE(b.recorder.WaitForDelivered(1));

  a.transport->RemovePeer(b.id);
  EXPECT_FALSE(a.transport->Connected(b.id));
  a.transport->Send({MakeMessage(a.id, b.id, 2), MakeMessage(a.id, 99, 3)});
  PeerTransport::Stats stats = a.transport->GetStats();
  EXPECT_EQ(stats.messages_sent, 1u);
  EXPECT_EQ(stats.messages_dropped, 0u);
  EXPECT_EQ(a.recorder.Unreachable(b.id), 0);
  EXPECT_EQ(a.recorder.Unreachable(99), 0);

  // Added again, it is reached again.
  a.transport->SetPeer(b.id, {Url(b.port)});
  ASSERT_TRUE(AwaitConnected(a, {b.id}));
  a.transport->Send({MakeMessage(a.id, b.id, 4)});
  ASSERT_TRUE(b.recorder.WaitForDelivered(2));
  EXPECT_EQ(IndexesFrom(b.recorder, a.id), (std::vector<uint64_t>{1, 4}));
}

TEST(PeerTransportTest, SetPeerWithNewUrlRedials) {
  Member a{.id = 1, .port = PickFreePort()};
  Member b{.id = 2, .port = PickFreePort()};
  StartMember(a);
  StartMember(b);
  a.transport->SetPeer(b.id, {Url(PickFreePort())});  // wrong port first
  a.transport->Send({MakeMessage(a.id, b.id, 0)});
  ASSERT_TRUE(a.recorder.WaitForUnreachable(b.id));

  a.transport->SetPeer(b.id, {Url(b.port)});
  absl::Time started = absl::Now();
  uint64_t index = 1;
  while (b.recorder.DeliveredCount() == 0 && absl::Now() - started < kWait) {
    a.transport->Send({MakeMessage(a.id, b.id, index++)});
    b.recorder.WaitForDelivered(1, absl::Milliseconds(20));
  }
  EXPECT_GT(b.recorder.DeliveredCount(), 0u);
}

TEST(PeerTransportTest, StartFailsClearlyWhenPortIsTaken) {
  Member a{.id = 1, .port = PickFreePort()};
  StartMember(a);
  Recorder recorder;
  absl::StatusOr<std::unique_ptr<PeerTransport>> second =
      PeerTransport::Start(MakeOptions(kCluster, 2, a.port), recorder.Callbacks());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find(Listen(a.port)), absl::string_view::npos)
      << second.status();
}

TEST(PeerTransportTest, NoDeliveryAfterStopReturns) {
  Member a{.id = 1, .port = PickFreePort()};
  Member b{.id = 2, .port = PickFreePort()};
  StartAndConnect(a, b);

  std::atomic<bool> sending{true};
  std::thread sender([&] {
    uint64_t index = 0;
    while (sending.load()) {
      std::vector<raftpb::Message> messages;
      for (int i = 0; i < 50; ++i) messages.push_back(MakeMessage(a.id, b.id, index++));
      a.transport->Send(std::move(messages));
      std::this_thread::yield();
    }
  });
  ASSERT_TRUE(b.recorder.WaitForDelivered(1000));
  b.transport->Stop();
  const size_t at_stop = b.recorder.DeliveredCount();
  // a keeps writing until it sees the stream gone; nothing reaches b's callbacks meanwhile.
  EXPECT_TRUE(a.recorder.WaitForUnreachable(b.id));
  sending.store(false);
  sender.join();
  EXPECT_EQ(b.recorder.DeliveredCount(), at_stop);
  b.transport->Stop();  // twice is fine
}

TEST(PeerTransportTest, DestructionWithoutStopIsSafe) {
  Member a{.id = 1, .port = PickFreePort()};
  Member b{.id = 2, .port = PickFreePort()};
  StartAndConnect(a, b);
  ASSERT_TRUE(AwaitConnected(a, {b.id}));
  std::vector<raftpb::Message> messages;
  for (uint64_t i = 0; i < 1000; ++i) messages.push_back(MakeMessage(a.id, b.id, i, 100));
  a.transport->Send(std::move(messages));
  ASSERT_TRUE(b.recorder.WaitForDelivered(1));
  // Destroyed mid-stream, the receiver first.
  b.transport.reset();
  a.transport.reset();
}

}  // namespace
}  // namespace quorum::server
