#include "server/member.h"

#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "proto/etcd_errors.h"
#include "raft/fatal.h"
#include "server/identity.h"
#include "server/membership_peer.h"
#include "server/peer/peer_channel.h"
#include "server/peer/transport.h"
#include "server/snapshot_bridge.h"
#include "spdlog/spdlog.h"
#include "storage/backup.h"
#include "storage/state_snapshot.h"

namespace quorum::server {
namespace {

// Makes sure the data dir exists and can be written, with a message that names the path.
absl::Status PrepareDataDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir) / "member" / "snap", ec);
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
    case internalpb::InternalRequest::kTxn:
      return TxnPutBytes(request.txn());
    case internalpb::InternalRequest::kLeaseGrant:
      return 64;
    default:
      return 0;
  }
}

std::vector<std::string> UrlStrings(const std::vector<Url>& urls) {
  std::vector<std::string> out;
  for (const auto& u : urls) out.push_back(u.original);
  return out;
}

std::vector<std::string> PeerUrls(const etcdserverpb::Member& m) {
  return {m.peerurls().begin(), m.peerurls().end()};
}

// The members named by --initial-cluster, with the ids every member derives for them. Client
// URLs are not in --initial-cluster: each member publishes its own through the log
// (PublishAttributes), so that every member's records are the same.
std::vector<etcdserverpb::Member> InitialMembers(const Config& config) {
  std::vector<etcdserverpb::Member> members;
  for (const auto& m : config.initial_cluster) {
    etcdserverpb::Member member;
    member.set_name(m.name);
    for (const auto& u : m.peer_urls) member.add_peerurls(u.original);
    member.set_id(ComputeMemberId(PeerUrls(member), config.initial_cluster_token));
    members.push_back(std::move(member));
  }
  return members;
}

// etcd's minimum lease TTL: one and a half election timeouts, in whole ticks, rounded up to
// seconds.
int64_t MinLeaseTtlSeconds(const Config& config) {
  const int64_t heartbeat = std::max<int64_t>(1, config.heartbeat_interval_ms);
  const int64_t ticks = config.election_timeout_ms / heartbeat;
  const int64_t min_ttl_ms = (3 * ticks / 2) * heartbeat;
  return (min_ttl_ms + 999) / 1000;
}

std::string ApplyStallFile() {
  const char* path = std::getenv("QUORUM_TEST_APPLY_STALL_FILE");
  return path != nullptr ? path : "";
}

size_t EntryBytes(const std::vector<CommittedEntry>& entries) {
  size_t bytes = 0;
  for (const auto& c : entries) bytes += c.entry.data().size();
  return bytes;
}

}  // namespace

Member::Member(const Config& config)
    : config_(config),
      apply_stall_file_(ApplyStallFile()),
      lessor_(std::make_unique<Lessor>(
          Lessor::Options{.min_ttl_seconds = MinLeaseTtlSeconds(config)})) {}

absl::StatusOr<std::unique_ptr<Member>> Member::Start(const Config& config) {
  std::unique_ptr<Member> member(new Member(config));
  if (auto s = member->Open(); !s.ok()) return s;
  if (auto s = member->BootstrapOrCheckIdentity(); !s.ok()) return s;
  member->ids_ = std::make_unique<IdGenerator>(member->member_id_, absl::Now());
  if (auto s = member->StartReplication(); !s.ok()) return s;
  return member;
}

absl::Status Member::Open() {
  if (auto s = PrepareDataDir(config_.data_dir); !s.ok()) return s;
  storage::Backend::Options options;
  options.path = (std::filesystem::path(config_.data_dir) / "member" / "db").string();
  options.sync_writes = !config_.unsafe_no_fsync;
  auto backend = storage::Backend::Open(options);
  if (!backend.ok()) return backend.status();
  backend_ = *std::move(backend);

  // A crash in the middle of installing a leader's snapshot leaves two states mixed: start
  // from nothing instead, and the leader sends the snapshot again.
  auto interrupted = storage::StateInstaller::RecoverInterrupted(backend_.get());
  if (!interrupted.ok()) return interrupted.status();
  if (*interrupted) spdlog::warn("an interrupted snapshot install was discarded");

  // The Raft log's synced appends make every applied entry durable (one WAL for both), so the
  // store itself need not fsync; a crash replays the log from the applied index.
  storage::MvccStore::Options store_options;
  store_options.sync_writes = false;
  auto store = storage::MvccStore::Open(backend_.get(), store_options);
  if (!store.ok()) return store.status();
  auto log = storage::RaftLogStore::Open(backend_.get());
  if (!log.ok()) return log.status();
  log_ = *std::move(log);
  auto membership = Membership::Load(backend_.get());
  if (!membership.ok()) return membership.status();
  membership_ = *std::move(membership);

  if (auto s = alarms_.Load(backend_.get()); !s.ok()) return s;
  absl::MutexLock lock(&state_mu_);
  store_ = *std::move(store);
  WatchHub::StoreAccess access{
      .events =
          [this](int64_t from, int64_t to) {
            absl::ReaderMutexLock lock(&state_mu_);
            return store_->ReadEvents(from, to);
          },
      .value_at = [this](const std::string& key, int64_t rev) -> std::optional<mvccpb::KeyValue> {
        etcdserverpb::RangeRequest request;
        request.set_key(key);
        request.set_revision(rev);
        absl::ReaderMutexLock lock(&state_mu_);
        auto found = store_->Range(request);
        if (!found.ok() || found->kvs_size() == 0) return std::nullopt;
        return found->kvs(0);
      },
      .compacted =
          [this] {
            absl::ReaderMutexLock lock(&state_mu_);
            return store_->CompactedRevision();
          },
      .fill_header = [this](etcdserverpb::ResponseHeader* header) { FillHeader(header); }};
  WatchHub::Options watch_options;
  watch_options.progress_interval = absl::Milliseconds(config_.watch_progress_notify_interval_ms);
  watch_options.max_response_bytes = config_.max_request_bytes;
  watch_hub_ =
      std::make_unique<WatchHub>(watch_options, std::move(access), store_->CurrentRevision());
  return AttachStore();
}

absl::Status Member::AttachStore() {
  if (auto s = lessor_->Load(backend_.get(), store_->LeasedKeys()); !s.ok()) return s;
  store_->SetLeaseChecker([this](int64_t id) { return lessor_->Exists(id); });
  store_->SetEventSink(
      [this, store = store_.get()](int64_t revision, const std::vector<mvccpb::Event>& events) {
        lessor_->OnEvents(events);
        watch_hub_->OnCommit(revision, events, *store);
      });
  applier_ = std::make_unique<Applier>(
      store_.get(), &alarms_, lessor_.get(),
      Applier::Families{.alarms = backend_->Family(storage::ColumnFamily::kMembers),
                        .leases = backend_->Family(storage::ColumnFamily::kLease)});
  return absl::OkStatus();
}

std::vector<std::string> Member::JoinPeerUrls() const {
  std::vector<std::string> urls;
  for (const auto& m : config_.initial_cluster) {
    if (m.name == config_.name) continue;
    for (const auto& u : m.peer_urls) urls.push_back(u.original);
  }
  return urls;
}

absl::Status Member::BootstrapOrCheckIdentity() {
  std::optional<internalpb::MemberIdentity> identity = membership_->identity();
  if (identity.has_value()) {
    // etcd behaviour: once a data dir exists, the bootstrap flags are ignored; but a data dir
    // of another member or another cluster is refused rather than joined by mistake.
    if (identity->name() != config_.name) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir \"", config_.data_dir, "\" belongs to member \"", identity->name(), "\" (",
          IdToHex(identity->member_id()), "), not to --name \"", config_.name, "\""));
    }
    if (identity->cluster_token() != config_.initial_cluster_token) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data dir \"", config_.data_dir, "\" belongs to cluster ",
          IdToHex(identity->cluster_id()), " bootstrapped with --initial-cluster-token \"",
          identity->cluster_token(), "\", not \"", config_.initial_cluster_token, "\""));
    }
    member_id_ = identity->member_id();
    cluster_id_ = identity->cluster_id();
    if (membership_->List().empty()) {
      // A joiner restarted before the leader's snapshot reached it: its peers, again.
      auto cluster = FetchMembers(JoinPeerUrls(), absl::Now() + absl::Seconds(10));
      if (!cluster.ok()) return cluster.status();
      joining_peers_.assign(cluster->members().begin(), cluster->members().end());
    }
    return absl::OkStatus();
  }

  std::vector<etcdserverpb::Member> founders = InitialMembers(config_);
  internalpb::MemberIdentity id;
  id.set_name(config_.name);
  id.set_cluster_token(config_.initial_cluster_token);
  if (config_.initial_cluster_state == "existing") {
    // Joining, after MemberAdd: as etcd, ask the members for the cluster id and for the id the
    // cluster gave this member (found by its peer URLs). The leader then sends the state and
    // the membership in a snapshot; until then the member knows its peers from that answer.
    std::vector<std::string> own_urls = UrlStrings(config_.initial_advertise_peer_urls);
    std::sort(own_urls.begin(), own_urls.end());
    auto cluster = FetchMembers(JoinPeerUrls(), absl::Now() + absl::Seconds(10));
    if (!cluster.ok()) return cluster.status();
    joining_peers_.assign(cluster->members().begin(), cluster->members().end());
    for (const auto& m : cluster->members()) {
      std::vector<std::string> urls = PeerUrls(m);
      std::sort(urls.begin(), urls.end());
      if (urls == own_urls) member_id_ = m.id();
    }
    if (member_id_ == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no member of cluster ", IdToHex(cluster->header().cluster_id()), " has peer URLs ",
          absl::StrJoin(own_urls, ","), "; add this member first (etcdctl member add)"));
    }
    cluster_id_ = cluster->header().cluster_id();
    id.set_cluster_id(cluster_id_);
    id.set_member_id(member_id_);
    if (auto s = membership_->SaveIdentity(id); !s.ok()) return s;
    spdlog::info("member {} ({}) joining cluster {}", config_.name, IdToHex(member_id_),
                 IdToHex(cluster_id_));
    return absl::OkStatus();
  }

  std::vector<uint64_t> founder_ids;
  for (const auto& m : founders) {
    if (m.name() == config_.name) member_id_ = m.id();
    founder_ids.push_back(m.id());
  }
  cluster_id_ = ComputeClusterId(founder_ids);
  id.set_cluster_id(cluster_id_);
  id.set_member_id(member_id_);

  // Every founding member starts from the same snapshot at index 1 that lists the founders as
  // voters, so they agree on the first configuration without talking.
  raftpb::Snapshot snapshot;
  snapshot.mutable_metadata()->set_index(1);
  snapshot.mutable_metadata()->set_term(1);
  for (const auto& m : founders) {
    snapshot.mutable_metadata()->mutable_conf_state()->add_voters(m.id());
  }
  raftpb::HardState hard_state;
  hard_state.set_term(1);
  hard_state.set_commit(1);
  if (auto s = log_->Save(snapshot, {}, hard_state, /*sync=*/true); !s.ok()) return s;
  {
    absl::ReaderMutexLock lock(&state_mu_);
    auto s = store_->MarkApplied({1, 1}, [&](rocksdb::WriteBatch* batch) {
      storage::RaftLogStore::PutConfState(snapshot.metadata().conf_state(), batch,
                                          backend_->Family(storage::ColumnFamily::kRaftLog));
    });
    if (!s.ok()) return s;
  }
  if (auto s = membership_->Bootstrap(id, founders); !s.ok()) return s;
  spdlog::info("bootstrapped member {} ({}) of new cluster {} with {} members", config_.name,
               IdToHex(member_id_), IdToHex(cluster_id_), founders.size());
  return absl::OkStatus();
}

absl::Status Member::StartReplication() {
  auto initial = log_->InitialState();
  if (!initial.ok()) return initial.status();
  conf_state_ = initial->conf_state;
  uint64_t applied = 0;
  {
    absl::ReaderMutexLock lock(&state_mu_);
    applied = store_->Applied().index;
  }
  applied_index_ = applied;
  auto snapshot = log_->Snapshot();
  last_snapshot_index_ = snapshot.ok() ? snapshot->metadata().index() : 0;

  PeerTransport::Options transport_options;
  transport_options.cluster_id = cluster_id_;
  transport_options.self_id = member_id_;
  for (const auto& u : config_.listen_peer_urls) transport_options.listen.push_back(u.HostPort());
  transport_options.snapshot_dir =
      (std::filesystem::path(config_.data_dir) / "member" / "snap").string();
  lease_forwarder_ = std::make_unique<LeaseForwarder>(
      member_id_, lessor_.get(),
      LeaseForwarder::Hooks{
          .leader = [this] { return lead_.load(); },
          .channel = [this](uint64_t id) -> std::shared_ptr<grpc::Channel> {
            return transport_ ? transport_->PeerChannel(id) : nullptr;
          },
          .after_applied =
              [this](absl::Time deadline, absl::AnyInvocable<void(absl::Status)> then) {
                WaitApplied(deadline, std::move(then));
              }});
  transport_options.services.push_back(lease_forwarder_->service());
  transport_options.is_removed = [this](uint64_t id) { return membership_->IsRemoved(id); };
  membership_peer_ = std::make_unique<MembershipPeerService>(MembershipPeerService::Callbacks{
      .promote = [this](uint64_t id, absl::Time deadline,
                        Done done) { PromoteAsLeader(id, deadline, std::move(done)); },
      .members =
          [this] {
            etcdserverpb::MemberListResponse response;
            FillHeader(response.mutable_header());
            for (auto& m : membership_->List()) *response.add_members() = std::move(m);
            return response;
          }});
  transport_options.services.push_back(membership_peer_.get());
  PeerTransport::Callbacks callbacks;
  callbacks.deliver = [this](raftpb::Message m) {
    if (driver_) driver_->Step(std::move(m));
  };
  callbacks.unreachable = [this](uint64_t peer) {
    if (driver_) driver_->ReportUnreachable(peer);
  };
  callbacks.snapshot_status = [this](uint64_t peer, bool ok) {
    if (driver_) driver_->ReportSnapshot(peer, ok);
  };
  callbacks.open_snapshot = [this](const raftpb::Message& m) {
    return OpenOutgoingSnapshot(backend_.get(), m);
  };
  // A member removed while it was down learns it from the peers that refuse it.
  callbacks.removed = [this] { Leave(); };
  auto transport = PeerTransport::Start(transport_options, std::move(callbacks));
  if (!transport.ok()) return transport.status();
  transport_ = *std::move(transport);
  for (const auto& m : membership_->List()) {
    if (m.id() != member_id_) transport_->SetPeer(m.id(), PeerUrls(m));
  }
  if (membership_->List().empty()) {
    // A joining member before its first snapshot: reach the members the cluster listed.
    for (const auto& m : joining_peers_) {
      if (m.id() != member_id_) transport_->SetPeer(m.id(), PeerUrls(m));
    }
  }

  RaftDriver::Options options;
  options.id = member_id_;
  options.applied = applied;
  options.tick = std::chrono::milliseconds(config_.heartbeat_interval_ms);
  options.election_ticks =
      static_cast<int>(config_.election_timeout_ms / config_.heartbeat_interval_ms);
  options.sync = !config_.unsafe_no_fsync;
  options.seed = member_id_ ^ static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  options.campaign_at_start = conf_state_.voters_size() == 1 && conf_state_.voters(0) == member_id_;
  RaftDriver::Hooks hooks;
  hooks.apply = [this](std::vector<CommittedEntry> entries) { QueueForApply(std::move(entries)); };
  hooks.read_ready = [this](uint64_t index, const std::string& ctx) {
    waits_.ReadPointKnown(ctx, index);
    // The apply thread releases reads; an empty batch wakes it when nothing else will.
    absl::MutexLock lock(&apply_mu_);
    apply_queue_.emplace_back();
  };
  hooks.leader_changed = [this](uint64_t lead, uint64_t term) {
    lead_ = lead;
    term_ = term;
    UpdateLessorRole(0);
    if (lead == 0) {
      spdlog::warn("no leader (term {})", term);
    } else {
      spdlog::info("leader is {} (term {})", IdToHex(lead), term);
    }
  };
  hooks.install_snapshot = [this](const raftpb::Snapshot& s) { return InstallSnapshot(s); };
  auto driver = RaftDriver::Start(options, log_.get(), transport_.get(), std::move(hooks));
  if (!driver.ok()) return driver.status();
  driver_ = *std::move(driver);

  apply_thread_ = std::thread([this] { ApplyLoop(); });
  timer_thread_ = std::thread([this] { TimerLoop(); });
  spdlog::info("member {} ({}) started: applied index {}, {} members", config_.name,
               IdToHex(member_id_), applied, membership_->List().size());
  return absl::OkStatus();
}

Member::~Member() {
  // Background tasks (backups) use the store and the backend: finish them first.
  background_.reset();
  {
    absl::MutexLock lock(&apply_mu_);
    stopping_ = true;
  }
  // Calls waiting for the apply thread (WaitApplied) may hold peer-server calls open, which the
  // transport's shutdown below waits for: end them first. Later ones fail at once (stopping_).
  waits_.FailAll(ErrStopped());
  if (driver_) driver_->Stop();
  if (transport_) transport_->Stop();
  // Its service was on the peer server (stopped now); its thread reads the driver (alive until
  // the members are destroyed, after this body).
  lease_forwarder_.reset();
  if (apply_thread_.joinable()) apply_thread_.join();
  if (timer_thread_.joinable()) timer_thread_.join();
  watch_hub_.reset();
  waits_.FailAll(ErrStopped());
  absl::MutexLock lock(&moves_mu_);
  for (auto& move : moves_) move.done(ErrStopped());
}

absl::Time Member::DefaultDeadline() const {
  return absl::Now() + absl::Seconds(5) +
         absl::Milliseconds(2 * static_cast<int64_t>(config_.election_timeout_ms));
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
  Propose(std::move(alarm), DefaultDeadline(), [](ApplyResult) {});
  return ErrNoSpace();
}

void Member::Propose(internalpb::InternalRequest request, absl::Time deadline, Done done) {
  // etcd measures the request as it would be written to the log.
  if (request.ByteSizeLong() > config_.max_request_bytes) {
    done(ApplyResult{ErrRequestTooLarge(), nullptr});
    return;
  }
  if (auto s = CheckQuota(request); !s.ok()) {
    done(ApplyResult{s, nullptr});
    return;
  }
  if (driver_->CommitIndex() > applied_index_.load() + kMaxApplyGap) {
    done(ApplyResult{ErrTooManyRequests(), nullptr});
    return;
  }
  uint64_t id = ids_->Next();
  request.set_id(id);
  request.set_proposer(member_id_);
  waits_.AddWrite(id, deadline, std::move(done));
  driver_->Propose(request.SerializeAsString(),
                   [this, id](absl::Status s) { waits_.FailWrite(id, std::move(s)); });
}

void Member::WaitApplied(absl::Time deadline, Ready ready) {
  const uint64_t commit = driver_->CommitIndex();
  if (applied_index_.load() >= commit) {
    ready(absl::OkStatus());
    return;
  }
  const uint64_t n = ids_->Next();
  std::string ctx(reinterpret_cast<const char*>(&n), sizeof(n));
  {
    // Under apply_mu_, so that either ~Member's FailAll sees this wait or this sees stopping_.
    absl::MutexLock lock(&apply_mu_);
    if (!stopping_) {
      waits_.AddRead(ctx, deadline, std::move(ready));
      waits_.ReadPointKnown(ctx, commit);
      // The apply thread releases it; an empty batch wakes it in case it applied `commit`
      // between the check above and now.
      apply_queue_.emplace_back();
      return;
    }
  }
  ready(ErrStopped());
}

void Member::ReadBarrier(absl::Time deadline, Ready ready) {
  uint64_t n = ids_->Next();
  std::string ctx(reinterpret_cast<const char*>(&n), sizeof(n));
  waits_.AddRead(ctx, deadline, std::move(ready));
  driver_->ReadIndex(ctx, [this, ctx](absl::Status s) { waits_.FailRead(ctx, std::move(s)); });
}

absl::StatusOr<etcdserverpb::RangeResponse> Member::LocalRange(
    const etcdserverpb::RangeRequest& request) {
  absl::ReaderMutexLock lock(&state_mu_);
  auto response = store_->Range(request);
  if (!response.ok()) return response.status();
  FillHeader(response->mutable_header());
  return response;
}

absl::StatusOr<etcdserverpb::TxnResponse> Member::LocalReadTxn(
    const etcdserverpb::TxnRequest& request) {
  absl::ReaderMutexLock lock(&state_mu_);
  auto response = store_->ReadTxn(request);
  if (!response.ok()) return response.status();
  FillHeader(response->mutable_header());
  return response;
}

void Member::ProposeConfChange(raftpb::ConfChangeType type, etcdserverpb::Member member,
                               absl::Time deadline, Done done) {
  if (driver_->CommitIndex() > applied_index_.load() + kMaxApplyGap) {
    done(ApplyResult{ErrTooManyRequests(), nullptr});
    return;
  }
  uint64_t id = ids_->Next();
  internalpb::ConfChangeContext context;
  context.set_id(id);
  context.set_proposer(member_id_);
  raftpb::ConfChange change;
  change.set_type(type);
  change.set_node_id(member.id());
  *context.mutable_member() = std::move(member);
  change.set_context(context.SerializeAsString());
  waits_.AddWrite(id, deadline, std::move(done));
  driver_->ProposeConfChange(std::move(change),
                             [this, id](absl::Status s) { waits_.FailWrite(id, std::move(s)); });
}

void Member::AddMember(etcdserverpb::Member member, absl::Time deadline, Done done) {
  // Decided before the call: argument evaluation order would let the move come first.
  const raftpb::ConfChangeType type =
      member.islearner() ? raftpb::CONF_CHANGE_ADD_LEARNER : raftpb::CONF_CHANGE_ADD_VOTER;
  ProposeConfChange(type, std::move(member), deadline, std::move(done));
}

void Member::RemoveMember(uint64_t id, absl::Time deadline, Done done) {
  auto member = membership_->Find(id);
  if (!member.has_value()) {
    done(ApplyResult{ErrMemberNotFound(), nullptr});
    return;
  }
  ProposeConfChange(raftpb::CONF_CHANGE_REMOVE, *member, deadline, std::move(done));
}

void Member::PromoteMember(uint64_t id, absl::Time deadline, Done done) {
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

void Member::PromoteAsLeader(uint64_t id, absl::Time deadline, Done done) {
  auto member = membership_->Find(id);
  if (!member.has_value()) {
    done(ApplyResult{ErrMemberNotFound(), nullptr});
    return;
  }
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
  ProposeConfChange(raftpb::CONF_CHANGE_ADD_VOTER, *member, deadline, std::move(done));
}

void Member::UpdateMember(uint64_t id, std::vector<std::string> peer_urls, absl::Time deadline,
                          Done done) {
  auto member = membership_->Find(id);
  if (!member.has_value()) {
    done(ApplyResult{ErrMemberNotFound(), nullptr});
    return;
  }
  member->clear_peerurls();
  for (auto& u : peer_urls) member->add_peerurls(std::move(u));
  internalpb::InternalRequest request;
  *request.mutable_member_update()->mutable_member() = *member;
  Propose(std::move(request), deadline, std::move(done));
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

void Member::FillHeader(etcdserverpb::ResponseHeader* header) const {
  header->set_cluster_id(cluster_id_);
  header->set_member_id(member_id_);
  header->set_raft_term(term_.load());
}

etcdserverpb::ResponseHeader Member::CurrentHeader() const {
  etcdserverpb::ResponseHeader header;
  {
    absl::ReaderMutexLock lock(&state_mu_);
    header.set_revision(store_->CurrentRevision());
  }
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
  response.set_hash(hash->hash);
  response.set_compact_revision(hash->compact_revision);
  return response;
}

absl::Status Member::Defragment() {
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (auto family : {storage::ColumnFamily::kKv, storage::ColumnFamily::kMeta,
                      storage::ColumnFamily::kRaftLog}) {
    rocksdb::Status s =
        backend_->db()->CompactRange(options, backend_->Family(family), nullptr, nullptr);
    if (!s.ok()) return absl::InternalError(absl::StrCat("defragment: ", s.ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Member::WriteBackup() {
  std::string path = (std::filesystem::path(config_.data_dir) / "member" / "snap" /
                      absl::StrCat("backup-", ids_->Next(), ".tmp"))
                         .string();
  auto size = storage::WriteBackup(backend_.get(), path);
  if (!size.ok()) return size.status();
  return path;
}

void Member::QueueForApply(std::vector<CommittedEntry> entries) {
  const size_t count = entries.size();
  const size_t bytes = EntryBytes(entries);
  absl::MutexLock lock(&apply_mu_);
  // An empty queue takes any batch, so one batch larger than the bounds still goes through.
  apply_mu_.Await(absl::Condition(
      +[](Member* m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m->apply_mu_) {
        return m->stopping_ || m->queued_entries_ == 0 ||
               (m->queued_entries_ < kMaxQueuedApplyEntries &&
                m->queued_bytes_ < kMaxQueuedApplyBytes);
      },
      this));
  if (stopping_) return;
  queued_entries_ += count;
  queued_bytes_ += bytes;
  apply_queue_.push_back(std::move(entries));
}

void Member::MaybeStallApply() {
  if (apply_stall_file_.empty()) return;
  bool logged = false;
  std::error_code ec;
  while (std::filesystem::exists(apply_stall_file_, ec)) {
    if (!logged) spdlog::warn("apply stalled while {} exists (test hook)", apply_stall_file_);
    logged = true;
    absl::MutexLock lock(&apply_mu_);
    if (apply_mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(20))) return;
  }
}

void Member::ApplyLoop() {
  while (true) {
    MaybeStallApply();
    std::deque<std::vector<CommittedEntry>> batches;
    size_t entries = 0;
    size_t bytes = 0;
    {
      absl::MutexLock lock(&apply_mu_);
      apply_mu_.Await(absl::Condition(
          +[](Member* m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m->apply_mu_) {
            return m->stopping_ || !m->apply_queue_.empty();
          },
          this));
      if (stopping_) return;
      batches.swap(apply_queue_);
      // Still counted while they are applied, so the bound covers them too.
      entries = queued_entries_;
      bytes = queued_bytes_;
    }
    {
      absl::ReaderMutexLock lock(&state_mu_);
      for (const auto& batch : batches) {
        for (const auto& committed : batch) ApplyEntry(committed);
      }
      applied_index_ = store_->Applied().index;
      MaybeCompactLog();
    }
    {
      absl::MutexLock lock(&apply_mu_);
      queued_entries_ -= entries;
      queued_bytes_ -= bytes;
    }
    for (auto& [id, result] : completions_) waits_.CompleteWrite(id, std::move(result));
    completions_.clear();
    waits_.ReleaseReads(applied_index_.load());
  }
}

namespace {

// The one policy for a committed entry this member cannot apply or whose position it cannot
// record: stop. Skipping it would leave this member's state different from the others' without
// anyone noticing (etcd panics the same way on an entry it cannot unmarshal).
[[noreturn]] void CannotApply(const raftpb::Entry& entry, std::string_view why) {
  Fatal(absl::StrCat("cannot apply committed entry at index ", entry.index(), " (term ",
                     entry.term(), "): ", std::string(why),
                     "; stopping, since going on without it would leave this member's state "
                     "different from the other members'"));
}

}  // namespace

void Member::ApplyEntry(const CommittedEntry& committed) {
  const raftpb::Entry& entry = committed.entry;
  // Entries at or below the applied index were applied before a restart or are covered by an
  // installed snapshot: applying them again would repeat their effect.
  if (entry.index() <= store_->Applied().index) return;
  storage::ApplyMeta meta{entry.index(), entry.term()};
  if (entry.type() == raftpb::ENTRY_CONF_CHANGE) {
    ApplyConfChange(entry, committed.conf_state.value_or(conf_state_));
    return;
  }
  if (entry.data().empty()) {
    // A new leader's empty entry: it only moves the index.
    if (auto s = store_->MarkApplied(meta); !s.ok()) CannotApply(entry, s.ToString());
    UpdateLessorRole(entry.term());
    return;
  }
  internalpb::InternalRequest request;
  if (!request.ParseFromString(entry.data())) CannotApply(entry, "the entry cannot be decoded");
  ApplyResult result;
  if (request.has_member_update()) {
    // Name and URLs change; whether it votes is Raft's business and stays as recorded.
    const etcdserverpb::Member& update = request.member_update().member();
    std::optional<etcdserverpb::Member> member = membership_->Find(update.id());
    absl::Status recorded;
    if (!member.has_value()) {
      result.status = ErrMemberNotFound();
      recorded = store_->MarkApplied(meta);
    } else {
      member->set_name(update.name());
      *member->mutable_peerurls() = update.peerurls();
      *member->mutable_clienturls() = update.clienturls();
      recorded = store_->MarkApplied(
          meta, [&](rocksdb::WriteBatch* batch) { membership_->Upsert(*member, batch); });
      if (member->id() != member_id_) transport_->SetPeer(member->id(), PeerUrls(*member));
    }
    if (!recorded.ok()) CannotApply(entry, recorded.ToString());
  } else {
    result = applier_->Apply(request, meta);
    if (CannotApplyHere(result.status)) CannotApply(entry, result.status.ToString());
  }
  if (store_->Applied().index < entry.index()) {
    CannotApply(entry, "its position was not recorded: " + result.status.ToString());
  }
  if (request.proposer() == member_id_) completions_.emplace_back(request.id(), std::move(result));
}

void Member::ApplyConfChange(const raftpb::Entry& entry, const raftpb::ConfState& conf_state) {
  storage::ApplyMeta meta{entry.index(), entry.term()};
  raftpb::ConfChange change;
  internalpb::ConfChangeContext context;
  if (!change.ParseFromString(entry.data()) || !context.ParseFromString(change.context())) {
    CannotApply(entry, "the membership change cannot be decoded");
  }
  etcdserverpb::Member member = context.member();
  absl::Status s = store_->MarkApplied(meta, [&](rocksdb::WriteBatch* batch) {
    if (change.type() == raftpb::CONF_CHANGE_REMOVE) {
      membership_->Remove(change.node_id(), batch);
    } else {
      member.set_islearner(change.type() == raftpb::CONF_CHANGE_ADD_LEARNER);
      membership_->Upsert(member, batch);
    }
    storage::RaftLogStore::PutConfState(conf_state, batch,
                                        backend_->Family(storage::ColumnFamily::kRaftLog));
  });
  if (!s.ok()) CannotApply(entry, s.ToString());
  conf_state_ = conf_state;
  if (change.node_id() != member_id_) {
    if (change.type() == raftpb::CONF_CHANGE_REMOVE) {
      transport_->RemovePeer(change.node_id());
    } else {
      transport_->SetPeer(change.node_id(), PeerUrls(member));
    }
  }
  spdlog::info("membership change at index {}: {} {} ({})", entry.index(),
               change.type() == raftpb::CONF_CHANGE_REMOVE ? "removed" : "added",
               IdToHex(change.node_id()), member.name());
  if (context.proposer() == member_id_) completions_.emplace_back(context.id(), ApplyResult{});
  if (change.type() == raftpb::CONF_CHANGE_REMOVE && change.node_id() == member_id_) Leave();
}

void Member::Leave() {
  if (left_.exchange(true)) return;
  // etcd behaviour: a removed member stops; it may not serve or vote any more.
  spdlog::warn("{}; shutting down", kPeerRemovedMessage);
  // To the process, not this thread: every thread blocks SIGTERM, and main's sigwait takes it.
  kill(getpid(), SIGTERM);
}

void Member::MaybeCompactLog() {
  uint64_t applied = store_->Applied().index;
  if (applied - last_snapshot_index_ < config_.snapshot_count) return;
  last_snapshot_index_ = applied;
  driver_->Compact(applied, conf_state_, config_.snapshot_catchup_entries);
}

absl::Status Member::InstallSnapshot(const raftpb::Snapshot& snapshot) {
  // Exclusive: no read or apply sees the state while it is replaced.
  absl::MutexLock lock(&state_mu_);
  if (auto s = InstallStagedSnapshot(backend_.get(), snapshot); !s.ok()) return s;
  storage::MvccStore::Options store_options;
  store_options.sync_writes = false;
  applier_.reset();
  store_.reset();
  auto store = storage::MvccStore::Open(backend_.get(), store_options);
  if (!store.ok()) return store.status();
  store_ = *std::move(store);
  if (auto s = AttachStore(); !s.ok()) return s;
  watch_hub_->Reset(store_->CurrentRevision());
  if (auto s = membership_->Reload(); !s.ok()) return s;
  if (auto s = alarms_.Load(backend_.get()); !s.ok()) return s;
  for (const auto& m : membership_->List()) {
    if (m.id() != member_id_) transport_->SetPeer(m.id(), PeerUrls(m));
  }
  conf_state_ = snapshot.metadata().conf_state();
  last_snapshot_index_ = snapshot.metadata().index();
  applied_index_ = store_->Applied().index;
  {
    // Reads waiting for an index the snapshot covers are released by the apply thread, which
    // an empty batch wakes.
    absl::MutexLock apply_lock(&apply_mu_);
    apply_queue_.emplace_back();
  }
  spdlog::info("installed snapshot at index {} (revision {})", snapshot.metadata().index(),
               store_->CurrentRevision());
  return absl::OkStatus();
}

void Member::TimerLoop() {
  while (true) {
    {
      absl::MutexLock lock(&apply_mu_);
      if (apply_mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(20))) return;
    }
    waits_.Expire(absl::Now(), ErrTimeout());
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
    internalpb::InternalRequest request;
    request.mutable_lease_revoke()->set_id(id);
    Propose(std::move(request), DefaultDeadline(), [id](ApplyResult result) {
      if (!result.status.ok() && result.status.code() != absl::StatusCode::kNotFound) {
        spdlog::warn("revoking expired lease {:x}: {}", id, result.status.ToString());
      }
    });
  }
}

void Member::LeaseGrant(etcdserverpb::LeaseGrantRequest request, absl::Time deadline, Done done) {
  // etcd takes lease ids from its request id generator, kept positive.
  while (request.id() == 0) {
    request.set_id(static_cast<int64_t>(ids_->Next() & 0x7fffffffffffffffULL));
  }
  internalpb::InternalRequest internal;
  *internal.mutable_lease_grant() = std::move(request);
  Propose(std::move(internal), deadline, std::move(done));
}

void Member::LeaseRevoke(int64_t id, absl::Time deadline, Done done) {
  internalpb::InternalRequest internal;
  internal.mutable_lease_revoke()->set_id(id);
  Propose(std::move(internal), deadline, std::move(done));
}

void Member::LeaseRenew(int64_t id, absl::Time deadline, LeaseForwarder::RenewDone done) {
  lease_forwarder_->Renew(id, deadline, std::move(done));
}

void Member::LeaseTimeToLive(const etcdserverpb::LeaseTimeToLiveRequest& request,
                             absl::Time deadline, LeaseForwarder::TimeToLiveDone done) {
  lease_forwarder_->TimeToLive(request, deadline, std::move(done));
}

void Member::PublishAttributes() {
  if (lead_.load() == 0 || publish_in_flight_.load() || absl::Now() < next_publish_) return;
  auto self = membership_->Find(member_id_);
  if (!self.has_value()) return;  // not (yet) a member: a joiner before its snapshot
  std::vector<std::string> want = UrlStrings(config_.advertise_client_urls);
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
