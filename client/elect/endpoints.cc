#include "client/elect/endpoints.h"

#include "absl/strings/match.h"
#include "proto/etcd_errors.h"

namespace quorum::elect {

EndpointPool::EndpointPool(std::vector<std::string> endpoints, const client::TlsOptions& tls,
                           std::string user, std::string password, absl::Duration login_timeout)
    : addresses_(std::move(endpoints)),
      auth_(std::move(user), std::move(password), absl::ToChronoMilliseconds(login_timeout)) {
  // The client library's channels: a member that was killed and restarted is usable again
  // within a retry period, and a frozen one is noticed by keepalive.
  for (const auto& address : addresses_)
    channels_.push_back(client::NewEndpointChannel(address, tls));
}

EndpointPool::Endpoint EndpointPool::Current() {
  std::lock_guard<std::mutex> lock(mu_);
  return {current_, addresses_[current_], channels_[current_]};
}

absl::Status EndpointPool::Authorize(const Endpoint& endpoint, grpc::ClientContext* context) {
  return auth_.Authorize(endpoint.channel, context);
}

bool EndpointPool::Failed(size_t index, const absl::Status& status) {
  if (StaleToken(status)) {
    // The member is fine; only the token is not.
    auth_.Drop();
    return false;
  }
  if (!IsRetryable(status)) return false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (index != current_ || addresses_.size() == 1) return false;
    current_ = (current_ + 1) % addresses_.size();
  }
  if (on_switch_) on_switch_();
  return true;
}

bool EndpointPool::MayPassLater(const absl::Status& status) const {
  if (Refused(status)) return false;
  return IsRetryable(status) || StaleToken(status);
}

bool EndpointPool::Refused(const absl::Status& status) const {
  // A call made without a token while auth was off may be refused as someone else.
  if (StaleToken(status)) return false;
  if (status.code() == absl::StatusCode::kPermissionDenied) return true;
  if (status.message() == ErrAuthFailed().message()) return true;
  // Without a user there is nothing to log in with; with one, a new login sends the token.
  if (status.message() == ErrUserEmpty().message()) return !auth_.has_user();
  // The auth store's own errors (gRPC code UNKNOWN, which otherwise means a reset stream).
  return status.code() == absl::StatusCode::kUnknown &&
         absl::StartsWith(status.message(), "auth: ");
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
