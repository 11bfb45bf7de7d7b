#include "storage/key_index.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "raft/fatal.h"

namespace quorum::storage {
namespace {

// Index of the newest revision in `revs` whose main revision is <= at_rev, or -1.
int64_t NewestAtOrBelow(const std::vector<Revision>& revs, int64_t at_rev) {
  auto it = std::upper_bound(revs.begin(), revs.end(), at_rev,
                             [](int64_t rev, const Revision& r) { return rev < r.main; });
  return static_cast<int64_t>(it - revs.begin()) - 1;
}

// Appends `rev` to the key's current generation (etcd keyIndex.put).
void AppendRevision(std::string_view key, KeyHistory& history, Revision rev) {
  Generation& current = history.generations.back();
  const Generation* last_nonempty = nullptr;
  for (auto it = history.generations.rbegin(); it != history.generations.rend(); ++it) {
    if (!it->revs.empty()) {
      last_nonempty = &*it;
      break;
    }
  }
  if (last_nonempty != nullptr && !(rev > last_nonempty->revs.back())) {
    Fatal(absl::StrCat("put of key '", std::string(key), "' at revision ", rev.main, "/", rev.sub,
                       " is not above its last revision ", last_nonempty->revs.back().main, "/",
                       last_nonempty->revs.back().sub));
  }
  if (current.revs.empty()) {
    current.created = rev.main;
    current.version = 0;
  }
  current.revs.push_back(rev);
  ++current.version;
}

// The generation compaction at `at_rev` works on, and within it the newest revision at or below
// at_rev (or -1): generations that ended (tombstone) at or below at_rev are skipped entirely
// (etcd keyIndex.doCompact).
std::pair<size_t, int64_t> CompactionPoint(const KeyHistory& history, int64_t at_rev) {
  size_t gen = 0;
  const auto& gens = history.generations;
  while (gen + 1 < gens.size() && gens[gen].revs.back().main <= at_rev) ++gen;
  return {gen, NewestAtOrBelow(gens[gen].revs, at_rev)};
}

}  // namespace

std::optional<KeyAt> KeyIndex::At(const KeyHistory& history, int64_t at_rev) {
  const auto& gens = history.generations;
  for (size_t i = gens.size(); i-- > 0;) {
    const Generation& g = gens[i];
    if (g.revs.empty()) continue;
    // A finished generation whose tombstone is visible at at_rev means the key was deleted.
    if (i + 1 != gens.size() && g.revs.back().main <= at_rev) return std::nullopt;
    if (g.revs.front().main <= at_rev) {
      int64_t n = NewestAtOrBelow(g.revs, at_rev);
      int64_t newer = static_cast<int64_t>(g.revs.size()) - n - 1;
      return KeyAt{g.revs[n], g.created, g.version - newer};
    }
  }
  return std::nullopt;
}

std::optional<KeyAt> KeyIndex::Get(std::string_view key, int64_t at_rev) const {
  auto it = keys_.find(key);
  if (it == keys_.end()) return std::nullopt;
  return At(it->second, at_rev);
}

void KeyIndex::SetRecord(KeyHistory& history, std::shared_ptr<const std::string> record) {
  if (history.record) cached_bytes_ -= history.record->size();
  history.record = std::move(record);
  if (history.record) cached_bytes_ += history.record->size();
}

void KeyIndex::Put(std::string_view key, Revision rev, int64_t lease,
                   std::shared_ptr<const std::string> record) {
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    it = keys_.emplace(std::string(key), KeyHistory{}).first;
    it->second.generations.emplace_back();
  }
  if (!it->second.Live()) ++live_keys_;
  AppendRevision(key, it->second, rev);
  it->second.lease = lease;
  SetRecord(it->second, std::move(record));
}

bool KeyIndex::Tombstone(std::string_view key, Revision rev) {
  auto it = keys_.find(key);
  if (it == keys_.end() || !it->second.Live()) return false;
  AppendRevision(key, it->second, rev);
  it->second.generations.emplace_back();
  --live_keys_;
  it->second.lease = 0;
  SetRecord(it->second, nullptr);
  return true;
}

void KeyIndex::Restore(std::string_view key, Revision rev, bool tombstone, int64_t create_revision,
                       int64_t version, int64_t lease, std::shared_ptr<const std::string> record) {
  auto it = keys_.find(key);
  if (it != keys_.end()) {
    if (tombstone) {
      Tombstone(key, rev);
    } else {
      Put(key, rev, lease, std::move(record));
    }
    return;
  }
  // The oldest surviving record of a key starts its history. A lone tombstone says nothing
  // (its generation was compacted away); a put may sit mid-generation after compaction, so
  // its generation's creation and count come from the record itself.
  if (tombstone) return;
  KeyHistory history;
  Generation& g = history.generations.emplace_back();
  g.created = create_revision;
  g.version = version;
  g.revs.push_back(rev);
  history.lease = lease;
  SetRecord(history, std::move(record));
  keys_.emplace(std::string(key), std::move(history));
  ++live_keys_;
}

std::optional<std::string> KeyIndex::Compact(int64_t at_rev, std::string_view from, size_t max_keys,
                                             absl::flat_hash_set<Revision>* keep) {
  size_t done = 0;
  auto it = keys_.lower_bound(from);
  while (it != keys_.end()) {
    if (done++ == max_keys) return it->first;
    KeyHistory& history = it->second;
    auto [gen, newest] = CompactionPoint(history, at_rev);
    auto& gens = history.generations;
    Generation& g = gens[gen];
    if (!g.revs.empty()) {
      if (newest >= 0) {
        keep->insert(g.revs[newest]);
        g.revs.erase(g.revs.begin(), g.revs.begin() + newest);
      }
      // Only a tombstone left of a finished generation: nothing to read there any more.
      if (g.revs.size() == 1 && gen + 1 != gens.size()) {
        keep->erase(g.revs[0]);
        ++gen;
      }
    }
    gens.erase(gens.begin(), gens.begin() + gen);
    if (gens.size() == 1 && gens[0].revs.empty()) {
      SetRecord(history, nullptr);
      it = keys_.erase(it);
    } else {
      ++it;
    }
  }
  return std::nullopt;
}

void KeyIndex::Keep(int64_t at_rev, absl::flat_hash_set<Revision>* keep) const {
  for (const auto& [key, history] : keys_) {
    if (history.generations.size() == 1 && history.generations[0].revs.empty()) continue;
    auto [gen, newest] = CompactionPoint(history, at_rev);
    const Generation& g = history.generations[gen];
    if (newest < 0) continue;
    // A tombstone ending a finished generation is not kept (etcd keyIndex.keep).
    if (newest + 1 == static_cast<int64_t>(g.revs.size()) &&
        gen + 1 != history.generations.size()) {
      continue;
    }
    keep->insert(g.revs[newest]);
  }
}

const KeyHistory* KeyIndex::FindLive(std::string_view key) const {
  auto it = keys_.find(key);
  if (it == keys_.end() || !it->second.Live()) return nullptr;
  return &it->second;
}

}  // namespace quorum::storage
