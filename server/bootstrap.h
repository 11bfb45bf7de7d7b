// Opening a member's data dir, the first step of Member::Start: the directory checked, the
// RocksDB backend with the MVCC store, the Raft log and the membership records opened, and the
// member's identity established. A new data dir either bootstraps a new cluster from
// --initial-cluster (every founder derives the same ids and first configuration without
// talking) or joins an existing one (asking its members for the ids); an existing data dir must
// belong to this --name and cluster token.
#ifndef QUORUM_SERVER_BOOTSTRAP_H_
#define QUORUM_SERVER_BOOTSTRAP_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "etcdserverpb/rpc.pb.h"
#include "server/config.h"
#include "server/membership.h"
#include "storage/backend.h"
#include "storage/mvcc_store.h"
#include "storage/raft_log_store.h"

namespace quorum::server {

struct LocalState {
  std::unique_ptr<storage::Backend> backend;
  std::unique_ptr<storage::MvccStore> store;
  std::unique_ptr<storage::RaftLogStore> log;
  std::unique_ptr<Membership> membership;
  uint64_t member_id = 0;
  uint64_t cluster_id = 0;
  // A joining member's peers, as the cluster listed them, until its first snapshot.
  std::vector<etcdserverpb::Member> joining_peers;
};

// Opens (or creates and bootstraps) the data dir. Errors say what is wrong: a path that cannot
// be written, another member's or another cluster's data dir, a joining member the cluster does
// not know.
absl::StatusOr<LocalState> OpenDataDir(const Config& config);

// Opens the MVCC store on `backend`. The Raft log's synced appends make every applied entry
// durable (one WAL for both), so the store itself need not fsync; a crash replays the log from
// the applied index.
absl::StatusOr<std::unique_ptr<storage::MvccStore>> OpenStore(storage::Backend* backend);

// The members named by --initial-cluster, with the ids every member derives for them.
std::vector<etcdserverpb::Member> InitialMembers(const Config& config);

// The peer URLs of --initial-cluster's other members, which a joining member asks.
std::vector<std::string> JoinPeerUrls(const Config& config);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_BOOTSTRAP_H_
