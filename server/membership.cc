#include "server/membership.h"

#include "storage/backend.h"

namespace quorum::server {

std::vector<std::string> PeerUrls(const etcdserverpb::Member& member) {
  return {member.peerurls().begin(), member.peerurls().end()};
}
absl::StatusOr<std::unique_ptr<Membership>> Membership::Load(storage::Backend* backend) {
  std::unique_ptr<Membership> membership(new Membership(backend));
  if (auto s = membership->Reload(); !s.ok()) return s;
  return membership;
}

absl::Status Membership::Reload() {
  absl::StatusOr<storage::MembershipRecords> records = storage::LoadMembership(backend_);
  if (!records.ok()) return records.status();
  absl::MutexLock lock(&mu_);
  members_.clear();
  for (auto& m : records->members) members_[m.id()] = std::move(m);
  removed_ = std::set<uint64_t>(records->removed.begin(), records->removed.end());
  identity_ = std::move(records->identity);
  return absl::OkStatus();
}

std::optional<internalpb::MemberIdentity> Membership::identity() const {
  absl::MutexLock lock(&mu_);
  return identity_;
}

absl::Status Membership::SaveIdentity(const internalpb::MemberIdentity& identity) {
  if (auto s = storage::SaveIdentity(backend_, identity, {}); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  identity_ = identity;
  return absl::OkStatus();
}

absl::Status Membership::Bootstrap(const internalpb::MemberIdentity& identity,
                                   const std::vector<etcdserverpb::Member>& members) {
  if (auto s = storage::SaveIdentity(backend_, identity, members); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  identity_ = identity;
  for (const auto& m : members) members_[m.id()] = m;
  return absl::OkStatus();
}

std::vector<etcdserverpb::Member> Membership::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<etcdserverpb::Member> out;
  for (const auto& [id, m] : members_) out.push_back(m);
  return out;
}

std::optional<etcdserverpb::Member> Membership::Find(uint64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = members_.find(id);
  if (it == members_.end()) return std::nullopt;
  return it->second;
}

bool Membership::IsRemoved(uint64_t id) const {
  absl::MutexLock lock(&mu_);
  return removed_.contains(id);
}

void Membership::Upsert(const etcdserverpb::Member& member, storage::RecordChanges* records) {
  records->PutMember(member);
  absl::MutexLock lock(&mu_);
  members_[member.id()] = member;
}

void Membership::Remove(uint64_t id, storage::RecordChanges* records) {
  records->RemoveMember(id);
  absl::MutexLock lock(&mu_);
  members_.erase(id);
  removed_.insert(id);
}

}  // namespace quorum::server
