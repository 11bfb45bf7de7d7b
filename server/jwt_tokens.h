// etcd's JWT auth tokens (--auth-token jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...):
// a login yields a token signed with the member's key that names the user, the auth revision
// and an expiry, so any member holding the public key checks it alone, with nothing shared in
// memory between members. Signing and checking use OpenSSL; the claims are etcd's ("username",
// "revision", "exp"). A member given only a public key checks tokens but cannot issue them.
//
// Thread-safe: a JwtTokens is immutable after Make.
#ifndef QUORUM_SERVER_JWT_TOKENS_H_
#define QUORUM_SERVER_JWT_TOKENS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace quorum::server {

class JwtTokens {
 public:
  // Parses the options after "jwt," of --auth-token (comma-separated key=value: sign-method,
  // pub-key, priv-key, ttl) and loads the keys. INVALID_ARGUMENT naming what is wrong.
  static absl::StatusOr<std::shared_ptr<const JwtTokens>> Make(const std::string& options);
  ~JwtTokens();

  // A token for `user` at auth `revision`, valid until now + ttl. FAILED_PRECONDITION on a
  // verify-only member.
  absl::StatusOr<std::string> Sign(const std::string& user, uint64_t revision,
                                   absl::Time now) const;

  struct Claims {
    std::string user;
    uint64_t revision = 0;
  };
  // The claims of a token this key signed and that has not expired at `now`; an error
  // otherwise (bad form, another algorithm, a signature that does not verify, expired).
  absl::StatusOr<Claims> Verify(const std::string& token, absl::Time now) const;

  absl::Duration ttl() const { return ttl_; }

 private:
  struct Keys;
  JwtTokens() = default;
  absl::StatusOr<std::string> Signature(const std::string& signed_part) const;
  bool SignatureMatches(const std::string& signed_part, const std::string& signature) const;

  std::string method_;  // "RS256", "ES384", "HS512", ...
  absl::Duration ttl_ = absl::Minutes(5);
  std::unique_ptr<Keys> keys_;
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_JWT_TOKENS_H_
