#include "client/elect/endpoints.h"

namespace quorum::elect {

EndpointPool::EndpointPool(std::vector<std::string> endpoints) : addresses_(std::move(endpoints)) {
  grpc::ChannelArguments args;
  // A member that was killed and restarted must be usable again within a retry period, not
  // after gRPC's default reconnect backoff of up to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  for (const auto& address : addresses_) {
    channels_.push_back(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  }
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

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

std::chrono::system_clock::time_point DeadlineAfter(absl::Duration timeout) {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout);
}

}  // namespace quorum::elect
