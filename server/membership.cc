#include "server/membership.h"

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"

namespace quorum::server {
namespace {

// Record keys in the members family. The identity is per data dir and never travels in a
// snapshot (the snapshot installer keeps it); members and removed ids do.
constexpr char kIdentityKey[] = "identity";
constexpr char kMemberPrefix[] = "member/";
constexpr char kRemovedPrefix[] = "removed/";

std::string IdKey(const char* prefix, uint64_t id) {
  std::string key = prefix;
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>(id >> shift));
  return key;
}

uint64_t IdFromKey(const rocksdb::Slice& key, size_t prefix_len) {
  uint64_t id = 0;
  for (size_t i = prefix_len; i < key.size(); ++i) {
    id = (id << 8) | static_cast<unsigned char>(key[i]);
  }
  return id;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Membership>> Membership::Load(storage::Backend* backend) {
  std::unique_ptr<Membership> membership(new Membership(backend));
  if (auto s = membership->Reload(); !s.ok()) return s;
  return membership;
}

absl::Status Membership::Reload() {
  auto* family = backend_->Family(storage::ColumnFamily::kMembers);
  std::unique_ptr<rocksdb::Iterator> it(
      backend_->db()->NewIterator(rocksdb::ReadOptions(), family));
  std::map<uint64_t, etcdserverpb::Member> members;
  std::set<uint64_t> removed;
  std::optional<internalpb::MemberIdentity> identity;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    rocksdb::Slice key = it->key();
    if (key.starts_with(kMemberPrefix)) {
      etcdserverpb::Member m;
      if (!m.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return absl::DataLossError("corrupt member record");
      }
      members[m.id()] = m;
    } else if (key.starts_with(kRemovedPrefix)) {
      removed.insert(IdFromKey(key, sizeof(kRemovedPrefix) - 1));
    } else if (key == kIdentityKey) {
      internalpb::MemberIdentity id;
      if (!id.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return absl::DataLossError("corrupt member identity record");
      }
      identity = id;
    }
  }
  if (!it->status().ok()) return storage::FromRocksStatus(it->status(), "reading members");
  absl::MutexLock lock(&mu_);
  members_ = std::move(members);
  removed_ = std::move(removed);
  identity_ = std::move(identity);
  return absl::OkStatus();
}

std::optional<internalpb::MemberIdentity> Membership::identity() const {
  absl::MutexLock lock(&mu_);
  return identity_;
}

absl::Status Membership::SaveIdentity(const internalpb::MemberIdentity& identity) {
  rocksdb::WriteBatch batch;
  batch.Put(backend_->Family(storage::ColumnFamily::kMembers), kIdentityKey,
            identity.SerializeAsString());
  if (auto s = backend_->Write(&batch, /*sync=*/true); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  identity_ = identity;
  return absl::OkStatus();
}

absl::Status Membership::Bootstrap(const internalpb::MemberIdentity& identity,
                                   const std::vector<etcdserverpb::Member>& members) {
  rocksdb::WriteBatch batch;
  auto* family = backend_->Family(storage::ColumnFamily::kMembers);
  batch.Put(family, kIdentityKey, identity.SerializeAsString());
  for (const auto& m : members)
    batch.Put(family, IdKey(kMemberPrefix, m.id()), m.SerializeAsString());
  if (auto s = backend_->Write(&batch, /*sync=*/true); !s.ok()) return s;
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

void Membership::Upsert(const etcdserverpb::Member& member, rocksdb::WriteBatch* batch) {
  batch->Put(backend_->Family(storage::ColumnFamily::kMembers), IdKey(kMemberPrefix, member.id()),
             member.SerializeAsString());
  absl::MutexLock lock(&mu_);
  members_[member.id()] = member;
}

void Membership::Remove(uint64_t id, rocksdb::WriteBatch* batch) {
  auto* family = backend_->Family(storage::ColumnFamily::kMembers);
  batch->Delete(family, IdKey(kMemberPrefix, id));
  batch->Put(family, IdKey(kRemovedPrefix, id), "");
  absl::MutexLock lock(&mu_);
  members_.erase(id);
  removed_.insert(id);
}

}  // namespace quorum::server
