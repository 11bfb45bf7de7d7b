// MemberMetrics: what a member serves on /metrics, under etcd 3.4's metric names, types and
// histogram buckets, so that etcd's dashboards and alerts work on quorum unchanged; plus the
// process_* and grpc_server_* families etcd serves beside them.
//
// Use: the Member builds one at startup (Member::metrics()); the HTTP face calls Render() for
// each scrape and serves the text as "text/plain; version=0.0.4". Render() is thread-safe and
// may run concurrently with everything else; it reads the member's own state (commit and
// applied index, leader, database size, key count, peer traffic) through Sources at that
// moment, so those cost nothing between scrapes. What must be counted as it happens (leader
// changes, failed proposals, fsync and commit latencies, gRPC calls) is updated lock-free by
// the member's threads through the members below.
//
// Where each value comes from:
//   etcd_server_has_leader, _is_leader           gauges: the leader the member loop last saw
//   etcd_server_leader_changes_seen_total        counter: each change to a known leader
//   etcd_server_proposals_committed_total        gauge (as in etcd): the Raft commit index
//   etcd_server_proposals_applied_total          gauge (as in etcd): the applied index
//   etcd_server_proposals_pending                gauge: proposals of this member awaiting apply
//   etcd_server_proposals_failed_total           counter: proposals Raft refused or that timed out
//   etcd_disk_wal_fsync_duration_seconds         histogram: each synced Raft log write
//   etcd_disk_backend_commit_duration_seconds    histogram: each apply batch written to the store
//   etcd_mvcc_db_total_size_in_bytes             gauge: RocksDB files and memtables
//   etcd_mvcc_db_total_size_in_use_in_bytes      gauge: RocksDB's estimate of live data
//   etcd_debugging_mvcc_keys_total               gauge (as in etcd): live keys
//   etcd_network_peer_round_trip_time_seconds{To} histogram: a probe of each connected peer
//                                                every PeerTransport::Options::probe_interval
//   etcd_network_peer_sent_bytes_total{To}       counter: Raft message bytes sent to a peer
//   etcd_network_peer_received_bytes_total{From} counter: Raft message bytes from a peer
//   grpc_server_started_total, _handled_total    counters: client API calls (grpc_metrics.h)
//   process_*                                    from /proc/self (process_metrics.h)
#ifndef QUORUM_SERVER_MEMBER_METRICS_H_
#define QUORUM_SERVER_MEMBER_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raft/ready_loop.h"
#include "server/metrics/grpc_metrics.h"
#include "server/metrics/registry.h"
#include "server/peer/transport.h"

namespace quorum::server {

class MemberMetrics {
 public:
  // Read at each scrape, on the scraping thread; each must be quick and thread-safe.
  struct Sources {
    std::function<uint64_t()> member_id;
    std::function<uint64_t()> leader;  // 0: none known
    std::function<uint64_t()> commit_index;
    std::function<uint64_t()> applied_index;
    std::function<uint64_t()> pending_proposals;
    std::function<uint64_t()> db_size_bytes;
    std::function<uint64_t()> db_in_use_bytes;
    std::function<uint64_t()> keys;
    std::function<std::vector<PeerTransport::PeerTraffic>()> peer_traffic;
  };

  explicit MemberMetrics(Sources sources);

  // The whole exposition text of this member (and process).
  std::string Render() const { return registry_.Render(); }

  metrics::Registry& registry() { return registry_; }
  metrics::GrpcServerMetrics& grpc() { return grpc_; }

  // Updated by the member's threads.
  metrics::Counter& leader_changes() { return *leader_changes_; }
  metrics::Counter& proposals_failed() { return *proposals_failed_; }
  metrics::Histogram& wal_fsync() { return *wal_fsync_; }
  metrics::Histogram& backend_commit() { return *backend_commit_; }
  // A round trip to `peer` measured by the transport's probe.
  void PeerRoundTrip(uint64_t peer, double seconds);

 private:
  const Sources sources_;
  metrics::Registry registry_;
  metrics::Counter* leader_changes_ = nullptr;
  metrics::Counter* proposals_failed_ = nullptr;
  metrics::Histogram* wal_fsync_ = nullptr;
  metrics::Histogram* backend_commit_ = nullptr;
  metrics::Family<metrics::Histogram>* peer_round_trip_ = nullptr;
  metrics::GrpcServerMetrics grpc_;
};

// The member loop's durable log with each synced write timed into
// etcd_disk_wal_fsync_duration_seconds: etcd times the fsync of its WAL, and the synced RocksDB
// write of a Ready is where our log's fsync happens. Forwards everything else untouched.
class FsyncTimedLog final : public raft::DurableLog {
 public:
  // Both must outlive this object.
  FsyncTimedLog(raft::DurableLog* log, metrics::Histogram* fsync) : log_(log), fsync_(fsync) {}

  absl::StatusOr<raft::PersistedState> InitialState() const override {
    return log_->InitialState();
  }
  absl::StatusOr<std::vector<raftpb::Entry>> Entries(uint64_t lo, uint64_t hi,
                                                     uint64_t max_bytes) const override {
    return log_->Entries(lo, hi, max_bytes);
  }
  absl::StatusOr<uint64_t> Term(uint64_t index) const override { return log_->Term(index); }
  absl::StatusOr<uint64_t> FirstIndex() const override { return log_->FirstIndex(); }
  absl::StatusOr<uint64_t> LastIndex() const override { return log_->LastIndex(); }
  absl::StatusOr<raftpb::Snapshot> Snapshot() const override { return log_->Snapshot(); }
  absl::Status Save(const std::optional<raftpb::Snapshot>& snapshot,
                    const std::vector<raftpb::Entry>& entries,
                    const std::optional<raftpb::HardState>& hard_state, bool sync) override;
  absl::Status CreateSnapshot(uint64_t index, const raftpb::ConfState& conf_state,
                              uint64_t compact_to) override {
    return log_->CreateSnapshot(index, conf_state, compact_to);
  }

 private:
  raft::DurableLog* const log_;
  metrics::Histogram* const fsync_;
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_MEMBER_METRICS_H_
