// quorum-coord-load: holds many watchers and leases on one etcd v3 endpoint (quorumd or etcd),
// so that a script can read the server's memory while they exist. Opens --streams watch streams
// carrying --watchers watchers (each on its own key), grants --leases leases (one key attached
// to each), writes one put to every watched key and checks every watcher saw it, then prints
// "holding" and keeps everything open until its stdin closes. With --locks and --observers it
// also holds that many Lock calls waiting behind a holder and Observe streams on an election
// (see coord_waits.h); the stdin line "cancel" cancels them all, waits for their ends and prints
// "cancelled" with how many lock keys are left (the holder's only, if every waiter removed its
// own).
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/bench/coord_waits.h"

namespace {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;

struct Stream {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<WatchRequest, WatchResponse>> rw;
  std::thread reader;
};

// Runs `work(i)` for i in [0, count) on `threads` threads.
template <typename Work>
void Parallel(int count, int threads, const Work& work) {
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = next++; i < count; i = next++) work(i);
    });
  }
  for (auto& t : pool) t.join();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Holds watchers and leases on an etcd v3 endpoint for memory measurements."};
  std::string endpoint = "127.0.0.1:2379";
  int streams = 100;
  int watchers = 10000;
  int leases = 10000;
  int threads = 32;
  int locks = 0;
  int observers = 0;
  app.add_option("--endpoint", endpoint);
  app.add_option("--streams", streams);
  app.add_option("--watchers", watchers);
  app.add_option("--leases", leases);
  app.add_option("--threads", threads);
  app.add_option("--locks", locks, "Lock calls kept waiting");
  app.add_option("--observers", observers, "Observe streams kept open");
  CLI11_PARSE(app, argc, argv);

  auto channel = grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials());
  auto watch = etcdserverpb::Watch::NewStub(channel);
  auto kv = etcdserverpb::KV::NewStub(channel);
  auto lease = etcdserverpb::Lease::NewStub(channel);

  std::atomic<int64_t> created{0};
  std::atomic<int64_t> events{0};
  std::vector<std::unique_ptr<Stream>> open(streams);
  for (int s = 0; s < streams; ++s) {
    open[s] = std::make_unique<Stream>();
    open[s]->rw = watch->Watch(&open[s]->context);
    Stream* stream = open[s].get();
    stream->reader = std::thread([stream, &created, &events] {
      WatchResponse response;
      while (stream->rw->Read(&response)) {
        if (response.created()) ++created;
        events += response.events_size();
      }
    });
  }
  for (int w = 0; w < watchers; ++w) {
    WatchRequest request;
    request.mutable_create_request()->set_key("mw/" + std::to_string(w));
    if (!open[w % streams]->rw->Write(request)) {
      std::cerr << "watch stream failed\n";
      return 1;
    }
  }
  std::atomic<int> failures{0};
  Parallel(leases, threads, [&](int i) {
    grpc::ClientContext grant_context;
    etcdserverpb::LeaseGrantRequest grant;
    grant.set_ttl(3600);
    etcdserverpb::LeaseGrantResponse granted;
    if (!lease->LeaseGrant(&grant_context, grant, &granted).ok()) {
      ++failures;
      return;
    }
    grpc::ClientContext put_context;
    etcdserverpb::PutRequest put;
    put.set_key("ml/" + std::to_string(i));
    put.set_value("leased");
    put.set_lease(granted.id());
    etcdserverpb::PutResponse done;
    if (!kv->Put(&put_context, put, &done).ok()) ++failures;
  });
  Parallel(watchers, threads, [&](int i) {
    grpc::ClientContext context;
    etcdserverpb::PutRequest put;
    put.set_key("mw/" + std::to_string(i));
    put.set_value("x");
    etcdserverpb::PutResponse done;
    if (!kv->Put(&context, put, &done).ok()) ++failures;
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((created.load() < watchers || events.load() < watchers) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Names of their own per run: a holder of an earlier run may still hold its lock.
  const std::string kLockName = "coord-load-lock-" + std::to_string(getpid());
  const std::string kElection = "coord-load-election-" + std::to_string(getpid());
  std::unique_ptr<quorum::bench::WaitingCalls> calls;
  if (locks > 0 || observers > 0) {
    calls = std::make_unique<quorum::bench::WaitingCalls>(channel);
    if (!calls->TakeLock(kLockName) || !calls->Lead(kElection)) {
      std::cerr << "could not take the lock or lead the election\n";
      return 1;
    }
    calls->StartLocks(kLockName, locks);
    calls->StartObservers(kElection, observers);
    if (!calls->WaitAllWaiting(kLockName, locks + 1, std::chrono::seconds(300))) ++failures;
    failures += static_cast<int>(calls->lock_errors());
  }
  std::printf(
      "holding: %lld watchers created, %lld events seen, %d leases, %d locks waiting, "
      "%lld observers, %d failures\n",
      static_cast<long long>(created.load()), static_cast<long long>(events.load()), leases, locks,
      static_cast<long long>(calls ? calls->observed() : 0), failures.load());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line != "cancel" || calls == nullptr) continue;
    calls->CancelAll();
    const bool ended = calls->WaitAllEnded(std::chrono::seconds(120));
    const int64_t keys_left = calls->LockKeys(kLockName);
    // Then close the sessions, as a client that is done with them does.
    const int64_t revoke_failures = ended ? calls->RevokeLeases(std::chrono::seconds(120)) : -1;
    std::printf("cancelled: %s, %lld lock keys left, %lld lease revocations failed\n",
                ended ? "all ended" : "NOT all ended", static_cast<long long>(keys_left),
                static_cast<long long>(revoke_failures));
    std::fflush(stdout);
  }
  for (auto& s : open) s->context.TryCancel();
  for (auto& s : open) s->reader.join();
  return created.load() == watchers && events.load() == watchers && failures.load() == 0 ? 0 : 1;
}
