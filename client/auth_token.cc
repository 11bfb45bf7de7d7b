#include "client/auth_token.h"

#include <algorithm>

#include "client/kv_client.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "proto/etcd_errors.h"

namespace quorum::client {

AuthToken::AuthToken(std::string user, std::string password,
                     std::chrono::milliseconds login_timeout)
    : user_(std::move(user)), password_(std::move(password)), login_timeout_(login_timeout) {}

absl::Status AuthToken::Authorize(const std::shared_ptr<grpc::Channel>& channel,
                                  grpc::ClientContext* context) {
  if (user_.empty()) return absl::OkStatus();
  // The lock is held through the login, so that callers arriving meanwhile wait for its token
  // instead of each logging in (every login is a Raft entry and a bcrypt check).
  std::lock_guard<std::mutex> lock(mu_);
  if (token_.empty() && !auth_off_) {
    grpc::ClientContext login;
    login.set_deadline(
        std::min(std::chrono::system_clock::now() + login_timeout_, context->deadline()));
    etcdserverpb::AuthenticateRequest request;
    request.set_name(user_);
    request.set_password(password_);
    etcdserverpb::AuthenticateResponse response;
    absl::Status s =
        FromGrpc(etcdserverpb::Auth::NewStub(channel)->Authenticate(&login, request, &response));
    if (s.message() == ErrAuthNotEnabled().message()) {
      auth_off_ = true;
    } else if (!s.ok()) {
      return s;
    } else {
      token_ = response.token();
    }
  }
  if (!token_.empty()) context->AddMetadata("token", token_);
  return absl::OkStatus();
}

void AuthToken::Drop() {
  std::lock_guard<std::mutex> lock(mu_);
  token_.clear();
  auth_off_ = false;
}

bool AuthToken::NeedsNewLogin(const absl::Status& status) const {
  if (user_.empty()) return false;
  // clientv3 logs in again on the same two answers.
  if (status.message() == ErrInvalidAuthToken().message() ||
      status.message() == ErrUserEmpty().message()) {
    return true;
  }
  // Calls made while the server said auth was off carry no token. Once auth is on, a member
  // with --client-cert-auth runs them as the user the client certificate names (etcd's
  // AuthInfoFromTLS), which may not be ours: a refusal then does not speak for our user yet.
  if (status.code() != absl::StatusCode::kPermissionDenied) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return auth_off_;
}

UserFlags ParseUserFlags(const std::string& user_flag, const std::string& password_flag) {
  UserFlags flags;
  if (user_flag.empty()) return flags;
  if (!password_flag.empty()) {
    flags.user = user_flag;
    flags.password = password_flag;
    return flags;
  }
  size_t colon = user_flag.find(':');
  flags.user = user_flag.substr(0, colon);
  if (colon != std::string::npos) flags.password = user_flag.substr(colon + 1);
  return flags;
}

}  // namespace quorum::client
