#include "proto/etcd_errors.h"

#include <string>

namespace quorum {
namespace {

absl::Status Make(absl::StatusCode code, const char* message) {
  return absl::Status(code, message);
}

using C = absl::StatusCode;

}  // namespace

absl::Status ErrEmptyKey() { return Make(C::kInvalidArgument, "etcdserver: key is not provided"); }
absl::Status ErrKeyNotFound() { return Make(C::kInvalidArgument, "etcdserver: key not found"); }
absl::Status ErrValueProvided() {
  return Make(C::kInvalidArgument, "etcdserver: value is provided");
}
absl::Status ErrLeaseProvided() {
  return Make(C::kInvalidArgument, "etcdserver: lease is provided");
}
absl::Status ErrTooManyOps() {
  return Make(C::kInvalidArgument, "etcdserver: too many operations in txn request");
}
absl::Status ErrDuplicateKey() {
  return Make(C::kInvalidArgument, "etcdserver: duplicate key given in txn request");
}
absl::Status ErrRequestTooLarge() {
  return Make(C::kInvalidArgument, "etcdserver: request is too large");
}
absl::Status ErrTooManyRequests() {
  return Make(C::kResourceExhausted, "etcdserver: too many requests");
}

absl::Status ErrCompacted() {
  return Make(C::kOutOfRange, "etcdserver: mvcc: required revision has been compacted");
}
absl::Status ErrFutureRev() {
  return Make(C::kOutOfRange, "etcdserver: mvcc: required revision is a future revision");
}
absl::Status ErrNoSpace() {
  return Make(C::kResourceExhausted, "etcdserver: mvcc: database space exceeded");
}

absl::Status ErrLeaseNotFound() {
  return Make(C::kNotFound, "etcdserver: requested lease not found");
}
absl::Status ErrLeaseExist() {
  return Make(C::kFailedPrecondition, "etcdserver: lease already exists");
}
absl::Status ErrLeaseTtlTooLarge() {
  return Make(C::kOutOfRange, "etcdserver: too large lease TTL");
}

absl::Status ErrWatchCanceled() { return Make(C::kCancelled, "etcdserver: watch canceled"); }

absl::Status ErrMemberExist() {
  return Make(C::kFailedPrecondition, "etcdserver: member ID already exist");
}
absl::Status ErrPeerUrlExist() {
  return Make(C::kFailedPrecondition, "etcdserver: Peer URLs already exists");
}
absl::Status ErrMemberNotEnoughStarted() {
  return Make(C::kFailedPrecondition,
              "etcdserver: re-configuration failed due to not enough started members");
}
absl::Status ErrMemberBadUrls() {
  return Make(C::kInvalidArgument, "etcdserver: given member URLs are invalid");
}
absl::Status ErrMemberNotFound() { return Make(C::kNotFound, "etcdserver: member not found"); }
absl::Status ErrMemberNotLearner() {
  return Make(C::kFailedPrecondition, "etcdserver: can only promote a learner member");
}
absl::Status ErrLearnerNotReady() {
  return Make(C::kFailedPrecondition,
              "etcdserver: can only promote a learner member which is in sync with leader");
}
absl::Status ErrTooManyLearners() {
  return Make(C::kFailedPrecondition, "etcdserver: too many learner members in cluster");
}

absl::Status ErrAuthNotEnabled() {
  return Make(C::kFailedPrecondition, "etcdserver: authentication is not enabled");
}
absl::Status ErrPermissionDenied() {
  return Make(C::kPermissionDenied, "etcdserver: permission denied");
}
absl::Status ErrInvalidAuthToken() {
  return Make(C::kUnauthenticated, "etcdserver: invalid auth token");
}
absl::Status ErrRootUserNotExist() {
  return Make(C::kFailedPrecondition, "etcdserver: root user does not exist");
}
absl::Status ErrRootRoleNotExist() {
  return Make(C::kFailedPrecondition, "etcdserver: root user does not have root role");
}
absl::Status ErrUserAlreadyExist() {
  return Make(C::kFailedPrecondition, "etcdserver: user name already exists");
}
absl::Status ErrUserEmpty() { return Make(C::kInvalidArgument, "etcdserver: user name is empty"); }
absl::Status ErrUserNotFound() {
  return Make(C::kFailedPrecondition, "etcdserver: user name not found");
}
absl::Status ErrRoleAlreadyExist() {
  return Make(C::kFailedPrecondition, "etcdserver: role name already exists");
}
absl::Status ErrRoleNotFound() {
  return Make(C::kFailedPrecondition, "etcdserver: role name not found");
}
absl::Status ErrRoleEmpty() { return Make(C::kInvalidArgument, "etcdserver: role name is empty"); }
absl::Status ErrAuthFailed() {
  return Make(C::kInvalidArgument,
              "etcdserver: authentication failed, invalid user ID or password");
}
absl::Status ErrRoleNotGranted() {
  return Make(C::kFailedPrecondition, "etcdserver: role is not granted to the user");
}
absl::Status ErrPermissionNotGranted() {
  return Make(C::kFailedPrecondition, "etcdserver: permission is not granted to the role");
}
absl::Status ErrInvalidAuthMgmt() {
  return Make(C::kInvalidArgument, "etcdserver: invalid auth management");
}
absl::Status ErrNoPasswordUser() {
  return Make(C::kUnknown, "auth: authentication failed, password was given for no password user");
}
absl::Status ErrAuthOldRevision() {
  return Make(C::kInvalidArgument, "etcdserver: revision of auth store is old");
}

absl::Status ErrNoLeader() { return Make(C::kUnavailable, "etcdserver: no leader"); }
absl::Status ErrNotLeader() { return Make(C::kFailedPrecondition, "etcdserver: not leader"); }
absl::Status ErrLeaderChanged() { return Make(C::kUnavailable, "etcdserver: leader changed"); }
absl::Status ErrStopped() { return Make(C::kUnavailable, "etcdserver: server stopped"); }
absl::Status ErrTimeout() { return Make(C::kUnavailable, "etcdserver: request timed out"); }
absl::Status ErrTimeoutDueToLeaderFail() {
  return Make(C::kUnavailable,
              "etcdserver: request timed out, possibly due to previous leader failure");
}
absl::Status ErrTimeoutDueToConnectionLost() {
  return Make(C::kUnavailable, "etcdserver: request timed out, possibly due to connection lost");
}
absl::Status ErrTimeoutWaitAppliedIndex() {
  return Make(C::kUnavailable,
              "etcdserver: request timed out, waiting for the applied index took too long");
}
absl::Status ErrUnhealthy() { return Make(C::kUnavailable, "etcdserver: unhealthy cluster"); }
absl::Status ErrCorrupt() { return Make(C::kDataLoss, "etcdserver: corrupt cluster"); }
absl::Status ErrNotSupportedForLearner() {
  return Make(C::kUnavailable, "etcdserver: rpc not supported for learner");
}
absl::Status ErrBadLeaderTransferee() {
  return Make(C::kFailedPrecondition, "etcdserver: bad leader transferee");
}

absl::Status ErrElectionNotLeader() { return Make(C::kUnknown, "election: not leader"); }
absl::Status ErrElectionNoLeader() { return Make(C::kUnknown, "election: no leader"); }
absl::Status ErrMissingLeaderKey() {
  return Make(C::kUnknown, "\"leader\" field must be provided");
}

absl::Status ErrUnimplemented(const char* method) {
  return absl::UnimplementedError(std::string("quorum: ") + method +
                                  " is not implemented by this member yet");
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace quorum
