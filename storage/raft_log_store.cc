// RaftLogStore: the Raft log in the raft_log family; see raft_log_store.h for the layout.
#include "storage/raft_log_store.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "raft/crash_point.h"
#include "raft/raft_log.h"
#include "rocksdb/iterator.h"

namespace quorum::storage {
namespace {

constexpr std::string_view kHardStateKey = "hard_state";
constexpr std::string_view kLogStartKey = "log_start";
constexpr std::string_view kSnapshotKey = "snapshot";
constexpr std::string_view kConfStateKey = "conf_state";

// Entry keys are 8-byte big-endian indexes below 2^56, so their first byte is 0 and every one
// sorts before this bound and before every named record.
constexpr std::string_view kEntryKeyBound("\x01", 1);

std::string EntryKey(uint64_t index) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i) {
    key[i] = static_cast<char>(index & 0xff);
    index >>= 8;
  }
  return key;
}

bool DecodeEntryKey(const rocksdb::Slice& key, uint64_t* index) {
  if (key.size() != 8) return false;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(key[i]);
  *index = v;
  return true;
}

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

// Reads one record; std::nullopt when absent.
absl::StatusOr<std::optional<std::string>> Read(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                                                const rocksdb::Snapshot* at, std::string_view key) {
  rocksdb::ReadOptions options;
  options.snapshot = at;
  std::string value;
  rocksdb::Status s = db->Get(options, cf, ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocksStatus(s, "read raft log");
  return std::optional<std::string>(std::move(value));
}

template <typename Message>
absl::StatusOr<std::optional<Message>> ReadMessage(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                                                   const rocksdb::Snapshot* at,
                                                   std::string_view key) {
  absl::StatusOr<std::optional<std::string>> value = Read(db, cf, at, key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<Message>();
  Message message;
  if (!message.ParseFromString(**value)) {
    return absl::DataLossError(
        absl::StrCat("storage: malformed raft log record ", std::string(key)));
  }
  return std::optional<Message>(std::move(message));
}

// The log start record is a SnapshotMetadata without conf state: index and term only.
std::string EncodeLogStart(uint64_t index, uint64_t term) {
  raftpb::SnapshotMetadata start;
  start.set_index(index);
  start.set_term(term);
  return start.SerializeAsString();
}

}  // namespace

struct RaftLogStore::Impl {
  Impl(Backend* b, const Options& o)
      : options(o), backend(b), db(b->db()), family(b->Family(ColumnFamily::kRaftLog)) {}

  // The term of `index`, which must be in [first-1, last]: terms never decrease along a log,
  // so the log's terms are a few runs, each starting where the term changes.
  uint64_t CachedTerm(uint64_t index) const {
    auto it = std::upper_bound(term_runs.begin(), term_runs.end(), index,
                               [](uint64_t i, const TermRun& run) { return i < run.start; });
    return std::prev(it)->term;
  }

  // Reads the stored entry at `index` (for Open, which rebuilds the term runs).
  absl::StatusOr<raftpb::Entry> ReadEntry(uint64_t index) const {
    absl::StatusOr<std::optional<raftpb::Entry>> entry =
        ReadMessage<raftpb::Entry>(db, family, nullptr, EntryKey(index));
    if (!entry.ok()) return entry.status();
    if (!entry->has_value() || (*entry)->index() != index) {
      return absl::DataLossError(absl::StrCat("storage: raft log entry ", index, " is missing"));
    }
    return **std::move(entry);
  }

  // Appends to term_runs the term changes in (lo, hi], given the terms at both ends; binary
  // search with point reads, so Open costs O(runs * log(entries)) reads, not a scan.
  absl::Status FindTermChanges(uint64_t lo, uint64_t lo_term, uint64_t hi, uint64_t hi_term) {
    if (lo_term == hi_term || lo >= hi) return absl::OkStatus();
    if (hi_term < lo_term) {
      return absl::DataLossError(
          absl::StrCat("storage: raft log term decreases between ", lo, " and ", hi));
    }
    if (hi == lo + 1) {
      term_runs.push_back(TermRun{hi, hi_term});
      return absl::OkStatus();
    }
    const uint64_t mid = lo + (hi - lo) / 2;
    absl::StatusOr<raftpb::Entry> entry = ReadEntry(mid);
    if (!entry.ok()) return entry.status();
    if (absl::Status s = FindTermChanges(lo, lo_term, mid, entry->term()); !s.ok()) return s;
    return FindTermChanges(mid, entry->term(), hi, hi_term);
  }

  // The entry cache holds a contiguous run of the newest entries, ending at the last index.
  void CacheAppend(const std::vector<raftpb::Entry>& entries, size_t from) {
    if (options.entry_cache_bytes == 0) return;
    const uint64_t at = entries[from].index();
    while (!cache.empty() && cache.back().index() >= at) DropCached(/*front=*/false);
    if (!cache.empty() && cache.back().index() + 1 != at) ClearCache();
    for (size_t i = from; i < entries.size(); ++i) {
      cache.push_back(entries[i]);
      cache_bytes += raft::EntrySize(entries[i]);
    }
    while (cache_bytes > options.entry_cache_bytes && !cache.empty()) DropCached(/*front=*/true);
  }
  void CacheDropBelow(uint64_t index) {
    while (!cache.empty() && cache.front().index() < index) DropCached(/*front=*/true);
  }
  void ClearCache() {
    cache.clear();
    cache_bytes = 0;
  }
  void DropCached(bool front) {
    cache_bytes -= raft::EntrySize(front ? cache.front() : cache.back());
    if (front) {
      cache.pop_front();
    } else {
      cache.pop_back();
    }
  }

  void SetBounds(uint64_t first, uint64_t last) {
    first_index.store(first, std::memory_order_release);
    last_index.store(last, std::memory_order_release);
  }
  uint64_t First() const { return first_index.load(std::memory_order_acquire); }
  uint64_t Last() const { return last_index.load(std::memory_order_acquire); }

  const Options options;
  Backend* const backend;
  rocksdb::DB* const db;
  rocksdb::ColumnFamilyHandle* const family;

  // Written by the member loop only; atomic so that status readers on other threads may read
  // them (each on its own: the pair is not read as one).
  std::atomic<uint64_t> first_index{1};
  std::atomic<uint64_t> last_index{0};

  // Member loop only.
  struct TermRun {
    uint64_t start;  // first index with `term`
    uint64_t term;
  };
  std::vector<TermRun> term_runs;  // covers [first-1, last]; term_runs[0].start == first-1
  raftpb::HardState hard_state;
  raftpb::SnapshotMetadata snapshot;
  std::deque<raftpb::Entry> cache;
  uint64_t cache_bytes = 0;
};

RaftLogStore::RaftLogStore(Backend* backend, const Options& options)
    : impl_(std::make_unique<Impl>(backend, options)) {}
RaftLogStore::~RaftLogStore() = default;

absl::StatusOr<std::unique_ptr<RaftLogStore>> RaftLogStore::Open(Backend* backend) {
  return Open(backend, Options());
}

absl::StatusOr<std::unique_ptr<RaftLogStore>> RaftLogStore::Open(Backend* backend,
                                                                 const Options& options) {
  std::unique_ptr<RaftLogStore> store(new RaftLogStore(backend, options));
  if (absl::Status s = store->Load(); !s.ok()) return s;
  return store;
}

absl::Status RaftLogStore::Load() {
  Impl& m = *impl_;
  absl::StatusOr<std::optional<raftpb::HardState>> hard_state =
      ReadMessage<raftpb::HardState>(m.db, m.family, nullptr, kHardStateKey);
  if (!hard_state.ok()) return hard_state.status();
  absl::StatusOr<std::optional<raftpb::SnapshotMetadata>> snapshot =
      ReadMessage<raftpb::SnapshotMetadata>(m.db, m.family, nullptr, kSnapshotKey);
  if (!snapshot.ok()) return snapshot.status();
  absl::StatusOr<std::optional<raftpb::SnapshotMetadata>> start =
      ReadMessage<raftpb::SnapshotMetadata>(m.db, m.family, nullptr, kLogStartKey);
  if (!start.ok()) return start.status();
  m.hard_state = hard_state->value_or(raftpb::HardState());
  m.snapshot = snapshot->value_or(raftpb::SnapshotMetadata());
  const uint64_t start_index = start->has_value() ? (*start)->index() : 0;
  const uint64_t start_term = start->has_value() ? (*start)->term() : 0;

  // The stored entries must be exactly (start_index, last].
  rocksdb::Slice bound = ToSlice(kEntryKeyBound);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &bound;
  std::unique_ptr<rocksdb::Iterator> it(m.db->NewIterator(options, m.family));
  uint64_t last = start_index;
  it->SeekToFirst();
  if (it->Valid()) {
    uint64_t first_stored = 0;
    if (!DecodeEntryKey(it->key(), &first_stored) || first_stored != start_index + 1) {
      return absl::DataLossError(absl::StrCat("storage: raft log starts at entry ", first_stored,
                                              ", expected ", start_index + 1));
    }
    it->SeekToLast();
    if (!it->Valid() || !DecodeEntryKey(it->key(), &last)) {
      return absl::DataLossError("storage: unreadable last raft log entry key");
    }
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "scan raft log");
  it.reset();

  m.term_runs.assign(1, Impl::TermRun{start_index, start_term});
  if (last > start_index) {
    absl::StatusOr<raftpb::Entry> last_entry = m.ReadEntry(last);
    if (!last_entry.ok()) return last_entry.status();
    if (absl::Status s = m.FindTermChanges(start_index, start_term, last, last_entry->term());
        !s.ok()) {
      return s;
    }
  }
  m.SetBounds(start_index + 1, last);
  return absl::OkStatus();
}

absl::StatusOr<raft::PersistedState> RaftLogStore::InitialState() const {
  absl::StatusOr<raftpb::ConfState> conf_state = ReadConfState(impl_->backend, nullptr);
  if (!conf_state.ok()) return conf_state.status();
  return raft::PersistedState{impl_->hard_state, *std::move(conf_state)};
}

absl::StatusOr<std::vector<raftpb::Entry>> RaftLogStore::Entries(uint64_t lo, uint64_t hi,
                                                                 uint64_t max_bytes) const {
  const Impl& m = *impl_;
  if (lo < m.First()) return raft::CompactedError(lo);
  if (hi > m.Last() + 1) return raft::UnavailableError(absl::StrCat("entries up to ", hi));
  std::vector<raftpb::Entry> out;
  if (lo >= hi) return out;

  if (!m.cache.empty() && lo >= m.cache.front().index()) {
    const uint64_t offset = m.cache.front().index();
    uint64_t bytes = 0;
    for (uint64_t i = lo; i < hi; ++i) {
      const raftpb::Entry& e = m.cache[i - offset];
      bytes += raft::EntrySize(e);
      if (!out.empty() && bytes > max_bytes) break;
      out.push_back(e);
    }
    return out;
  }

  const std::string upper = EntryKey(hi);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(m.db->NewIterator(options, m.family));
  uint64_t bytes = 0;
  uint64_t expect = lo;
  bool full = false;
  for (it->Seek(EntryKey(lo)); it->Valid(); it->Next(), ++expect) {
    // The stored record is the entry's encoding, so its length is EntrySize() without parsing.
    bytes += it->value().size();
    if (!out.empty() && bytes > max_bytes) {
      full = true;
      break;
    }
    uint64_t index = 0;
    raftpb::Entry& entry = out.emplace_back();
    if (!DecodeEntryKey(it->key(), &index) || index != expect ||
        !entry.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          absl::StrCat("storage: raft log entry ", expect, " is missing or malformed"));
    }
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), "read raft log entries");
  if (!full && expect < hi) {
    return absl::DataLossError(absl::StrCat("storage: raft log entry ", expect, " is missing"));
  }
  return out;
}

absl::StatusOr<uint64_t> RaftLogStore::Term(uint64_t index) const {
  const Impl& m = *impl_;
  if (index + 1 < m.First()) return raft::CompactedError(index);
  if (index > m.Last()) return raft::UnavailableError(absl::StrCat("term of ", index));
  return m.CachedTerm(index);
}

absl::StatusOr<uint64_t> RaftLogStore::FirstIndex() const { return impl_->First(); }

absl::StatusOr<uint64_t> RaftLogStore::LastIndex() const { return impl_->Last(); }

absl::StatusOr<raftpb::Snapshot> RaftLogStore::Snapshot() const {
  raftpb::Snapshot snapshot;
  *snapshot.mutable_metadata() = impl_->snapshot;
  return snapshot;
}

absl::Status RaftLogStore::Save(const std::optional<raftpb::Snapshot>& snapshot,
                                const std::vector<raftpb::Entry>& entries,
                                const std::optional<raftpb::HardState>& hard_state, bool sync) {
  Impl& m = *impl_;
  rocksdb::WriteBatch batch;
  // The log as it will be after this batch: (start, last], start having start_term.
  uint64_t start = m.First() - 1;
  uint64_t last = m.Last();
  uint64_t start_term = m.term_runs.front().term;
  bool wrote = false;

  if (snapshot.has_value()) {
    const raftpb::SnapshotMetadata& meta = snapshot->metadata();
    if (meta.index() < m.snapshot.index()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "storage: snapshot at ", meta.index(), " is older than the one at ", m.snapshot.index()));
    }
    if (meta.index() >= raft::kMaxLogIndex) {
      return absl::InvalidArgumentError(
          absl::StrCat("storage: raft index ", meta.index(), " beyond the supported range"));
    }
    batch.Put(m.family, ToSlice(kSnapshotKey), meta.SerializeAsString());
    batch.Put(m.family, ToSlice(kLogStartKey), EncodeLogStart(meta.index(), meta.term()));
    if (last > start) batch.DeleteRange(m.family, EntryKey(start + 1), EntryKey(last + 1));
    start = meta.index();
    start_term = meta.term();
    last = start;
    wrote = true;
  }

  // Entries wholly at or below the log start are already covered by it.
  size_t skip = 0;
  while (skip < entries.size() && entries[skip].index() <= start) ++skip;
  const bool appending = skip < entries.size();
  const uint64_t append_from = appending ? entries[skip].index() : 0;
  if (appending) {
    if (append_from > last + 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "storage: append would leave a gap: next index ", last + 1, ", got ", append_from));
    }
    if (entries.back().index() >= raft::kMaxLogIndex) {
      return absl::InvalidArgumentError(absl::StrCat("storage: raft index ", entries.back().index(),
                                                     " beyond the supported range"));
    }
    // Terms never decrease along a log (every leader appends at its own, newer, term); the
    // term cache relies on it, so a violation is refused rather than stored.
    uint64_t prev_term = append_from - 1 == start ? start_term : m.CachedTerm(append_from - 1);
    uint64_t expect = append_from;
    std::string value;
    for (size_t i = skip; i < entries.size(); ++i, ++expect) {
      const raftpb::Entry& e = entries[i];
      if (e.index() != expect || e.term() < prev_term) {
        return absl::InvalidArgumentError(absl::StrCat(
            "storage: entries to append are not contiguous with non-decreasing terms at index ",
            e.index()));
      }
      prev_term = e.term();
      e.SerializeToString(&value);
      batch.Put(m.family, EntryKey(e.index()), value);
    }
    const uint64_t new_last = entries.back().index();
    // A new leader overwrote a suffix: whatever lay beyond its entries is not in its log.
    if (new_last < last) batch.DeleteRange(m.family, EntryKey(new_last + 1), EntryKey(last + 1));
    last = new_last;
    wrote = true;
  }

  if (hard_state.has_value()) {
    batch.Put(m.family, ToSlice(kHardStateKey), hard_state->SerializeAsString());
    wrote = true;
  }
  if (!wrote) return absl::OkStatus();
  if (sync) QUORUM_CRASH_POINT("raftlog-before-sync");
  if (absl::Status s = m.backend->Write(&batch, sync); !s.ok()) return s;
  if (sync) QUORUM_CRASH_POINT("raftlog-after-sync");

  // The batch is durable (as asked): only now does the cache follow.
  if (snapshot.has_value()) {
    m.snapshot = snapshot->metadata();
    m.term_runs.assign(1, Impl::TermRun{start, start_term});
    m.ClearCache();
  }
  if (appending) {
    m.CacheAppend(entries, skip);
    while (m.term_runs.back().start >= append_from) m.term_runs.pop_back();
    for (size_t i = skip; i < entries.size(); ++i) {
      if (entries[i].term() != m.term_runs.back().term) {
        m.term_runs.push_back(Impl::TermRun{entries[i].index(), entries[i].term()});
      }
    }
  }
  if (hard_state.has_value()) m.hard_state = *hard_state;
  m.SetBounds(start + 1, last);
  return absl::OkStatus();
}

absl::Status RaftLogStore::CreateSnapshot(uint64_t index, const raftpb::ConfState& conf_state,
                                          uint64_t compact_to) {
  Impl& m = *impl_;
  if (index < m.snapshot.index()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "storage: snapshot at ", index, " is older than the one at ", m.snapshot.index()));
  }
  if (index > m.Last()) {
    return absl::FailedPreconditionError(
        absl::StrCat("storage: snapshot at ", index, " is beyond the last log index ", m.Last()));
  }
  if (compact_to > index) {
    return absl::InvalidArgumentError(
        absl::StrCat("storage: compaction to ", compact_to, " beyond the snapshot at ", index));
  }
  absl::StatusOr<uint64_t> term = Term(index);
  if (!term.ok()) return term.status();

  raftpb::SnapshotMetadata meta;
  *meta.mutable_conf_state() = conf_state;
  meta.set_index(index);
  meta.set_term(*term);
  rocksdb::WriteBatch batch;
  batch.Put(m.family, ToSlice(kSnapshotKey), meta.SerializeAsString());
  const uint64_t first = m.First();
  const bool compacting = compact_to > first;
  uint64_t start_term = 0;
  if (compacting) {
    start_term = m.CachedTerm(compact_to - 1);
    batch.Put(m.family, ToSlice(kLogStartKey), EncodeLogStart(compact_to - 1, start_term));
    batch.DeleteRange(m.family, EntryKey(first), EntryKey(compact_to));
  }
  if (absl::Status s = m.backend->Write(&batch, /*sync=*/false); !s.ok()) return s;

  m.snapshot = std::move(meta);
  if (compacting) {
    // Keep the runs that start after the new log start, behind one for the start itself.
    auto keep =
        std::upper_bound(m.term_runs.begin(), m.term_runs.end(), compact_to - 1,
                         [](uint64_t i, const Impl::TermRun& run) { return i < run.start; });
    m.term_runs.erase(m.term_runs.begin(), keep);
    m.term_runs.insert(m.term_runs.begin(), Impl::TermRun{compact_to - 1, start_term});
    m.CacheDropBelow(compact_to);
    m.first_index.store(compact_to, std::memory_order_release);
  }
  return absl::OkStatus();
}

void RaftLogStore::PutConfState(const raftpb::ConfState& conf_state, rocksdb::WriteBatch* batch,
                                rocksdb::ColumnFamilyHandle* raft_family) {
  batch->Put(raft_family, ToSlice(kConfStateKey), conf_state.SerializeAsString());
}

absl::StatusOr<raftpb::ConfState> RaftLogStore::ReadConfState(Backend* backend,
                                                              const rocksdb::Snapshot* at) {
  rocksdb::ColumnFamilyHandle* family = backend->Family(ColumnFamily::kRaftLog);
  absl::StatusOr<std::optional<raftpb::ConfState>> recorded =
      ReadMessage<raftpb::ConfState>(backend->db(), family, at, kConfStateKey);
  if (!recorded.ok()) return recorded.status();
  if (recorded->has_value()) return **std::move(recorded);
  absl::StatusOr<std::optional<raftpb::SnapshotMetadata>> snapshot =
      ReadMessage<raftpb::SnapshotMetadata>(backend->db(), family, at, kSnapshotKey);
  if (!snapshot.ok()) return snapshot.status();
  return snapshot->has_value() ? (*snapshot)->conf_state() : raftpb::ConfState();
}

absl::Status RaftLogStore::AddInstalledSnapshot(Backend* backend,
                                                const raftpb::SnapshotMetadata& meta,
                                                rocksdb::WriteBatch* batch) {
  if (meta.index() >= raft::kMaxLogIndex) {
    return absl::InvalidArgumentError(
        absl::StrCat("storage: raft index ", meta.index(), " beyond the supported range"));
  }
  rocksdb::ColumnFamilyHandle* family = backend->Family(ColumnFamily::kRaftLog);
  absl::StatusOr<std::optional<raftpb::HardState>> hard_state =
      ReadMessage<raftpb::HardState>(backend->db(), family, nullptr, kHardStateKey);
  if (!hard_state.ok()) return hard_state.status();
  raftpb::HardState kept = hard_state->value_or(raftpb::HardState());
  if (kept.term() < meta.term()) {
    // Its vote was for an older term; this Ready's own hard state, saved next, brings the
    // member's real term and vote.
    kept.set_term(meta.term());
    kept.set_vote(0);
  }
  if (kept.commit() < meta.index()) kept.set_commit(meta.index());
  batch->Put(family, ToSlice(kHardStateKey), kept.SerializeAsString());
  batch->DeleteRange(family, EntryKey(0), ToSlice(kEntryKeyBound));
  batch->Put(family, ToSlice(kSnapshotKey), meta.SerializeAsString());
  batch->Put(family, ToSlice(kLogStartKey), EncodeLogStart(meta.index(), meta.term()));
  return absl::OkStatus();
}

}  // namespace quorum::storage
