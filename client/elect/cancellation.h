// Stops a worker thread of quorum-elect that may be blocked in a gRPC call or a pause: the
// worker registers each call's context, the owner calls Cancel() and then joins the worker.
#ifndef QUORUM_CLIENT_ELECT_CANCELLATION_H_
#define QUORUM_CLIENT_ELECT_CANCELLATION_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace quorum::elect {

class Cancellation {
 public:
  // Registers `context` as the call in flight. Returns false (and the caller must not make the
  // call) once Cancel() has been called. REQUIRES: one call in flight at a time.
  bool Enter(grpc::ClientContext* context);
  void Leave();
  // Cancels the call in flight, wakes Pause(), and makes every later Enter() fail.
  void Cancel();
  // Cancels the call in flight only; the worker sees CANCELLED and may try again.
  void InterruptCall();
  // Makes Enter() work again, for the next worker. REQUIRES: no worker running.
  void Reset();
  bool cancelled();
  // Waits for `duration` unless cancelled; returns false if cancelled.
  bool Pause(std::chrono::steady_clock::duration duration);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* in_flight_ ABSL_GUARDED_BY(mu_) = nullptr;
};

// Enter/Leave for one scope.
class CallScope {
 public:
  CallScope(Cancellation& cancellation, grpc::ClientContext* context)
      : cancellation_(cancellation), entered_(cancellation.Enter(context)) {}
  ~CallScope() {
    if (entered_) cancellation_.Leave();
  }
  bool entered() const { return entered_; }

 private:
  Cancellation& cancellation_;
  bool entered_;
};

}  // namespace quorum::elect

#endif  // QUORUM_CLIENT_ELECT_CANCELLATION_H_
