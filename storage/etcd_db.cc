#include "storage/etcd_db.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "etcdserverpb/rpc.pb.h"
#include "nlohmann/json.hpp"
#include "storage/bbolt.h"
#include "storage/crc32c.h"
#include "storage/revision.h"
#include "storage/write_txn.h"

namespace quorum::storage {
namespace {

// Bucket names and meta keys of etcd 3.4's backend.
constexpr char kKeyBucket[] = "key";
constexpr char kMetaBucket[] = "meta";
constexpr char kLeaseBucket[] = "lease";
constexpr char kMembersBucket[] = "members";
constexpr char kRemovedBucket[] = "members_removed";
constexpr char kAlarmBucket[] = "alarm";
constexpr char kClusterBucket[] = "cluster";
constexpr char kAuthBucket[] = "auth";
constexpr char kAuthUsersBucket[] = "authUsers";
constexpr char kAuthRolesBucket[] = "authRoles";
constexpr char kAuthEnabled[] = "authEnabled";    // one byte: 1 on, 0 off
constexpr char kAuthRevision[] = "authRevision";  // u64 BE
constexpr char kConsistentIndex[] = "consistent_index";
constexpr char kScheduledCompact[] = "scheduledCompactRev";
constexpr char kFinishedCompact[] = "finishedCompactRev";
// The cluster version a 3.4 member records; a restore drops it, a running member rewrites it.
constexpr char kClusterVersion[] = "3.4.0";

// quorum's members-family key prefixes (storage/schema.cc).
constexpr std::string_view kMemberPrefix = "member/";
constexpr std::string_view kRemovedPrefix = "removed/";
constexpr std::string_view kAlarmPrefix = "alarm/";
// quorum's auth-family records (storage/schema.cc).
constexpr std::string_view kOurAuthEnabled = "enabled";  // "1" or "0"
constexpr std::string_view kOurAuthRevision = "revision";
constexpr std::string_view kUserPrefix = "user/";
constexpr std::string_view kRolePrefix = "role/";

constexpr size_t kChunkBytes = 1 << 20;

std::string BigEndian64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(value >> (56 - 8 * i));
  return out;
}

uint64_t FromBigEndian64(std::string_view bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

std::string Hex(uint64_t id) { return absl::StrCat(absl::Hex(id)); }

std::string MemberJson(const etcdserverpb::Member& member) {
  // Field order and omissions as etcd's encoding/json writes its Member.
  nlohmann::ordered_json json;
  json["id"] = member.id();
  json["peerURLs"] = std::vector<std::string>(member.peerurls().begin(), member.peerurls().end());
  if (member.islearner()) json["isLearner"] = true;
  if (!member.name().empty()) json["name"] = member.name();
  if (member.clienturls_size() > 0) {
    json["clientURLs"] =
        std::vector<std::string>(member.clienturls().begin(), member.clienturls().end());
  }
  return json.dump();
}

using Bucket = std::vector<std::pair<std::string, std::string>>;

absl::Status WriteBucket(BoltWriter* writer, const std::string& name, Bucket records) {
  std::sort(records.begin(), records.end());
  if (auto begun = writer->BeginBucket(name); !begun.ok()) return begun;
  for (const auto& [key, value] : records) {
    if (auto put = writer->Put(key, value); !put.ok()) return put;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<uint64_t> WriteEtcdDb(StateSnapshotReader* reader, const std::string& path) {
  auto writer = BoltWriter::Create(path);
  if (!writer.ok()) return writer.status();
  // Everything but the keyspace is small: gathered first, written around the key bucket in
  // bbolt's name order. The reader hands the kv family out last.
  std::map<std::string, Bucket> small;
  small[kAlarmBucket];
  small[kAuthBucket];
  small[kAuthUsersBucket];
  small[kAuthRolesBucket];
  small[kClusterBucket].emplace_back("clusterVersion", kClusterVersion);
  small[kLeaseBucket];
  small[kMembersBucket];
  small[kRemovedBucket];
  small[kMetaBucket].emplace_back(kConsistentIndex, BigEndian64(reader->applied_index()));
  const std::string kv_family(ColumnFamilyName(ColumnFamily::kKv));
  const std::string meta_family(ColumnFamilyName(ColumnFamily::kMeta));
  const std::string lease_family(ColumnFamilyName(ColumnFamily::kLease));
  const std::string members_family(ColumnFamilyName(ColumnFamily::kMembers));
  const std::string auth_family(ColumnFamilyName(ColumnFamily::kAuth));
  bool in_keys = false;
  auto start_keys = [&]() -> absl::Status {
    in_keys = true;
    for (const char* name :
         {kAlarmBucket, kAuthBucket, kAuthRolesBucket, kAuthUsersBucket, kClusterBucket}) {
      if (auto s = WriteBucket(writer->get(), name, std::move(small[name])); !s.ok()) return s;
    }
    return (*writer)->BeginBucket(kKeyBucket);
  };
  internalpb::SnapshotChunk chunk;
  bool more = true;
  while (more) {
    chunk.Clear();
    auto next = reader->Next(&chunk, kChunkBytes);
    if (!next.ok()) return next.status();
    more = *next;
    for (const internalpb::StateRecord& record : chunk.records()) {
      const std::string& family = record.family();
      std::string_view key = record.key();
      if (family == kv_family) {
        if (!in_keys) {
          if (auto s = start_keys(); !s.ok()) return s;
        }
        if (auto put = (*writer)->Put(record.key(), record.value()); !put.ok()) return put;
      } else if (in_keys) {
        return absl::InternalError("state records out of family order");
      } else if (family == lease_family) {
        small[kLeaseBucket].emplace_back(record.key(), record.value());
      } else if (family == meta_family) {
        int64_t revision = 0;
        const char* name = key == kMetaCompactScheduled  ? kScheduledCompact
                           : key == kMetaCompactFinished ? kFinishedCompact
                                                         : nullptr;
        if (name != nullptr && DecodeInt64(record.value(), &revision)) {
          small[kMetaBucket].emplace_back(name, RevisionKey(Revision{revision, 0}));
        }
      } else if (family == auth_family) {
        if (key == kOurAuthEnabled) {
          small[kAuthBucket].emplace_back(kAuthEnabled,
                                          std::string(1, record.value() == "1" ? '\1' : '\0'));
        } else if (key == kOurAuthRevision) {
          small[kAuthBucket].emplace_back(kAuthRevision, record.value());
        } else if (key.starts_with(kUserPrefix)) {
          small[kAuthUsersBucket].emplace_back(key.substr(kUserPrefix.size()), record.value());
        } else if (key.starts_with(kRolePrefix)) {
          small[kAuthRolesBucket].emplace_back(key.substr(kRolePrefix.size()), record.value());
        }
      } else if (family == members_family) {
        if (key.starts_with(kMemberPrefix)) {
          etcdserverpb::Member member;
          if (!member.ParseFromString(record.value())) {
            return absl::DataLossError("corrupt member record");
          }
          small[kMembersBucket].emplace_back(Hex(member.id()), MemberJson(member));
        } else if (key.starts_with(kRemovedPrefix) && key.size() == kRemovedPrefix.size() + 8) {
          small[kRemovedBucket].emplace_back(
              Hex(FromBigEndian64(key.substr(kRemovedPrefix.size()))), "removed");
        } else if (key.starts_with(kAlarmPrefix)) {
          etcdserverpb::AlarmMember alarm;
          if (!alarm.ParseFromString(record.value())) {
            return absl::DataLossError("corrupt alarm record");
          }
          small[kAlarmBucket].emplace_back(alarm.SerializeAsString(), "");
        }
      }
    }
  }
  if (!in_keys) {
    if (auto s = start_keys(); !s.ok()) return s;
  }
  for (const char* name : {kLeaseBucket, kMembersBucket, kRemovedBucket, kMetaBucket}) {
    if (auto s = WriteBucket(writer->get(), name, std::move(small[name])); !s.ok()) return s;
  }
  return (*writer)->Finish();
}

namespace {

// An etcd backend opened for reading with every page checked first (the buckets a reader does
// not use included: a damaged file yields nothing), and the names of its buckets.
struct OpenedDb {
  std::unique_ptr<BoltReader> reader;
  std::vector<std::string> buckets;
};

absl::StatusOr<OpenedDb> OpenChecked(const std::string& path) {
  auto source = ByteSource::OpenFile(path);
  if (!source.ok()) return source.status();
  auto reader = BoltReader::Open(std::move(*source));
  if (!reader.ok()) return reader.status();
  if (auto checked = (*reader)->Check(); !checked.ok()) return checked;
  auto buckets = (*reader)->Buckets();
  if (!buckets.ok()) return buckets.status();
  return OpenedDb{std::move(*reader), std::move(*buckets)};
}

}  // namespace

absl::Status ReadEtcdDb(
    const std::string& path,
    const std::function<absl::Status(const internalpb::SnapshotChunk&)>& chunk) {
  auto opened = OpenChecked(path);
  if (!opened.ok()) return opened.status();
  const std::unique_ptr<BoltReader>& reader = opened->reader;
  const std::vector<std::string>* buckets = &opened->buckets;
  if (std::find(buckets->begin(), buckets->end(), kKeyBucket) == buckets->end()) {
    return absl::DataLossError("not an etcd backend: it has no \"key\" bucket");
  }
  internalpb::SnapshotChunk out;
  size_t bytes = 0;
  auto add = [&](ColumnFamily family, std::string key, std::string value) -> absl::Status {
    bytes += key.size() + value.size();
    auto* record = out.add_records();
    record->set_family(std::string(ColumnFamilyName(family)));
    record->set_key(std::move(key));
    record->set_value(std::move(value));
    if (bytes < kChunkBytes) return absl::OkStatus();
    absl::Status handed = chunk(out);
    out.Clear();
    bytes = 0;
    return handed;
  };
  auto has = [&](const char* bucket) {
    return std::find(buckets->begin(), buckets->end(), bucket) != buckets->end();
  };
  if (has(kMetaBucket)) {
    auto meta = reader->ForEach(
        kMetaBucket, [&](std::string_view key, std::string_view value, bool) -> absl::Status {
          const std::string_view ours = key == kScheduledCompact  ? kMetaCompactScheduled
                                        : key == kFinishedCompact ? kMetaCompactFinished
                                                                  : std::string_view();
          if (ours.empty()) return absl::OkStatus();
          Revision revision;
          bool tombstone = false;
          if (!DecodeRevisionKey(value, &revision, &tombstone)) {
            return absl::DataLossError(absl::StrCat("meta bucket: malformed ", std::string(key)));
          }
          return add(ColumnFamily::kMeta, std::string(ours), EncodeInt64(revision.main));
        });
    if (!meta.ok()) return meta;
  }
  if (has(kLeaseBucket)) {
    auto leases = reader->ForEach(kLeaseBucket, [&](std::string_view key, std::string_view value,
                                                    bool) {
      internalpb::LeaseRecord lease;
      if (key.size() != 8 || !lease.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return absl::DataLossError("lease bucket: malformed lease");
      }
      // etcd's lease also carries a remaining TTL (a checkpoint); the record keeps id and TTL.
      internalpb::LeaseRecord clean;
      clean.set_id(lease.id());
      clean.set_ttl(lease.ttl());
      return add(ColumnFamily::kLease, std::string(key), clean.SerializeAsString());
    });
    if (!leases.ok()) return leases;
  }
  if (has(kAuthBucket)) {
    auto auth = reader->ForEach(
        kAuthBucket, [&](std::string_view key, std::string_view value, bool) -> absl::Status {
          if (key == kAuthEnabled) {
            return add(ColumnFamily::kAuth, std::string(kOurAuthEnabled),
                       value == std::string_view("\1", 1) ? "1" : "0");
          }
          if (key == kAuthRevision) {
            if (value.size() != 8)
              return absl::DataLossError("auth bucket: malformed authRevision");
            return add(ColumnFamily::kAuth, std::string(kOurAuthRevision), std::string(value));
          }
          return absl::OkStatus();
        });
    if (!auth.ok()) return auth;
  }
  for (const auto& bucket_prefix :
       {std::pair{kAuthUsersBucket, kUserPrefix}, std::pair{kAuthRolesBucket, kRolePrefix}}) {
    // Not a structured binding: clang before 16 (the fuzz targets' compiler) cannot capture one.
    const auto& bucket = bucket_prefix.first;
    const auto& prefix = bucket_prefix.second;
    if (!has(bucket)) continue;
    auto walked = reader->ForEach(bucket, [&](std::string_view key, std::string_view value, bool) {
      return add(ColumnFamily::kAuth, absl::StrCat(std::string(prefix), std::string(key)),
                 std::string(value));
    });
    if (!walked.ok()) return walked;
  }
  auto keys = reader->ForEach(
      kKeyBucket, [&](std::string_view key, std::string_view value, bool is_bucket) {
        Revision revision;
        bool tombstone = false;
        if (is_bucket || !DecodeRevisionKey(key, &revision, &tombstone)) {
          return absl::DataLossError("key bucket: a key that is not a revision");
        }
        return add(ColumnFamily::kKv, std::string(key), std::string(value));
      });
  if (!keys.ok()) return keys;
  if (out.records_size() > 0) return chunk(out);
  return absl::OkStatus();
}

absl::StatusOr<EtcdDbStatus> ReadEtcdDbStatus(const std::string& path) {
  auto opened = OpenChecked(path);
  if (!opened.ok()) return opened.status();
  const std::unique_ptr<BoltReader>& reader = opened->reader;
  const std::vector<std::string>* buckets = &opened->buckets;
  EtcdDbStatus status;
  status.size = reader->page_count() * reader->page_size();
  for (const std::string& name : *buckets) {
    status.hash = Crc32cExtend(status.hash, name);
    const bool revisions = name == kKeyBucket;
    auto walked = reader->ForEach(name, [&](std::string_view key, std::string_view value, bool) {
      status.hash = Crc32cExtend(Crc32cExtend(status.hash, key), value);
      ++status.total_keys;
      Revision revision;
      bool tombstone = false;
      if (revisions && DecodeRevisionKey(key, &revision, &tombstone)) {
        status.revision = revision.main;
      }
      return absl::OkStatus();
    });
    if (!walked.ok()) return walked;
  }
  return status;
}

}  // namespace quorum::storage
