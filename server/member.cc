#include "server/member.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "proto/etcd_errors.h"
#include "server/identity.h"
#include "spdlog/spdlog.h"

namespace quorum::server {
namespace {

// Makes sure the data dir exists and can be written, with a message that names the path.
absl::Status PrepareDataDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir) / "member", ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create data dir \"", dir, "\": ", ec.message()));
  }
  auto probe = std::filesystem::path(dir) / "member" / ".write-check";
  FILE* f = fopen(probe.c_str(), "w");
  if (f == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir \"", dir, "\" is not writable: ", std::strerror(errno)));
  }
  fclose(f);
  std::filesystem::remove(probe, ec);
  return absl::OkStatus();
}

// The request's cost toward the quota, as etcd estimates it: the bytes a put adds.
int64_t QuotaCost(const internalpb::InternalRequest& request) {
  switch (request.request_case()) {
    case internalpb::InternalRequest::kPut:
      return static_cast<int64_t>(request.put().key().size() + request.put().value().size());
    case internalpb::InternalRequest::kTxn: {
      int64_t cost = 0;
      std::function<void(const etcdserverpb::TxnRequest&)> walk =
          [&](const etcdserverpb::TxnRequest& txn) {
            for (const auto* ops : {&txn.success(), &txn.failure()}) {
              for (const auto& op : *ops) {
                if (op.has_request_put()) {
                  cost += op.request_put().key().size() + op.request_put().value().size();
                } else if (op.has_request_txn()) {
                  walk(op.request_txn());
                }
              }
            }
          };
      walk(request.txn());
      return cost;
    }
    case internalpb::InternalRequest::kLeaseGrant:
      return 64;
    default:
      return 0;
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

}  // namespace

Member::Member(const Config& config) : config_(config) {}

absl::StatusOr<std::unique_ptr<Member>> Member::Start(const Config& config) {
  std::unique_ptr<Member> member(new Member(config));
  if (auto s = PrepareDataDir(config.data_dir); !s.ok()) return s;

  storage::Backend::Options options;
  options.path = (std::filesystem::path(config.data_dir) / "member" / "db").string();
  // Group commit: the apply loop writes a batch of entries without syncing each one, then
  // makes them all durable with one WAL sync before acknowledging any of them.
  options.sync_writes = false;
  auto backend = storage::Backend::Open(options);
  if (!backend.ok()) return backend.status();
  member->backend_ = *std::move(backend);
  auto store = storage::MvccStore::Open(member->backend_.get());
  if (!store.ok()) return store.status();
  member->store_ = *std::move(store);
  // No lease exists until the lease service is served, so a put naming one must fail with
  // etcd's "requested lease not found".
  member->store_->SetLeaseChecker([](int64_t) { return false; });
  member->applier_ = std::make_unique<Applier>(member->store_.get(), &member->alarms_);

  for (const auto& m : config.initial_cluster) {
    std::vector<std::string> urls;
    for (const auto& u : m.peer_urls) urls.push_back(u.original);
    uint64_t id = ComputeMemberId(urls, config.initial_cluster_token);
    if (m.name == config.name) member->member_id_ = id;
  }
  std::vector<uint64_t> ids;
  for (const auto& m : config.initial_cluster) {
    std::vector<std::string> urls;
    for (const auto& u : m.peer_urls) urls.push_back(u.original);
    ids.push_back(ComputeMemberId(urls, config.initial_cluster_token));
  }
  member->cluster_id_ = ComputeClusterId(ids);

  spdlog::info("member {} ({}) opened {}: revision {}, applied index {}", config.name,
               IdToHex(member->member_id_), options.path, member->store_->CurrentRevision(),
               member->store_->Applied().index);
  member->apply_thread_ = std::thread([m = member.get()] { m->ApplyLoop(); });
  return member;
}

Member::~Member() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (apply_thread_.joinable()) apply_thread_.join();
}

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
  Propose(std::move(alarm), [](ApplyResult) {});
  return ErrNoSpace();
}

void Member::Propose(internalpb::InternalRequest request, Done done) {
  // etcd measures the request as it would be written to the log.
  if (request.ByteSizeLong() > config_.max_request_bytes) {
    done(ApplyResult{ErrRequestTooLarge(), nullptr});
    return;
  }
  if (auto s = CheckQuota(request); !s.ok()) {
    done(ApplyResult{s, nullptr});
    return;
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    mu_.Unlock();
    done(ApplyResult{ErrStopped(), nullptr});
    mu_.Lock();
    return;
  }
  request.set_id(next_request_id_++);
  queue_.push_back(Pending{std::move(request), std::move(done)});
}

void Member::ApplyLoop() {
  while (true) {
    std::deque<Pending> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Member* m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m->mu_) {
            return m->stopping_ || !m->queue_.empty();
          },
          this));
      if (queue_.empty() && stopping_) return;
      batch.swap(queue_);
    }
    std::vector<ApplyResult> results;
    results.reserve(batch.size());
    for (auto& pending : batch) {
      storage::ApplyMeta meta{store_->Applied().index + 1, kTerm};
      results.push_back(applier_->Apply(pending.request, meta));
    }
    // One fsync covers every entry of the batch. The WAL is written in order, so a crash before
    // it loses a suffix of unacknowledged entries and nothing else.
    if (!config_.unsafe_no_fsync) {
      rocksdb::Status synced = backend_->db()->SyncWAL();
      if (!synced.ok()) {
        // Durability can no longer be promised; stopping beats acknowledging a lost write.
        spdlog::critical("WAL sync failed: {}", synced.ToString());
        std::abort();
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
  }
}

absl::StatusOr<etcdserverpb::TxnResponse> Member::ReadTxn(
    const etcdserverpb::TxnRequest& request) {
  auto response = store_->ReadTxn(request);
  if (!response.ok()) return response.status();
  FillHeader(response->mutable_header());
  return response;
}

absl::StatusOr<etcdserverpb::RangeResponse> Member::Range(
    const etcdserverpb::RangeRequest& request) {
  auto response = store_->Range(request);
  if (!response.ok()) return response.status();
  FillHeader(response->mutable_header());
  return response;
}

void Member::FillHeader(etcdserverpb::ResponseHeader* header) const {
  header->set_cluster_id(cluster_id_);
  header->set_member_id(member_id_);
  header->set_raft_term(kTerm);
}

etcdserverpb::ResponseHeader Member::CurrentHeader() const {
  etcdserverpb::ResponseHeader header;
  header.set_revision(store_->CurrentRevision());
  FillHeader(&header);
  return header;
}

etcdserverpb::StatusResponse Member::Status() const {
  etcdserverpb::StatusResponse status;
  *status.mutable_header() = CurrentHeader();
  status.set_version(kEtcdApiVersion);
  int64_t size = static_cast<int64_t>(backend_->SizeBytes());
  status.set_dbsize(size);
  status.set_dbsizeinuse(size);
  status.set_leader(member_id_);
  storage::ApplyMeta applied = store_->Applied();
  status.set_raftindex(applied.index);
  status.set_raftappliedindex(applied.index);
  status.set_raftterm(kTerm);
  for (const auto& alarm : alarms_.List()) {
    status.add_errors(absl::StrCat("memberID:", alarm.memberid(), " alarm:",
                                   etcdserverpb::AlarmType_Name(alarm.alarm()), " "));
  }
  return status;
}

absl::StatusOr<etcdserverpb::HashKVResponse> Member::HashKV(int64_t revision) const {
  auto hash = store_->HashKV(revision);
  if (!hash.ok()) return hash.status();
  etcdserverpb::HashKVResponse response;
  *response.mutable_header() = CurrentHeader();
  response.set_hash(hash->hash);
  response.set_compact_revision(hash->compact_revision);
  return response;
}

absl::Status Member::Defragment() {
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  rocksdb::Status s = backend_->db()->CompactRange(options, nullptr, nullptr);
  for (auto family : {storage::ColumnFamily::kKv, storage::ColumnFamily::kMeta}) {
    if (!s.ok()) break;
    s = backend_->db()->CompactRange(options, backend_->Family(family), nullptr, nullptr);
  }
  if (!s.ok()) return absl::InternalError(absl::StrCat("defragment: ", s.ToString()));
  return absl::OkStatus();
}

}  // namespace quorum::server
