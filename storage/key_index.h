// The in-memory key index of the MVCC store: for every key, the revisions at which it changed,
// grouped into generations (a generation runs from the put that creates the key to the delete
// that ends it). It answers "which revision of key K is visible at revision R" without touching
// disk, and is rebuilt from the kv column family on start (etcd: mvcc/key_index.go, index.go).
// Not synchronized: MvccStore guards it with its index mutex.
#ifndef QUORUM_STORAGE_KEY_INDEX_H_
#define QUORUM_STORAGE_KEY_INDEX_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "storage/revision.h"

namespace quorum::storage {

// The keys a request addresses, decoded from etcd's (key, range_end) pair: an empty range_end
// means the single key; range_end "\0" means every key >= key; otherwise [key, range_end).
struct KeyRange {
  std::string_view key;
  std::string_view end;  // exclusive bound; unused when single or unbounded
  bool single = true;
  bool unbounded = false;

  static KeyRange FromRequest(std::string_view key, std::string_view range_end) {
    if (range_end.empty()) return KeyRange{key, {}, true, false};
    if (range_end.size() == 1 && range_end[0] == '\0') return KeyRange{key, {}, false, true};
    return KeyRange{key, range_end, false, false};
  }
  bool Contains(std::string_view k) const {
    if (single) return k == key;
    return k >= key && (unbounded || k < end);
  }
};

// One generation of a key. revs ascend; in every generation but a key's last, the last revision
// is the tombstone that ended it.
struct Generation {
  int64_t created = 0;  // main revision of the put that began the generation
  int64_t version = 0;  // number of changes in the generation, the tombstone included
  std::vector<Revision> revs;
};

struct KeyHistory {
  // Never empty. The last generation is empty when the key is currently deleted.
  absl::InlinedVector<Generation, 1> generations;
  // Lease attached by the latest put while the key is live, else 0.
  int64_t lease = 0;
  // The stored record (serialized KeyValue) of the latest put while the key is live, if the
  // store chose to keep it in memory; reads at the latest revision then skip RocksDB.
  std::shared_ptr<const std::string> record;

  bool Live() const { return !generations.back().revs.empty(); }
  // The latest revision of a live key.
  Revision Latest() const { return generations.back().revs.back(); }
};

// A key as seen at some revision.
struct KeyAt {
  Revision mod;         // the revision of the visible change
  int64_t created = 0;  // create_revision of its generation
  int64_t version = 0;  // version at `mod`
};

class KeyIndex {
 public:
  // The key's state at `at_rev`, or nullopt if it did not exist then (never created, deleted, or
  // its history at that revision was compacted away).
  std::optional<KeyAt> Get(std::string_view key, int64_t at_rev) const;

  // Calls fn(key, const KeyAt&, const KeyHistory&) for every key in `range` that exists at
  // `at_rev`, in key order, while fn returns true.
  template <typename Fn>
  void Visit(const KeyRange& range, int64_t at_rev, Fn&& fn) const;

  // Records a put of `key` at `rev`, starting a new generation if the key was deleted, with its
  // stored record if it is to be kept in memory (else nullptr).
  // `rev` must be above every revision already recorded for the key (aborts otherwise).
  void Put(std::string_view key, Revision rev, int64_t lease,
           std::shared_ptr<const std::string> record = nullptr);
  // Records a delete of a live key at `rev`. Returns false (and changes nothing) if the key is
  // not live.
  bool Tombstone(std::string_view key, Revision rev);

  // Rebuild on start: feeds one kv record, in revision order (etcd restoreIntoIndex).
  void Restore(std::string_view key, Revision rev, bool tombstone, int64_t create_revision,
               int64_t version, int64_t lease, std::shared_ptr<const std::string> record);

  // Compaction at `at_rev` of up to `max_keys` keys starting at `from` (inclusive): drops the
  // history no read at or above at_rev can see and adds to `keep` the revision of each key whose
  // record must survive (its latest put at or below at_rev, unless deleted by then). Keys left
  // with no history are removed. Returns the key to resume from, or nullopt when done.
  std::optional<std::string> Compact(int64_t at_rev, std::string_view from, size_t max_keys,
                                     absl::flat_hash_set<Revision>* keep);
  // What Compact(at_rev) would keep, without changing anything (for HashKV).
  void Keep(int64_t at_rev, absl::flat_hash_set<Revision>* keep) const;

  // The live history of `key`, or nullptr.
  const KeyHistory* FindLive(std::string_view key) const;
  // Calls fn(key, const KeyHistory&) for every live key in key order.
  template <typename Fn>
  void ForEachLive(Fn&& fn) const;

  // Keys tracked, deleted ones whose history is not compacted yet included.
  size_t size() const { return keys_.size(); }
  // Keys that exist now (not deleted). Compaction never changes it: it keeps every live
  // generation.
  size_t live_keys() const { return live_keys_; }
  // Bytes of records kept in memory.
  size_t cached_bytes() const { return cached_bytes_; }

 private:
  static std::optional<KeyAt> At(const KeyHistory& history, int64_t at_rev);
  void SetRecord(KeyHistory& history, std::shared_ptr<const std::string> record);

  absl::btree_map<std::string, KeyHistory, std::less<>> keys_;
  size_t cached_bytes_ = 0;
  size_t live_keys_ = 0;
};

template <typename Fn>
void KeyIndex::Visit(const KeyRange& range, int64_t at_rev, Fn&& fn) const {
  if (range.single) {
    auto it = keys_.find(range.key);
    if (it == keys_.end()) return;
    if (std::optional<KeyAt> at = At(it->second, at_rev)) {
      fn(std::string_view(it->first), *at, it->second);
    }
    return;
  }
  for (auto it = keys_.lower_bound(range.key); it != keys_.end(); ++it) {
    if (!range.unbounded && std::string_view(it->first) >= range.end) break;
    std::optional<KeyAt> at = At(it->second, at_rev);
    if (at && !fn(std::string_view(it->first), *at, it->second)) break;
  }
}

template <typename Fn>
void KeyIndex::ForEachLive(Fn&& fn) const {
  for (const auto& [key, history] : keys_) {
    if (history.Live()) fn(std::string_view(key), history);
  }
}

}  // namespace quorum::storage

#endif  // QUORUM_STORAGE_KEY_INDEX_H_
