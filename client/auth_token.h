// The login of one etcd v3 client: the user's name and password, and the simple token the
// cluster gave for them. client::Client and quorum-elect ask it to put the token on each call
// and drop it when the cluster no longer takes it. Also etcdctl's --user/--password rules, which
// quorumctl and quorum-elect share.
#ifndef QUORUM_CLIENT_AUTH_TOKEN_H_
#define QUORUM_CLIENT_AUTH_TOKEN_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"

namespace quorum::client {

// Thread-safe: any number of threads may authorize calls at once; one login runs at a time and
// the others use the token it got.
class AuthToken {
 public:
  // Without a user, Authorize adds nothing. Each login takes at most `login_timeout`.
  AuthToken(std::string user, std::string password, std::chrono::milliseconds login_timeout);

  const std::string& user() const { return user_; }
  bool has_user() const { return !user_.empty(); }

  // Adds the token to `context`, first logging in (Authenticate) over `channel` when none is
  // held. A login never outlives `context`'s deadline. A server that answers "authentication is
  // not enabled" is remembered and gets no token until Drop(). Errors are the login's as the
  // server sent them (e.g. INVALID_ARGUMENT "etcdserver: authentication failed, invalid user ID
  // or password", or UNAVAILABLE when the member cannot be reached).
  absl::Status Authorize(const std::shared_ptr<grpc::Channel>& channel,
                         grpc::ClientContext* context);

  // Forgets the token (and a remembered "auth is off"): the next Authorize logs in again.
  void Drop();

  // True when a call refused with `status` may pass after Drop() and a new login: the server no
  // longer knows the token (it expired, or the member restarted), or it refused a call sent
  // without a token because a login had found auth off (auth was enabled since).
  bool NeedsNewLogin(const absl::Status& status) const;

 private:
  const std::string user_;
  const std::string password_;
  const std::chrono::milliseconds login_timeout_;
  mutable std::mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  bool auth_off_ ABSL_GUARDED_BY(mu_) = false;  // the server said auth is not enabled
};

// etcdctl's --user and --password, as etcdctl 3.4 reads them: with --password, --user is the
// whole name; without it, "name:password" splits at the first colon. `password` is nullopt when
// only a name was given (etcdctl then asks for it). No user: both empty.
struct UserFlags {
  std::string user;
  std::optional<std::string> password;
};
UserFlags ParseUserFlags(const std::string& user_flag, const std::string& password_flag);

}  // namespace quorum::client

#endif  // QUORUM_CLIENT_AUTH_TOKEN_H_
