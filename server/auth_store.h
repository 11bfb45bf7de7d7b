// The member's auth store: the current AuthState (users, roles, permissions), the simple tokens
// handed out by Authenticate, and bcrypt password hashing. The apply thread changes it
// (Applier, through Stage/Commit); the gRPC services read it from any thread to authenticate
// callers and check their permissions. Thread-safe.
//
// Tokens (etcd's "simple" provider): "<16 random letters>.<raft index of the Authenticate
// entry>", kept in memory on every member (each applies the entry), valid for the token TTL
// after their last use, dropped when their user is deleted or changes password and when auth is
// disabled. A restart forgets them, as etcd's do.
#ifndef QUORUM_SERVER_AUTH_STORE_H_
#define QUORUM_SERVER_AUTH_STORE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/auth_state.h"
#include "storage/backend.h"

namespace quorum::server {

class JwtTokens;

// bcrypt of `password` with `cost` (etcd: 10), "$2a$" form as Go's bcrypt writes it.
absl::StatusOr<std::string> HashPassword(const std::string& password, int cost);
// True when `password` matches the bcrypt `hash`.
bool PasswordMatches(const std::string& password, const std::string& hash);

class AuthStore {
 public:
  struct Options {
    absl::Duration token_ttl = absl::Seconds(300);  // etcd's --auth-token-ttl
    int bcrypt_cost = 10;                           // etcd's --bcrypt-cost
    // The member's applied log index: a token from a login this member has not applied yet
    // is waited for (etcd's simple tokens do the same). Unset: never wait.
    std::function<uint64_t()> applied_index;
    // etcd's --client-cert-auth: a call without a token runs as the user its verified client
    // certificate names (Common Name).
    bool user_from_client_cert = false;
    // etcd's --auth-token jwt: tokens are signed JWTs checked with this key; null: simple
    // tokens kept in memory on every member.
    std::shared_ptr<const JwtTokens> jwt;
  };
  explicit AuthStore(Options options) : options_(options) {}

  // Reads the auth records of `backend` (at start, and after a snapshot replaced them). Tokens
  // of users that are gone, and every token if auth is now disabled, are dropped.
  absl::Status Load(storage::Backend* backend);

  // The state now; stays valid (unchanged) however long the caller holds it.
  std::shared_ptr<const AuthState> Current() const;

  // Apply thread: makes the new state for one auth change entry in `next` (a copy of the current
  // state) with its records; the caller writes the records with the entry's position, then
  // calls Commit. On error nothing changes.
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> Stage(
      const internalpb::InternalRequest& request, AuthState* next,
      storage::RecordChanges* records) const;
  // Publishes `next` and does what the entry means for tokens: Authenticate (at raft `index`)
  // records the token and sets it in `response`; user deletion and password change drop the
  // user's tokens; disabling auth drops every token.
  void Commit(AuthState next, const internalpb::InternalRequest& request, uint64_t index,
              google::protobuf::Message* response);

  // etcd's CheckPassword, run by the member that received Authenticate before proposing it.
  // "authentication is not enabled", "authentication failed", or the auth revision checked.
  absl::StatusOr<uint64_t> CheckPassword(const std::string& name,
                                         const std::string& password) const;
  // The random part of a new token.
  std::string NewTokenPrefix() const;

  // The caller behind `token`, at the current auth revision; "invalid auth token" when the
  // token is unknown or expired. A valid token's TTL starts again. A token whose login entry
  // (the index after its ".") is not applied here yet is waited for, up to kTokenApplyWait.
  static constexpr absl::Duration kTokenApplyWait = absl::Seconds(2);
  absl::StatusOr<AuthInfo> InfoFromToken(const std::string& token);

  int bcrypt_cost() const { return options_.bcrypt_cost; }
  bool user_from_client_cert() const { return options_.user_from_client_cert; }

 private:
  struct Token {
    std::string user;
    absl::Time expires;
  };
  struct TokenWait {
    const AuthStore* store;
    const std::string* token;
    uint64_t index;
  };
  static bool TokenSettled(TokenWait* wait) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  void DropTokensLocked(const std::function<bool(const Token&)>& which)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const AuthState> state_ ABSL_GUARDED_BY(mu_) =
      std::make_shared<const AuthState>();
  absl::flat_hash_map<std::string, Token> tokens_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_AUTH_STORE_H_
