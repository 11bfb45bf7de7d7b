// One quorumd member: owns the data directory (RocksDB backend, MVCC store), the ordered log of
// writes and the apply thread, and answers the requests the gRPC services hand it. Services call
// it from gRPC's threads; completions run on the apply thread and must not block.
//
// Writes go through one ordered log: Propose() appends the request, the apply thread applies
// entries strictly in order, each entry's change and its log position in one synced RocksDB
// batch, and only then completes the proposer's callback. A restart resumes after the last
// applied position, so an acknowledged write is never lost and never applied twice.
#ifndef QUORUM_SERVER_MEMBER_H_
#define QUORUM_SERVER_MEMBER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.pb.h"
#include "internalpb/internal.pb.h"
#include "server/applier.h"
#include "server/config.h"
#include "storage/backend.h"
#include "storage/mvcc_store.h"

namespace quorum::server {

// The etcd API version this member implements; clients gate features on it.
inline constexpr char kEtcdApiVersion[] = "3.4.0";
// quorum's own version, reported beside it.
inline constexpr char kQuorumVersion[] = "0.1.0";

class Member {
 public:
  using Done = absl::AnyInvocable<void(ApplyResult)>;

  // Opens (or creates) the data dir and starts the apply thread.
  static absl::StatusOr<std::unique_ptr<Member>> Start(const Config& config);
  ~Member();

  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  // Queues a write. `done` runs exactly once: with the applied result after the entry is durable
  // and applied, or at once with etcd's error when the request is refused (too large, NOSPACE).
  void Propose(internalpb::InternalRequest request, Done done);

  // Reads the local MVCC store. Every write acknowledged before the call is visible.
  absl::StatusOr<etcdserverpb::RangeResponse> Range(const etcdserverpb::RangeRequest& request);

  // Answers a txn whose operations are all reads (MvccStore::IsReadOnlyTxn) from the local
  // store without a log entry, as etcd does.
  absl::StatusOr<etcdserverpb::TxnResponse> ReadTxn(const etcdserverpb::TxnRequest& request);

  // Sets cluster_id, member_id and raft_term; the revision comes from the store's answer.
  void FillHeader(etcdserverpb::ResponseHeader* header) const;
  // A header for answers that carry no store result (the current revision).
  etcdserverpb::ResponseHeader CurrentHeader() const;

  etcdserverpb::StatusResponse Status() const;
  absl::StatusOr<etcdserverpb::HashKVResponse> HashKV(int64_t revision) const;
  absl::Status Defragment();
  std::vector<etcdserverpb::AlarmMember> Alarms() const { return alarms_.List(); }

  uint64_t member_id() const { return member_id_; }
  uint64_t cluster_id() const { return cluster_id_; }
  const Config& config() const { return config_; }

 private:
  struct Pending {
    internalpb::InternalRequest request;
    Done done;
  };

  explicit Member(const Config& config);
  void ApplyLoop();
  // etcd's quota check: a write that would grow the database past the quota raises NOSPACE.
  absl::Status CheckQuota(const internalpb::InternalRequest& request);

  const Config config_;
  uint64_t member_id_ = 0;
  uint64_t cluster_id_ = 0;
  // The single member is its own leader for its whole life: one term.
  static constexpr uint64_t kTerm = 1;

  std::unique_ptr<storage::Backend> backend_;
  std::unique_ptr<storage::MvccStore> store_;
  AlarmSet alarms_;
  std::unique_ptr<Applier> applier_;

  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_request_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::thread apply_thread_;
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_MEMBER_H_
