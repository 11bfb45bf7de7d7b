#include "client/elect/lease_keeper.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace quorum::elect {
namespace {

Renewal RenewalSentNow() { return {SteadyClock::now(), absl::Now(), 0}; }

}  // namespace

LeaseKeeper::LeaseKeeper(EndpointPool& endpoints, absl::Duration retry_period, EventQueue& events,
                         StateLog& log)
    : endpoints_(endpoints), retry_period_(retry_period), events_(events), log_(log) {}

LeaseKeeper::~LeaseKeeper() { Stop(); }

absl::StatusOr<LeaseKeeper::Grant> LeaseKeeper::GrantOnce(int64_t ttl_seconds,
                                                          absl::Duration timeout) {
  EndpointPool::Endpoint endpoint = endpoints_.Current();
  auto stub = etcdserverpb::Lease::NewStub(endpoint.channel);
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(ttl_seconds);
  etcdserverpb::LeaseGrantResponse response;
  grpc::ClientContext context;
  context.set_deadline(DeadlineAfter(timeout));
  Grant grant;
  grant.renewal = RenewalSentNow();
  absl::Status status = endpoints_.Authorize(endpoint, &context);
  if (status.ok()) status = FromGrpc(stub->LeaseGrant(&context, request, &response));
  if (status.ok() && !response.error().empty()) status = absl::UnknownError(response.error());
  if (!status.ok()) {
    if (endpoints_.Refused(status)) return status;
    // Judged before Failed(), which may drop the token that the judgement looks at.
    bool stale_token = endpoints_.StaleToken(status);
    endpoints_.Failed(endpoint.index, status);
    if (stale_token) {
      return absl::UnauthenticatedError(
          absl::StrCat(endpoint.address, ": ", status.message(), " (logging in again)"));
    }
    return absl::Status(status.code(), absl::StrCat(endpoint.address, ": ", status.message()));
  }
  grant.lease = response.id();
  grant.renewal.ttl_seconds = response.ttl();
  return grant;
}

void LeaseKeeper::Start(int64_t lease) {
  Stop();
  cancellation_.Reset();
  thread_ = std::thread([this, lease] { RenewLoop(lease); });
}

void LeaseKeeper::Stop() {
  cancellation_.Cancel();
  if (thread_.joinable()) thread_.join();
}

void LeaseKeeper::RenewLoop(int64_t lease) {
  std::mt19937_64 random(std::random_device{}());
  std::uniform_real_distribution<double> jitter(1.0, kJitterFactor);
  bool failing = false;
  while (!cancellation_.cancelled()) {
    EndpointPool::Endpoint endpoint = endpoints_.Current();
    Renewal renewal = RenewalSentNow();
    absl::StatusOr<int64_t> ttl = RenewOnce(lease, endpoint);
    if (cancellation_.cancelled()) return;
    absl::Duration pause = retry_period_ * jitter(random);
    if (ttl.ok() && *ttl > 0) {
      renewal.ttl_seconds = *ttl;
      events_.Push({.kind = Event::Kind::kRenewed, .renewal = renewal});
      failing = false;
    } else if (ttl.ok()) {
      // etcd answers a keep-alive for an expired or revoked lease with TTL 0.
      events_.Push({.kind = Event::Kind::kLeaseLost,
                    .detail = absl::StrFormat("lease %x expired (keep-alive answered TTL %d)",
                                              lease, *ttl)});
      return;
    } else if (ttl.status().code() == absl::StatusCode::kNotFound) {
      events_.Push({.kind = Event::Kind::kLeaseLost,
                    .detail = absl::StrCat("lease lost: ", ttl.status().message())});
      return;
    } else if (endpoints_.Refused(ttl.status())) {
      events_.Push({.kind = Event::Kind::kRefused,
                    .detail = absl::StrCat("renewing the lease: ", ttl.status().ToString())});
      return;
    } else {
      bool stale_token = endpoints_.StaleToken(ttl.status());
      bool moved = endpoints_.Failed(endpoint.index, ttl.status());
      // One line when renewals start failing and one per endpoint switch or new login, not one
      // per try.
      if (!failing || moved || stale_token) {
        log_.Line(absl::StrCat("renewal failed: ", endpoint.address, ": ", ttl.status().ToString(),
                               moved         ? " (trying next endpoint)"
                               : stale_token ? " (logging in again)"
                                             : ""));
      }
      failing = true;
      // Retry sooner than a full period so that a dead member costs little of the deadline.
      pause = retry_period_ / 2;
    }
    // The pause counts from when the attempt began, as Kubernetes' retry period does.
    auto next = renewal.sent + absl::ToChronoNanoseconds(pause);
    auto now = SteadyClock::now();
    if (next > now && !cancellation_.Pause(next - now)) return;
  }
}

absl::StatusOr<int64_t> LeaseKeeper::RenewOnce(int64_t lease,
                                               const EndpointPool::Endpoint& endpoint) {
  auto stub = etcdserverpb::Lease::NewStub(endpoint.channel);
  grpc::ClientContext context;
  context.set_deadline(DeadlineAfter(retry_period_));
  CallScope scope(cancellation_, &context);
  if (!scope.entered()) return absl::CancelledError("stopped");
  if (absl::Status s = endpoints_.Authorize(endpoint, &context); !s.ok()) return s;
  // One request per stream: each renewal is then bounded by its own deadline and goes to
  // whichever endpoint is current, at the cost of one stream setup per retry period.
  auto stream = stub->LeaseKeepAlive(&context);
  etcdserverpb::LeaseKeepAliveRequest request;
  request.set_id(lease);
  etcdserverpb::LeaseKeepAliveResponse response;
  if (!stream->Write(request) || !stream->Read(&response)) {
    absl::Status status = FromGrpc(stream->Finish());
    if (status.ok()) status = absl::UnavailableError("keep-alive stream closed without answer");
    return status;
  }
  stream->WritesDone();
  stream->Finish();  // the answer is in; how the stream ends does not matter
  return response.ttl();
}

absl::Status LeaseKeeper::Revoke(int64_t lease, absl::Duration timeout) {
  absl::Status last;
  for (size_t tries = 0; tries < endpoints_.size(); ++tries) {
    EndpointPool::Endpoint endpoint = endpoints_.Current();
    auto stub = etcdserverpb::Lease::NewStub(endpoint.channel);
    etcdserverpb::LeaseRevokeRequest request;
    request.set_id(lease);
    etcdserverpb::LeaseRevokeResponse response;
    grpc::ClientContext context;
    context.set_deadline(DeadlineAfter(timeout));
    last = endpoints_.Authorize(endpoint, &context);
    if (last.ok()) last = FromGrpc(stub->LeaseRevoke(&context, request, &response));
    if (last.ok() || last.code() == absl::StatusCode::kNotFound) return absl::OkStatus();
    // Failed() moves on from a failing member, or drops a stale token for the next try.
    bool again = endpoints_.MayPassLater(last);
    endpoints_.Failed(endpoint.index, last);
    if (!again) break;
  }
  return last;
}

}  // namespace quorum::elect
