#include "server/auth_context.h"

#include <string>
#include <string_view>

#include "proto/etcd_errors.h"

namespace quorum::server {

absl::StatusOr<AuthInfo> CallerOf(const grpc::ServerContextBase& context, AuthStore& auth) {
  const auto& metadata = context.client_metadata();
  // clientv3 sends "token"; the JSON gateway "authorization".
  auto found = metadata.find("token");
  if (found == metadata.end()) found = metadata.find("authorization");
  if (found != metadata.end()) {
    return auth.InfoFromToken(std::string(found->second.data(), found->second.size()));
  }
  // No token: with --client-cert-auth, the user the verified client certificate names (etcd's
  // AuthInfoFromTLS), at the current auth revision. The certificate was verified in the
  // handshake, which --client-cert-auth makes mandatory.
  if (auth.user_from_client_cert() && auth.Current()->enabled()) {
    std::shared_ptr<const grpc::AuthContext> tls = context.auth_context();
    if (tls != nullptr && tls->IsPeerAuthenticated()) {
      for (const grpc::string_ref& cn : tls->FindPropertyValues("x509_common_name")) {
        return AuthInfo{.user = std::string(cn.data(), cn.size()),
                        .revision = auth.Current()->revision()};
      }
    }
  }
  return AuthInfo{};
}

void Stamp(const AuthInfo& caller, internalpb::InternalRequest* request) {
  request->set_auth_user(caller.user);
  request->set_auth_revision(caller.revision);
}

absl::Status CheckStillCurrent(const AuthInfo& caller, AuthStore& auth) {
  if (caller.revision != 0 && caller.revision != auth.Current()->revision()) {
    return ErrAuthOldRevision();
  }
  return absl::OkStatus();
}

absl::Status CheckAdminCall(const grpc::ServerContextBase& context, AuthStore& auth) {
  absl::StatusOr<AuthInfo> caller = CallerOf(context, auth);
  if (!caller.ok()) return caller.status();
  return auth.Current()->CheckAdmin(*caller);
}

absl::Status CheckMaintenanceAdmin(const grpc::ServerContextBase& context, AuthStore& auth) {
  absl::Status s = CheckAdminCall(context, auth);
  if (s.ok()) return s;
  std::string message(s.message());
  constexpr std::string_view kServerPrefix = "etcdserver: ";
  if (message.rfind(kServerPrefix, 0) == 0)
    message = "auth: " + message.substr(kServerPrefix.size());
  return absl::UnknownError(message);
}

}  // namespace quorum::server
