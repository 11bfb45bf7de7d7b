// Member: maintenance. Status and HashKV read the local state; Defragment compacts the
// backend; WriteBackup writes the backup file behind Maintenance.Snapshot; MoveLeader asks Raft
// to hand leadership over and reports once the target leads (the timer thread checks).
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "proto/etcd_errors.h"
#include "server/member.h"
#include "storage/backup.h"

namespace quorum::server {

etcdserverpb::StatusResponse Member::Status() const {
  etcdserverpb::StatusResponse status;
  *status.mutable_header() = CurrentHeader();
  status.set_version(kEtcdApiVersion);
  int64_t size = static_cast<int64_t>(backend_->SizeBytes());
  status.set_dbsize(size);
  status.set_dbsizeinuse(size);
  DriverStatus raft = driver_->Status();
  status.set_leader(raft.lead);
  status.set_raftindex(raft.commit);
  status.set_raftterm(raft.term);
  status.set_raftappliedindex(applied_index_.load());
  for (uint64_t learner : raft.conf_state.learners()) {
    if (learner == member_id_) status.set_islearner(true);
  }
  for (const auto& alarm : alarms_.List()) {
    status.add_errors(absl::StrCat("memberID:", alarm.memberid(),
                                   " alarm:", etcdserverpb::AlarmType_Name(alarm.alarm()), " "));
  }
  return status;
}

absl::StatusOr<etcdserverpb::HashKVResponse> Member::HashKV(int64_t revision) const {
  absl::StatusOr<storage::HashResult> hash;
  {
    absl::ReaderMutexLock lock(&state_mu_);
    hash = store_->HashKV(revision);
  }
  if (!hash.ok()) return hash.status();
  etcdserverpb::HashKVResponse response;
  *response.mutable_header() = CurrentHeader();
  // The revision the store was at when hashing began (etcd's), not one a write made since.
  response.mutable_header()->set_revision(hash->revision);
  response.set_hash(hash->hash);
  response.set_compact_revision(hash->compact_revision);
  return response;
}

absl::Status Member::Defragment() { return backend_->Defragment(); }

absl::StatusOr<std::string> Member::WriteBackup() {
  std::string path = (std::filesystem::path(config_.data_dir) / "member" / "snap" /
                      absl::StrCat("backup-", ids_.Next(), ".tmp"))
                         .string();
  auto size = storage::WriteBackup(backend_.get(), path);
  if (!size.ok()) return size.status();
  return path;
}

void Member::MoveLeader(uint64_t target, absl::Time deadline,
                        absl::AnyInvocable<void(absl::Status)> done) {
  if (lead_.load() != member_id_) {
    done(ErrNotLeader());
    return;
  }
  if (!membership_->Find(target).has_value() || target == member_id_) {
    done(ErrBadLeaderTransferee());
    return;
  }
  driver_->TransferLeadership(target);
  // The transfer takes about one election round; the timer thread reports its outcome.
  absl::MutexLock lock(&moves_mu_);
  moves_.push_back(PendingMove{target, deadline, std::move(done)});
}

void Member::FinishMoves() {
  std::vector<PendingMove> finished;
  {
    absl::MutexLock lock(&moves_mu_);
    for (auto it = moves_.begin(); it != moves_.end();) {
      if (lead_.load() == it->target || absl::Now() >= it->deadline) {
        finished.push_back(std::move(*it));
        it = moves_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& move : finished) {
    move.done(lead_.load() == move.target ? absl::OkStatus() : ErrTimeout());
  }
}

}  // namespace quorum::server
