// etcd's error table: every rejection a client can see, with etcd's gRPC code and exact message.
// Clients branch on these strings (clientv3 maps messages back to typed errors), so they are part
// of the wire contract. Inner layers return these absl::Status values; the gRPC edge converts them
// with ToGrpcStatus() and nothing else invents messages.
#ifndef QUORUM_PROTO_ETCD_ERRORS_H_
#define QUORUM_PROTO_ETCD_ERRORS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace quorum {

// KV request checks.
absl::Status ErrEmptyKey();
absl::Status ErrKeyNotFound();
absl::Status ErrValueProvided();
absl::Status ErrLeaseProvided();
absl::Status ErrTooManyOps();
absl::Status ErrDuplicateKey();
absl::Status ErrRequestTooLarge();
absl::Status ErrTooManyRequests();

// MVCC.
absl::Status ErrCompacted();
absl::Status ErrFutureRev();
absl::Status ErrNoSpace();

// Leases.
absl::Status ErrLeaseNotFound();
absl::Status ErrLeaseExist();
absl::Status ErrLeaseTtlTooLarge();

// Watch.
absl::Status ErrWatchCanceled();

// Membership.
absl::Status ErrMemberExist();
absl::Status ErrPeerUrlExist();
absl::Status ErrMemberNotEnoughStarted();
absl::Status ErrMemberBadUrls();
absl::Status ErrMemberNotFound();
absl::Status ErrMemberNotLearner();
absl::Status ErrLearnerNotReady();
absl::Status ErrTooManyLearners();

// Auth.
absl::Status ErrAuthNotEnabled();
absl::Status ErrPermissionDenied();
absl::Status ErrInvalidAuthToken();
absl::Status ErrRootUserNotExist();
absl::Status ErrRootRoleNotExist();
absl::Status ErrUserAlreadyExist();
absl::Status ErrUserEmpty();
absl::Status ErrUserNotFound();
absl::Status ErrRoleAlreadyExist();
absl::Status ErrRoleNotFound();
absl::Status ErrRoleEmpty();
absl::Status ErrAuthFailed();
absl::Status ErrRoleNotGranted();
absl::Status ErrPermissionNotGranted();
absl::Status ErrInvalidAuthMgmt();
absl::Status ErrAuthOldRevision();
// etcd returns this one as a plain error (gRPC code UNKNOWN).
absl::Status ErrNoPasswordUser();

// Cluster health and Raft.
absl::Status ErrNoLeader();
absl::Status ErrNotLeader();
absl::Status ErrLeaderChanged();
absl::Status ErrStopped();
absl::Status ErrTimeout();
absl::Status ErrTimeoutDueToLeaderFail();
absl::Status ErrTimeoutDueToConnectionLost();
absl::Status ErrTimeoutWaitAppliedIndex();
absl::Status ErrUnhealthy();
absl::Status ErrCorrupt();
absl::Status ErrNotSupportedForLearner();
absl::Status ErrBadLeaderTransferee();

// Election service (etcd returns these as plain errors: gRPC code UNKNOWN).
absl::Status ErrElectionNotLeader();
absl::Status ErrElectionNoLeader();
absl::Status ErrMissingLeaderKey();

// Answer for an API method this member does not implement yet.
absl::Status ErrUnimplemented(const char* method);

// The one conversion from an inner status to what goes on the wire. absl and gRPC share code
// numbers, so the code passes through unchanged and the message is kept verbatim.
grpc::Status ToGrpcStatus(const absl::Status& status);
// The reverse, for callers of gRPC (clients, forwarded calls): code and message unchanged.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace quorum

#endif  // QUORUM_PROTO_ETCD_ERRORS_H_
