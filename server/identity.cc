#include "server/identity.h"

#include <openssl/sha.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace quorum::server {
namespace {

uint64_t Sha1Prefix(const std::string& bytes) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  uint64_t id = 0;
  for (int i = 0; i < 8; ++i) id = (id << 8) | digest[i];
  return id;
}

std::string SortedJoined(std::vector<std::string> peer_urls) {
  std::sort(peer_urls.begin(), peer_urls.end());
  std::string material;
  for (const auto& url : peer_urls) material += url;
  return material;
}

}  // namespace

uint64_t ComputeMemberId(std::vector<std::string> peer_urls, const std::string& cluster_token) {
  return Sha1Prefix(SortedJoined(std::move(peer_urls)) + cluster_token);
}

uint64_t ComputeAddedMemberId(std::vector<std::string> peer_urls, absl::Time added) {
  return Sha1Prefix(SortedJoined(std::move(peer_urls)) +
                    std::to_string(absl::ToUnixSeconds(added)));
}

uint64_t ComputeClusterId(std::vector<uint64_t> member_ids) {
  std::sort(member_ids.begin(), member_ids.end());
  std::string material;
  for (uint64_t id : member_ids) {
    for (int shift = 56; shift >= 0; shift -= 8) material.push_back(static_cast<char>(id >> shift));
  }
  return Sha1Prefix(material);
}

std::string IdToHex(uint64_t id) { return absl::StrCat(absl::Hex(id)); }

}  // namespace quorum::server
