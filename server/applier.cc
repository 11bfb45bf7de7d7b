#include "server/applier.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "proto/etcd_errors.h"

namespace quorum::server {

namespace {
constexpr char kAlarmPrefix[] = "alarm/";
}  // namespace

std::string AlarmSet::Key(const etcdserverpb::AlarmMember& alarm) {
  return absl::StrCat(kAlarmPrefix, alarm.memberid(), "/", static_cast<int>(alarm.alarm()));
}

absl::Status AlarmSet::Load(storage::Backend* backend) {
  std::vector<etcdserverpb::AlarmMember> alarms;
  std::unique_ptr<rocksdb::Iterator> it(backend->db()->NewIterator(
      rocksdb::ReadOptions(), backend->Family(storage::ColumnFamily::kMembers)));
  for (it->Seek(kAlarmPrefix); it->Valid() && it->key().starts_with(kAlarmPrefix); it->Next()) {
    etcdserverpb::AlarmMember alarm;
    if (!alarm.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("corrupt alarm record");
    }
    alarms.push_back(alarm);
  }
  if (!it->status().ok()) return storage::FromRocksStatus(it->status(), "reading alarms");
  absl::MutexLock lock(&mu_);
  alarms_ = std::move(alarms);
  return absl::OkStatus();
}

bool AlarmSet::Has(etcdserverpb::AlarmType type) const {
  absl::MutexLock lock(&mu_);
  return std::any_of(alarms_.begin(), alarms_.end(),
                     [&](const auto& a) { return a.alarm() == type; });
}

std::vector<etcdserverpb::AlarmMember> AlarmSet::List() const {
  absl::MutexLock lock(&mu_);
  return alarms_;
}

bool AlarmSet::Activate(uint64_t member_id, etcdserverpb::AlarmType type) {
  absl::MutexLock lock(&mu_);
  for (const auto& a : alarms_) {
    if (a.memberid() == member_id && a.alarm() == type) return false;
  }
  etcdserverpb::AlarmMember alarm;
  alarm.set_memberid(member_id);
  alarm.set_alarm(type);
  alarms_.push_back(alarm);
  return true;
}

bool AlarmSet::Deactivate(uint64_t member_id, etcdserverpb::AlarmType type) {
  absl::MutexLock lock(&mu_);
  auto it = std::find_if(alarms_.begin(), alarms_.end(), [&](const auto& a) {
    return a.memberid() == member_id && a.alarm() == type;
  });
  if (it == alarms_.end()) return false;
  alarms_.erase(it);
  return true;
}

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
  return alarms_->Has(etcdserverpb::NOSPACE) && GrowsDatabase(request);
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

bool CannotApplyHere(const absl::Status& status) {
  return absl::StartsWith(status.message(), "storage: ") ||
         status.code() == absl::StatusCode::kUnimplemented ||
         status.code() == absl::StatusCode::kDataLoss ||
         status.code() == absl::StatusCode::kInternal;
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

ApplyResult Applier::Apply(const internalpb::InternalRequest& request,
                           const storage::ApplyMeta& meta) {
  using internalpb::InternalRequest;
  if (RejectedByNoSpace(request)) {
    ApplyResult rejected;
    rejected.status = ErrNoSpace();
    if (auto s = store_->MarkApplied(meta); !s.ok()) rejected.status = s;
    return rejected;
  }
  ApplyResult result;
  switch (request.request_case()) {
    case InternalRequest::kPut:
      result = FromStatusOr(store_->Put(request.put(), meta));
      break;
    case InternalRequest::kDeleteRange:
      result = FromStatusOr(store_->DeleteRange(request.delete_range(), meta));
      break;
    case InternalRequest::kTxn:
      result = FromStatusOr(store_->Txn(request.txn(), meta));
      break;
    case InternalRequest::kCompaction:
      result = FromStatusOr(store_->Compact(request.compaction(), meta));
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
      store_->Applied().index < meta.index) {
    if (auto s = store_->MarkApplied(meta); !s.ok()) result.status = s;
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
  result.status = store_->MarkApplied(meta, [&](rocksdb::WriteBatch* batch) {
    if (activate) batch->Put(families_.alarms, AlarmSet::Key(record), record.SerializeAsString());
    if (deactivate) batch->Delete(families_.alarms, AlarmSet::Key(record));
  });
  // etcd's answers: a GET lists the alarms of the asked type (every alarm for NONE, whatever
  // the member id); ACTIVATE and DEACTIVATE list the alarm only if it changed.
  if (activate) {
    if (alarms_->Activate(alarm.memberid(), alarm.alarm())) *response->add_alarms() = record;
  } else if (deactivate) {
    if (alarms_->Deactivate(alarm.memberid(), alarm.alarm())) *response->add_alarms() = record;
  } else {
    for (const auto& a : alarms_->List()) {
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
  absl::StatusOr<int64_t> ttl = lessor_->CheckGrant(grant.id(), grant.ttl());
  if (!ttl.ok()) {
    result.status = ttl.status();
    return result;
  }
  result.status = store_->MarkApplied(meta, [&](rocksdb::WriteBatch* batch) {
    Lessor::PutRecord(families_.leases, grant.id(), *ttl, batch);
  });
  if (!result.status.ok()) return result;
  lessor_->Granted(grant.id(), *ttl);
  auto response = std::make_unique<etcdserverpb::LeaseGrantResponse>();
  response->set_id(grant.id());
  response->set_ttl(*ttl);
  response->mutable_header()->set_revision(store_->CurrentRevision());
  result.response = std::move(response);
  return result;
}

ApplyResult Applier::ApplyLeaseRevoke(const etcdserverpb::LeaseRevokeRequest& revoke,
                                      const storage::ApplyMeta& meta) {
  ApplyResult result;
  if (!lessor_->Exists(revoke.id())) {
    result.status = ErrLeaseNotFound();
    return result;
  }
  // etcd deletes the attached keys in key order, all in one revision, with the lease record.
  result.status =
      store_->DeleteKeys(lessor_->Keys(revoke.id()), meta, [&](rocksdb::WriteBatch* batch) {
        batch->Delete(families_.leases, Lessor::RecordKey(revoke.id()));
      });
  if (!result.status.ok()) return result;
  lessor_->Revoked(revoke.id());
  auto response = std::make_unique<etcdserverpb::LeaseRevokeResponse>();
  response->mutable_header()->set_revision(store_->CurrentRevision());
  result.response = std::move(response);
  return result;
}

}  // namespace quorum::server
