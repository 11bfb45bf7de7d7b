// Member: leases and the timer thread. Grants and revokes are proposals; renewals and
// time-to-live go to the leader through the lease forwarder. Every 20 ms the timer thread
// expires overdue waits, finishes leadership transfers, has the leader revoke expired leases
// through the log, and publishes this member's attributes once it has a leader.
#include "proto/etcd_errors.h"
#include "server/member.h"
#include "spdlog/spdlog.h"

namespace quorum::server {

void Member::TimerLoop() {
  while (true) {
    {
      absl::MutexLock lock(&apply_mu_);
      if (apply_mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(20))) return;
    }
    // etcd counts a proposal that timed out as failed.
    metrics_->proposals_failed().Inc(waits_.Expire(absl::Now(), ErrTimeout()));
    FinishMoves();
    ExpireLeases();
    PublishAttributes();
  }
}

void Member::UpdateLessorRole(uint64_t applied_empty_term) {
  absl::MutexLock lock(&lessor_role_mu_);
  if (applied_empty_term != 0) empty_entry_term_ = applied_empty_term;
  const uint64_t term = term_.load();
  const bool leads = lead_.load() == member_id_;
  // etcd behaviour: the lessor is promoted once the new leader has applied the empty entry of
  // its term, so it knows every lease granted before (a lease it had not applied yet would be
  // "not found"); every lease then gets its TTL again plus an election timeout, so none
  // expires because leadership moved. A former leader stops expiring leases at once.
  if (leads && empty_entry_term_ == term && promoted_term_ != term) {
    lessor_->Promote(absl::Milliseconds(config_.election_timeout_ms));
    promoted_term_ = term;
  } else if (!leads && promoted_term_ != 0) {
    lessor_->Demote();
    promoted_term_ = 0;
  }
}

void Member::ExpireLeases() {
  // etcd revokes at most 1000 leases a second; the timer runs every 20 ms.
  constexpr size_t kPerTick = 20;
  // A revoke that was lost (leader change, timeout) is proposed again after this.
  constexpr absl::Duration kRetry = absl::Seconds(3);
  for (int64_t id : lessor_->Expired(kPerTick, kRetry)) {
    // etcd revokes expired leases as root (AuthStore.WithRoot), whatever keys they hold.
    const AuthInfo root{kRootUser, auth_.Current()->revision()};
    LeaseRevoke(id, root, DefaultDeadline(), [id](ApplyResult result) {
      if (!result.status.ok() && result.status.code() != absl::StatusCode::kNotFound) {
        spdlog::warn("revoking expired lease {:x}: {}", id, result.status.ToString());
      }
    });
  }
}

void Member::LeaseGrant(etcdserverpb::LeaseGrantRequest request, absl::Time deadline,
                        ProposalDone done) {
  // etcd takes lease ids from its request id generator, kept positive.
  while (request.id() == 0) {
    request.set_id(static_cast<int64_t>(ids_.Next() & 0x7fffffffffffffffULL));
  }
  internalpb::InternalRequest internal;
  *internal.mutable_lease_grant() = std::move(request);
  Propose(std::move(internal), deadline, std::move(done));
}

void Member::LeaseRevoke(int64_t id, const AuthInfo& caller, absl::Time deadline,
                         ProposalDone done) {
  internalpb::InternalRequest internal;
  internal.mutable_lease_revoke()->set_id(id);
  internal.set_auth_user(caller.user);
  internal.set_auth_revision(caller.revision);
  Propose(std::move(internal), deadline, std::move(done));
}

void Member::LeaseRenew(int64_t id, absl::Time deadline, RenewDone done) {
  lease_forwarder_->Renew(id, deadline, std::move(done));
}

void Member::LeaseTimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& request,
                             absl::Time deadline, TimeToLiveDone done) {
  lease_forwarder_->TimeToLive(request, deadline, std::move(done));
}

void Member::PublishAttributes() {
  if (lead_.load() == 0 || publish_in_flight_.load() || absl::Now() < next_publish_) return;
  auto self = membership_->Find(member_id_);
  if (!self.has_value()) return;  // not (yet) a member: a joiner before its snapshot
  std::vector<std::string> want;
  for (const auto& u : config_.advertise_client_urls) want.push_back(u.original);
  std::vector<std::string> have(self->clienturls().begin(), self->clienturls().end());
  if (have == want && self->name() == config_.name) return;
  self->set_name(config_.name);
  self->clear_clienturls();
  for (const auto& u : want) self->add_clienturls(u);
  internalpb::InternalRequest request;
  *request.mutable_member_update()->mutable_member() = *self;
  publish_in_flight_ = true;
  Propose(std::move(request), DefaultDeadline(), [this](ApplyResult result) {
    if (!result.status.ok()) {
      spdlog::warn("publishing client URLs: {}", result.status.ToString());
      next_publish_ = absl::Now() + absl::Seconds(1);
    }
    publish_in_flight_ = false;
  });
}

}  // namespace quorum::server
