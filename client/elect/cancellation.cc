#include "client/elect/cancellation.h"

namespace quorum::elect {

bool Cancellation::Enter(grpc::ClientContext* context) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) return false;
  in_flight_ = context;
  return true;
}

void Cancellation::Leave() {
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_ = nullptr;
}

void Cancellation::Cancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    // The worker holds the context alive until Leave(), which waits for this lock.
    if (in_flight_ != nullptr) in_flight_->TryCancel();
  }
  cv_.notify_all();
}

void Cancellation::InterruptCall() {
  std::lock_guard<std::mutex> lock(mu_);
  if (in_flight_ != nullptr) in_flight_->TryCancel();
}

void Cancellation::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = false;
  in_flight_ = nullptr;
}

bool Cancellation::cancelled() {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

bool Cancellation::Pause(std::chrono::steady_clock::duration duration) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, duration, [this] { return cancelled_; });
}

}  // namespace quorum::elect
