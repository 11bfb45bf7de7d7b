// Telling gRPC from HTTP/1.1 by a connection's first bytes: the HTTP/2 preface on plain
// listeners, the ALPN list of real ClientHellos (made by OpenSSL) on TLS listeners, and every
// truncation of them asking for more bytes rather than guessing.
#include "server/http/client_hello.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <string>
#include <vector>

namespace quorum::server::http {
namespace {

// The first flight a TLS client sends when it offers `alpn` (none when empty).
std::string ClientHelloOffering(const std::vector<std::string>& alpn) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  std::string wire;
  for (const std::string& name : alpn) {
    wire.push_back(static_cast<char>(name.size()));
    wire += name;
  }
  if (!wire.empty()) {
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_tlsext_host_name(ssl, "member.example");
  EXPECT_EQ(SSL_connect(ssl), -1);  // wants the server's answer
  std::string hello(static_cast<size_t>(BIO_pending(out)), '\0');
  BIO_read(out, hello.data(), static_cast<int>(hello.size()));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return hello;
}

TEST(ClientHelloTest, PlainListenerWaitsForThePrefaceThenDecides) {
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  for (size_t n = 0; n < preface.size(); ++n) {
    EXPECT_EQ(ClassifyPlain(preface.substr(0, n)), Protocol::kNeedMore) << n;
  }
  EXPECT_EQ(ClassifyPlain(preface), Protocol::kGrpc);
  EXPECT_EQ(ClassifyPlain(preface + "\x00\x00\x12\x04"), Protocol::kGrpc);
  EXPECT_EQ(ClassifyPlain("GET /health HTTP/1.1\r\n"), Protocol::kHttp1);
  EXPECT_EQ(ClassifyPlain("POST /v3/kv/put HTTP/1.1\r\n"), Protocol::kHttp1);
  EXPECT_EQ(ClassifyPlain("PRI * HTTP/1.1"), Protocol::kHttp1);
}

TEST(ClientHelloTest, AlpnOfRealClientHellos) {
  AlpnOffer grpc = ReadAlpn(ClientHelloOffering({"h2"}));
  EXPECT_TRUE(grpc.complete);
  EXPECT_EQ(grpc.protocols, std::vector<std::string>{"h2"});
  AlpnOffer curl = ReadAlpn(ClientHelloOffering({"h2", "http/1.1"}));
  EXPECT_TRUE(curl.complete);
  EXPECT_EQ(curl.protocols, (std::vector<std::string>{"h2", "http/1.1"}));
  AlpnOffer none = ReadAlpn(ClientHelloOffering({}));
  EXPECT_TRUE(none.complete);
  EXPECT_TRUE(none.protocols.empty());
}

TEST(ClientHelloTest, TlsListenerGivesGrpcOnlyToH2Alone) {
  EXPECT_EQ(ClassifyTls(ClientHelloOffering({"h2"})), Protocol::kGrpc);
  EXPECT_EQ(ClassifyTls(ClientHelloOffering({"grpc-exp", "h2"})), Protocol::kGrpc);
  EXPECT_EQ(ClassifyTls(ClientHelloOffering({"h2", "http/1.1"})), Protocol::kHttp1);
  EXPECT_EQ(ClassifyTls(ClientHelloOffering({"http/1.1"})), Protocol::kHttp1);
  EXPECT_EQ(ClassifyTls(ClientHelloOffering({})), Protocol::kHttp1);
}

TEST(ClientHelloTest, EveryTruncationAsksForMore) {
  const std::string hello = ClientHelloOffering({"h2"});
  ASSERT_GT(hello.size(), 100u);
  for (size_t n = 0; n < hello.size(); ++n) {
    EXPECT_EQ(ClassifyTls(hello.substr(0, n)), Protocol::kNeedMore) << n << " of " << hello.size();
  }
}

TEST(ClientHelloTest, BytesThatAreNoClientHelloAreHttp) {
  EXPECT_EQ(ClassifyTls("GET / HTTP/1.1\r\n\r\n"), Protocol::kHttp1);
  std::string hello = ClientHelloOffering({"h2"});
  hello[5] = 2;  // a ServerHello, not a ClientHello
  EXPECT_EQ(ClassifyTls(hello), Protocol::kHttp1);
  // A ClientHello whose extension lengths overrun it: no ALPN can be read from it.
  std::string broken = ClientHelloOffering({"h2"});
  for (size_t i = 60; i < broken.size(); ++i) broken[i] = '\xff';
  EXPECT_EQ(ClassifyTls(broken), Protocol::kHttp1);
}

}  // namespace
}  // namespace quorum::server::http
