// State snapshots: a snapshot read from one member's backend and installed into another's
// (which held other data) reopens as the same store: same keys at every revision it keeps,
// same revisions, applied position and hash; the receiver keeps its own identity. Also the
// reader's chunking and consistency, the installer's guards, recovery from an install cut
// short, and MarkApplied's extra records.
#include "storage/state_snapshot.h"

#include <gtest/gtest.h>

#include <map>

#include "rocksdb/db.h"
#include "rocksdb/transaction_log.h"
#include "storage/raft_log_store.h"
#include "tests/storage/store_fixture.h"

namespace quorum::storage::testing {
namespace {

using Records = std::map<std::string, std::string>;

raftpb::ConfState Voters(std::vector<uint64_t> ids) {
  raftpb::ConfState cs;
  for (uint64_t id : ids) cs.add_voters(id);
  return cs;
}

// One member's data dir: a backend and the store on it.
struct Node {
  void Open() {
    Backend::Options options;
    options.path = dir.path() + "/db";
    options.sync_writes = false;
    options.block_cache_bytes = 8 << 20;
    auto opened = Backend::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    backend = *std::move(opened);
    OpenStore();
  }
  void OpenStore() {
    auto opened = MvccStore::Open(backend.get(), StoreOptions());
    ASSERT_TRUE(opened.ok()) << opened.status();
    store = *std::move(opened);
  }
  void Close() {
    store.reset();
    backend.reset();
  }

  ApplyMeta Next() { return ApplyMeta{++index, 2}; }
  void Put(const std::string& key, const std::string& value) {
    ASSERT_TRUE(store->Put(PutReq(key, value), Next()).ok());
  }
  void Delete(const std::string& key) { ASSERT_TRUE(store->DeleteRange(DelReq(key), Next()).ok()); }
  void Compact(int64_t rev) {
    etcdserverpb::CompactionRequest req;
    req.set_revision(rev);
    ASSERT_TRUE(store->Compact(req, Next()).ok());
  }
  void Raw(ColumnFamily family, const std::string& key, const std::string& value) {
    rocksdb::WriteBatch batch;
    batch.Put(backend->Family(family), key, value);
    ASSERT_TRUE(backend->Write(&batch).ok());
  }
  Records Family(ColumnFamily family) {
    Records out;
    std::unique_ptr<rocksdb::Iterator> it(
        backend->db()->NewIterator(rocksdb::ReadOptions(), backend->Family(family)));
    for (it->SeekToFirst(); it->Valid(); it->Next())
      out[it->key().ToString()] = it->value().ToString();
    return out;
  }

  TempDir dir;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<MvccStore> store;
  uint64_t index = 0;
};

// What two stores must agree on.
struct StoreView {
  std::string all_now;
  std::string all_at_old;
  int64_t revision = 0;
  int64_t compacted = 0;
  ApplyMeta applied;
  uint32_t hash = 0;
  std::string events;

  static StoreView Of(const MvccStore& store, int64_t old_rev) {
    StoreView v;
    const std::string all(1, '\0');
    auto now = store.Range(RangeReq(all, all));
    auto old = store.Range(RangeReq(all, all, old_rev));
    auto hash = store.HashKV(0);
    auto events = store.ReadEvents(old_rev, store.CurrentRevision());
    EXPECT_TRUE(now.ok() && old.ok() && hash.ok() && events.ok());
    v.all_now = now->SerializeAsString();
    v.all_at_old = old->SerializeAsString();
    v.revision = store.CurrentRevision();
    v.compacted = store.CompactedRevision();
    v.applied = store.Applied();
    v.hash = hash->hash;
    for (const auto& e : *events) v.events += e.SerializeAsString();
    return v;
  }
  void ExpectEq(const StoreView& o) const {
    EXPECT_EQ(all_now, o.all_now);
    EXPECT_EQ(all_at_old, o.all_at_old);
    EXPECT_EQ(revision, o.revision);
    EXPECT_EQ(compacted, o.compacted);
    EXPECT_EQ(applied, o.applied);
    EXPECT_EQ(hash, o.hash);
    EXPECT_EQ(events, o.events);
  }
};

std::string Key(int i) {
  char key[32];
  std::snprintf(key, sizeof(key), "key/%05d", i);
  return key;
}

class StateSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_.Open();
    target_.Open();
  }

  // A few thousand keys with history: overwrites, deletes, a compaction, writes after it, and
  // records in every other state family.
  void FillSource() {
    for (int i = 0; i < 3000; ++i) {
      source_.Put(Key(i), std::string(40 + i % 60, static_cast<char>('a' + i % 26)));
    }
    for (int i = 0; i < 3000; i += 3) source_.Put(Key(i), "second");
    for (int i = 0; i < 3000; i += 7) source_.Delete(Key(i));
    compacted_at_ = source_.store->CurrentRevision() - 500;
    source_.Compact(compacted_at_);
    for (int i = 0; i < 200; ++i) source_.Put("late/" + std::to_string(i % 50), std::to_string(i));
    source_.Raw(ColumnFamily::kLease, "lease/1", "ttl 10");
    source_.Raw(ColumnFamily::kLease, "lease/2", "ttl 20");
    source_.Raw(ColumnFamily::kAuth, "enabled", "0");
    source_.Raw(ColumnFamily::kMembers, std::string(kMemberIdentityKey), "source identity");
    source_.Raw(ColumnFamily::kMembers, "member/a", "A");
    source_.Raw(ColumnFamily::kMembers, "member/b", "B");
    // The last applied entry is a membership change: records and conf state with the index.
    RecordChanges records;
    etcdserverpb::Member c;
    c.set_id(3);
    c.set_name("c");
    records.PutMember(c);
    records.PutConfState(Voters({1, 2, 3}));
    ASSERT_TRUE(source_.store->MarkApplied(source_.Next(), records).ok());
  }

  // Other data on the receiving side, all of which must go (but its identity).
  void FillTarget() {
    for (int i = 0; i < 500; ++i) target_.Put("other/" + std::to_string(i), "x");
    target_.Put("key/00001", "stale");
    target_.Compact(100);
    target_.Raw(ColumnFamily::kLease, "lease/9", "old");
    target_.Raw(ColumnFamily::kAuth, "user/root", "old");
    target_.Raw(ColumnFamily::kMeta, "unknown", "old");
    target_.Raw(ColumnFamily::kMembers, std::string(kMemberIdentityKey), "target identity");
    target_.Raw(ColumnFamily::kMembers, "member/z", "Z");
    target_.Raw(ColumnFamily::kMembers, "zzz", "after the identity key");
    rocksdb::WriteBatch batch;
    RaftLogStore::PutConfState(Voters({9}), &batch,
                               target_.backend->Family(ColumnFamily::kRaftLog));
    ASSERT_TRUE(target_.backend->Write(&batch).ok());
  }

  // Reads all of `reader` into chunks of about `max_bytes`.
  std::vector<internalpb::SnapshotChunk> ReadAll(StateSnapshotReader& reader, size_t max_bytes) {
    std::vector<internalpb::SnapshotChunk> chunks;
    bool more = true;
    while (more) {
      internalpb::SnapshotChunk& chunk = chunks.emplace_back();
      auto next = reader.Next(&chunk, max_bytes);
      EXPECT_TRUE(next.ok()) << next.status();
      if (!next.ok()) break;
      more = *next;
      chunk.set_last(!more);
      EXPECT_LT(chunks.size(), 100000u);
    }
    return chunks;
  }

  // The snapshot message a leader would send for what `reader` hands out.
  static raftpb::Snapshot SnapshotOf(const StateSnapshotReader& reader) {
    raftpb::Snapshot snapshot;
    snapshot.mutable_metadata()->set_index(reader.applied_index());
    snapshot.mutable_metadata()->set_term(reader.applied_term());
    *snapshot.mutable_metadata()->mutable_conf_state() = reader.conf_state();
    snapshot.set_data("staged.snap");
    return snapshot;
  }

  // Installs what `reader` handed out as `chunks` into the target.
  void Install(const std::vector<internalpb::SnapshotChunk>& chunks,
               const StateSnapshotReader& reader) {
    StateInstaller installer(target_.backend.get());
    const raftpb::Snapshot snapshot = SnapshotOf(reader);
    ASSERT_TRUE(installer.Begin(snapshot).ok());
    for (const auto& chunk : chunks) ASSERT_TRUE(installer.Add(chunk).ok());
    ASSERT_TRUE(installer.Finish(snapshot.metadata()).ok());
    ASSERT_TRUE(installer.applied().has_value());
    EXPECT_EQ(*installer.applied(), (ApplyMeta{reader.applied_index(), reader.applied_term()}));
  }

  Node source_;
  Node target_;
  int64_t compacted_at_ = 0;
};

TEST_F(StateSnapshotTest, InstalledSnapshotReopensAsTheSameStore) {
  FillSource();
  FillTarget();
  const StoreView expected = StoreView::Of(*source_.store, compacted_at_ + 10);
  auto reader = StateSnapshotReader::Open(source_.backend.get());
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->applied_index(), source_.index);
  EXPECT_EQ((*reader)->applied_term(), 2u);
  EXPECT_EQ((*reader)->revision(), source_.store->CurrentRevision());
  EXPECT_EQ((*reader)->conf_state().SerializeAsString(), Voters({1, 2, 3}).SerializeAsString());

  constexpr size_t kChunkBytes = 64 << 10;
  std::vector<internalpb::SnapshotChunk> chunks = ReadAll(**reader, kChunkBytes);
  EXPECT_GT(chunks.size(), 3u);
  for (const auto& chunk : chunks) EXPECT_LE(chunk.ByteSizeLong(), kChunkBytes + kChunkBytes / 8);

  // The target keeps serving until the install: it is replaced under an open store, which the
  // caller then reopens.
  Install(chunks, **reader);
  target_.store.reset();
  target_.OpenStore();
  StoreView::Of(*target_.store, compacted_at_ + 10).ExpectEq(expected);
  EXPECT_TRUE(target_.store->Range(RangeReq("other/", "other0"))->kvs().empty());

  EXPECT_EQ(target_.Family(ColumnFamily::kLease), source_.Family(ColumnFamily::kLease));
  EXPECT_EQ(target_.Family(ColumnFamily::kAuth), source_.Family(ColumnFamily::kAuth));
  EXPECT_EQ(target_.Family(ColumnFamily::kMeta), source_.Family(ColumnFamily::kMeta));
  Records members = source_.Family(ColumnFamily::kMembers);
  members[std::string(kMemberIdentityKey)] = "target identity";
  EXPECT_EQ(target_.Family(ColumnFamily::kMembers), members);

  // The Raft side: the membership as of the applied index, whatever the target held before.
  auto log = RaftLogStore::Open(target_.backend.get());
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->InitialState()->conf_state.SerializeAsString(),
            Voters({1, 2, 3}).SerializeAsString());
  EXPECT_FALSE(StateInstaller::Interrupted(target_.backend.get())->has_value());
  // The log starts at the snapshot.
  EXPECT_EQ(*(*log)->FirstIndex(), (*reader)->applied_index() + 1);
  EXPECT_EQ((*log)->InitialState()->hard_state.commit(), (*reader)->applied_index());

  // And all of it survives a restart of the receiving member.
  log->reset();
  target_.Close();
  target_.Open();
  StoreView::Of(*target_.store, compacted_at_ + 10).ExpectEq(expected);
}

TEST_F(StateSnapshotTest, InstallThenSaveRecordsAConsistentMember) {
  FillSource();
  auto reader = StateSnapshotReader::Open(source_.backend.get());
  ASSERT_TRUE(reader.ok());
  std::vector<internalpb::SnapshotChunk> chunks = ReadAll(**reader, 1 << 20);
  // The member loop's order: install the state, reopen the store, then save the snapshot
  // point (named by the reader's applied position) in the log.
  Install(chunks, **reader);
  target_.store.reset();
  target_.OpenStore();
  auto log = RaftLogStore::Open(target_.backend.get());
  ASSERT_TRUE(log.ok());
  raftpb::Snapshot snap;
  snap.mutable_metadata()->set_index((*reader)->applied_index());
  snap.mutable_metadata()->set_term((*reader)->applied_term());
  *snap.mutable_metadata()->mutable_conf_state() = (*reader)->conf_state();
  raftpb::HardState hs;
  hs.set_term(2);
  hs.set_commit(snap.metadata().index());
  ASSERT_TRUE((*log)->Save(snap, {}, hs, true).ok());
  EXPECT_EQ(*(*log)->FirstIndex(), target_.store->Applied().index + 1);
  EXPECT_EQ(*(*log)->Term(target_.store->Applied().index), target_.store->Applied().term);
}

TEST_F(StateSnapshotTest, ReaderSeesOnlyItsPointAndNoPerMemberRecords) {
  FillSource();
  const StoreView expected = StoreView::Of(*source_.store, compacted_at_ + 1);
  auto reader = StateSnapshotReader::Open(source_.backend.get());
  ASSERT_TRUE(reader.ok());
  const uint64_t applied = (*reader)->applied_index();
  // Writes after the reader opened, even a compaction, are not in what it hands out.
  for (int i = 0; i < 100; ++i) source_.Put("after/" + std::to_string(i), "x");
  source_.Compact(source_.store->CurrentRevision() - 5);
  source_.Raw(ColumnFamily::kLease, "lease/3", "later");
  std::vector<internalpb::SnapshotChunk> chunks = ReadAll(**reader, 256 << 10);
  size_t records = 0;
  for (const auto& chunk : chunks) {
    for (const auto& record : chunk.records()) {
      ++records;
      EXPECT_NE(record.family(), "raft_log");
      EXPECT_FALSE(record.family() == "members" && record.key() == kMemberIdentityKey);
      EXPECT_NE(record.key(), "lease/3");
    }
  }
  EXPECT_GT(records, 3000u);
  EXPECT_EQ((*reader)->applied_index(), applied);
  Install(chunks, **reader);
  target_.store.reset();
  target_.OpenStore();
  StoreView::Of(*target_.store, compacted_at_ + 1).ExpectEq(expected);
}

TEST_F(StateSnapshotTest, EveryChunkHoldsAtLeastOneRecord) {
  source_.Put("a", std::string(1000, 'a'));
  source_.Put("b", std::string(1000, 'b'));
  auto reader = StateSnapshotReader::Open(source_.backend.get());
  ASSERT_TRUE(reader.ok());
  std::vector<internalpb::SnapshotChunk> chunks = ReadAll(**reader, 1);
  // meta's applied record, then two kv records: one per chunk.
  ASSERT_EQ(chunks.size(), 3u);
  for (const auto& chunk : chunks) EXPECT_EQ(chunk.records_size(), 1);
  EXPECT_TRUE(chunks.back().last());
}

TEST_F(StateSnapshotTest, EmptyStateIsOneEmptyLastChunk) {
  source_.Raw(ColumnFamily::kMembers, std::string(kMemberIdentityKey), "only me");
  auto reader = StateSnapshotReader::Open(source_.backend.get());
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->applied_index(), 0u);
  internalpb::SnapshotChunk chunk;
  auto more = (*reader)->Next(&chunk, 1 << 20);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  EXPECT_EQ(chunk.records_size(), 0);
}

TEST_F(StateSnapshotTest, InstallerRefusesForeignFamiliesAndCallsOutOfOrder) {
  StateInstaller installer(target_.backend.get());
  internalpb::SnapshotChunk chunk;
  internalpb::StateRecord* record = chunk.add_records();
  record->set_family("kv");
  record->set_key("k");
  EXPECT_TRUE(absl::IsFailedPrecondition(installer.Add(chunk)));
  raftpb::Snapshot snapshot;
  *snapshot.mutable_metadata()->mutable_conf_state() = Voters({1});
  EXPECT_TRUE(absl::IsFailedPrecondition(installer.Finish(snapshot.metadata())));
  ASSERT_TRUE(installer.Begin(snapshot).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(installer.Begin(snapshot)));
  record->set_family("raft_log");
  EXPECT_TRUE(absl::IsInvalidArgument(installer.Add(chunk)));
  record->set_family("members");
  record->set_key(std::string(kMemberIdentityKey));
  record->set_value("the sender's identity");
  ASSERT_TRUE(installer.Add(chunk).ok());
  ASSERT_TRUE(installer.Finish(snapshot.metadata()).ok());
  EXPECT_TRUE(target_.Family(ColumnFamily::kMembers).empty());
}

// A crash halfway through an install: the next start finds which snapshot it was and installs
// it again; the log it had acknowledged is replaced by the snapshot, never emptied to nothing
// (a leader counts those entries as held here, and would send a commit index beyond it).
TEST_F(StateSnapshotTest, InstallCutShortIsFoundAndDoneAgainOnTheNextStart) {
  FillSource();
  FillTarget();
  const StoreView expected = StoreView::Of(*source_.store, compacted_at_ + 10);
  {
    auto log = RaftLogStore::Open(target_.backend.get());
    ASSERT_TRUE(log.ok());
    raftpb::Snapshot snap;
    snap.mutable_metadata()->set_index(1);
    snap.mutable_metadata()->set_term(1);
    *snap.mutable_metadata()->mutable_conf_state() = Voters({1, 9});
    raftpb::HardState hs;
    hs.set_term(7);
    hs.set_vote(9);
    hs.set_commit(3);
    raftpb::Entry e;
    e.set_term(7);
    for (uint64_t i = 2; i <= 4; ++i) {
      e.set_index(i);
      ASSERT_TRUE((*log)->Save(i == 2 ? std::optional(snap) : std::nullopt, {e}, hs, true).ok());
    }
  }
  auto reader = StateSnapshotReader::Open(source_.backend.get());
  ASSERT_TRUE(reader.ok());
  std::vector<internalpb::SnapshotChunk> chunks = ReadAll(**reader, 64 << 10);
  ASSERT_GT(chunks.size(), 2u);
  const raftpb::Snapshot snapshot = SnapshotOf(**reader);
  {
    StateInstaller installer(target_.backend.get());
    ASSERT_TRUE(installer.Begin(snapshot).ok());
    ASSERT_TRUE(installer.Add(chunks[0]).ok());
    ASSERT_TRUE(installer.Add(chunks[1]).ok());
  }  // the process dies here
  target_.Close();

  Backend::Options options;
  options.path = target_.dir.path() + "/db";
  options.sync_writes = false;
  target_.backend = *Backend::Open(options);
  auto interrupted = StateInstaller::Interrupted(target_.backend.get());
  ASSERT_TRUE(interrupted.ok()) << interrupted.status();
  ASSERT_TRUE(interrupted->has_value());
  EXPECT_EQ((*interrupted)->SerializeAsString(), snapshot.SerializeAsString());

  Install(chunks, **reader);
  EXPECT_FALSE(StateInstaller::Interrupted(target_.backend.get())->has_value());
  target_.OpenStore();
  StoreView::Of(*target_.store, compacted_at_ + 10).ExpectEq(expected);
  auto log = RaftLogStore::Open(target_.backend.get());
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*(*log)->FirstIndex(), snapshot.metadata().index() + 1);
  EXPECT_EQ(*(*log)->LastIndex(), snapshot.metadata().index());
  raft::PersistedState state = *(*log)->InitialState();
  EXPECT_EQ(state.hard_state.term(), 7u);
  EXPECT_EQ(state.hard_state.vote(), 9u);
  EXPECT_EQ(state.hard_state.commit(), snapshot.metadata().index());
  EXPECT_EQ(state.conf_state.SerializeAsString(), Voters({1, 2, 3}).SerializeAsString());
}

// Reads the families each write batch logged after `since` touched.
class FamilyRecorder : public rocksdb::WriteBatch::Handler {
 public:
  rocksdb::Status PutCF(uint32_t family, const rocksdb::Slice&, const rocksdb::Slice&) override {
    families.push_back(family);
    return rocksdb::Status::OK();
  }
  std::vector<uint32_t> families;
};

TEST_F(StateSnapshotTest, MarkAppliedWritesItsExtraRecordsInTheSameBatch) {
  source_.Put("a", "1");
  rocksdb::DB* db = source_.backend->db();
  rocksdb::SequenceNumber since = db->GetLatestSequenceNumber();
  RecordChanges records;
  etcdserverpb::Member x;
  x.set_id(4);
  x.set_name("x");
  records.PutMember(x);
  records.PutConfState(Voters({1, 4}));
  ASSERT_TRUE(source_.store->MarkApplied(ApplyMeta{40, 3}, records).ok());
  std::unique_ptr<rocksdb::TransactionLogIterator> wal;
  ASSERT_TRUE(db->GetUpdatesSince(since + 1, &wal).ok());
  std::vector<std::vector<uint32_t>> batches;
  for (; wal->Valid(); wal->Next()) {
    FamilyRecorder recorder;
    ASSERT_TRUE(wal->GetBatch().writeBatchPtr->Iterate(&recorder).ok());
    batches.push_back(recorder.families);
  }
  ASSERT_EQ(batches.size(), 1u);
  auto id = [&](ColumnFamily f) { return source_.backend->Family(f)->GetID(); };
  EXPECT_EQ(batches[0],
            (std::vector<uint32_t>{id(ColumnFamily::kMembers), id(ColumnFamily::kRaftLog),
                                   id(ColumnFamily::kMeta)}));
  EXPECT_EQ(source_.store->CurrentRevision(), 2);  // no new revision

  source_.Close();
  source_.Open();
  EXPECT_EQ(source_.store->Applied(), (ApplyMeta{40, 3}));
  absl::StatusOr<MembershipRecords> membership = LoadMembership(source_.backend.get());
  ASSERT_TRUE(membership.ok());
  ASSERT_EQ(membership->members.size(), 1u);
  EXPECT_EQ(membership->members[0].name(), "x");
  EXPECT_EQ(RaftLogStore::ReadConfState(source_.backend.get(), nullptr)->voters_size(), 2);
}

}  // namespace
}  // namespace quorum::storage::testing
