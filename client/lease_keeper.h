// Keeps one lease alive: Client::KeepAlive starts it; its thread renews the lease every TTL/3
// over a LeaseKeepAlive stream, moving to the next member when the pinned one fails, until the
// keeper is destroyed or the lease is gone.
#ifndef QUORUM_CLIENT_LEASE_KEEPER_H_
#define QUORUM_CLIENT_LEASE_KEEPER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace quorum::client {

class Client;

class LeaseKeeper {
 public:
  // Stops renewing (the lease then expires after its TTL unless revoked) and joins the thread.
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  int64_t id() const { return id_; }
  // False once the server said the lease is gone, or no member renewed it within its TTL.
  bool alive() const { return alive_.load(); }
  // How many renewals the server acknowledged.
  int64_t renewals() const { return renewals_.load(); }
  // Waits up to `wait` for the lease to be lost; true if it was.
  bool WaitLost(std::chrono::milliseconds wait);

 private:
  friend class Client;
  LeaseKeeper(Client* client, int64_t id,
              std::function<void(const etcdserverpb::LeaseKeepAliveResponse&)> on_response);
  void Run();
  // Renews on one member until its stream breaks; false when the lease is gone.
  bool RunStream(std::chrono::steady_clock::time_point* expires);
  bool Sleep(std::chrono::milliseconds pause);  // false when stopping

  Client* const client_;
  const int64_t id_;
  const std::function<void(const etcdserverpb::LeaseKeepAliveResponse&)> on_response_;
  std::atomic<bool> alive_{true};
  std::atomic<int64_t> renewals_{0};

  std::mutex mu_;
  std::condition_variable changed_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* live_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread thread_;
};

}  // namespace quorum::client

#endif  // QUORUM_CLIENT_LEASE_KEEPER_H_
