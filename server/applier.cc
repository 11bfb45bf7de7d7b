#include "server/applier.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "proto/etcd_errors.h"
#include "raft/crash_point.h"
#include "raft/fatal.h"
#include "server/identity.h"
#include "spdlog/spdlog.h"

namespace quorum::server {

namespace {

// Calls `put` for every put on any path of `txn`, nested txns included.
template <typename Visit>
void ForEachPut(const etcdserverpb::TxnRequest& txn, const Visit& put) {
  for (const auto* ops : {&txn.success(), &txn.failure()}) {
    for (const auto& op : *ops) {
      if (op.has_request_put()) put(op.request_put());
      if (op.has_request_txn()) ForEachPut(op.request_txn(), put);
    }
  }
}

}  // namespace

int64_t TxnPutBytes(const etcdserverpb::TxnRequest& txn) {
  int64_t bytes = 0;
  ForEachPut(txn, [&](const etcdserverpb::PutRequest& p) {
    bytes += static_cast<int64_t>(p.key().size() + p.value().size());
  });
  return bytes;
}

bool TxnHasPut(const etcdserverpb::TxnRequest& txn) {
  bool found = false;
  ForEachPut(txn, [&](const etcdserverpb::PutRequest&) { found = true; });
  return found;
}

bool Applier::RejectedByNoSpace(const internalpb::InternalRequest& request) const {
  return state_.alarms->Has(etcdserverpb::NOSPACE) && GrowsDatabase(request);
}

bool Applier::RejectedByCorrupt(const internalpb::InternalRequest& request) const {
  if (!state_.alarms->Has(etcdserverpb::CORRUPT)) return false;
  // etcd's corrupt applier: the store is not trusted with writes, compactions or leases;
  // reads, alarms (to disarm it) and auth go on.
  switch (request.request_case()) {
    case internalpb::InternalRequest::kPut:
    case internalpb::InternalRequest::kDeleteRange:
    case internalpb::InternalRequest::kTxn:
    case internalpb::InternalRequest::kCompaction:
    case internalpb::InternalRequest::kLeaseGrant:
    case internalpb::InternalRequest::kLeaseRevoke:
      return true;
    default:
      return false;
  }
}

bool GrowsDatabase(const internalpb::InternalRequest& request) {
  switch (request.request_case()) {
    case internalpb::InternalRequest::kPut:
    case internalpb::InternalRequest::kLeaseGrant:
      return true;
    case internalpb::InternalRequest::kTxn:
      return TxnHasPut(request.txn());
    default:
      return false;
  }
}

namespace {

// True when `status`, returned for a committed entry, is not the request's refusal (which every
// member gives alike) but this member failing to apply it: its storage failed ("storage: ..."),
// or it does not know the request type. Such an entry must not be skipped.
bool CannotApplyHere(const absl::Status& status) {
  // The CORRUPT alarm's refusal is a refusal like NOSPACE's, though etcd gives it DATA_LOSS.
  if (status == ErrCorrupt()) return false;
  return absl::StartsWith(status.message(), "storage: ") ||
         status.code() == absl::StatusCode::kUnimplemented ||
         status.code() == absl::StatusCode::kDataLoss ||
         status.code() == absl::StatusCode::kInternal;
}

// The one policy for a committed entry this member cannot apply or whose position it cannot
// record: stop (etcd panics the same way on an entry it cannot unmarshal).
[[noreturn]] void CannotApply(const raftpb::Entry& entry, const std::string& why) {
  Fatal(absl::StrCat("cannot apply committed entry at index ", entry.index(), " (term ",
                     entry.term(), "): ", why,
                     "; stopping, since going on without it would leave this member's state "
                     "different from the other members'"));
}

}  // namespace

raftpb::ConfChange EncodeMemberChange(raftpb::ConfChangeType type, etcdserverpb::Member member,
                                      uint64_t id, uint64_t proposer) {
  internalpb::ConfChangeContext context;
  context.set_id(id);
  context.set_proposer(proposer);
  raftpb::ConfChange change;
  change.set_type(type);
  change.set_node_id(member.id());
  *context.mutable_member() = std::move(member);
  change.set_context(context.SerializeAsString());
  return change;
}

void Applier::Apply(const raftpb::Entry& entry, const std::optional<raftpb::ConfState>& conf_state,
                    ApplyEffects* effects) {
  storage::MvccStore* store = state_.store;
  if (entry.index() <= store->Applied().index) return;
  storage::ApplyMeta meta{entry.index(), entry.term()};
  if (entry.type() == raftpb::ENTRY_CONF_CHANGE) {
    ApplyConfChange(entry, conf_state.value_or(conf_state_), effects);
    return;
  }
  if (entry.data().empty()) {
    // A new leader's empty entry: it only moves the index.
    if (auto s = store->MarkApplied(meta); !s.ok()) CannotApply(entry, s.ToString());
    effects->leader_entry_term = entry.term();
    return;
  }
  internalpb::InternalRequest request;
  if (!request.ParseFromString(entry.data())) CannotApply(entry, "the entry cannot be decoded");
  ApplyResult result = request.has_member_update()
                           ? ApplyMemberUpdate(request.member_update().member(), meta, effects)
                           : ApplyRequest(request, meta);
  if (CannotApplyHere(result.status)) CannotApply(entry, result.status.ToString());
  if (store->Applied().index < entry.index()) {
    CannotApply(entry, "its position was not recorded: " + result.status.ToString());
  }
  if (request.proposer() == member_id_) {
    effects->completions.emplace_back(request.id(), std::move(result));
  }
}

ApplyResult Applier::ApplyMemberUpdate(const etcdserverpb::Member& update,
                                       const storage::ApplyMeta& meta, ApplyEffects* effects) {
  // Name and URLs change; whether it votes is Raft's business and stays as recorded.
  ApplyResult result;
  std::optional<etcdserverpb::Member> member = state_.membership->Find(update.id());
  if (!member.has_value()) {
    result.status = state_.store->MarkApplied(meta);
    if (result.status.ok()) result.status = ErrMemberNotFound();
    return result;
  }
  member->set_name(update.name());
  *member->mutable_peerurls() = update.peerurls();
  *member->mutable_clienturls() = update.clienturls();
  storage::RecordChanges records;
  state_.membership->Upsert(*member, &records);
  result.status = state_.store->MarkApplied(meta, records);
  if (member->id() != member_id_) effects->peers.push_back({member->id(), PeerUrls(*member)});
  return result;
}

void Applier::ApplyConfChange(const raftpb::Entry& entry, const raftpb::ConfState& conf_state,
                              ApplyEffects* effects) {
  storage::ApplyMeta meta{entry.index(), entry.term()};
  raftpb::ConfChange change;
  internalpb::ConfChangeContext context;
  if (!change.ParseFromString(entry.data()) || !context.ParseFromString(change.context())) {
    CannotApply(entry, "the membership change cannot be decoded");
  }
  const bool remove = change.type() == raftpb::CONF_CHANGE_REMOVE;
  etcdserverpb::Member member = context.member();
  storage::RecordChanges records;
  if (remove) {
    state_.membership->Remove(change.node_id(), &records);
  } else {
    member.set_islearner(change.type() == raftpb::CONF_CHANGE_ADD_LEARNER);
    state_.membership->Upsert(member, &records);
  }
  records.PutConfState(conf_state);
  QUORUM_CRASH_POINT("confchange-before-apply");
  if (auto s = state_.store->MarkApplied(meta, records); !s.ok()) CannotApply(entry, s.ToString());
  QUORUM_CRASH_POINT("confchange-after-apply");
  conf_state_ = conf_state;
  if (change.node_id() != member_id_) {
    effects->peers.push_back(
        {change.node_id(), remove ? std::vector<std::string>{} : PeerUrls(member), remove});
  }
  spdlog::info("membership change at index {}: {} {} ({})", entry.index(),
               remove ? "removed" : "added", IdToHex(change.node_id()), member.name());
  if (context.proposer() == member_id_) {
    effects->completions.emplace_back(context.id(), ApplyResult{});
  }
  if (remove && change.node_id() == member_id_) effects->removed_self = true;
}

namespace {

template <typename Response>
ApplyResult FromStatusOr(absl::StatusOr<Response> result) {
  ApplyResult out;
  if (!result.ok()) {
    out.status = result.status();
    return out;
  }
  out.response = std::make_unique<Response>(*std::move(result));
  return out;
}

}  // namespace

ApplyResult Applier::ApplyRequest(const internalpb::InternalRequest& request,
                                  const storage::ApplyMeta& meta) {
  using internalpb::InternalRequest;
  storage::MvccStore* store = state_.store;
  if (RejectedByNoSpace(request)) {
    ApplyResult rejected;
    rejected.status = ErrNoSpace();
    if (auto s = store->MarkApplied(meta); !s.ok()) rejected.status = s;
    return rejected;
  }
  if (RejectedByCorrupt(request)) {
    ApplyResult rejected;
    rejected.status = ErrCorrupt();
    if (auto s = store->MarkApplied(meta); !s.ok()) rejected.status = s;
    return rejected;
  }
  if (IsAuthChange(request)) return ApplyAuthChange(request, meta);
  ApplyResult result;
  if (auto denied = CheckPermissions(request); !denied.ok()) {
    result.status = denied;
    if (auto s = store->MarkApplied(meta); !s.ok()) result.status = s;
    return result;
  }
  switch (request.request_case()) {
    case InternalRequest::kPut:
      result = FromStatusOr(store->Put(request.put(), meta));
      break;
    case InternalRequest::kDeleteRange:
      result = FromStatusOr(store->DeleteRange(request.delete_range(), meta));
      break;
    case InternalRequest::kTxn:
      result = FromStatusOr(store->Txn(request.txn(), meta));
      break;
    case InternalRequest::kCompaction:
      result = FromStatusOr(store->Compact(request.compaction(), meta));
      break;
    case InternalRequest::kAlarm:
      return ApplyAlarm(request.alarm(), meta);
    case InternalRequest::kLeaseGrant:
      result = ApplyLeaseGrant(request.lease_grant(), meta);
      break;
    case InternalRequest::kLeaseRevoke:
      result = ApplyLeaseRevoke(request.lease_revoke(), meta);
      break;
    default:
      result.status = ErrUnimplemented("this request type");
      break;
  }
  // A write the store refused never reached its batch; record the position on its own so the
  // entry is not applied again after a restart. A failure of the storage itself is not a
  // refusal: the member stops, and applies the entry again when it restarts.
  if (!result.status.ok() && !CannotApplyHere(result.status) &&
      store->Applied().index < meta.index) {
    if (auto s = store->MarkApplied(meta); !s.ok()) result.status = s;
  }
  return result;
}

ApplyResult Applier::ApplyAlarm(const etcdserverpb::AlarmRequest& alarm,
                                const storage::ApplyMeta& meta) {
  ApplyResult result;
  auto response = std::make_unique<etcdserverpb::AlarmResponse>();
  etcdserverpb::AlarmMember record;
  record.set_memberid(alarm.memberid());
  record.set_alarm(alarm.alarm());
  bool activate = alarm.action() == etcdserverpb::AlarmRequest::ACTIVATE;
  bool deactivate = alarm.action() == etcdserverpb::AlarmRequest::DEACTIVATE;
  storage::RecordChanges records;
  if (activate) records.PutAlarm(record);
  if (deactivate) records.DeleteAlarm(record);
  result.status = state_.store->MarkApplied(meta, records);
  AlarmSet* alarms = state_.alarms;
  // etcd's answers: a GET lists the alarms of the asked type (every alarm for NONE, whatever
  // the member id); ACTIVATE and DEACTIVATE list the alarm only if it changed.
  if (activate) {
    if (alarms->Activate(alarm.memberid(), alarm.alarm())) *response->add_alarms() = record;
  } else if (deactivate) {
    if (alarms->Deactivate(alarm.memberid(), alarm.alarm())) *response->add_alarms() = record;
  } else {
    for (const auto& a : alarms->List()) {
      if (alarm.alarm() == etcdserverpb::NONE || a.alarm() == alarm.alarm()) {
        *response->add_alarms() = a;
      }
    }
  }
  result.response = std::move(response);
  return result;
}

ApplyResult Applier::ApplyLeaseGrant(const etcdserverpb::LeaseGrantRequest& grant,
                                     const storage::ApplyMeta& meta) {
  ApplyResult result;
  absl::StatusOr<int64_t> ttl = state_.lessor->CheckGrant(grant.id(), grant.ttl());
  if (!ttl.ok()) {
    result.status = ttl.status();
    return result;
  }
  storage::RecordChanges records;
  records.PutLease(grant.id(), *ttl);
  result.status = state_.store->MarkApplied(meta, records);
  if (!result.status.ok()) return result;
  state_.lessor->Granted(grant.id(), *ttl);
  auto response = std::make_unique<etcdserverpb::LeaseGrantResponse>();
  response->set_id(grant.id());
  response->set_ttl(*ttl);
  response->mutable_header()->set_revision(state_.store->CurrentRevision());
  result.response = std::move(response);
  return result;
}

ApplyResult Applier::ApplyLeaseRevoke(const etcdserverpb::LeaseRevokeRequest& revoke,
                                      const storage::ApplyMeta& meta) {
  ApplyResult result;
  Lessor* lessor = state_.lessor;
  if (!lessor->Exists(revoke.id())) {
    result.status = ErrLeaseNotFound();
    return result;
  }
  // etcd deletes the attached keys in key order, all in one revision, with the lease record.
  storage::RecordChanges records;
  records.DeleteLease(revoke.id());
  result.status = state_.store->DeleteKeys(lessor->Keys(revoke.id()), meta, records);
  if (!result.status.ok()) return result;
  lessor->Revoked(revoke.id());
  auto response = std::make_unique<etcdserverpb::LeaseRevokeResponse>();
  response->mutable_header()->set_revision(state_.store->CurrentRevision());
  result.response = std::move(response);
  return result;
}

}  // namespace quorum::server
