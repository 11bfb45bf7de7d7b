// Consistency checks between members, as etcd 3.4 makes them:
//   --experimental-initial-corrupt-check: at start, before serving clients, this member's
//     HashKV at its revision is compared with every peer's at that revision; a peer with the
//     same compaction point and another hash means this member's data is not the cluster's, and
//     it refuses to start ("<id> found data inconsistency with peers").
//   --experimental-corrupt-check-time: every period the leader hashes its store, reaches a
//     read point, hashes again, and compares with every peer; a mismatch raises the CORRUPT
//     alarm through the log, after which writes fail with "etcdserver: corrupt cluster".
// Peers are asked on their peer URLs (the HashPeer service) with the peer TLS settings.
#ifndef QUORUM_SERVER_CORRUPTION_CHECK_H_
#define QUORUM_SERVER_CORRUPTION_CHECK_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.pb.h"
#include "internalpb/peer.grpc.pb.h"
#include "server/peer/tls_credentials.h"

namespace quorum::server {

class MemberApi;

// The HashPeer service on a member's peer server.
class HashPeerService final : public internalpb::HashPeer::CallbackService {
 public:
  using HashKv = std::function<absl::StatusOr<etcdserverpb::HashKVResponse>(int64_t revision)>;
  explicit HashPeerService(HashKv hash_kv) : hash_kv_(std::move(hash_kv)) {}

  grpc::ServerUnaryReactor* HashKV(grpc::CallbackServerContext* context,
                                   const etcdserverpb::HashKVRequest* request,
                                   etcdserverpb::HashKVResponse* response) override;

 private:
  const HashKv hash_kv_;
};

// One peer's answer to HashKV at a revision (or why there is none).
struct PeerHash {
  uint64_t id = 0;
  absl::StatusOr<etcdserverpb::HashKVResponse> answer;
};

// Asks every member but `self` for its HashKV at `revision`, each on its peer URLs in turn, the
// members side by side, all within `deadline`.
std::vector<PeerHash> FetchPeerHashes(const std::vector<etcdserverpb::Member>& members,
                                      uint64_t self, int64_t revision, absl::Time deadline,
                                      const PeerSecurity& security);

// The check at start. OK when no peer with the same compaction point disagrees (peers that do
// not answer are only logged, as etcd does).
absl::Status CheckInitialHash(MemberApi* member, const PeerSecurity& security);

// The leader's periodic check, on a thread of its own.
class CorruptionMonitor {
 public:
  CorruptionMonitor(MemberApi* member, PeerSecurity security, absl::Duration interval);
  ~CorruptionMonitor();  // Stop()s

  // One check, if this member leads. Returns the ids found corrupt (this member's own id when
  // its hash moved without a write).
  std::vector<uint64_t> CheckOnce();

  void Start();
  void Stop();

 private:
  MemberApi* const member_;
  const PeerSecurity security_;
  const absl::Duration interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_CORRUPTION_CHECK_H_
