#include "server/member.h"

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/etcd_errors.h"
#include "server/identity.h"
#include "server/peer/transport.h"
#include "server/snapshot_bridge.h"
#include "spdlog/spdlog.h"

namespace quorum::server {
namespace {

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

}  // namespace

Member::Member(const Config& config, LocalState state, absl::AnyInvocable<void()> removed,
               MemberEnvironment environment)
    : config_(config),
      metrics_(std::make_unique<MemberMetrics>(MetricsSources())),
      apply_stall_file_(ApplyStallFile()),
      member_id_(state.member_id),
      cluster_id_(state.cluster_id),
      removed_(std::move(removed)),
      environment_(std::move(environment)),
      backend_(std::move(state.backend)),
      store_(std::move(state.store)),
      log_(std::move(state.log)),
      membership_(std::move(state.membership)),
      lessor_(
          std::make_unique<Lessor>(Lessor::Options{.min_ttl_seconds = MinLeaseTtlSeconds(config)})),
      auth_(AuthStore::Options{.token_ttl = absl::Seconds(config.auth_token_ttl_seconds),
                               .bcrypt_cost = config.bcrypt_cost,
                               .applied_index = [this] { return applied_index_.load(); },
                               .user_from_client_cert = config.client_tls.client_cert_auth,
                               .jwt = config.jwt}),
      ids_(state.member_id, absl::Now()),
      joining_peers_(std::move(state.joining_peers)) {}

MemberMetrics::Sources Member::MetricsSources() {
  // Scrapes come only once Start has returned the member, when everything read here is built;
  // the driver and transport checks keep a scrape of a member built without them harmless.
  return MemberMetrics::Sources{
      .member_id = [this] { return member_id_; },
      .leader = [this] { return lead_.load(); },
      .commit_index = [this] { return driver_ ? driver_->CommitIndex() : uint64_t{0}; },
      .applied_index = [this] { return applied_index_.load(); },
      .pending_proposals = [this] { return static_cast<uint64_t>(waits_.PendingWrites()); },
      .db_size_bytes = [this] { return backend_->SizeBytes(); },
      .db_in_use_bytes = [this] { return backend_->LiveBytes(); },
      .keys =
          [this] {
            absl::ReaderMutexLock lock(&state_mu_);
            return static_cast<uint64_t>(store_->KeyCount());
          },
      .peer_traffic =
          [this] {
            return transport_ ? transport_->GetPeerTraffic()
                              : std::vector<PeerTransport::PeerTraffic>{};
          }};
}

absl::StatusOr<std::unique_ptr<Member>> Member::Start(const Config& config,
                                                      absl::AnyInvocable<void()> removed,
                                                      MemberEnvironment environment) {
  absl::StatusOr<LocalState> state = OpenDataDir(config);
  if (!state.ok()) return state.status();
  if (!environment.transport) environment.transport = PeerTransport::Start;
  std::unique_ptr<Member> member(
      new Member(config, *std::move(state), std::move(removed), std::move(environment)));
  if (auto s = member->Wire(); !s.ok()) return s;
  if (auto s = member->StartReplication(); !s.ok()) return s;
  return member;
}

absl::Status Member::Wire() {
  if (auto s = alarms_.Load(backend_.get()); !s.ok()) return s;
  if (auto s = auth_.Load(backend_.get()); !s.ok()) return s;
  auto initial = log_->InitialState();
  if (!initial.ok()) return initial.status();
  absl::MutexLock lock(&state_mu_);
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
  return AttachStore(initial->conf_state);
}

absl::Status Member::StartTransport() {
  PeerTransport::Options options;
  options.cluster_id = cluster_id_;
  options.self_id = member_id_;
  for (const auto& u : config_.listen_peer_urls) {
    options.listen.push_back(absl::StrCat(u.scheme, "://", u.HostPort()));
  }
  options.security = config_.peer_security;
  options.snapshot_dir = (std::filesystem::path(config_.data_dir) / "member" / "snap").string();
  lease_forwarder_ = std::make_unique<LeaseForwarder>(
      member_id_, lessor_.get(),
      LeaseForwarder::Callbacks{
          .leader = [this] { return lead_.load(); },
          .channel = [this](uint64_t id) -> std::shared_ptr<grpc::Channel> {
            return transport_ ? transport_->PeerChannel(id) : nullptr;
          },
          .after_applied =
              [this](absl::Time deadline, absl::AnyInvocable<void(absl::Status)> then) {
                WaitApplied(deadline, std::move(then));
              }});
  options.services.push_back(lease_forwarder_->service());
  options.is_removed = [this](uint64_t id) { return membership_->IsRemoved(id); };
  options.round_trip = [this](uint64_t peer, std::chrono::nanoseconds rtt) {
    metrics_->PeerRoundTrip(peer, std::chrono::duration<double>(rtt).count());
  };
  membership_peer_ = std::make_unique<MembershipPeerService>(MembershipPeerService::Callbacks{
      .promote = [this](uint64_t id, absl::Time deadline,
                        ProposalDone done) { PromoteAsLeader(id, deadline, std::move(done)); },
      .members =
          [this] {
            etcdserverpb::MemberListResponse response;
            FillHeader(response.mutable_header());
            for (auto& m : membership_->List()) *response.add_members() = std::move(m);
            return response;
          }});
  options.services.push_back(membership_peer_.get());
  hash_peer_ =
      std::make_unique<HashPeerService>([this](int64_t revision) { return HashKV(revision); });
  options.services.push_back(hash_peer_.get());
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
  auto transport = environment_.transport(options, std::move(callbacks));
  if (!transport.ok()) return transport.status();
  transport_ = *std::move(transport);
  std::vector<etcdserverpb::Member> peers = membership_->List();
  // A joining member before its first snapshot reaches the members the cluster listed.
  if (peers.empty()) peers = joining_peers_;
  for (const auto& m : peers) {
    if (m.id() != member_id_) transport_->SetPeer(m.id(), PeerUrls(m));
  }
  return absl::OkStatus();
}

absl::Status Member::StartReplication() {
  uint64_t applied = 0;
  raftpb::ConfState conf_state;
  {
    absl::ReaderMutexLock lock(&state_mu_);
    applied = store_->Applied().index;
    conf_state = applier_->conf_state();
  }
  applied_index_ = applied;
  auto snapshot = log_->Snapshot();
  last_snapshot_index_ = snapshot.ok() ? snapshot->metadata().index() : 0;
  if (auto s = StartTransport(); !s.ok()) return s;

  RaftDriver::Options options;
  options.id = member_id_;
  options.applied = applied;
  options.tick = std::chrono::milliseconds(config_.heartbeat_interval_ms);
  options.election_ticks =
      static_cast<int>(config_.election_timeout_ms / config_.heartbeat_interval_ms);
  options.sync = !config_.unsafe_no_fsync;
  options.seed = member_id_ ^ static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  options.campaign_at_start = conf_state.voters_size() == 1 && conf_state.voters(0) == member_id_;
  options.own_thread = environment_.raft_thread;
  RaftDriver::Callbacks callbacks;
  callbacks.apply = [this](std::vector<CommittedEntry> entries) {
    QueueForApply(std::move(entries));
  };
  callbacks.read_ready = [this](uint64_t index, const std::string& ctx) {
    waits_.ReadPointKnown(ctx, index);
    WakeApplyThread();
  };
  callbacks.leader_changed = [this](uint64_t lead, uint64_t term) {
    // etcd counts each change to a known leader; losing the leader is not one.
    if (lead != 0) metrics_->leader_changes().Inc();
    lead_ = lead;
    term_ = term;
    leader_history_.Record(lead, term);
    UpdateLessorRole(0);
    if (lead == 0) {
      spdlog::warn("no leader (term {})", term);
    } else {
      spdlog::info("leader is {} (term {})", IdToHex(lead), term);
    }
  };
  callbacks.install_snapshot = [this](const raftpb::Snapshot& s) { return InstallSnapshot(s); };
  timed_log_ = std::make_unique<FsyncTimedLog>(log_.get(), &metrics_->wal_fsync());
  auto driver =
      RaftDriver::Start(options, timed_log_.get(), transport_.get(), std::move(callbacks));
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

void Member::StepRaft(int ticks) { driver_->RunOnce(ticks); }

absl::Time Member::DefaultDeadline() const {
  return absl::Now() + absl::Seconds(5) +
         absl::Milliseconds(2 * static_cast<int64_t>(config_.election_timeout_ms));
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

}  // namespace quorum::server
