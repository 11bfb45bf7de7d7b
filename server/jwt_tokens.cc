#include "server/jwt_tokens.h"

#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace quorum::server {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct SigFree {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};

absl::Status Bad(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("--auth-token: ", what));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Bad(absl::StrCat("cannot read ", path));
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// base64url without padding, as JWT writes it.
std::string Base64Url(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(n);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : (c == '/' ? '_' : c);
  return out;
}

std::optional<std::string> FromBase64Url(std::string text) {
  for (char& c : text) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (c == '+' || c == '/' || c == '=')
      return std::nullopt;
  }
  if (text.size() % 4 == 1) return std::nullopt;
  const size_t padding = (4 - text.size() % 4) % 4;
  text.append(padding, '=');
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

const EVP_MD* DigestOf(const std::string& method) {
  if (absl::EndsWith(method, "256")) return EVP_sha256();
  if (absl::EndsWith(method, "384")) return EVP_sha384();
  if (absl::EndsWith(method, "512")) return EVP_sha512();
  return nullptr;
}

}  // namespace

struct JwtTokens::Keys {
  Pkey verify;          // public (or private) key for RS/PS/ES
  Pkey sign;            // private key for RS/PS/ES; null on a verify-only member
  std::string hmac;     // HS: the shared secret
  size_t ec_bytes = 0;  // ES: size of r and of s in a signature
};

JwtTokens::~JwtTokens() = default;

absl::StatusOr<std::shared_ptr<const JwtTokens>> JwtTokens::Make(const std::string& options) {
  auto tokens = std::shared_ptr<JwtTokens>(new JwtTokens());
  tokens->keys_ = std::make_unique<Keys>();
  std::string pub_path;
  std::string priv_path;
  for (absl::string_view item : absl::StrSplit(options, ',', absl::SkipEmpty())) {
    std::vector<std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (kv.size() != 2)
      return Bad(absl::StrCat("option \"", std::string(item), "\" is not key=value"));
    if (kv[0] == "sign-method") {
      tokens->method_ = kv[1];
    } else if (kv[0] == "pub-key") {
      pub_path = kv[1];
    } else if (kv[0] == "priv-key") {
      priv_path = kv[1];
    } else if (kv[0] == "ttl") {
      if (!absl::ParseDuration(kv[1], &tokens->ttl_) || tokens->ttl_ <= absl::ZeroDuration()) {
        return Bad(absl::StrCat("ttl \"", kv[1], "\" is not a positive duration"));
      }
    } else {
      return Bad(absl::StrCat("unknown option \"", kv[0], "\""));
    }
  }
  const std::string& m = tokens->method_;
  const bool rsa = absl::StartsWith(m, "RS") || absl::StartsWith(m, "PS");
  const bool ec = absl::StartsWith(m, "ES");
  const bool hmac = absl::StartsWith(m, "HS");
  if (m.size() != 5 || DigestOf(m) == nullptr || !(rsa || ec || hmac)) {
    return Bad(absl::StrCat("sign-method \"", m,
                            "\" is not one of RS256/384/512, PS256/384/512, ES256/384/512, "
                            "HS256/384/512"));
  }
  Keys& keys = *tokens->keys_;
  if (hmac) {
    if (priv_path.empty()) return Bad("an HS sign-method needs priv-key (the shared secret)");
    auto secret = ReadFile(priv_path);
    if (!secret.ok()) return secret.status();
    keys.hmac = *std::move(secret);
    return std::shared_ptr<const JwtTokens>(tokens);
  }
  if (pub_path.empty() && priv_path.empty()) return Bad("pub-key or priv-key is needed");
  auto load = [&](const std::string& path, bool is_private) -> absl::StatusOr<Pkey> {
    auto pem = ReadFile(path);
    if (!pem.ok()) return pem.status();
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())), &BIO_free);
    Pkey key(is_private ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                        : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (key == nullptr)
      return Bad(absl::StrCat(path, " holds no PEM ", is_private ? "private" : "public", " key"));
    const int type = EVP_PKEY_base_id(key.get());
    if ((rsa && type != EVP_PKEY_RSA) || (ec && type != EVP_PKEY_EC)) {
      return Bad(absl::StrCat(path, ": not a key for ", m));
    }
    return key;
  };
  if (!priv_path.empty()) {
    auto key = load(priv_path, true);
    if (!key.ok()) return key.status();
    keys.sign = *std::move(key);
  }
  if (!pub_path.empty()) {
    auto key = load(pub_path, false);
    if (!key.ok()) return key.status();
    keys.verify = *std::move(key);
  } else {
    EVP_PKEY_up_ref(keys.sign.get());
    keys.verify.reset(keys.sign.get());
  }
  if (ec) keys.ec_bytes = (static_cast<size_t>(EVP_PKEY_bits(keys.verify.get())) + 7) / 8;
  return std::shared_ptr<const JwtTokens>(tokens);
}

absl::StatusOr<std::string> JwtTokens::Signature(const std::string& signed_part) const {
  const EVP_MD* md = DigestOf(method_);
  if (!keys_->hmac.empty()) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    HMAC(md, keys_->hmac.data(), static_cast<int>(keys_->hmac.size()),
         reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac,
         &size);
    return std::string(reinterpret_cast<char*>(mac), size);
  }
  if (keys_->sign == nullptr) {
    return absl::FailedPreconditionError("auth: token signing attempted with verify-only key");
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  size_t size = 0;
  bool ok = EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, keys_->sign.get()) == 1;
  if (ok && absl::StartsWith(method_, "PS")) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
  }
  ok = ok && EVP_DigestSign(ctx.get(), nullptr, &size,
                            reinterpret_cast<const unsigned char*>(signed_part.data()),
                            signed_part.size()) == 1;
  std::string signature(size, '\0');
  ok = ok && EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                            reinterpret_cast<const unsigned char*>(signed_part.data()),
                            signed_part.size()) == 1;
  if (!ok) return absl::InternalError("auth: signing a token failed");
  signature.resize(size);
  if (keys_->ec_bytes == 0) return signature;
  // JWT's ECDSA signature is r and s side by side, each of the curve's size; OpenSSL's is DER.
  const unsigned char* der = reinterpret_cast<const unsigned char*>(signature.data());
  std::unique_ptr<ECDSA_SIG, SigFree> sig(d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(size)));
  if (sig == nullptr) return absl::InternalError("auth: signing a token failed");
  std::string raw(2 * keys_->ec_bytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, static_cast<int>(keys_->ec_bytes));
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + keys_->ec_bytes,
               static_cast<int>(keys_->ec_bytes));
  return raw;
}

bool JwtTokens::SignatureMatches(const std::string& signed_part,
                                 const std::string& signature) const {
  if (!keys_->hmac.empty()) {
    auto expected = Signature(signed_part);
    return expected.ok() && expected->size() == signature.size() &&
           CRYPTO_memcmp(expected->data(), signature.data(), signature.size()) == 0;
  }
  std::string der = signature;
  if (keys_->ec_bytes > 0) {
    if (signature.size() != 2 * keys_->ec_bytes) return false;
    const auto* raw = reinterpret_cast<const unsigned char*>(signature.data());
    std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(raw, static_cast<int>(keys_->ec_bytes), nullptr);
    BIGNUM* s = BN_bin2bn(raw + keys_->ec_bytes, static_cast<int>(keys_->ec_bytes), nullptr);
    if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return false;
    }
    unsigned char* out = nullptr;
    const int n = i2d_ECDSA_SIG(sig.get(), &out);
    if (n <= 0) return false;
    der.assign(reinterpret_cast<char*>(out), static_cast<size_t>(n));
    OPENSSL_free(out);
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok =
      EVP_DigestVerifyInit(ctx.get(), &pctx, DigestOf(method_), nullptr, keys_->verify.get()) == 1;
  if (ok && absl::StartsWith(method_, "PS")) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) == 1;
  }
  return ok &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                          reinterpret_cast<const unsigned char*>(signed_part.data()),
                          signed_part.size()) == 1;
}

absl::StatusOr<std::string> JwtTokens::Sign(const std::string& user, uint64_t revision,
                                            absl::Time now) const {
  const nlohmann::ordered_json header = {{"alg", method_}, {"typ", "JWT"}};
  // etcd's claims, in the order Go writes a map's keys.
  const nlohmann::ordered_json claims = {
      {"exp", absl::ToUnixSeconds(now + ttl_)}, {"revision", revision}, {"username", user}};
  const std::string signed_part =
      absl::StrCat(Base64Url(header.dump()), ".", Base64Url(claims.dump()));
  auto signature = Signature(signed_part);
  if (!signature.ok()) return signature.status();
  return absl::StrCat(signed_part, ".", Base64Url(*signature));
}

absl::StatusOr<JwtTokens::Claims> JwtTokens::Verify(const std::string& token,
                                                    absl::Time now) const {
  const absl::Status invalid = absl::UnauthenticatedError("invalid JWT");
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return invalid;
  auto header = FromBase64Url(parts[0]);
  auto payload = FromBase64Url(parts[1]);
  auto signature = FromBase64Url(parts[2]);
  if (!header || !payload || !signature) return invalid;
  const auto head = nlohmann::json::parse(*header, nullptr, /*allow_exceptions=*/false);
  if (!head.is_object() || !head.contains("alg") || head["alg"] != method_) return invalid;
  if (!SignatureMatches(absl::StrCat(parts[0], ".", parts[1]), *signature)) return invalid;
  const auto body = nlohmann::json::parse(*payload, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("username") || !body["username"].is_string() ||
      !body.contains("revision") || !body["revision"].is_number() || !body.contains("exp") ||
      !body["exp"].is_number()) {
    return invalid;
  }
  if (body["exp"].get<double>() <= absl::ToDoubleSeconds(now - absl::UnixEpoch())) return invalid;
  return Claims{body["username"].get<std::string>(), body["revision"].get<uint64_t>()};
}

}  // namespace quorum::server
