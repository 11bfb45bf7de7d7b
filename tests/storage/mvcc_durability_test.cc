// Restart and concurrency: the index rebuilt from disk answers like the one before, the applied
// position is written in the same batch as the change it records, and readers running during
// writes and compactions see consistent revisions.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "proto/etcd_errors.h"
#include "rocksdb/db.h"
#include "tests/storage/store_fixture.h"

namespace quorum::storage::testing {
namespace {

using V = std::vector<std::string>;

class DurabilityTest : public StoreTest {};

TEST_F(DurabilityTest, RestartRebuildsTheIndexWithTheSameAnswers) {
  Put("a", "1");                                                            // 2
  Put("b", "1", 5);                                                         // 3
  Put("a", "2");                                                            // 4
  Delete("b");                                                              // 5
  DoTxn(Txn({}, {OpPut("b", "again"), OpPut("c", "1"), OpPut("c", "2")}));  // 6
  Delete("a");                                                              // 7
  std::vector<std::string> before;
  for (int64_t rev = 1; rev <= 7; ++rev) before.push_back(Get("a", "z", rev).SerializeAsString());
  Reopen();
  EXPECT_EQ(store_->CurrentRevision(), 7);
  for (int64_t rev = 1; rev <= 7; ++rev) {
    EXPECT_EQ(Get("a", "z", rev).SerializeAsString(), before[rev - 1]) << "at " << rev;
  }
  EXPECT_EQ(Put("c", "3"), 8);
  auto c = Get("c").kvs(0);
  EXPECT_EQ(c.version(), 3);
  EXPECT_EQ(c.create_revision(), 6);
  EXPECT_EQ(Put("a", "new"), 9);
  EXPECT_EQ(Get("a").kvs(0).version(), 1);
}

TEST_F(DurabilityTest, AppliedPositionSurvivesRestart) {
  ASSERT_TRUE(store_->Put(PutReq("a", "1"), ApplyMeta{5, 2}).ok());
  ASSERT_TRUE(store_->MarkApplied(ApplyMeta{6, 2}).ok());
  ASSERT_TRUE(store_->DeleteRange(DelReq("nothing"), ApplyMeta{7, 3}).ok());
  Reopen();
  EXPECT_EQ(store_->Applied(), (ApplyMeta{7, 3}));
  EXPECT_EQ(store_->CurrentRevision(), 2);
}

// Reads the write batches RocksDB logged after `since` and reports, per batch, which families
// it touched.
class FamilyCounter : public rocksdb::WriteBatch::Handler {
 public:
  rocksdb::Status PutCF(uint32_t family, const rocksdb::Slice&, const rocksdb::Slice&) override {
    families.push_back(family);
    return rocksdb::Status::OK();
  }
  std::vector<uint32_t> families;
};

TEST_F(DurabilityTest, ChangeAndAppliedPositionAreOneWriteBatch) {
  Put("a", "0");
  rocksdb::SequenceNumber since = backend_->db()->GetLatestSequenceNumber();
  DoTxn(Txn({}, {OpPut("a", "1"), OpPut("b", "2")}));
  std::unique_ptr<rocksdb::TransactionLogIterator> log;
  ASSERT_TRUE(backend_->db()->GetUpdatesSince(since + 1, &log).ok());
  std::vector<std::vector<uint32_t>> batches;
  for (; log->Valid(); log->Next()) {
    rocksdb::BatchResult batch = log->GetBatch();
    FamilyCounter counter;
    ASSERT_TRUE(batch.writeBatchPtr->Iterate(&counter).ok());
    batches.push_back(counter.families);
  }
  ASSERT_EQ(batches.size(), 1u);
  const uint32_t kv = backend_->Family(ColumnFamily::kKv)->GetID();
  const uint32_t meta = backend_->Family(ColumnFamily::kMeta)->GetID();
  EXPECT_EQ(batches[0], (std::vector<uint32_t>{kv, kv, meta}));
}

TEST_F(DurabilityTest, SyncedWritesSurviveReopen) {
  CloseStore();
  OpenStore(/*sync_writes=*/true);
  EXPECT_TRUE(backend_->sync_writes());
  Put("durable", "yes");
  Reopen();
  EXPECT_EQ(Get("durable").kvs(0).value(), "yes");
}

TEST_F(DurabilityTest, ConcurrentReadersSeeConsistentRevisionsDuringWrites) {
  constexpr int kWrites = 400;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  auto reader = [&] {
    while (!done.load()) {
      // The prefix holds one key per write; at any revision R it holds exactly R-1 keys, and
      // key i was written at revision i+2.
      auto resp = store_->Range(RangeReq("k/", "k0"));
      if (!resp.ok()) {
        ++failures;
        continue;
      }
      int64_t rev = resp->header().revision();
      if (resp->count() != rev - 1 || resp->kvs_size() != rev - 1) ++failures;
      for (const auto& kv : resp->kvs()) {
        if (kv.mod_revision() > rev || kv.value() != std::to_string(kv.mod_revision())) {
          ++failures;
        }
      }
      // A fixed old revision always answers the same.
      if (rev > 10) {
        auto old = store_->Range(RangeReq("k/", "k0", 10));
        if (!old.ok() || old->count() != 9) ++failures;
      }
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) readers.emplace_back(reader);
  for (int i = 0; i < kWrites; ++i) {
    char key[16];
    std::snprintf(key, sizeof(key), "k/%05d", i);
    Put(key, std::to_string(i + 2));
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(DurabilityTest, ReadersDuringCompactionGetTheAnswerOrCompactedNeverAnError) {
  for (int i = 0; i < 200; ++i) Put("k" + std::to_string(i % 20), std::to_string(i));
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::atomic<int> bad{0};
  auto reader = [&] {
    int64_t rev = 5;
    while (!done.load()) {
      auto resp = store_->Range(RangeReq("k", "l", rev));
      if (resp.ok() ? resp->count() == 0 : resp.status() != ErrCompacted()) ++bad;
      rev = rev % 200 + 2;
      ++reads;
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) readers.emplace_back(reader);
  // Let the readers get going (the machine may be busy) before compacting under them.
  while (reads.load() < 100) std::this_thread::yield();
  for (int64_t rev = 20; rev <= 200; rev += 20) {
    ASSERT_TRUE(Compact(rev).ok());
    Put("k" + std::to_string(rev % 20), "x");
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(store_->Range(RangeReq("k", "l", 199)).status(), ErrCompacted());
}

TEST_F(DurabilityTest, ValueCacheBudgetOnlyChangesWhereReadsComeFrom) {
  // A budget of a few records: some keys are served from memory, the rest from RocksDB, and
  // both give the same answers, before and after a restart.
  CloseStore();
  Backend::Options options;
  options.path = dir_.path() + "/db";
  options.sync_writes = false;
  backend_ = std::move(Backend::Open(options).value());
  MvccStore::Options store_options;
  store_options.value_cache_bytes = 200;
  store_ = std::move(MvccStore::Open(backend_.get(), store_options).value());
  for (int i = 0; i < 20; ++i) Put("k" + std::to_string(i), std::string(30, 'a' + i));
  Put("k3", "updated");
  Delete("k4");
  auto check = [&] {
    auto resp = Get("k", "l");
    ASSERT_EQ(resp.kvs_size(), 19);
    for (const auto& kv : resp.kvs()) {
      int i = std::stoi(kv.key().substr(1));
      EXPECT_EQ(kv.value(), i == 3 ? "updated" : std::string(30, 'a' + i)) << kv.key();
    }
    EXPECT_EQ(Get("k3", "", 5).kvs(0).value(), std::string(30, 'a' + 3));
  };
  check();
  CloseStore();
  backend_ = std::move(Backend::Open(options).value());
  store_ = std::move(MvccStore::Open(backend_.get(), store_options).value());
  check();
}

}  // namespace
}  // namespace quorum::storage::testing
