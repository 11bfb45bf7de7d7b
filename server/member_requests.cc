// Member: the request paths. A write is checked (size, quota, apply backlog), registered in the
// wait list under a fresh id and handed to Raft, which forwards it to the leader from any
// member; the apply thread completes it. A linearizable read asks Raft for a read point and is
// released once the apply thread has applied it. Membership changes are conf-change entries.
#include <algorithm>

#include "proto/etcd_errors.h"
#include "server/member.h"
#include "server/peer/transport.h"
#include "spdlog/spdlog.h"

namespace quorum::server {
namespace {

// The request's cost toward the quota, as etcd estimates it: the bytes a put adds.
int64_t QuotaCost(const internalpb::InternalRequest& request) {
  switch (request.request_case()) {
    case internalpb::InternalRequest::kPut:
      return static_cast<int64_t>(request.put().key().size() + request.put().value().size());
    case internalpb::InternalRequest::kTxn:
      return TxnPutBytes(request.txn());
    case internalpb::InternalRequest::kLeaseGrant:
      return 64;
    default:
      return 0;
  }
}

// A read context: an id no other read of this member, before or after a restart, carries.
std::string ReadContext(IdGenerator& ids) {
  const uint64_t n = ids.Next();
  return std::string(reinterpret_cast<const char*>(&n), sizeof(n));
}

}  // namespace

absl::Status Member::CheckQuota(const internalpb::InternalRequest& request) {
  if (!GrowsDatabase(request)) return absl::OkStatus();
  if (alarms_.Has(etcdserverpb::NOSPACE)) return ErrNoSpace();
  int64_t projected = static_cast<int64_t>(backend_->SizeBytes()) + QuotaCost(request);
  if (projected < config_.EffectiveQuotaBytes()) return absl::OkStatus();
  // Out of space: raise the alarm through the log, as etcd does, so it is ordered with writes.
  spdlog::warn("database size {} would exceed quota {}: raising NOSPACE", projected,
               config_.EffectiveQuotaBytes());
  internalpb::InternalRequest alarm;
  alarm.mutable_alarm()->set_action(etcdserverpb::AlarmRequest::ACTIVATE);
  alarm.mutable_alarm()->set_memberid(member_id_);
  alarm.mutable_alarm()->set_alarm(etcdserverpb::NOSPACE);
  Propose(std::move(alarm), DefaultDeadline(), [](ApplyResult) {});
  return ErrNoSpace();
}

bool Member::TooFarBehind() const {
  return driver_->CommitIndex() > applied_index_.load() + kMaxApplyGap;
}

void Member::Propose(internalpb::InternalRequest request, absl::Time deadline, ProposalDone done) {
  // etcd measures the request as it would be written to the log.
  if (request.ByteSizeLong() > config_.max_request_bytes) {
    done(ApplyResult{ErrRequestTooLarge(), nullptr});
    return;
  }
  if (auto s = CheckQuota(request); !s.ok()) {
    done(ApplyResult{s, nullptr});
    return;
  }
  if (TooFarBehind()) {
    done(ApplyResult{ErrTooManyRequests(), nullptr});
    return;
  }
  uint64_t id = ids_.Next();
  request.set_id(id);
  request.set_proposer(member_id_);
  waits_.AddWrite(id, deadline, std::move(done));
  driver_->Propose(request.SerializeAsString(), [this, id](absl::Status s) {
    metrics_->proposals_failed().Inc();
    waits_.FailWrite(id, std::move(s));
  });
}

void Member::WaitApplied(absl::Time deadline, ReadDone done) {
  const uint64_t commit = driver_->CommitIndex();
  if (applied_index_.load() >= commit) {
    done(absl::OkStatus());
    return;
  }
  std::string ctx = ReadContext(ids_);
  {
    // Under apply_mu_, so that either ~Member's FailAll sees this wait or this sees stopping_.
    absl::MutexLock lock(&apply_mu_);
    if (!stopping_) {
      waits_.AddRead(ctx, deadline, std::move(done));
      waits_.ReadPointKnown(ctx, commit);
      // The apply thread releases it; an empty batch wakes it in case it applied `commit`
      // between the check above and now.
      apply_queue_.emplace_back();
      return;
    }
  }
  done(ErrStopped());
}

void Member::ReadBarrier(absl::Time deadline, ReadDone done) {
  std::string ctx = ReadContext(ids_);
  waits_.AddRead(ctx, deadline, std::move(done));
  driver_->ReadIndex(ctx, [this, ctx](absl::Status s) { waits_.FailRead(ctx, std::move(s)); });
}

void Member::ProposeConfChange(raftpb::ConfChangeType type, etcdserverpb::Member member,
                               absl::Time deadline, ProposalDone done) {
  if (TooFarBehind()) {
    done(ApplyResult{ErrTooManyRequests(), nullptr});
    return;
  }
  uint64_t id = ids_.Next();
  waits_.AddWrite(id, deadline, std::move(done));
  driver_->ProposeConfChange(EncodeMemberChange(type, std::move(member), id, member_id_),
                             [this, id](absl::Status s) { waits_.FailWrite(id, std::move(s)); });
}

std::optional<etcdserverpb::Member> Member::FindOrRefuse(uint64_t id, ProposalDone& done) const {
  std::optional<etcdserverpb::Member> member = membership_->Find(id);
  if (!member.has_value()) done(ApplyResult{ErrMemberNotFound(), nullptr});
  return member;
}

void Member::AddMember(etcdserverpb::Member member, absl::Time deadline, ProposalDone done) {
  // Decided before the call: argument evaluation order would let the move come first.
  const raftpb::ConfChangeType type =
      member.islearner() ? raftpb::CONF_CHANGE_ADD_LEARNER : raftpb::CONF_CHANGE_ADD_VOTER;
  ProposeConfChange(type, std::move(member), deadline, std::move(done));
}

void Member::RemoveMember(uint64_t id, absl::Time deadline, ProposalDone done) {
  std::optional<etcdserverpb::Member> member = FindOrRefuse(id, done);
  if (!member.has_value()) return;
  ProposeConfChange(raftpb::CONF_CHANGE_REMOVE, *std::move(member), deadline, std::move(done));
}

void Member::PromoteMember(uint64_t id, absl::Time deadline, ProposalDone done) {
  // etcd behaviour: only the leader knows whether the learner has caught up, so a follower asks
  // it and passes its answer on.
  const uint64_t leader = lead_.load();
  if (leader == member_id_) return PromoteAsLeader(id, deadline, std::move(done));
  std::shared_ptr<grpc::Channel> channel = leader != 0 ? transport_->PeerChannel(leader) : nullptr;
  if (channel == nullptr) {
    done(ApplyResult{ErrNoLeader(), nullptr});
    return;
  }
  ForwardPromote(std::move(channel), id, deadline, std::move(done));
}

void Member::PromoteAsLeader(uint64_t id, absl::Time deadline, ProposalDone done) {
  std::optional<etcdserverpb::Member> member = FindOrRefuse(id, done);
  if (!member.has_value()) return;
  if (!member->islearner()) {
    done(ApplyResult{ErrMemberNotLearner(), nullptr});
    return;
  }
  // etcd promotes only a learner that has caught up with the leader (90% of its log).
  DriverStatus status = driver_->Status();
  if (status.lead != member_id_) {
    done(ApplyResult{ErrNotLeader(), nullptr});
    return;
  }
  auto progress = status.progress.find(id);
  if (progress == status.progress.end() ||
      progress->second.match <
          status.commit - std::min<uint64_t>(status.commit, status.commit / 10)) {
    done(ApplyResult{ErrLearnerNotReady(), nullptr});
    return;
  }
  member->set_islearner(false);
  ProposeConfChange(raftpb::CONF_CHANGE_ADD_VOTER, *std::move(member), deadline, std::move(done));
}

void Member::UpdateMember(uint64_t id, std::vector<std::string> peer_urls, absl::Time deadline,
                          ProposalDone done) {
  std::optional<etcdserverpb::Member> member = FindOrRefuse(id, done);
  if (!member.has_value()) return;
  member->clear_peerurls();
  for (auto& u : peer_urls) member->add_peerurls(std::move(u));
  internalpb::InternalRequest request;
  *request.mutable_member_update()->mutable_member() = *std::move(member);
  Propose(std::move(request), deadline, std::move(done));
}

}  // namespace quorum::server
