// etcd's key-range conventions shared by every side of the API (server, client library, tools):
// the range end that covers every key under a prefix.
#ifndef QUORUM_PROTO_ETCD_KEYS_H_
#define QUORUM_PROTO_ETCD_KEYS_H_

#include <string>

namespace quorum {

// etcd's GetPrefixRangeEnd: "a/" -> "a0"; trailing 0xff bytes are dropped before the increment;
// a prefix of only 0xff bytes (or empty) gives "\0", etcd's "to the end of the keyspace".
std::string PrefixRangeEnd(const std::string& prefix);

}  // namespace quorum

#endif  // QUORUM_PROTO_ETCD_KEYS_H_
