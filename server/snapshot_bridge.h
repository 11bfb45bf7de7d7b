// Glue between the peer transport's snapshot streams and storage's state snapshots: the reader a
// leader streams to a follower, and the installer a follower runs on a staged snapshot. Called
// by Member (transport callback and the driver's install hook).
#ifndef QUORUM_SERVER_SNAPSHOT_BRIDGE_H_
#define QUORUM_SERVER_SNAPSHOT_BRIDGE_H_

#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "raftpb/raft.pb.h"
#include "server/peer/transport.h"
#include "storage/backend.h"

namespace quorum::server {

// Captures the state machine now and returns `message` with its snapshot metadata moved to the
// captured applied index/term and membership (etcd does the same: the follower then continues
// from there), plus a reader over that state.
absl::StatusOr<std::pair<raftpb::Message, std::unique_ptr<SnapshotReader>>> OpenOutgoingSnapshot(
    storage::Backend* backend, const raftpb::Message& message);

// Replaces the state families with the snapshot staged at snapshot.data() (a path written by
// the transport). The caller reopens the MVCC store afterwards.
absl::Status InstallStagedSnapshot(storage::Backend* backend, const raftpb::Snapshot& snapshot);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_SNAPSHOT_BRIDGE_H_
