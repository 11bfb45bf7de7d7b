// RaftLogStore: the raft::LogStorage contract on RocksDB (appends, suffix overwrites, terms,
// compaction, snapshots), what survives a restart, that each Save is one write batch, and a
// seeded run that checks it answers exactly as raft::MemoryStorage does.
#include "storage/raft_log_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "raft/memory_storage.h"
#include "rocksdb/db.h"
#include "rocksdb/transaction_log.h"
#include "tests/storage/store_fixture.h"

namespace quorum::storage::testing {
namespace {

raftpb::Entry E(uint64_t index, uint64_t term, std::string data = "") {
  raftpb::Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(std::move(data));
  return e;
}

// Entries [lo, hi) at `term`.
std::vector<raftpb::Entry> Span(uint64_t lo, uint64_t hi, uint64_t term) {
  std::vector<raftpb::Entry> out;
  for (uint64_t i = lo; i < hi; ++i) out.push_back(E(i, term, "data" + std::to_string(i)));
  return out;
}

raftpb::ConfState Voters(std::vector<uint64_t> ids) {
  raftpb::ConfState cs;
  for (uint64_t id : ids) cs.add_voters(id);
  return cs;
}

raftpb::HardState Hs(uint64_t term, uint64_t vote, uint64_t commit) {
  raftpb::HardState hs;
  hs.set_term(term);
  hs.set_vote(vote);
  hs.set_commit(commit);
  return hs;
}

raftpb::Snapshot Snap(uint64_t index, uint64_t term, raftpb::ConfState cs) {
  raftpb::Snapshot snap;
  snap.mutable_metadata()->set_index(index);
  snap.mutable_metadata()->set_term(term);
  *snap.mutable_metadata()->mutable_conf_state() = std::move(cs);
  return snap;
}

template <typename T>
T Ok(absl::StatusOr<T> v) {
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *std::move(v) : T();
}

class RaftLogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    Backend::Options options;
    options.path = dir_.path() + "/db";
    options.sync_writes = false;
    options.block_cache_bytes = 8 << 20;
    auto backend = Backend::Open(options);
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
    auto log = RaftLogStore::Open(backend_.get(), options_);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
  }
  void Reopen() {
    log_.reset();
    backend_.reset();
    Open();
  }

  void Append(const std::vector<raftpb::Entry>& entries) {
    ASSERT_TRUE(log_->Save(std::nullopt, entries, std::nullopt, false).ok());
  }
  uint64_t First() { return Ok(log_->FirstIndex()); }
  uint64_t Last() { return Ok(log_->LastIndex()); }
  uint64_t TermOf(uint64_t index) { return Ok(log_->Term(index)); }
  std::vector<uint64_t> IndexesOf(uint64_t lo, uint64_t hi, uint64_t max_bytes = UINT64_MAX) {
    std::vector<uint64_t> out;
    for (const auto& e : Ok(log_->Entries(lo, hi, max_bytes))) out.push_back(e.index());
    return out;
  }

  TempDir dir_;
  RaftLogStore::Options options_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<RaftLogStore> log_;
};

using Indexes = std::vector<uint64_t>;

TEST_F(RaftLogStoreTest, NewLogIsEmpty) {
  EXPECT_EQ(First(), 1u);
  EXPECT_EQ(Last(), 0u);
  EXPECT_EQ(TermOf(0), 0u);
  EXPECT_TRUE(absl::IsUnavailable(log_->Term(1).status()));
  EXPECT_TRUE(Ok(log_->Entries(1, 1, 100)).empty());
  EXPECT_EQ(Ok(log_->Snapshot()).metadata().index(), 0u);
  raft::PersistedState state = Ok(log_->InitialState());
  EXPECT_EQ(state.hard_state.SerializeAsString(), "");
  EXPECT_EQ(state.conf_state.voters_size(), 0);
}

TEST_F(RaftLogStoreTest, AppendedEntriesReadBackInOrder) {
  Append(Span(1, 4, 1));
  Append(Span(4, 6, 2));
  EXPECT_EQ(First(), 1u);
  EXPECT_EQ(Last(), 5u);
  auto entries = Ok(log_->Entries(2, 6, UINT64_MAX));
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].data(), "data2");
  EXPECT_EQ(entries[3].term(), 2u);
  EXPECT_EQ(TermOf(3), 1u);
  EXPECT_EQ(TermOf(4), 2u);
}

TEST_F(RaftLogStoreTest, OverwritingASuffixDropsEveryLaterEntry) {
  Append(Span(1, 11, 1));
  Append({E(5, 2, "new5"), E(6, 2, "new6")});
  EXPECT_EQ(Last(), 6u);
  EXPECT_EQ(TermOf(4), 1u);
  EXPECT_EQ(TermOf(5), 2u);
  EXPECT_TRUE(absl::IsUnavailable(log_->Term(7).status()));
  EXPECT_TRUE(absl::IsUnavailable(log_->Entries(1, 8, UINT64_MAX).status()));
  Reopen();
  EXPECT_EQ(Last(), 6u);
  EXPECT_EQ(IndexesOf(1, 7), (Indexes{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(Ok(log_->Entries(5, 6, UINT64_MAX))[0].data(), "new5");
  EXPECT_EQ(TermOf(6), 2u);
  // The dropped indexes are free for the next append.
  Append({E(7, 3, "seven")});
  EXPECT_EQ(Ok(log_->Entries(7, 8, UINT64_MAX))[0].data(), "seven");
}

TEST_F(RaftLogStoreTest, AppendLeavingAGapIsRefusedAndChangesNothing) {
  Append(Span(1, 4, 1));
  absl::Status s = log_->Save(std::nullopt, {E(6, 1)}, Hs(1, 1, 3), false);
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_EQ(Last(), 3u);
  EXPECT_EQ(Ok(log_->InitialState()).hard_state.commit(), 0u);
}

TEST_F(RaftLogStoreTest, DecreasingTermsAreRefused) {
  Append(Span(1, 4, 3));
  EXPECT_TRUE(absl::IsInvalidArgument(log_->Save(std::nullopt, {E(4, 2)}, std::nullopt, false)));
  EXPECT_TRUE(
      absl::IsInvalidArgument(log_->Save(std::nullopt, {E(4, 3), E(6, 3)}, std::nullopt, false)));
  EXPECT_EQ(Last(), 3u);
}

TEST_F(RaftLogStoreTest, TermOfEveryIndexSurvivesRestart) {
  // Many term runs of uneven length, so the restart's binary search meets every shape.
  uint64_t index = 1;
  std::mt19937_64 rng(7);
  for (uint64_t term = 1; term <= 40; term += 1 + rng() % 3) {
    const uint64_t n = 1 + rng() % 9;
    Append(Span(index, index + n, term));
    index += n;
  }
  std::vector<uint64_t> before;
  for (uint64_t i = 0; i <= Last(); ++i) before.push_back(TermOf(i));
  Reopen();
  ASSERT_EQ(Last() + 1, before.size());
  for (uint64_t i = 0; i <= Last(); ++i) EXPECT_EQ(TermOf(i), before[i]) << "at " << i;
}

TEST_F(RaftLogStoreTest, CreateSnapshotCompactsBelowCompactTo) {
  Append(Span(1, 31, 1));
  Append(Span(31, 61, 2));
  ASSERT_TRUE(log_->CreateSnapshot(50, Voters({1, 2, 3}), 40).ok());
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before restart" : "after restart");
    EXPECT_EQ(First(), 40u);
    EXPECT_EQ(Last(), 60u);
    EXPECT_EQ(TermOf(39), 2u);  // the entry before the first keeps its term
    EXPECT_TRUE(raft::IsCompacted(log_->Term(38).status()));
    EXPECT_TRUE(raft::IsCompacted(log_->Entries(39, 41, UINT64_MAX).status()));
    EXPECT_EQ(IndexesOf(40, 42), (Indexes{40, 41}));
    raftpb::Snapshot snap = Ok(log_->Snapshot());
    EXPECT_EQ(snap.metadata().index(), 50u);
    EXPECT_EQ(snap.metadata().term(), 2u);
    EXPECT_EQ(snap.metadata().conf_state().voters_size(), 3);
    Reopen();
  }
}

TEST_F(RaftLogStoreTest, CreateSnapshotRefusesWhatItCannotRecord) {
  Append(Span(1, 21, 1));
  ASSERT_TRUE(log_->CreateSnapshot(10, Voters({1}), 5).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(log_->CreateSnapshot(9, Voters({1}), 5)));
  EXPECT_TRUE(absl::IsFailedPrecondition(log_->CreateSnapshot(21, Voters({1}), 5)));
  EXPECT_TRUE(absl::IsInvalidArgument(log_->CreateSnapshot(15, Voters({1}), 16)));
  EXPECT_EQ(First(), 5u);
  EXPECT_EQ(Ok(log_->Snapshot()).metadata().index(), 10u);
}

TEST_F(RaftLogStoreTest, CompactingToOrBelowTheFirstIndexKeepsTheLog) {
  Append(Span(1, 21, 1));
  ASSERT_TRUE(log_->CreateSnapshot(10, Voters({1}), 8).ok());
  ASSERT_TRUE(log_->CreateSnapshot(12, Voters({1}), 8).ok());
  ASSERT_TRUE(log_->CreateSnapshot(12, Voters({1}), 3).ok());
  EXPECT_EQ(First(), 8u);
  EXPECT_EQ(TermOf(7), 1u);
  EXPECT_EQ(Ok(log_->Snapshot()).metadata().index(), 12u);
}

TEST_F(RaftLogStoreTest, SaveWithASnapshotReplacesTheWholeLog) {
  Append(Span(1, 21, 1));
  // The follower's entries above the snapshot index are dropped too: it did not hold the
  // snapshot's entry, so they may conflict with the leader's.
  ASSERT_TRUE(
      log_->Save(Snap(15, 3, Voters({1, 2})), {E(15, 3), E(16, 3), E(17, 4)}, Hs(4, 2, 15), true)
          .ok());
  for (int pass = 0; pass < 2; ++pass) {
    EXPECT_EQ(First(), 16u);
    EXPECT_EQ(Last(), 17u);
    EXPECT_EQ(TermOf(15), 3u);
    EXPECT_EQ(TermOf(17), 4u);
    EXPECT_TRUE(raft::IsCompacted(log_->Term(14).status()));
    EXPECT_EQ(Ok(log_->Snapshot()).metadata().index(), 15u);
    EXPECT_EQ(Ok(log_->InitialState()).hard_state.commit(), 15u);
    Reopen();
  }
  EXPECT_TRUE(
      absl::IsFailedPrecondition(log_->Save(Snap(14, 3, Voters({1})), {}, std::nullopt, false)));
  // A snapshot beyond the last index (a follower far behind) leaves an empty log after it.
  ASSERT_TRUE(log_->Save(Snap(100, 5, Voters({1})), {}, std::nullopt, false).ok());
  EXPECT_EQ(First(), 101u);
  EXPECT_EQ(Last(), 100u);
  EXPECT_EQ(TermOf(100), 5u);
}

TEST_F(RaftLogStoreTest, RestartReturnsTheSameState) {
  ASSERT_TRUE(log_->Save(Snap(1, 1, Voters({1, 2, 3})), {}, Hs(1, 0, 1), true).ok());
  Append(Span(2, 40, 2));
  ASSERT_TRUE(log_->Save(std::nullopt, Span(40, 45, 3), Hs(3, 2, 42), true).ok());
  ASSERT_TRUE(log_->CreateSnapshot(30, Voters({1, 2, 3}), 20).ok());
  auto entries = Ok(log_->Entries(20, 45, UINT64_MAX));
  std::string state = Ok(log_->InitialState()).hard_state.SerializeAsString();
  std::string snap = Ok(log_->Snapshot()).SerializeAsString();
  Reopen();
  EXPECT_EQ(First(), 20u);
  EXPECT_EQ(Last(), 44u);
  auto again = Ok(log_->Entries(20, 45, UINT64_MAX));
  ASSERT_EQ(again.size(), entries.size());
  for (size_t i = 0; i < again.size(); ++i) {
    EXPECT_EQ(again[i].SerializeAsString(), entries[i].SerializeAsString());
  }
  EXPECT_EQ(Ok(log_->InitialState()).hard_state.SerializeAsString(), state);
  EXPECT_EQ(Ok(log_->Snapshot()).SerializeAsString(), snap);
  EXPECT_EQ(TermOf(19), 2u);
}

// Counts what each logged write batch did, by family id.
class BatchRecorder : public rocksdb::WriteBatch::Handler {
 public:
  rocksdb::Status PutCF(uint32_t family, const rocksdb::Slice& key,
                        const rocksdb::Slice&) override {
    puts.emplace_back(family, key.ToString());
    return rocksdb::Status::OK();
  }
  rocksdb::Status DeleteRangeCF(uint32_t family, const rocksdb::Slice&,
                                const rocksdb::Slice&) override {
    ++range_deletes;
    return rocksdb::Status::OK();
  }
  std::vector<std::pair<uint32_t, std::string>> puts;
  int range_deletes = 0;
};

TEST_F(RaftLogStoreTest, SnapshotEntriesAndHardStateAreOneWriteBatch) {
  Append(Span(1, 6, 1));
  rocksdb::SequenceNumber since = backend_->db()->GetLatestSequenceNumber();
  ASSERT_TRUE(log_->Save(Snap(8, 2, Voters({1})), Span(9, 12, 2), Hs(2, 1, 8), true).ok());
  std::unique_ptr<rocksdb::TransactionLogIterator> wal;
  ASSERT_TRUE(backend_->db()->GetUpdatesSince(since + 1, &wal).ok());
  std::vector<BatchRecorder> batches;
  for (; wal->Valid(); wal->Next()) {
    BatchRecorder& recorder = batches.emplace_back();
    ASSERT_TRUE(wal->GetBatch().writeBatchPtr->Iterate(&recorder).ok());
  }
  ASSERT_EQ(batches.size(), 1u);
  const uint32_t raft_log = backend_->Family(ColumnFamily::kRaftLog)->GetID();
  EXPECT_EQ(batches[0].range_deletes, 1);  // the old log
  ASSERT_EQ(batches[0].puts.size(), 6u);   // snapshot, log start, 3 entries, hard state
  for (const auto& [family, key] : batches[0].puts) EXPECT_EQ(family, raft_log);
  EXPECT_EQ(batches[0].puts.back().second, "hard_state");
}

TEST_F(RaftLogStoreTest, EntriesStopAtMaxBytesButReturnAtLeastOne) {
  Append({E(1, 1, std::string(100, 'a')), E(2, 1, std::string(100, 'b')),
          E(3, 1, std::string(100, 'c')), E(4, 1, std::string(100, 'd'))});
  const uint64_t size = raft::EntrySize(Ok(log_->Entries(1, 2, UINT64_MAX))[0]);
  EXPECT_EQ(IndexesOf(1, 5, 0), (Indexes{1}));
  EXPECT_EQ(IndexesOf(1, 5, size), (Indexes{1}));
  EXPECT_EQ(IndexesOf(1, 5, 2 * size), (Indexes{1, 2}));
  EXPECT_EQ(IndexesOf(1, 5, 3 * size - 1), (Indexes{1, 2}));
  EXPECT_EQ(IndexesOf(2, 5, 3 * size), (Indexes{2, 3, 4}));
}

TEST_F(RaftLogStoreTest, InitialStateConfStatePrefersTheAppliedRecord) {
  ASSERT_TRUE(log_->Save(Snap(1, 1, Voters({1, 2, 3})), {}, Hs(1, 0, 1), true).ok());
  EXPECT_EQ(Ok(log_->InitialState()).conf_state.voters_size(), 3);

  rocksdb::WriteBatch batch;
  RaftLogStore::PutConfState(Voters({1, 2}), &batch, backend_->Family(ColumnFamily::kRaftLog));
  ASSERT_TRUE(backend_->Write(&batch).ok());
  EXPECT_EQ(Ok(log_->InitialState()).conf_state.voters_size(), 2);

  // A later snapshot point does not override the membership recorded at the applied index:
  // only the applier moves that record.
  Append(Span(2, 5, 1));
  ASSERT_TRUE(log_->CreateSnapshot(4, Voters({1, 2, 3, 4}), 0).ok());
  Reopen();
  EXPECT_EQ(Ok(log_->InitialState()).conf_state.voters_size(), 2);
  EXPECT_EQ(Ok(RaftLogStore::ReadConfState(backend_.get(), nullptr)).voters_size(), 2);
}

TEST_F(RaftLogStoreTest, FirstAndLastIndexMayBeReadFromAnotherThreadWhileSaving) {
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread status([&] {
    uint64_t seen_last = 0;
    while (!done.load()) {
      uint64_t first = *log_->FirstIndex();
      uint64_t last = *log_->LastIndex();
      if (last < seen_last || first < 1) ++bad;  // the log only grows here
      seen_last = last;
    }
  });
  for (uint64_t i = 1; i <= 300; ++i) Append({E(i, 1)});
  done = true;
  status.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(Last(), 300u);
}

TEST_F(RaftLogStoreTest, AnInstalledSnapshotReplacesTheLogAndKeepsTermAndVote) {
  ASSERT_TRUE(log_->Save(Snap(1, 1, Voters({1, 2, 3})), Span(2, 10, 4), Hs(4, 2, 9), true).ok());
  log_.reset();
  raftpb::SnapshotMetadata meta;
  meta.set_index(20);
  meta.set_term(3);
  rocksdb::WriteBatch batch;
  ASSERT_TRUE(RaftLogStore::AddInstalledSnapshot(backend_.get(), meta, &batch).ok());
  ASSERT_TRUE(backend_->Write(&batch).ok());
  Reopen();
  EXPECT_EQ(First(), 21u);
  EXPECT_EQ(Last(), 20u);
  EXPECT_EQ(Ok(log_->Snapshot()).metadata().index(), 20u);
  EXPECT_EQ(Ok(log_->Term(20)), 3u);
  raft::PersistedState state = Ok(log_->InitialState());
  EXPECT_EQ(state.hard_state.term(), 4u);
  EXPECT_EQ(state.hard_state.vote(), 2u);
  EXPECT_EQ(state.hard_state.commit(), 20u);  // a snapshot holds only committed entries

  // A snapshot of a newer term than the recorded one: the old vote was for an older term.
  log_.reset();
  meta.set_index(30);
  meta.set_term(6);
  batch.Clear();
  ASSERT_TRUE(RaftLogStore::AddInstalledSnapshot(backend_.get(), meta, &batch).ok());
  ASSERT_TRUE(backend_->Write(&batch).ok());
  Reopen();
  state = Ok(log_->InitialState());
  EXPECT_EQ(state.hard_state.term(), 6u);
  EXPECT_EQ(state.hard_state.vote(), 0u);
  EXPECT_EQ(state.hard_state.commit(), 30u);
  EXPECT_EQ(First(), 31u);
}

// ---- Conformance with raft::MemoryStorage ----

// Compares every answer of the two stores over the whole index range (and a little beyond).
void ExpectSameAnswers(const raft::MemoryStorage& mem, const RaftLogStore& rocks,
                       std::mt19937_64& rng) {
  const uint64_t first = *mem.FirstIndex();
  const uint64_t last = *mem.LastIndex();
  ASSERT_EQ(*rocks.FirstIndex(), first);
  ASSERT_EQ(*rocks.LastIndex(), last);
  for (uint64_t i = first > 3 ? first - 3 : 0; i <= last + 2; ++i) {
    auto a = mem.Term(i);
    auto b = rocks.Term(i);
    ASSERT_EQ(a.status().code(), b.status().code()) << "term of " << i;
    if (a.ok()) {
      ASSERT_EQ(*a, *b) << "term of " << i;
    }
  }
  for (int n = 0; n < 8; ++n) {
    uint64_t lo = (first > 2 ? first - 2 : 0) + rng() % (last - first + 5);
    uint64_t hi = lo + rng() % 6;
    uint64_t max_bytes = rng() % 3 == 0 ? UINT64_MAX : rng() % 80;
    auto a = mem.Entries(lo, hi, max_bytes);
    auto b = rocks.Entries(lo, hi, max_bytes);
    ASSERT_EQ(a.status().code(), b.status().code()) << "entries " << lo << ".." << hi;
    if (!a.ok()) continue;
    ASSERT_EQ(a->size(), b->size()) << "entries " << lo << ".." << hi << " max " << max_bytes;
    for (size_t k = 0; k < a->size(); ++k) {
      ASSERT_EQ((*a)[k].SerializeAsString(), (*b)[k].SerializeAsString());
    }
  }
  ASSERT_EQ(mem.Snapshot()->metadata().SerializeAsString(),
            rocks.Snapshot()->metadata().SerializeAsString());
  ASSERT_EQ(mem.InitialState()->conf_state.SerializeAsString(),
            rocks.InitialState()->conf_state.SerializeAsString());
}

TEST_F(RaftLogStoreTest, AnswersAsMemoryStorageDoesOverRandomHistories) {
  for (uint64_t seed = 1; seed <= 9; ++seed) {
    // Entries come from the cache alone, from RocksDB alone, or from either by where a read
    // starts.
    const size_t cache_bytes[] = {0, 200, 1 << 20};
    options_.entry_cache_bytes = cache_bytes[seed % 3];
    SCOPED_TRACE(::testing::Message() << "seed " << seed << ", cache " << cache_bytes[seed % 3]);
    log_.reset();
    backend_.reset();
    std::filesystem::remove_all(dir_.path() + "/db");
    Open();
    raft::MemoryStorage mem;
    std::mt19937_64 rng(seed);
    uint64_t term = 1;
    for (int step = 0; step < 300; ++step) {
      const uint64_t first = *mem.FirstIndex();
      const uint64_t last = *mem.LastIndex();
      const int op = static_cast<int>(rng() % 20);
      if (op < 12) {
        // Append, sometimes over a suffix (a new leader's entries), sometimes below the log
        // start (a stale append whose covered part is ignored).
        if (rng() % 4 == 0) ++term;
        uint64_t from = last + 1;
        if (rng() % 3 == 0) from = (first > 3 ? first - 3 : 1) + rng() % (last - first + 5);
        from = std::max<uint64_t>(from, 1);
        from = std::min(from, last + 1);
        const uint64_t prev_term = *mem.Term(from - 1 < first - 1 ? first - 1 : from - 1);
        if (term < prev_term) term = prev_term;
        std::vector<raftpb::Entry> entries;
        const int n = 1 + static_cast<int>(rng() % 5);
        for (int k = 0; k < n; ++k) {
          entries.push_back(E(from + k, term, std::string(rng() % 40, 'x')));
        }
        if (entries.back().index() < first) continue;
        ASSERT_TRUE(mem.Append(entries).ok());
        ASSERT_TRUE(log_->Save(std::nullopt, entries, Hs(term, 1, 0), false).ok());
      } else if (op < 16) {
        // Snapshot point and compaction, as the member loop asks for them.
        const uint64_t snap_index = mem.Snapshot()->metadata().index();
        if (last <= snap_index || last < first) continue;
        const uint64_t index = std::max(snap_index + 1, first) + rng() % (last - first + 1);
        if (index > last) continue;
        const uint64_t compact_to = rng() % 2 ? index - rng() % (index - first + 1) : 0;
        raftpb::ConfState cs = Voters({1, 2, 3, step % 5 + 4ull});
        ASSERT_TRUE(mem.CreateSnapshot(index, cs, "").ok());
        if (compact_to > first) {
          ASSERT_TRUE(mem.Compact(compact_to - 1).ok());
        }
        ASSERT_TRUE(log_->CreateSnapshot(index, cs, compact_to).ok());
      } else if (op < 18) {
        // A leader's snapshot replaces the log, possibly far ahead of it.
        const uint64_t snap_index = mem.Snapshot()->metadata().index();
        const uint64_t index = std::max(snap_index, first) + rng() % (last - first + 8);
        if (rng() % 2) ++term;
        raftpb::Snapshot snap = Snap(index, term, Voters({1, 2, index % 7 + 3}));
        ASSERT_TRUE(mem.ApplySnapshot(snap).ok());
        ASSERT_TRUE(log_->Save(snap, {}, Hs(term, 2, index), true).ok());
      } else {
        Reopen();
      }
      ExpectSameAnswers(mem, *log_, rng);
      if (HasFatalFailure()) return;
    }
  }
}

}  // namespace
}  // namespace quorum::storage::testing
