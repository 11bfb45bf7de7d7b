// Txn: every compare target and result, ranged compares and missing keys, nested txns, one
// revision per txn, reads after writes inside a txn, and request checks that fail a whole txn.
#include <gtest/gtest.h>

#include "proto/etcd_errors.h"
#include "tests/storage/store_fixture.h"

namespace quorum::storage::testing {
namespace {

using V = std::vector<std::string>;

class TxnTest : public StoreTest {
 protected:
  bool Holds(Compare c) { return DoTxn(Txn({std::move(c)}, {}, {})).succeeded(); }
};

// k: created at 2, modified at 4, version 2, value "m", lease 7.
class CompareTest : public TxnTest {
 protected:
  void SetUp() override {
    TxnTest::SetUp();
    Put("k", "a");      // 2
    Put("other", "x");  // 3
    Put("k", "m", 7);   // 4
  }
};

TEST_F(CompareTest, VersionCompares) {
  EXPECT_TRUE(Holds(CmpVersion("k", Compare::EQUAL, 2)));
  EXPECT_FALSE(Holds(CmpVersion("k", Compare::EQUAL, 1)));
  EXPECT_TRUE(Holds(CmpVersion("k", Compare::NOT_EQUAL, 1)));
  EXPECT_FALSE(Holds(CmpVersion("k", Compare::NOT_EQUAL, 2)));
  EXPECT_TRUE(Holds(CmpVersion("k", Compare::GREATER, 1)));
  EXPECT_FALSE(Holds(CmpVersion("k", Compare::GREATER, 2)));
  EXPECT_TRUE(Holds(CmpVersion("k", Compare::LESS, 3)));
  EXPECT_FALSE(Holds(CmpVersion("k", Compare::LESS, 2)));
}

TEST_F(CompareTest, CreateRevisionCompares) {
  EXPECT_TRUE(Holds(CmpCreate("k", Compare::EQUAL, 2)));
  EXPECT_FALSE(Holds(CmpCreate("k", Compare::EQUAL, 4)));
  EXPECT_TRUE(Holds(CmpCreate("k", Compare::NOT_EQUAL, 4)));
  EXPECT_TRUE(Holds(CmpCreate("k", Compare::GREATER, 1)));
  EXPECT_FALSE(Holds(CmpCreate("k", Compare::GREATER, 2)));
  EXPECT_TRUE(Holds(CmpCreate("k", Compare::LESS, 3)));
  EXPECT_FALSE(Holds(CmpCreate("k", Compare::LESS, 2)));
}

TEST_F(CompareTest, ModRevisionCompares) {
  EXPECT_TRUE(Holds(CmpMod("k", Compare::EQUAL, 4)));
  EXPECT_FALSE(Holds(CmpMod("k", Compare::EQUAL, 2)));
  EXPECT_TRUE(Holds(CmpMod("k", Compare::NOT_EQUAL, 2)));
  EXPECT_TRUE(Holds(CmpMod("k", Compare::GREATER, 3)));
  EXPECT_FALSE(Holds(CmpMod("k", Compare::GREATER, 4)));
  EXPECT_TRUE(Holds(CmpMod("k", Compare::LESS, 5)));
  EXPECT_FALSE(Holds(CmpMod("k", Compare::LESS, 4)));
}

TEST_F(CompareTest, ValueComparesBytewise) {
  EXPECT_TRUE(Holds(CmpValue("k", Compare::EQUAL, "m")));
  EXPECT_FALSE(Holds(CmpValue("k", Compare::EQUAL, "a")));
  EXPECT_TRUE(Holds(CmpValue("k", Compare::NOT_EQUAL, "a")));
  EXPECT_TRUE(Holds(CmpValue("k", Compare::GREATER, "l")));
  EXPECT_TRUE(Holds(CmpValue("k", Compare::GREATER, "")));
  EXPECT_FALSE(Holds(CmpValue("k", Compare::GREATER, "m")));
  EXPECT_TRUE(Holds(CmpValue("k", Compare::LESS, "ma")));
  EXPECT_TRUE(Holds(CmpValue("k", Compare::LESS, "\xff")));
  EXPECT_FALSE(Holds(CmpValue("k", Compare::LESS, "m")));
}

TEST_F(CompareTest, LeaseCompares) {
  EXPECT_TRUE(Holds(CmpLease("k", Compare::EQUAL, 7)));
  EXPECT_FALSE(Holds(CmpLease("k", Compare::EQUAL, 0)));
  EXPECT_TRUE(Holds(CmpLease("k", Compare::NOT_EQUAL, 0)));
  EXPECT_TRUE(Holds(CmpLease("k", Compare::GREATER, 6)));
  EXPECT_TRUE(Holds(CmpLease("k", Compare::LESS, 8)));
  EXPECT_FALSE(Holds(CmpLease("k", Compare::LESS, 7)));
  EXPECT_TRUE(Holds(CmpLease("other", Compare::EQUAL, 0)));
}

TEST_F(CompareTest, MissingKeyComparesAsZeroExceptValueWhichAlwaysFails) {
  EXPECT_TRUE(Holds(CmpVersion("nope", Compare::EQUAL, 0)));
  EXPECT_TRUE(Holds(CmpCreate("nope", Compare::EQUAL, 0)));
  EXPECT_TRUE(Holds(CmpMod("nope", Compare::EQUAL, 0)));
  EXPECT_TRUE(Holds(CmpLease("nope", Compare::EQUAL, 0)));
  EXPECT_TRUE(Holds(CmpMod("nope", Compare::LESS, 1)));
  EXPECT_FALSE(Holds(CmpVersion("nope", Compare::GREATER, 0)));
  EXPECT_FALSE(Holds(CmpValue("nope", Compare::EQUAL, "")));
  EXPECT_FALSE(Holds(CmpValue("nope", Compare::NOT_EQUAL, "x")));
}

TEST_F(CompareTest, DeletedKeyComparesAsMissing) {
  Delete("k");
  EXPECT_TRUE(Holds(CmpVersion("k", Compare::EQUAL, 0)));
  EXPECT_TRUE(Holds(CmpCreate("k", Compare::EQUAL, 0)));
}

TEST_F(CompareTest, TargetValueOfAnotherKindComparesAsZero) {
  Compare c = CmpVersion("k", Compare::EQUAL, 0);
  c.set_mod_revision(4);  // replaces the version in the oneof; target stays VERSION
  EXPECT_FALSE(Holds(c));
  c.set_result(Compare::GREATER);
  EXPECT_TRUE(Holds(c));
}

TEST_F(TxnTest, RangedCompareMustHoldForEveryKeyInTheRange) {
  Put("a/1", "x");  // 2
  Put("a/2", "y");  // 3
  Put("a/2", "y");  // 4
  Compare c = CmpVersion("a/", Compare::GREATER, 0);
  c.set_range_end("a0");
  EXPECT_TRUE(Holds(c));
  c = CmpVersion("a/", Compare::EQUAL, 1);
  c.set_range_end("a0");
  EXPECT_FALSE(Holds(c));
  c = CmpMod("a/", Compare::LESS, 4);
  c.set_range_end("a0");
  EXPECT_FALSE(Holds(c));
  c = CmpMod("a/", Compare::LESS, 5);
  c.set_range_end("a0");
  EXPECT_TRUE(Holds(c));
  c = CmpValue("a/", Compare::NOT_EQUAL, "z");
  c.set_range_end("a0");
  EXPECT_TRUE(Holds(c));
  c = CmpValue("a/", Compare::EQUAL, "x");
  c.set_range_end("a0");
  EXPECT_FALSE(Holds(c));
  c = CmpCreate("a/", Compare::EQUAL, 0);
  c.set_range_end(std::string(1, '\0'));
  EXPECT_FALSE(Holds(c));
}

TEST_F(TxnTest, RangedCompareOverNoKeysComparesAsOneMissingKey) {
  Compare c = CmpVersion("x/", Compare::EQUAL, 0);
  c.set_range_end("x0");
  EXPECT_TRUE(Holds(c));
  c = CmpValue("x/", Compare::NOT_EQUAL, "anything");
  c.set_range_end("x0");
  EXPECT_FALSE(Holds(c));
}

TEST_F(TxnTest, AllComparesMustHoldForSuccess) {
  Put("a", "1");
  auto resp = DoTxn(Txn({CmpValue("a", Compare::EQUAL, "1"), CmpVersion("a", Compare::EQUAL, 9)},
                        {OpPut("s", "1")}, {OpPut("f", "1")}));
  EXPECT_FALSE(resp.succeeded());
  EXPECT_EQ(Get("s").count(), 0);
  EXPECT_EQ(Get("f").count(), 1);
  resp = DoTxn(Txn({}, {OpPut("s", "1")}, {OpPut("f", "2")}));
  EXPECT_TRUE(resp.succeeded());
  EXPECT_EQ(Get("s").count(), 1);
}

TEST_F(TxnTest, AllWritesOfATxnShareOneRevision) {
  Put("c", "old");  // 2
  auto resp = DoTxn(Txn({}, {OpPut("a", "1"), OpPut("b", "2"), OpDel("c")}));
  EXPECT_EQ(resp.header().revision(), 3);
  EXPECT_EQ(store_->CurrentRevision(), 3);
  ASSERT_EQ(resp.responses_size(), 3);
  EXPECT_EQ(resp.responses(0).response_put().header().revision(), 3);
  EXPECT_EQ(resp.responses(2).response_delete_range().deleted(), 1);
  EXPECT_EQ(resp.responses(2).response_delete_range().header().revision(), 3);
  EXPECT_EQ(Get("a").kvs(0).mod_revision(), 3);
  EXPECT_EQ(Get("b").kvs(0).mod_revision(), 3);
  auto events = store_->ReadEvents(3, 3);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[2].type(), mvccpb::Event::DELETE);
}

TEST_F(TxnTest, TxnThatWritesNothingKeepsTheRevision) {
  Put("a", "1");
  auto resp = DoTxn(Txn({}, {OpRange("a")}));
  EXPECT_EQ(resp.header().revision(), 2);
  EXPECT_EQ(resp.responses(0).response_range().kvs(0).value(), "1");
  resp = DoTxn(Txn({}, {OpDel("nothing")}));
  EXPECT_EQ(resp.header().revision(), 2);
  EXPECT_EQ(resp.responses(0).response_delete_range().header().revision(), 2);
  resp = DoTxn(Txn({CmpVersion("a", Compare::EQUAL, 5)}, {OpPut("x", "1")}, {}));
  EXPECT_FALSE(resp.succeeded());
  EXPECT_EQ(resp.responses_size(), 0);
  EXPECT_EQ(store_->CurrentRevision(), 2);
}

TEST_F(TxnTest, ReadInsideTxnSeesEarlierWritesOfTheTxn) {
  Put("a", "old");  // 2
  Put("b", "old");  // 3
  auto resp = DoTxn(Txn({}, {OpRange("a", "z"), OpPut("a", "new"), OpPut("aa", "1"), OpDel("b"),
                             OpRange("a", "z"), OpRange("a", "z", 3)}));
  ASSERT_EQ(resp.responses_size(), 6);
  const auto& before = resp.responses(0).response_range();
  EXPECT_EQ(Keys(before), V({"a", "b"}));
  EXPECT_EQ(before.header().revision(), 3);
  const auto& after = resp.responses(4).response_range();
  EXPECT_EQ(Keys(after), V({"a", "aa"}));
  EXPECT_EQ(after.count(), 2);
  EXPECT_EQ(after.kvs(0).value(), "new");
  EXPECT_EQ(after.kvs(0).version(), 2);
  EXPECT_EQ(after.kvs(0).mod_revision(), 4);
  EXPECT_EQ(after.header().revision(), 4);
  // An explicit older revision does not see the txn's writes.
  EXPECT_EQ(Keys(resp.responses(5).response_range()), V({"a", "b"}));
  EXPECT_EQ(resp.responses(5).response_range().kvs(0).value(), "old");
}

TEST_F(TxnTest, PutAfterDeleteInOneTxnRecreatesTheKey) {
  Put("a", "1");  // 2
  auto resp = DoTxn(Txn({}, {OpDel("a"), OpPut("a", "2")}));
  EXPECT_EQ(resp.header().revision(), 3);
  auto kv = Get("a").kvs(0);
  EXPECT_EQ(kv.version(), 1);
  EXPECT_EQ(kv.create_revision(), 3);
  EXPECT_EQ(Get("a", "", 2).kvs(0).value(), "1");
  Reopen();
  EXPECT_EQ(Get("a").kvs(0).version(), 1);
  EXPECT_EQ(Get("a").kvs(0).create_revision(), 3);
}

TEST_F(TxnTest, SecondPutOfAKeyInOneTxnContinuesItsVersion) {
  auto resp = DoTxn(Txn({}, {OpPut("a", "1"), OpPut("a", "2")}));
  auto kv = Get("a").kvs(0);
  EXPECT_EQ(kv.value(), "2");
  EXPECT_EQ(kv.version(), 2);
  EXPECT_EQ(kv.create_revision(), 2);
  Reopen();
  EXPECT_EQ(Get("a").kvs(0).version(), 2);
}

TEST_F(TxnTest, NestedComparesSeeTheStateBeforeTheOuterTxn) {
  // The outer txn creates x, yet the nested compare "x does not exist" still holds.
  TxnRequest nested = Txn({CmpVersion("x", Compare::EQUAL, 0)}, {OpPut("saw-missing", "1")},
                          {OpPut("saw-present", "1")});
  auto resp = DoTxn(Txn({}, {OpPut("x", "1"), OpTxn(nested)}));
  EXPECT_TRUE(resp.succeeded());
  EXPECT_EQ(Get("saw-missing").count(), 1);
  EXPECT_EQ(Get("saw-present").count(), 0);
  EXPECT_EQ(store_->CurrentRevision(), 2);
}

TEST_F(TxnTest, NestedTxnResponsesHaveEmptyHeadersAndShareTheRevision) {
  Put("a", "1");  // 2
  TxnRequest inner = Txn({CmpValue("a", Compare::EQUAL, "nope")}, {OpPut("s", "1")},
                         {OpPut("f", "1"), OpRange("a")});
  TxnRequest middle = Txn({}, {OpTxn(inner), OpPut("m", "1")});
  auto resp = DoTxn(Txn({}, {OpPut("o", "1"), OpTxn(middle)}));
  EXPECT_EQ(resp.header().revision(), 3);
  ASSERT_EQ(resp.responses_size(), 2);
  const auto& mid = resp.responses(1).response_txn();
  EXPECT_TRUE(mid.has_header());
  EXPECT_EQ(mid.header().revision(), 0);
  EXPECT_TRUE(mid.succeeded());
  ASSERT_EQ(mid.responses_size(), 2);
  const auto& in = mid.responses(0).response_txn();
  EXPECT_FALSE(in.succeeded());
  ASSERT_EQ(in.responses_size(), 2);
  EXPECT_EQ(in.responses(0).response_put().header().revision(), 3);
  EXPECT_EQ(in.responses(1).response_range().header().revision(), 3);
  for (const char* k : {"o", "f", "m"}) EXPECT_EQ(Get(k).kvs(0).mod_revision(), 3) << k;
  EXPECT_EQ(Get("s").count(), 0);
}

TEST_F(TxnTest, IgnoreValueOnMissingKeyFailsTheWholeTxn) {
  etcdserverpb::RequestOp op = OpPut("missing", "");
  op.mutable_request_put()->set_ignore_value(true);
  auto resp = store_->Txn(Txn({}, {OpPut("a", "1"), op}), NextMeta());
  EXPECT_EQ(resp.status(), ErrKeyNotFound());
  EXPECT_EQ(Get("a").count(), 0);
  EXPECT_EQ(store_->CurrentRevision(), 1);
}

TEST_F(TxnTest, OpsOfTheBranchNotTakenAreNotChecked) {
  etcdserverpb::RequestOp op = OpPut("missing", "");
  op.mutable_request_put()->set_ignore_value(true);
  auto resp = store_->Txn(Txn({}, {OpPut("a", "1")}, {op}), NextMeta());
  ASSERT_TRUE(resp.ok()) << resp.status();
}

TEST_F(TxnTest, UnknownLeaseFailsTheWholeTxn) {
  store_->SetLeaseChecker([](int64_t) { return false; });
  etcdserverpb::RequestOp op = OpPut("k", "v");
  op.mutable_request_put()->set_lease(9);
  auto resp = store_->Txn(Txn({}, {OpTxn(Txn({}, {op}))}), NextMeta());
  EXPECT_EQ(resp.status(), ErrLeaseNotFound());
}

TEST_F(TxnTest, RangeAtFutureOrCompactedRevisionFailsTheWholeTxn) {
  Put("a", "1");  // 2
  Put("a", "2");  // 3
  auto resp = store_->Txn(Txn({}, {OpPut("b", "1"), OpRange("a", "", 4)}), NextMeta());
  EXPECT_EQ(resp.status(), ErrFutureRev());
  EXPECT_EQ(Get("b").count(), 0);
  ASSERT_TRUE(Compact(3).ok());
  resp = store_->Txn(Txn({}, {OpPut("b", "1"), OpRange("a", "", 2)}), NextMeta());
  EXPECT_EQ(resp.status(), ErrCompacted());
  // etcd's txn check treats a negative revision as below the compaction.
  resp = store_->Txn(Txn({}, {OpRange("a", "", -5)}), NextMeta());
  EXPECT_EQ(resp.status(), ErrCompacted());
  EXPECT_EQ(store_->CurrentRevision(), 3);
}

TEST_F(TxnTest, ReadTxnAnswersLikeTxnWithoutWriting) {
  Put("a", "1");
  Put("b", "2");
  TxnRequest txn = Txn({CmpValue("a", Compare::EQUAL, "1")}, {OpRange("a", "z")}, {OpRange("b")});
  ApplyMeta applied = store_->Applied();
  auto read = store_->ReadTxn(txn);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(store_->Applied(), applied);
  auto applied_txn = DoTxn(txn);
  EXPECT_EQ(read->SerializeAsString(), applied_txn.SerializeAsString());
  EXPECT_TRUE(read->succeeded());
  EXPECT_EQ(read->header().revision(), 3);
  EXPECT_EQ(store_->ReadTxn(Txn({}, {OpPut("x", "1")})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TxnTest, ReadOnlyMeansEveryTopLevelOpIsARange) {
  EXPECT_TRUE(MvccStore::IsReadOnlyTxn(Txn({}, {OpRange("a")}, {OpRange("b")})));
  EXPECT_TRUE(MvccStore::IsReadOnlyTxn(Txn({CmpVersion("a", Compare::EQUAL, 0)}, {}, {})));
  EXPECT_FALSE(MvccStore::IsReadOnlyTxn(Txn({}, {OpRange("a")}, {OpDel("b")})));
  EXPECT_FALSE(MvccStore::IsReadOnlyTxn(Txn({}, {OpTxn(Txn({}, {OpRange("a")}))})));
}

}  // namespace
}  // namespace quorum::storage::testing
