#include "server/auth_store.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "etcdserverpb/rpc.pb.h"
#include "proto/etcd_errors.h"
#include "raft/fatal.h"
#include "server/jwt_tokens.h"
#include "storage/schema.h"

namespace quorum::server {

absl::StatusOr<std::string> HashPassword(const std::string& password, int cost) {
  // libxcrypt's bcrypt; "$2a$" is the prefix Go's bcrypt (and so etcd) writes.
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2a$", cost, nullptr, 0, setting, sizeof(setting)) == nullptr) {
    return absl::InternalError("cannot make a bcrypt salt");
  }
  auto data = std::make_unique<crypt_data>();
  const char* hashed = crypt_r(password.c_str(), setting, data.get());
  if (hashed == nullptr || hashed[0] == '*') return absl::InternalError("bcrypt failed");
  return std::string(hashed);
}

bool PasswordMatches(const std::string& password, const std::string& hash) {
  if (hash.empty()) return false;
  auto data = std::make_unique<crypt_data>();
  const char* again = crypt_r(password.c_str(), hash.c_str(), data.get());
  if (again == nullptr || again[0] == '*') return false;
  const size_t n = std::strlen(again);
  return n == hash.size() && CRYPTO_memcmp(again, hash.data(), n) == 0;
}

absl::Status AuthStore::Load(storage::Backend* backend) {
  absl::StatusOr<storage::AuthRecords> records = storage::LoadAuth(backend);
  if (!records.ok()) return records.status();
  auto state = std::make_shared<const AuthState>(AuthState::FromRecords(*std::move(records)));
  absl::MutexLock lock(&mu_);
  state_ = state;
  DropTokensLocked(
      [&](const Token& t) { return !state->enabled() || state->FindUser(t.user) == nullptr; });
  return absl::OkStatus();
}

std::shared_ptr<const AuthState> AuthStore::Current() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

absl::StatusOr<std::unique_ptr<google::protobuf::Message>> AuthStore::Stage(
    const internalpb::InternalRequest& request, AuthState* next,
    storage::RecordChanges* records) const {
  *next = *Current();
  return next->Apply(request, records);
}

void AuthStore::Commit(AuthState next, const internalpb::InternalRequest& request, uint64_t index,
                       google::protobuf::Message* response) {
  using internalpb::InternalRequest;
  auto state = std::make_shared<const AuthState>(std::move(next));
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  state_ = state;
  switch (request.request_case()) {
    case InternalRequest::kAuthenticate: {
      auto* typed =
          google::protobuf::DynamicCastToGenerated<etcdserverpb::AuthenticateResponse>(response);
      if (options_.jwt != nullptr) {
        // Only the member that proposed the login answers it, so only it signs.
        if (typed == nullptr) break;
        auto token = options_.jwt->Sign(request.authenticate().name(), state_->revision(), now);
        if (token.ok()) typed->set_token(*std::move(token));
        break;
      }
      std::string token = absl::StrCat(request.authenticate().simple_token(), ".", index);
      // Expired tokens go here, so the table stays bounded by the logins of one TTL.
      DropTokensLocked([&](const Token& t) { return t.expires <= now; });
      tokens_[token] = Token{request.authenticate().name(), now + options_.token_ttl};
      if (typed != nullptr) typed->set_token(std::move(token));
      break;
    }
    case InternalRequest::kUserDelete:
    case InternalRequest::kUserChangePassword: {
      const std::string& user = request.has_user_delete() ? request.user_delete().name()
                                                          : request.user_change_password().name();
      DropTokensLocked([&](const Token& t) { return t.user == user; });
      break;
    }
    case InternalRequest::kAuthDisable:
      tokens_.clear();
      break;
    default:
      break;
  }
}

absl::StatusOr<uint64_t> AuthStore::CheckPassword(const std::string& name,
                                                  const std::string& password) const {
  std::shared_ptr<const AuthState> state = Current();
  if (!state->enabled()) return ErrAuthNotEnabled();
  const authpb::User* user = state->FindUser(name);
  if (user == nullptr) return ErrAuthFailed();
  if (user->options().no_password()) return ErrNoPasswordUser();
  // The expensive part runs without any lock; `state` keeps the user alive.
  if (!PasswordMatches(password, user->password())) return ErrAuthFailed();
  return state->revision();
}

std::string AuthStore::NewTokenPrefix() const {
  static constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  unsigned char random[16];
  QUORUM_CHECK(RAND_bytes(random, sizeof(random)) == 1, "no random bytes for a token");
  std::string prefix;
  for (unsigned char r : random) prefix.push_back(kLetters[r % (sizeof(kLetters) - 1)]);
  return prefix;
}

bool AuthStore::TokenSettled(TokenWait* wait) {
  return wait->store->tokens_.contains(*wait->token) ||
         wait->store->options_.applied_index() >= wait->index;
}

absl::StatusOr<AuthInfo> AuthStore::InfoFromToken(const std::string& token) {
  if (options_.jwt != nullptr) {
    // The token carries the user and the auth revision of its login (etcd's JWT info).
    auto claims = options_.jwt->Verify(token, absl::Now());
    if (!claims.ok()) return ErrInvalidAuthToken();
    return AuthInfo{.user = claims->user, .revision = claims->revision};
  }
  uint64_t index = 0;
  if (size_t dot = token.rfind('.'); dot != std::string::npos) {
    if (!absl::SimpleAtoi(token.substr(dot + 1), &index)) index = 0;
  }
  absl::MutexLock lock(&mu_);
  if (!tokens_.contains(token) && index > 0 && options_.applied_index &&
      options_.applied_index() < index) {
    // A login through another member, not applied here yet (etcd waits the same way).
    TokenWait wait{this, &token, index};
    mu_.AwaitWithTimeout(absl::Condition(&TokenSettled, &wait), kTokenApplyWait);
  }
  const absl::Time now = absl::Now();
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return ErrInvalidAuthToken();
  if (it->second.expires <= now) {
    tokens_.erase(it);
    return ErrInvalidAuthToken();
  }
  it->second.expires = now + options_.token_ttl;
  return AuthInfo{it->second.user, state_->revision()};
}

void AuthStore::DropTokensLocked(const std::function<bool(const Token&)>& which) {
  for (auto it = tokens_.begin(); it != tokens_.end();) {
    if (which(it->second)) {
      tokens_.erase(it++);
    } else {
      ++it;
    }
  }
}

}  // namespace quorum::server
