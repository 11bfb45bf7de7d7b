// JWT auth tokens: for every sign method etcd 3.4 takes, a signed token verifies with the
// member's key and yields its user and revision; an expired, altered, foreign-key or
// other-algorithm token does not; a verify-only member checks but cannot sign; bad options are
// refused with a message naming them.
#include "server/jwt_tokens.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace quorum::server {
namespace {

// Makes a key pair with the openssl command line; returns "priv-key=...,pub-key=..." paths.
std::string KeyPair(const std::string& dir, const std::string& name, const std::string& algo) {
  const std::string priv = absl::StrCat(dir, "/", name, ".key");
  const std::string pub = absl::StrCat(dir, "/", name, ".pub");
  const std::string gen =
      algo == "rsa"
          ? absl::StrCat("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ", priv)
          : absl::StrCat("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:", algo,
                         " -out ", priv);
  EXPECT_EQ(std::system((gen + " 2>/dev/null").c_str()), 0);
  EXPECT_EQ(
      std::system(
          absl::StrCat("openssl pkey -in ", priv, " -pubout -out ", pub, " 2>/dev/null").c_str()),
      0);
  return absl::StrCat("priv-key=", priv, ",pub-key=", pub);
}

// A fresh directory for the test's keys, removed afterwards.
class KeyDir {
 public:
  KeyDir() {
    std::string pattern = ::testing::TempDir() + "/jwt-keys-XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~KeyDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class JwtTokensTest : public ::testing::Test {
 protected:
  KeyDir dir_;
};

TEST_F(JwtTokensTest, EverySignMethodSignsAndVerifies) {
  const std::string rsa = KeyPair(dir_.path(), "rsa", "rsa");
  const std::string p256 = KeyPair(dir_.path(), "p256", "P-256");
  const std::string p384 = KeyPair(dir_.path(), "p384", "P-384");
  const std::string p521 = KeyPair(dir_.path(), "p521", "P-521");
  const std::string secret = dir_.path() + "/secret";
  std::ofstream(secret) << "a shared secret of some length";
  const absl::Time now = absl::Now();
  for (const auto& [method, keys] :
       std::vector<std::pair<std::string, std::string>>{{"RS256", rsa},
                                                        {"RS384", rsa},
                                                        {"RS512", rsa},
                                                        {"PS256", rsa},
                                                        {"PS384", rsa},
                                                        {"PS512", rsa},
                                                        {"ES256", p256},
                                                        {"ES384", p384},
                                                        {"ES512", p521},
                                                        {"HS256", "priv-key=" + secret},
                                                        {"HS384", "priv-key=" + secret},
                                                        {"HS512", "priv-key=" + secret}}) {
    SCOPED_TRACE(method);
    auto tokens = JwtTokens::Make(absl::StrCat("sign-method=", method, ",", keys, ",ttl=10m"));
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    auto token = (*tokens)->Sign("alice", 42, now);
    ASSERT_TRUE(token.ok()) << token.status();
    auto claims = (*tokens)->Verify(*token, now + absl::Minutes(9));
    ASSERT_TRUE(claims.ok()) << claims.status();
    EXPECT_EQ(claims->user, "alice");
    EXPECT_EQ(claims->revision, 42u);
    // Expired.
    EXPECT_FALSE((*tokens)->Verify(*token, now + absl::Minutes(11)).ok());
    // One character of the claims changed: the signature no longer matches.
    std::string altered = *token;
    const size_t claims_at = altered.find('.') + 3;
    altered[claims_at] = altered[claims_at] == 'A' ? 'B' : 'A';
    EXPECT_FALSE((*tokens)->Verify(altered, now).ok());
    EXPECT_FALSE((*tokens)->Verify("not.a.token", now).ok());
    EXPECT_FALSE((*tokens)->Verify("", now).ok());
  }
}

TEST_F(JwtTokensTest, AnotherKeyOrAlgorithmIsRefused) {
  const std::string ours = KeyPair(dir_.path(), "ours", "rsa");
  const std::string theirs = KeyPair(dir_.path(), "theirs", "rsa");
  const absl::Time now = absl::Now();
  auto signer = JwtTokens::Make("sign-method=RS256," + theirs);
  auto checker = JwtTokens::Make("sign-method=RS256," + ours);
  auto other_algorithm = JwtTokens::Make("sign-method=RS384," + ours);
  ASSERT_TRUE(signer.ok() && checker.ok() && other_algorithm.ok());
  auto token = (*signer)->Sign("alice", 1, now);
  ASSERT_TRUE(token.ok());
  EXPECT_FALSE((*checker)->Verify(*token, now).ok());
  auto ours_token = (*checker)->Sign("alice", 1, now);
  ASSERT_TRUE(ours_token.ok());
  EXPECT_FALSE((*other_algorithm)->Verify(*ours_token, now).ok());
}

TEST_F(JwtTokensTest, AVerifyOnlyMemberChecksButCannotSign) {
  const std::string keys = KeyPair(dir_.path(), "k", "P-256");
  const std::string pub = keys.substr(keys.find("pub-key="));
  auto full = JwtTokens::Make("sign-method=ES256," + keys);
  auto verify_only = JwtTokens::Make("sign-method=ES256," + pub);
  ASSERT_TRUE(full.ok() && verify_only.ok());
  const absl::Time now = absl::Now();
  auto token = (*full)->Sign("bob", 7, now);
  ASSERT_TRUE(token.ok());
  EXPECT_TRUE((*verify_only)->Verify(*token, now).ok());
  auto refused = (*verify_only)->Sign("bob", 7, now);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("verify-only"), std::string::npos);
  // The default lifetime is etcd's five minutes.
  EXPECT_EQ((*full)->ttl(), absl::Minutes(5));
}

TEST_F(JwtTokensTest, BadOptionsAreRefusedByName) {
  const std::string rsa = KeyPair(dir_.path(), "rsa", "rsa");
  const std::string p256 = KeyPair(dir_.path(), "p256", "P-256");
  struct Case {
    std::string options;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {"sign-method=XX256," + rsa, "sign-method"},
           {"sign-method=RS256", "pub-key or priv-key"},
           {"sign-method=RS256," + p256, "not a key for RS256"},
           {"sign-method=RS256," + rsa + ",ttl=soon", "ttl"},
           {"sign-method=RS256," + rsa + ",color=blue", "unknown option \"color\""},
           {"sign-method=RS256,pub-key=/nonexistent", "cannot read /nonexistent"},
           {"sign-method=HS256", "priv-key"},
       }) {
    SCOPED_TRACE(c.options);
    auto tokens = JwtTokens::Make(c.options);
    ASSERT_FALSE(tokens.ok());
    EXPECT_EQ(tokens.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(tokens.status().message().find(c.says), std::string::npos) << tokens.status();
  }
}

}  // namespace
}  // namespace quorum::server
