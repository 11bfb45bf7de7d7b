// Member and cluster ids. A member's id comes from its peer URLs and the cluster token (as
// etcd's); the cluster's id from the cluster token alone, so that a member joining later
// (--initial-cluster-state existing) knows both ids from its own flags, before it has talked to
// anyone. Equal inputs give equal ids on every member.
#ifndef QUORUM_SERVER_IDENTITY_H_
#define QUORUM_SERVER_IDENTITY_H_

#include <cstdint>
#include <string>
#include <vector>

namespace quorum::server {

uint64_t ComputeMemberId(std::vector<std::string> peer_urls, const std::string& cluster_token);
uint64_t ComputeClusterId(const std::string& cluster_token);

// etcd prints ids as lowercase hex without leading zeros.
std::string IdToHex(uint64_t id);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_IDENTITY_H_
