#include "server/identity.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace quorum::server {
namespace {

// 64-bit FNV-1a, then a final avalanche so that similar URLs give unrelated ids.
uint64_t Hash64(const std::string& bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h == 0 ? 1 : h;  // 0 means "no member" on the wire
}

}  // namespace

uint64_t ComputeMemberId(std::vector<std::string> peer_urls, const std::string& cluster_token) {
  std::sort(peer_urls.begin(), peer_urls.end());
  std::string material;
  for (const auto& url : peer_urls) material += url;
  material += cluster_token;
  return Hash64(material);
}

uint64_t ComputeClusterId(const std::string& cluster_token) {
  return Hash64("cluster:" + cluster_token);
}

std::string IdToHex(uint64_t id) { return absl::StrCat(absl::Hex(id)); }

}  // namespace quorum::server
