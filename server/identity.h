// Member and cluster ids, derived as etcd derives them so that the same --initial-cluster gives
// the same ids on quorum as on etcd (tools pin them). A founding member's id comes from its
// sorted peer URLs and the cluster token; the cluster's from the founders' ids. A member added
// later gets its id from its peer URLs and the time it was added, and learns both ids from the
// cluster when it joins. Equal inputs give equal ids on every member.
#ifndef QUORUM_SERVER_IDENTITY_H_
#define QUORUM_SERVER_IDENTITY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace quorum::server {

// The first 8 bytes (big-endian) of sha1(sorted peer URLs, then the token), as etcd's.
uint64_t ComputeMemberId(std::vector<std::string> peer_urls, const std::string& cluster_token);
// etcd's id for a member added at `added`: sha1(sorted peer URLs, then the Unix seconds in
// decimal), no token.
uint64_t ComputeAddedMemberId(std::vector<std::string> peer_urls, absl::Time added);
// The first 8 bytes of sha1 over the sorted member ids, each 8 bytes big-endian, as etcd's.
uint64_t ComputeClusterId(std::vector<uint64_t> member_ids);

// etcd prints ids as lowercase hex without leading zeros.
std::string IdToHex(uint64_t id);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_IDENTITY_H_
