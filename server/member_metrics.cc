#include "server/member_metrics.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_format.h"
#include "server/metrics/process_metrics.h"

namespace quorum::server {
namespace {

// etcd's buckets for both disk histograms: 1 ms doubling up to 8.192 s.
std::vector<double> DiskBuckets() { return metrics::ExponentialBuckets(0.001, 2, 14); }

// etcd writes member ids in hexadecimal without leading zeros in its peer labels.
std::string PeerLabel(uint64_t id) { return absl::StrFormat("%x", id); }

}  // namespace

MemberMetrics::MemberMetrics(Sources sources) : sources_(std::move(sources)), grpc_(registry_) {
  using metrics::ExpositionWriter;
  using metrics::MetricType;
  const Sources& s = sources_;
  registry_.AddGaugeFunction("etcd_server_has_leader",
                             "1 while this member knows a leader of the cluster, else 0.",
                             [&s] { return s.leader() != 0 ? 1.0 : 0.0; });
  registry_.AddGaugeFunction("etcd_server_is_leader", "1 while this member is the leader, else 0.",
                             [&s] {
                               const uint64_t lead = s.leader();
                               return lead != 0 && lead == s.member_id() ? 1.0 : 0.0;
                             });
  leader_changes_ = &registry_.AddCounter("etcd_server_leader_changes_seen_total",
                                          "Times this member saw leadership pass to a new leader.");
  // etcd declares these two as gauges set to the Raft indexes; the same here, so that their
  // TYPE matches what etcd's tooling expects.
  registry_.AddGaugeFunction("etcd_server_proposals_committed_total",
                             "Raft commit index: proposals committed by the cluster.",
                             [&s] { return static_cast<double>(s.commit_index()); });
  registry_.AddGaugeFunction("etcd_server_proposals_applied_total",
                             "Applied index: committed proposals this member has applied.",
                             [&s] { return static_cast<double>(s.applied_index()); });
  registry_.AddGaugeFunction("etcd_server_proposals_pending",
                             "Proposals of this member waiting to be committed and applied.",
                             [&s] { return static_cast<double>(s.pending_proposals()); });
  proposals_failed_ = &registry_.AddCounter(
      "etcd_server_proposals_failed_total",
      "Proposals of this member that Raft refused (no leader, overload) or that timed out.");
  wal_fsync_ = &registry_.AddHistogram(
      "etcd_disk_wal_fsync_duration_seconds",
      "Seconds taken by each synced write of the Raft log (entries and hard state).",
      DiskBuckets());
  backend_commit_ = &registry_.AddHistogram(
      "etcd_disk_backend_commit_duration_seconds",
      "Seconds taken to apply and write each batch of committed entries to the store.",
      DiskBuckets());
  registry_.AddGaugeFunction("etcd_mvcc_db_total_size_in_bytes",
                             "Bytes the database occupies on disk and in memtables.",
                             [&s] { return static_cast<double>(s.db_size_bytes()); });
  registry_.AddGaugeFunction("etcd_mvcc_db_total_size_in_use_in_bytes",
                             "Bytes of the database holding live data (an estimate).",
                             [&s] { return static_cast<double>(s.db_in_use_bytes()); });
  registry_.AddGaugeFunction("etcd_debugging_mvcc_keys_total",
                             "Keys in the store that are not deleted.",
                             [&s] { return static_cast<double>(s.keys()); });
  // etcd's buckets: 0.1 ms doubling up to 3.2768 s.
  peer_round_trip_ =
      &registry_.AddHistogramFamily("etcd_network_peer_round_trip_time_seconds",
                                    "Round-trip times of probes to each peer, in seconds.", {"To"},
                                    metrics::ExponentialBuckets(0.0001, 2, 16));
  registry_.AddCollector([&s](ExpositionWriter& out) {
    std::vector<PeerTransport::PeerTraffic> peers = s.peer_traffic();
    if (peers.empty()) return;
    std::sort(peers.begin(), peers.end(),
              [](const auto& a, const auto& b) { return a.peer < b.peer; });
    out.Header("etcd_network_peer_sent_bytes_total", "Bytes of Raft messages sent to each peer.",
               MetricType::kCounter);
    for (const auto& p : peers) {
      const std::string id = PeerLabel(p.peer);
      const metrics::Label labels[] = {{"To", id}};
      out.Sample("etcd_network_peer_sent_bytes_total", labels, p.sent_bytes);
    }
    out.Header("etcd_network_peer_received_bytes_total",
               "Bytes of Raft messages received from each peer.", MetricType::kCounter);
    for (const auto& p : peers) {
      const std::string id = PeerLabel(p.peer);
      const metrics::Label labels[] = {{"From", id}};
      out.Sample("etcd_network_peer_received_bytes_total", labels, p.received_bytes);
    }
  });
  metrics::AddProcessMetrics(registry_);
}

void MemberMetrics::PeerRoundTrip(uint64_t peer, double seconds) {
  // Rare (one probe per peer every few seconds): the family's lookup lock costs nothing here.
  peer_round_trip_->With({PeerLabel(peer)}).Observe(seconds);
}

absl::Status FsyncTimedLog::Save(const std::optional<raftpb::Snapshot>& snapshot,
                                 const std::vector<raftpb::Entry>& entries,
                                 const std::optional<raftpb::HardState>& hard_state, bool sync) {
  const bool writes = snapshot.has_value() || !entries.empty() || hard_state.has_value();
  if (!sync || !writes) return log_->Save(snapshot, entries, hard_state, sync);
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = log_->Save(snapshot, entries, hard_state, sync);
  fsync_->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return status;
}

}  // namespace quorum::server
