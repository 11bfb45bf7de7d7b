// Many waiting Lock calls and Observe streams held open on one etcd v3 endpoint (quorumd or
// etcd) from a single client process, through gRPC's callback client API (no thread per call).
// Used by quorum-coord-load (tests/bench/coord_memory.sh) and by the waiting-calls process test
// (tests/elect/waiting_calls_test.cc) to load the Election and Lock services.
#ifndef QUORUM_TESTS_BENCH_COORD_WAITS_H_
#define QUORUM_TESTS_BENCH_COORD_WAITS_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"

namespace quorum::bench {

class WaitingCalls {
 public:
  explicit WaitingCalls(std::shared_ptr<grpc::Channel> channel);
  // Cancels whatever is still open and waits for it.
  ~WaitingCalls();

  // Takes the lock `name` (a Lock call that returns at once), so that later Lock calls on it
  // wait. False on failure.
  bool TakeLock(const std::string& name);
  // Campaigns in the election `name` (at once, as its first candidate), so that Observe
  // streams on it get a leader. False on failure.
  bool Lead(const std::string& name);
  // Starts `count` Lock calls on `name`, each on a lease of its own (granted first, an hour
  // long, so that nothing expires during a run); they wait behind the holder. Started in
  // batches, each once the previous one's keys exist; returns early on an error or when a
  // batch takes too long (WaitAllWaiting then says false).
  void StartLocks(const std::string& name, int count);
  // Starts `count` Observe streams on the election `name`, in batches, each once the previous
  // one's streams have seen the leader.
  void StartObservers(const std::string& name, int count);
  // Until every Observe stream has seen the leader and `locks_waiting` keys (the holder's
  // included) exist under the lock's name, or `wait` passes. False at the deadline.
  bool WaitAllWaiting(const std::string& lock_name, int64_t locks_waiting,
                      std::chrono::milliseconds wait);
  // Keys under `name`'s lock prefix, read from the server (-1 on error).
  int64_t LockKeys(const std::string& name);
  // Cancels every open call; WaitAllEnded then waits for their ends.
  void CancelAll();
  bool WaitAllEnded(std::chrono::milliseconds wait);
  // Revokes every lease this load was granted, as a client's sessions do when it closes them
  // (their keys go with them). Returns how many revocations failed. Call after WaitAllEnded.
  int64_t RevokeLeases(std::chrono::milliseconds wait);

  int64_t observed() const;     // Observe streams that got a leader
  int64_t lock_errors() const;  // Lock calls that ended before CancelAll, other than granted

 private:
  class Observer;
  struct LockCall;
  void Ended();
  void StartLockBatch(const std::string& name, int count);
  // An hour-long lease; 0 on failure.
  int64_t GrantLease();

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::unique_ptr<LockCall>> locks_;
  std::vector<std::unique_ptr<Observer>> observers_;
  std::vector<int64_t> own_leases_;  // the holder's and the leader's
  int64_t open_ = 0;
  int64_t observed_ = 0;
  int64_t lock_errors_ = 0;
  bool cancelling_ = false;
};

}  // namespace quorum::bench

#endif  // QUORUM_TESTS_BENCH_COORD_WAITS_H_
