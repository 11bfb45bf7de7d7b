// Compaction: refusals, what survives, tombstones, physical reclaim, restart, an interrupted
// compaction, and HashKV.
#include <gtest/gtest.h>

#include "proto/etcd_errors.h"
#include "rocksdb/db.h"
#include "storage/crc32c.h"
#include "tests/storage/store_fixture.h"

namespace quorum::storage::testing {
namespace {

using V = std::vector<std::string>;

class CompactionTest : public StoreTest {
 protected:
  // Revisions of every record in the kv family, tombstones marked with a trailing 't'.
  std::vector<std::string> Records() {
    std::vector<std::string> out;
    std::unique_ptr<rocksdb::Iterator> it(
        backend_->db()->NewIterator(rocksdb::ReadOptions(), backend_->Family(ColumnFamily::kKv)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      Revision rev;
      bool tombstone = false;
      EXPECT_TRUE(DecodeRevisionKey(it->key().ToString(), &rev, &tombstone));
      out.push_back(std::to_string(rev.main) + (rev.sub ? "." + std::to_string(rev.sub) : "") +
                    (tombstone ? "t" : ""));
    }
    return out;
  }
};

TEST_F(CompactionTest, CompactAtOrBelowCompactedRevisionIsRefused) {
  Put("a", "1");
  Put("a", "2");
  ASSERT_TRUE(Compact(2).ok());
  EXPECT_EQ(Compact(2), ErrCompacted());
  EXPECT_EQ(Compact(1), ErrCompacted());
  EXPECT_EQ(Compact(1).message(), "etcdserver: mvcc: required revision has been compacted");
  EXPECT_TRUE(Compact(3).ok());
}

TEST_F(CompactionTest, CompactAboveCurrentRevisionIsAFutureRevision) {
  Put("a", "1");
  absl::Status status = Compact(3);
  EXPECT_EQ(status, ErrFutureRev());
  EXPECT_EQ(store_->CompactedRevision(), -1);
}

TEST_F(CompactionTest, CompactionKeepsTheLatestVersionAtOrBelowItsRevision) {
  Put("a", "1");  // 2
  Put("a", "2");  // 3
  Put("b", "1");  // 4
  Put("a", "3");  // 5
  ASSERT_TRUE(Compact(4).ok());
  EXPECT_EQ(store_->CompactedRevision(), 4);
  EXPECT_EQ(Records(), V({"3", "4", "5"}));
  EXPECT_EQ(Get("a", "", 4).kvs(0).value(), "2");
  EXPECT_EQ(Get("a", "", 4).kvs(0).version(), 2);
  EXPECT_EQ(Get("a").kvs(0).value(), "3");
  EXPECT_EQ(Get("a").kvs(0).version(), 3);
  EXPECT_EQ(Get("a").kvs(0).create_revision(), 2);
  EXPECT_EQ(Keys(Get("a", "z", 4)), V({"a", "b"}));
}

TEST_F(CompactionTest, KeyDeletedAtOrBelowTheRevisionDisappearsEntirely) {
  Put("a", "1");  // 2
  Delete("a");    // 3
  Put("b", "1");  // 4
  ASSERT_TRUE(Compact(3).ok());
  EXPECT_EQ(Records(), V({"4"}));
  EXPECT_EQ(Get("a", "", 3).count(), 0);
  EXPECT_EQ(Put("a", "again"), 5);
  EXPECT_EQ(Get("a").kvs(0).version(), 1);
}

TEST_F(CompactionTest, TombstoneAboveTheRevisionIsKeptWithThePutItEnds) {
  Put("a", "1");  // 2
  Put("b", "1");  // 3
  Delete("a");    // 4
  ASSERT_TRUE(Compact(3).ok());
  EXPECT_EQ(Records(), V({"2", "3", "4t"}));
  EXPECT_EQ(Get("a", "", 3).kvs(0).value(), "1");
  EXPECT_EQ(Get("a").count(), 0);
  Reopen();
  EXPECT_EQ(Get("a", "", 3).kvs(0).value(), "1");
  EXPECT_EQ(Get("a").count(), 0);
  ASSERT_TRUE(Compact(4).ok());
  EXPECT_EQ(Records(), V({"3"}));
}

TEST_F(CompactionTest, CompactionAtTheCurrentRevisionKeepsEveryLiveKey) {
  Put("a", "1");
  Put("b", "1");
  Put("a", "2");
  ASSERT_TRUE(Compact(store_->CurrentRevision()).ok());
  EXPECT_EQ(Keys(Get("a", "z")), V({"a", "b"}));
  EXPECT_EQ(Records(), V({"3", "4"}));
}

TEST_F(CompactionTest, CompactionReportsTheCurrentRevisionAndRecordsTheAppliedIndex) {
  Put("a", "1");
  Put("a", "2");
  etcdserverpb::CompactionRequest req;
  req.set_revision(2);
  auto resp = store_->Compact(req, ApplyMeta{77, 4});
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->header().revision(), 3);
  EXPECT_EQ(store_->Applied(), (ApplyMeta{77, 4}));
}

TEST_F(CompactionTest, PhysicalCompactionReclaimsSpace) {
  std::string value(4096, 'v');
  for (int i = 0; i < 2000; ++i) {
    value[0] = static_cast<char>('a' + i % 26);
    Put("key" + std::to_string(i % 10), value);
  }
  ASSERT_TRUE(
      backend_->db()->Flush(rocksdb::FlushOptions(), backend_->Family(ColumnFamily::kKv)).ok());
  uint64_t before = backend_->SizeBytes();
  ASSERT_TRUE(Compact(store_->CurrentRevision(), /*physical=*/true).ok());
  uint64_t after = backend_->SizeBytes();
  EXPECT_LT(after * 10, before) << "before " << before << " after " << after;
  EXPECT_EQ(Get("key0", "key9\xff").count(), 10);
}

TEST_F(CompactionTest, CompactedRevisionSurvivesRestart) {
  Put("a", "1");  // 2
  Put("a", "2");  // 3
  Delete("a");    // 4
  ASSERT_TRUE(Compact(4).ok());
  Reopen();
  EXPECT_EQ(store_->CompactedRevision(), 4);
  // Every record is gone, yet the revision does not go back.
  EXPECT_EQ(store_->CurrentRevision(), 4);
  EXPECT_EQ(store_->Range(RangeReq("a", "", 3)).status(), ErrCompacted());
  EXPECT_EQ(Compact(4), ErrCompacted());
  EXPECT_EQ(Put("b", "1"), 5);
}

TEST_F(CompactionTest, CompactionInterruptedByACrashIsFinishedOnOpen) {
  Put("a", "1");  // 2
  Put("a", "2");  // 3
  Put("a", "3");  // 4
  // What a crash right after the durable intent leaves: compact_scheduled written, nothing
  // deleted, compact_finished absent.
  rocksdb::WriteBatch batch;
  char be[8];
  for (int i = 0; i < 8; ++i) be[i] = static_cast<char>((int64_t{3} >> (8 * (7 - i))) & 0xff);
  ASSERT_TRUE(
      batch.Put(backend_->Family(ColumnFamily::kMeta), "compact_scheduled", rocksdb::Slice(be, 8))
          .ok());
  ASSERT_TRUE(backend_->Write(&batch).ok());
  Reopen();
  EXPECT_EQ(store_->CompactedRevision(), 3);
  EXPECT_EQ(Records(), V({"3", "4"}));
  EXPECT_EQ(store_->Range(RangeReq("a", "", 2)).status(), ErrCompacted());
  Reopen();
  EXPECT_EQ(store_->CompactedRevision(), 3);
}

TEST(Crc32cTest, MatchesTheCastagnoliCheckValue) {
  EXPECT_EQ(Crc32cExtend(0, "123456789"), 0xe3069283u);
  EXPECT_EQ(Crc32cExtend(Crc32cExtend(0, "1234"), "56789"), 0xe3069283u);
  EXPECT_EQ(Crc32cExtend(0, ""), 0u);
}

class HashTest : public CompactionTest {
 protected:
  void History() {
    Put("a", "1");
    Put("b", "2");
    Put("a", "3");
    Delete("b");
    DoTxn(Txn({}, {OpPut("c", "4"), OpPut("d", "5")}));
  }
};

TEST_F(HashTest, EqualHistoriesHashEqual) {
  History();
  auto first = store_->HashKV(0);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->revision, 6);
  EXPECT_EQ(first->compact_revision, -1);

  TempDir other_dir;
  Backend::Options options;
  options.path = other_dir.path() + "/db";
  options.sync_writes = false;
  auto other_backend = Backend::Open(options);
  ASSERT_TRUE(other_backend.ok());
  auto other = MvccStore::Open(other_backend->get());
  ASSERT_TRUE(other.ok());
  std::swap(store_, *other);
  History();
  auto second = store_->HashKV(0);
  std::swap(store_, *other);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->hash, second->hash);
}

TEST_F(HashTest, HashKVEqualsEtcdsForTheSameHistory) {
  // Figures from etcd 3.4 (`etcdctl endpoint hashkv`) after the same six revisions: our kv
  // records are byte-for-byte etcd's, so members of either kind could be compared.
  History();
  EXPECT_EQ(store_->HashKV(0)->hash, 3853268819u);
  EXPECT_EQ(store_->HashKV(5)->hash, 1125682900u);
  ASSERT_TRUE(Compact(5).ok());
  auto compacted = store_->HashKV(0);
  ASSERT_TRUE(compacted.ok());
  EXPECT_EQ(compacted->hash, 4290631835u);
  EXPECT_EQ(compacted->compact_revision, 5);
  EXPECT_EQ(store_->HashKV(6)->hash, 4290631835u);
}

TEST_F(HashTest, NegativeRevisionHashesNoRecord) {
  History();
  auto hash = store_->HashKV(-3);
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(hash->hash, Crc32cExtend(0, "key"));
  EXPECT_EQ(hash->revision, 6);
}

TEST_F(HashTest, HashDependsOnRevisionAndContent) {
  History();
  auto at6 = store_->HashKV(6);
  auto at5 = store_->HashKV(5);
  ASSERT_TRUE(at6.ok() && at5.ok());
  EXPECT_NE(at6->hash, at5->hash);
  EXPECT_EQ(store_->HashKV(0)->hash, at6->hash);
  Put("e", "x");
  EXPECT_EQ(store_->HashKV(6)->hash, at6->hash);
  EXPECT_NE(store_->HashKV(0)->hash, at6->hash);
}

TEST_F(HashTest, HashRefusesCompactedAndFutureRevisions) {
  History();
  ASSERT_TRUE(Compact(4).ok());
  EXPECT_EQ(store_->HashKV(4).status(), ErrCompacted());
  EXPECT_EQ(store_->HashKV(3).status(), ErrCompacted());
  EXPECT_EQ(store_->HashKV(7).status(), ErrFutureRev());
  auto hash = store_->HashKV(5);
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(hash->compact_revision, 4);
}

TEST_F(HashTest, HashAfterCompactionIsTheSameWhetherOrNotRecordsWereDeleted) {
  History();
  ASSERT_TRUE(Compact(5).ok());
  uint32_t hash = store_->HashKV(0)->hash;
  Reopen();
  EXPECT_EQ(store_->HashKV(0)->hash, hash);
}

}  // namespace
}  // namespace quorum::storage::testing
