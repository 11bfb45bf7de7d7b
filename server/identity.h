// Member and cluster ids, derived as etcd derives them: a member's id from its peer URLs and the
// cluster token, the cluster's id from its members' ids. Equal inputs give equal ids on every
// member, so a cluster bootstrapped from one --initial-cluster agrees on them without talking.
#ifndef QUORUM_SERVER_IDENTITY_H_
#define QUORUM_SERVER_IDENTITY_H_

#include <cstdint>
#include <string>
#include <vector>

namespace quorum::server {

uint64_t ComputeMemberId(std::vector<std::string> peer_urls, const std::string& cluster_token);
uint64_t ComputeClusterId(std::vector<uint64_t> member_ids);

// etcd prints ids as lowercase hex without leading zeros.
std::string IdToHex(uint64_t id);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_IDENTITY_H_
