#include "storage/schema.h"

#include <memory>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/backend.h"
#include "storage/raft_log_store.h"
#include "storage/state_snapshot.h"
#include "storage/write_txn.h"

namespace quorum::storage {
namespace {

// Members family. The identity is per data dir; members, removed ids and alarms travel in
// snapshots.
constexpr std::string_view kMemberPrefix = "member/";
constexpr std::string_view kRemovedPrefix = "removed/";
// "alarm/<member id in decimal>/<alarm type number>"
constexpr std::string_view kAlarmPrefix = "alarm/";
// Auth family: "enabled" ("1" or "0"), "revision" (8 bytes, big-endian), "user/<name>" ->
// authpb::User, "role/<name>" -> authpb::Role.
constexpr std::string_view kAuthEnabledKey = "enabled";
constexpr std::string_view kAuthRevisionKey = "revision";
constexpr std::string_view kUserPrefix = "user/";
constexpr std::string_view kRolePrefix = "role/";
// Lease family: the lease id (big-endian, EncodeInt64) -> internalpb::LeaseRecord.

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

std::string IdKey(std::string_view prefix, uint64_t id) {
  std::string key(prefix);
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

std::string AlarmKey(const etcdserverpb::AlarmMember& alarm) {
  return absl::StrCat(std::string(kAlarmPrefix), alarm.memberid(), "/",
                      static_cast<int>(alarm.alarm()));
}

template <typename Record>
bool Parse(const rocksdb::Slice& value, Record* record) {
  return record->ParseFromArray(value.data(), static_cast<int>(value.size()));
}

// Every record of `family` whose key starts with `prefix`, decoded as `Record`.
template <typename Record>
absl::StatusOr<std::vector<Record>> LoadRecords(Backend* backend, ColumnFamily family,
                                                std::string_view prefix, std::string_view what) {
  std::unique_ptr<rocksdb::Iterator> it(
      backend->db()->NewIterator(rocksdb::ReadOptions(), backend->Family(family)));
  std::vector<Record> records;
  for (it->Seek(ToSlice(prefix)); it->Valid() && it->key().starts_with(ToSlice(prefix));
       it->Next()) {
    Record record;
    if (!Parse(it->value(), &record)) {
      return absl::DataLossError(absl::StrCat("storage: corrupt ", std::string(what), " record"));
    }
    records.push_back(std::move(record));
  }
  if (!it->status().ok()) {
    return FromRocksStatus(it->status(), absl::StrCat("reading ", std::string(what), "s"));
  }
  return records;
}

}  // namespace

absl::StatusOr<MembershipRecords> LoadMembership(Backend* backend) {
  std::unique_ptr<rocksdb::Iterator> it(
      backend->db()->NewIterator(rocksdb::ReadOptions(), backend->Family(ColumnFamily::kMembers)));
  MembershipRecords records;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    rocksdb::Slice key = it->key();
    if (key.starts_with(ToSlice(kMemberPrefix))) {
      etcdserverpb::Member m;
      if (!Parse(it->value(), &m)) return absl::DataLossError("storage: corrupt member record");
      records.members.push_back(std::move(m));
    } else if (key.starts_with(ToSlice(kRemovedPrefix))) {
      records.removed.push_back(IdFromKey(key, kRemovedPrefix.size()));
    } else if (key == ToSlice(kMemberIdentityKey)) {
      internalpb::MemberIdentity id;
      if (!Parse(it->value(), &id)) {
        return absl::DataLossError("storage: corrupt member identity record");
      }
      records.identity = std::move(id);
    }
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "reading members");
  return records;
}

absl::StatusOr<std::vector<etcdserverpb::AlarmMember>> LoadAlarms(Backend* backend) {
  return LoadRecords<etcdserverpb::AlarmMember>(backend, ColumnFamily::kMembers, kAlarmPrefix,
                                                "alarm");
}

absl::StatusOr<std::vector<internalpb::LeaseRecord>> LoadLeases(Backend* backend) {
  return LoadRecords<internalpb::LeaseRecord>(backend, ColumnFamily::kLease, "", "lease");
}

absl::StatusOr<AuthRecords> LoadAuth(Backend* backend) {
  AuthRecords records;
  auto users = LoadRecords<authpb::User>(backend, ColumnFamily::kAuth, kUserPrefix, "user");
  if (!users.ok()) return users.status();
  records.users = *std::move(users);
  auto roles = LoadRecords<authpb::Role>(backend, ColumnFamily::kAuth, kRolePrefix, "role");
  if (!roles.ok()) return roles.status();
  records.roles = *std::move(roles);
  rocksdb::ColumnFamilyHandle* family = backend->Family(ColumnFamily::kAuth);
  std::string value;
  rocksdb::Status s =
      backend->db()->Get(rocksdb::ReadOptions(), family, ToSlice(kAuthEnabledKey), &value);
  if (!s.ok() && !s.IsNotFound()) return FromRocksStatus(s, "reading the auth switch");
  records.enabled = s.ok() && value == "1";
  s = backend->db()->Get(rocksdb::ReadOptions(), family, ToSlice(kAuthRevisionKey), &value);
  if (!s.ok() && !s.IsNotFound()) return FromRocksStatus(s, "reading the auth revision");
  if (s.ok()) {
    if (value.size() != 8) return absl::DataLossError("storage: corrupt auth revision record");
    records.revision = IdFromKey(value, 0);
  }
  return records;
}

absl::Status SaveIdentity(Backend* backend, const internalpb::MemberIdentity& identity,
                          const std::vector<etcdserverpb::Member>& founders) {
  rocksdb::WriteBatch batch;
  rocksdb::ColumnFamilyHandle* family = backend->Family(ColumnFamily::kMembers);
  batch.Put(family, ToSlice(kMemberIdentityKey), identity.SerializeAsString());
  for (const auto& m : founders) {
    batch.Put(family, IdKey(kMemberPrefix, m.id()), m.SerializeAsString());
  }
  return backend->Write(&batch, /*sync=*/true);
}

void RecordChanges::PutMember(const etcdserverpb::Member& member) {
  changes_.push_back(
      {Family::kMembers, IdKey(kMemberPrefix, member.id()), member.SerializeAsString()});
}

void RecordChanges::RemoveMember(uint64_t id) {
  changes_.push_back({Family::kMembers, IdKey(kMemberPrefix, id), std::nullopt});
  changes_.push_back({Family::kMembers, IdKey(kRemovedPrefix, id), std::string()});
}

void RecordChanges::PutAlarm(const etcdserverpb::AlarmMember& alarm) {
  changes_.push_back({Family::kMembers, AlarmKey(alarm), alarm.SerializeAsString()});
}

void RecordChanges::DeleteAlarm(const etcdserverpb::AlarmMember& alarm) {
  changes_.push_back({Family::kMembers, AlarmKey(alarm), std::nullopt});
}

void RecordChanges::PutLease(int64_t id, int64_t ttl) {
  internalpb::LeaseRecord record;
  record.set_id(id);
  record.set_ttl(ttl);
  changes_.push_back({Family::kLease, EncodeInt64(id), record.SerializeAsString()});
}

void RecordChanges::DeleteLease(int64_t id) {
  changes_.push_back({Family::kLease, EncodeInt64(id), std::nullopt});
}

void RecordChanges::PutAuthEnabled(bool enabled) {
  changes_.push_back({Family::kAuth, std::string(kAuthEnabledKey), enabled ? "1" : "0"});
}

void RecordChanges::PutAuthRevision(uint64_t revision) {
  changes_.push_back({Family::kAuth, std::string(kAuthRevisionKey), IdKey("", revision)});
}

void RecordChanges::PutUser(const authpb::User& user) {
  changes_.push_back(
      {Family::kAuth, std::string(kUserPrefix) + user.name(), user.SerializeAsString()});
}

void RecordChanges::DeleteUser(const std::string& name) {
  changes_.push_back({Family::kAuth, std::string(kUserPrefix) + name, std::nullopt});
}

void RecordChanges::PutRole(const authpb::Role& role) {
  changes_.push_back(
      {Family::kAuth, std::string(kRolePrefix) + role.name(), role.SerializeAsString()});
}

void RecordChanges::DeleteRole(const std::string& name) {
  changes_.push_back({Family::kAuth, std::string(kRolePrefix) + name, std::nullopt});
}

void RecordChanges::PutConfState(const raftpb::ConfState& conf_state) { conf_state_ = conf_state; }

void RecordChanges::AddTo(Backend* backend, rocksdb::WriteBatch* batch) const {
  for (const Change& change : changes_) {
    ColumnFamily which = change.family == Family::kMembers ? ColumnFamily::kMembers
                         : change.family == Family::kLease ? ColumnFamily::kLease
                                                           : ColumnFamily::kAuth;
    rocksdb::ColumnFamilyHandle* family = backend->Family(which);
    if (change.value.has_value()) {
      batch->Put(family, change.key, *change.value);
    } else {
      batch->Delete(family, change.key);
    }
  }
  if (conf_state_.has_value()) {
    RaftLogStore::PutConfState(*conf_state_, batch, backend->Family(ColumnFamily::kRaftLog));
  }
}

}  // namespace quorum::storage
