// Measures the transport between two members on loopback. Not a test; run by hand:
//   peer_throughput [messages] [entry_bytes] [burst]
// 1. Throughput: member 1 sends MSG_APPENDs carrying one entry each, in bursts of `burst` per
//    Send (as a leader's Ready does), member 2 counts deliveries.
// 2. Round trip: member 1 sends one message, member 2 answers from its deliver callback, one
//    at a time (the latency a follower's append response adds to a commit).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "peer/peer_test_support.h"
#include "server/peer/transport.h"

namespace quorum::server::testing {
namespace {

int Run(uint64_t total, size_t entry_bytes, uint64_t burst) {
  const int port_a = PickFreePort();
  const int port_b = PickFreePort();
  Recorder unused;
  std::atomic<uint64_t> received_by_b{0};
  std::atomic<uint64_t> received_by_a{0};
  std::atomic<bool> echo{false};
  std::unique_ptr<PeerTransport> a;
  std::unique_ptr<PeerTransport> b;

  PeerTransport::Callbacks a_callbacks = unused.Callbacks();
  a_callbacks.deliver = [&](raftpb::Message) { received_by_a.fetch_add(1); };
  PeerTransport::Callbacks b_callbacks = unused.Callbacks();
  b_callbacks.deliver = [&](raftpb::Message message) {
    received_by_b.fetch_add(1, std::memory_order_relaxed);
    if (echo.load(std::memory_order_relaxed)) {
      b->Send({MakeMessage(2, 1, message.index())});
    }
  };
  PeerTransport::Options options;
  options.cluster_id = 1;
  options.queue_limit = 1 << 20;
  options.self_id = 1;
  options.listen = {Listen(port_a)};
  auto started_a = PeerTransport::Start(options, a_callbacks);
  options.self_id = 2;
  options.listen = {Listen(port_b)};
  auto started_b = PeerTransport::Start(options, b_callbacks);
  if (!started_a.ok() || !started_b.ok()) {
    std::fprintf(stderr, "start failed\n");
    return 1;
  }
  a = *std::move(started_a);
  b = *std::move(started_b);
  a->SetPeer(2, {Url(port_b)});
  b->SetPeer(1, {Url(port_a)});
  // Warm up: both streams connected.
  a->Send({MakeMessage(1, 2, 0, entry_bytes)});
  b->Send({MakeMessage(2, 1, 0)});
  while (received_by_b.load() < 1 || received_by_a.load() < 1) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  received_by_b.store(0);
  const PeerTransport::Stats before = a->GetStats();

  absl::Time start = absl::Now();
  uint64_t sent = 0;
  while (sent < total) {
    // Stay below the queue limit, as Raft's flow control keeps a leader in bounds.
    while (sent > received_by_b.load(std::memory_order_relaxed) + (1u << 19)) {
      absl::SleepFor(absl::Microseconds(100));
    }
    std::vector<raftpb::Message> messages;
    for (uint64_t i = 0; i < burst && sent < total; ++i, ++sent) {
      messages.push_back(MakeMessage(1, 2, sent, entry_bytes));
    }
    a->Send(std::move(messages));
  }
  while (received_by_b.load() < total) absl::SleepFor(absl::Microseconds(200));
  double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const PeerTransport::Stats after = a->GetStats();
  std::printf(
      "throughput: %llu messages with %zu-byte entries in %.2f s: %.0f msg/s, %.1f MB/s of "
      "entries, %.1f messages per frame, %llu dropped\n",
      static_cast<unsigned long long>(total), entry_bytes, seconds, total / seconds,
      total * entry_bytes / seconds / 1e6,
      static_cast<double>(after.messages_sent - before.messages_sent) /
          (after.frames_sent - before.frames_sent),
      static_cast<unsigned long long>(after.messages_dropped));

  constexpr int kRoundTrips = 20000;
  echo.store(true);
  std::vector<double> micros;
  micros.reserve(kRoundTrips);
  for (int i = 0; i < kRoundTrips; ++i) {
    const uint64_t expected = received_by_a.load() + 1;
    const absl::Time sent_at = absl::Now();
    a->Send({MakeMessage(1, 2, i, entry_bytes)});
    while (received_by_a.load(std::memory_order_acquire) < expected) std::this_thread::yield();
    micros.push_back(absl::ToDoubleMicroseconds(absl::Now() - sent_at));
  }
  std::sort(micros.begin(), micros.end());
  std::printf("round trip: p50 %.0f us, p99 %.0f us, max %.0f us over %d\n",
              micros[micros.size() / 2], micros[micros.size() * 99 / 100], micros.back(),
              kRoundTrips);
  echo.store(false);
  a->Stop();
  b->Stop();
  return 0;
}

}  // namespace
}  // namespace quorum::server::testing

int main(int argc, char** argv) {
  const uint64_t total = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const size_t entry_bytes = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 256;
  const uint64_t burst = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 64;
  return quorum::server::testing::Run(total, entry_bytes, burst);
}
