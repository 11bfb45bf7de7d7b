// Who is calling: the identity etcd's AuthInfoFromCtx finds on a gRPC call, from the "token"
// metadata that clientv3 sends after Authenticate or, with --client-cert-auth and no token, from
// the Common Name of the verified client certificate. Used by every service before it reads,
// proposes or serves an admin call; CallerOf is the one place that reads a call's credentials.
#ifndef QUORUM_SERVER_AUTH_CONTEXT_H_
#define QUORUM_SERVER_AUTH_CONTEXT_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "internalpb/internal.pb.h"
#include "server/auth_store.h"

namespace quorum::server {

// The caller of `context`: the token's user at the current auth revision; without a token and
// with --client-cert-auth, the client certificate's CN at the current revision; an empty
// AuthInfo (no user, revision 0) when the call carries no credentials; "invalid auth token" for
// a token this member does not know.
absl::StatusOr<AuthInfo> CallerOf(const grpc::ServerContextBase& context, AuthStore& auth);

// Writes the caller into a request about to be proposed (etcd's RequestHeader username and
// auth revision), for the applier's checks.
void Stamp(const AuthInfo& caller, internalpb::InternalRequest* request);

// etcd's doSerialize rule for local reads: a read whose credentials were checked at one auth
// revision is refused if the store moved on before the answer was made.
absl::Status CheckStillCurrent(const AuthInfo& caller, AuthStore& auth);

// etcd's IsAdminPermitted for the caller of `context` (root once auth is enabled).
absl::Status CheckAdminCall(const grpc::ServerContextBase& context, AuthStore& auth);

// etcd's Maintenance admin check (Defragment, Snapshot, Hash, HashKV) answers with the auth
// store's own error text ("auth: permission denied") and gRPC code UNKNOWN.
absl::Status CheckMaintenanceAdmin(const grpc::ServerContextBase& context, AuthStore& auth);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_AUTH_CONTEXT_H_
