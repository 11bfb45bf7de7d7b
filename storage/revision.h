// Revisions of the MVCC store and their on-disk encoding. Used by the key index, the store and
// anything that reads the kv column family directly (hashing, watch catch-up, snapshots).
// Plain values; no threading concerns.
#ifndef QUORUM_STORAGE_REVISION_H_
#define QUORUM_STORAGE_REVISION_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/hash/hash.h"

namespace quorum::storage {

// A point in the store's history. `main` is bumped once per write transaction; `sub` orders the
// changes inside one transaction (etcd: revision{main, sub}).
struct Revision {
  int64_t main = 0;
  int64_t sub = 0;

  friend bool operator==(const Revision&, const Revision&) = default;
  friend auto operator<=>(const Revision&, const Revision&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Revision& r) {
    return H::combine(std::move(h), r.main, r.sub);
  }
};

// Key of a record in the kv column family: big-endian main, '_', big-endian sub, and for a
// tombstone a trailing 't'. This is byte-for-byte etcd's bolt key, so records sort by revision
// and HashKV over equal histories gives etcd's hash.
inline constexpr size_t kRevisionKeySize = 17;
inline constexpr size_t kTombstoneKeySize = 18;
inline constexpr char kTombstoneMark = 't';

// Writes the 17-byte key of `rev` to `out` (which must have room for 18 bytes) and returns its
// length: 17, or 18 with the tombstone mark.
size_t EncodeRevisionKey(Revision rev, bool tombstone, char* out);
std::string RevisionKey(Revision rev, bool tombstone = false);

// Parses a kv-family key. Returns false if `key` is not a revision key.
bool DecodeRevisionKey(std::string_view key, Revision* rev, bool* tombstone);

}  // namespace quorum::storage

#endif  // QUORUM_STORAGE_REVISION_H_
