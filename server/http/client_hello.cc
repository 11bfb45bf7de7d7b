#include "server/http/client_hello.h"

#include <cstdint>

namespace quorum::server::http {
namespace {

constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kClientHello = 1;
constexpr uint16_t kAlpnExtension = 16;
// A ClientHello larger than this is not one a client of ours sends; decide with what we have.
constexpr size_t kMaxHello = 64 * 1024;

// Reads big-endian integers and byte runs from a buffer; any read past the end fails, and
// every later read fails too.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  size_t left() const { return bytes_.size(); }
  uint32_t Int(size_t width) {
    if (!ok_ || bytes_.size() < width) return Fail();
    uint32_t value = 0;
    for (size_t i = 0; i < width; ++i) value = (value << 8) | static_cast<uint8_t>(bytes_[i]);
    bytes_.remove_prefix(width);
    return value;
  }
  std::string_view Bytes(size_t n) {
    if (!ok_ || bytes_.size() < n) {
      Fail();
      return {};
    }
    std::string_view out = bytes_.substr(0, n);
    bytes_.remove_prefix(n);
    return out;
  }
  // A run prefixed by its length in `width` bytes.
  std::string_view Prefixed(size_t width) { return Bytes(Int(width)); }

 private:
  uint32_t Fail() {
    ok_ = false;
    bytes_ = {};
    return 0;
  }
  std::string_view bytes_;
  bool ok_ = true;
};

// The ALPN names in a ClientHello body (after the handshake header).
std::vector<std::string> AlpnOf(std::string_view hello) {
  Reader r(hello);
  r.Bytes(2 + 32);  // legacy version, random
  r.Prefixed(1);    // session id
  r.Prefixed(2);    // cipher suites
  r.Prefixed(1);    // compression methods
  if (!r.ok() || r.left() == 0) return {};
  Reader extensions(r.Prefixed(2));
  while (extensions.ok() && extensions.left() > 0) {
    const uint32_t type = extensions.Int(2);
    Reader body(extensions.Prefixed(2));
    if (!extensions.ok() || type != kAlpnExtension) continue;
    Reader list(body.Prefixed(2));
    std::vector<std::string> names;
    while (list.ok() && list.left() > 0) {
      std::string_view name = list.Prefixed(1);
      if (list.ok()) names.emplace_back(name);
    }
    return list.ok() ? names : std::vector<std::string>{};
  }
  return {};
}

}  // namespace

Protocol ClassifyPlain(std::string_view start) {
  const size_t n = std::min(start.size(), kHttp2Preface.size());
  if (start.substr(0, n) != kHttp2Preface.substr(0, n)) return Protocol::kHttp1;
  return n == kHttp2Preface.size() ? Protocol::kGrpc : Protocol::kNeedMore;
}

AlpnOffer ReadAlpn(std::string_view start) {
  // The handshake message may come in several records: join their payloads.
  std::string handshake;
  Reader records(start);
  while (records.left() > 0) {
    if (records.left() < 5) return {};  // a record header still arriving
    if (records.Int(1) != kHandshakeRecord) return {.complete = true};
    records.Int(2);  // record version
    const uint32_t length = records.Int(2);
    if (records.left() < length) {
      if (handshake.size() + records.left() >= kMaxHello) return {.complete = true};
      return {};
    }
    handshake.append(records.Bytes(length));
    if (handshake.size() >= 4) {
      Reader header(handshake);
      if (header.Int(1) != kClientHello) return {.complete = true};
      const uint32_t body = header.Int(3);
      if (body + 4 > kMaxHello) return {.complete = true};
      if (handshake.size() >= body + 4) {
        return {.complete = true, .protocols = AlpnOf(std::string_view(handshake).substr(4, body))};
      }
    }
  }
  return {};
}

Protocol ClassifyTls(std::string_view start) {
  AlpnOffer offer = ReadAlpn(start);
  if (!offer.complete) return Protocol::kNeedMore;
  bool h2 = false;
  for (const std::string& name : offer.protocols) {
    if (name == "http/1.1") return Protocol::kHttp1;
    if (name == "h2") h2 = true;
  }
  return h2 ? Protocol::kGrpc : Protocol::kHttp1;
}

}  // namespace quorum::server::http
