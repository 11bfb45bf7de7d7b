#include "client/elect/endpoints.h"

namespace quorum::elect {

EndpointPool::EndpointPool(std::vector<std::string> endpoints, const client::TlsOptions& tls)
    : addresses_(std::move(endpoints)) {
  // The client library's channels: a member that was killed and restarted is usable again
  // within a retry period, and a frozen one is noticed by keepalive.
  for (const auto& address : addresses_)
    channels_.push_back(client::NewEndpointChannel(address, tls));
}

EndpointPool::Endpoint EndpointPool::Current() {
  std::lock_guard<std::mutex> lock(mu_);
  return {current_, addresses_[current_], channels_[current_]};
}

bool EndpointPool::Failed(size_t index, const absl::Status& status) {
  if (!IsRetryable(status)) return false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (index != current_ || addresses_.size() == 1) return false;
    current_ = (current_ + 1) % addresses_.size();
  }
  if (on_switch_) on_switch_();
  return true;
}

bool IsRetryable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    // A connection reset while a stream was open surfaces as UNKNOWN or INTERNAL.
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
      return true;
    default:
      return false;
  }
}

std::chrono::system_clock::time_point DeadlineAfter(absl::Duration timeout) {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout);
}

}  // namespace quorum::elect
