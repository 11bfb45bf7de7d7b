#include "server/bootstrap.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "server/identity.h"
#include "server/membership_peer.h"
#include "server/snapshot_bridge.h"
#include "spdlog/spdlog.h"
#include "storage/schema.h"
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

absl::Status CheckIdentity(const Config& config, const internalpb::MemberIdentity& identity) {
  // etcd behaviour: once a data dir exists, the bootstrap flags are ignored; but a data dir of
  // another member or another cluster is refused rather than joined by mistake.
  if (identity.name() != config.name) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir \"", config.data_dir, "\" belongs to member \"", identity.name(), "\" (",
        IdToHex(identity.member_id()), "), not to --name \"", config.name, "\""));
  }
  if (identity.cluster_token() != config.initial_cluster_token) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir \"", config.data_dir, "\" belongs to cluster ", IdToHex(identity.cluster_id()),
        " bootstrapped with --initial-cluster-token \"", identity.cluster_token(), "\", not \"",
        config.initial_cluster_token, "\""));
  }
  return absl::OkStatus();
}

// Joining, after MemberAdd: as etcd, ask the members for the cluster id and for the id the
// cluster gave this member (found by its peer URLs). The leader then sends the state and the
// membership in a snapshot; until then the member knows its peers from that answer.
absl::Status Join(const Config& config, LocalState* state) {
  std::vector<std::string> own_urls;
  for (const auto& u : config.initial_advertise_peer_urls) own_urls.push_back(u.original);
  std::sort(own_urls.begin(), own_urls.end());
  auto cluster =
      FetchMembers(JoinPeerUrls(config), absl::Now() + absl::Seconds(10), config.peer_security);
  if (!cluster.ok()) return cluster.status();
  state->joining_peers.assign(cluster->members().begin(), cluster->members().end());
  for (const auto& m : cluster->members()) {
    std::vector<std::string> urls = PeerUrls(m);
    std::sort(urls.begin(), urls.end());
    if (urls == own_urls) state->member_id = m.id();
  }
  if (state->member_id == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no member of cluster ", IdToHex(cluster->header().cluster_id()), " has peer URLs ",
        absl::StrJoin(own_urls, ","), "; add this member first (etcdctl member add)"));
  }
  state->cluster_id = cluster->header().cluster_id();
  internalpb::MemberIdentity id;
  id.set_name(config.name);
  id.set_cluster_token(config.initial_cluster_token);
  id.set_cluster_id(state->cluster_id);
  id.set_member_id(state->member_id);
  if (auto s = state->membership->SaveIdentity(id); !s.ok()) return s;
  spdlog::info("member {} ({}) joining cluster {}", config.name, IdToHex(state->member_id),
               IdToHex(state->cluster_id));
  return absl::OkStatus();
}

absl::Status Bootstrap(const Config& config, LocalState* state) {
  std::vector<etcdserverpb::Member> founders = InitialMembers(config);
  std::vector<uint64_t> founder_ids;
  for (const auto& m : founders) {
    if (m.name() == config.name) state->member_id = m.id();
    founder_ids.push_back(m.id());
  }
  state->cluster_id = ComputeClusterId(founder_ids);
  internalpb::MemberIdentity id;
  id.set_name(config.name);
  id.set_cluster_token(config.initial_cluster_token);
  id.set_cluster_id(state->cluster_id);
  id.set_member_id(state->member_id);

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
  if (auto s = state->log->Save(snapshot, {}, hard_state, /*sync=*/true); !s.ok()) return s;
  storage::RecordChanges records;
  records.PutConfState(snapshot.metadata().conf_state());
  if (auto s = state->store->MarkApplied({1, 1}, records); !s.ok()) return s;
  if (auto s = state->membership->Bootstrap(id, founders); !s.ok()) return s;
  spdlog::info("bootstrapped member {} ({}) of new cluster {} with {} members", config.name,
               IdToHex(state->member_id), IdToHex(state->cluster_id), founders.size());
  return absl::OkStatus();
}

}  // namespace

std::vector<etcdserverpb::Member> InitialMembers(const Config& config) {
  // Client URLs are not in --initial-cluster: each member publishes its own through the log,
  // so that every member's records are the same.
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

std::vector<std::string> JoinPeerUrls(const Config& config) {
  std::vector<std::string> urls;
  for (const auto& m : config.initial_cluster) {
    if (m.name == config.name) continue;
    for (const auto& u : m.peer_urls) urls.push_back(u.original);
  }
  return urls;
}

absl::StatusOr<std::unique_ptr<storage::MvccStore>> OpenStore(storage::Backend* backend) {
  storage::MvccStore::Options options;
  options.sync_writes = false;
  return storage::MvccStore::Open(backend, options);
}

absl::StatusOr<LocalState> OpenDataDir(const Config& config) {
  if (auto s = PrepareDataDir(config.data_dir); !s.ok()) return s;
  LocalState state;
  storage::Backend::Options options;
  options.path = (std::filesystem::path(config.data_dir) / "member" / "db").string();
  options.sync_writes = !config.unsafe_no_fsync;
  auto backend = storage::Backend::Open(options);
  if (!backend.ok()) return backend.status();
  state.backend = *std::move(backend);

  // A crash in the middle of installing a leader's snapshot leaves two states mixed. The
  // snapshot is still staged on disk (its file goes only once the install is durable), so the
  // install is done again from it before anything reads the state.
  auto interrupted = storage::StateInstaller::Interrupted(state.backend.get());
  if (!interrupted.ok()) return interrupted.status();
  if (interrupted->has_value()) {
    const raftpb::Snapshot& snapshot = **interrupted;
    std::error_code ec;
    if (snapshot.data().empty() || !std::filesystem::exists(snapshot.data(), ec)) {
      return absl::DataLossError(absl::StrCat(
          "the install of the snapshot at index ", snapshot.metadata().index(),
          " was interrupted and its staged file '", snapshot.data(),
          "' is gone: this member's state cannot be rebuilt; remove it from the cluster and add "
          "it back with an empty data dir"));
    }
    spdlog::warn("finishing the install of the snapshot at index {} that a crash interrupted",
                 snapshot.metadata().index());
    if (auto s = InstallStagedSnapshot(state.backend.get(), snapshot); !s.ok()) return s;
  }

  auto store = OpenStore(state.backend.get());
  if (!store.ok()) return store.status();
  state.store = *std::move(store);
  auto log = storage::RaftLogStore::Open(state.backend.get());
  if (!log.ok()) return log.status();
  state.log = *std::move(log);
  auto membership = Membership::Load(state.backend.get());
  if (!membership.ok()) return membership.status();
  state.membership = *std::move(membership);

  std::optional<internalpb::MemberIdentity> identity = state.membership->identity();
  if (!identity.has_value()) {
    absl::Status s = config.initial_cluster_state == "existing" ? Join(config, &state)
                                                                : Bootstrap(config, &state);
    if (!s.ok()) return s;
    return state;
  }
  if (auto s = CheckIdentity(config, *identity); !s.ok()) return s;
  state.member_id = identity->member_id();
  state.cluster_id = identity->cluster_id();
  if (state.membership->List().empty()) {
    // A joiner restarted before the leader's snapshot reached it: its peers, again.
    auto cluster =
        FetchMembers(JoinPeerUrls(config), absl::Now() + absl::Seconds(10), config.peer_security);
    if (!cluster.ok()) return cluster.status();
    state.joining_peers.assign(cluster->members().begin(), cluster->members().end());
  }
  return state;
}

}  // namespace quorum::server
