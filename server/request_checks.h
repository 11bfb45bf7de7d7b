// The checks etcd makes on a KV request before it is proposed: empty keys, value/lease given with
// ignore_value/ignore_lease, too many txn operations, and a txn writing one key twice. Called by
// the gRPC handlers on the member that receives the request, so a bad request costs no log entry.
#ifndef QUORUM_SERVER_REQUEST_CHECKS_H_
#define QUORUM_SERVER_REQUEST_CHECKS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "etcdserverpb/rpc.pb.h"

namespace quorum::server {

absl::Status CheckRangeRequest(const etcdserverpb::RangeRequest& request);
absl::Status CheckPutRequest(const etcdserverpb::PutRequest& request);
absl::Status CheckDeleteRangeRequest(const etcdserverpb::DeleteRangeRequest& request);

// Checks operation counts (max_txn_ops per level, as etcd counts them), keys, nested requests,
// and that no key is written twice on one path through the txn (etcd's duplicate-key rule: a
// put may not overlap another put or a delete range; the success and failure branches of a
// nested txn may write the same key because only one of them runs).
absl::Status CheckTxnRequest(const etcdserverpb::TxnRequest& request, uint64_t max_txn_ops);

// etcd's rule for which txns need no consensus: every success and failure op is a range. Such
// a txn is served from the local store after a read barrier.
bool IsReadOnlyTxn(const etcdserverpb::TxnRequest& request);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_REQUEST_CHECKS_H_
