// Put and DeleteRange: revisions, versions, generations, prev_kv, ignore_value/ignore_lease,
// leases, events, and what an error leaves behind.
#include <gtest/gtest.h>

#include "proto/etcd_errors.h"
#include "tests/storage/store_fixture.h"

namespace quorum::storage::testing {
namespace {

using V = std::vector<std::string>;

class WriteTest : public StoreTest {};

TEST_F(WriteTest, PutCreatesKeyAtVersionOne) {
  EXPECT_EQ(Put("k", "v"), 2);
  auto kv = Get("k").kvs(0);
  EXPECT_EQ(kv.create_revision(), 2);
  EXPECT_EQ(kv.mod_revision(), 2);
  EXPECT_EQ(kv.version(), 1);
  EXPECT_EQ(kv.value(), "v");
}

TEST_F(WriteTest, EachPutIsOneRevisionAndBumpsVersion) {
  Put("k", "1");
  Put("other", "x");
  EXPECT_EQ(Put("k", "2"), 4);
  auto kv = Get("k").kvs(0);
  EXPECT_EQ(kv.create_revision(), 2);
  EXPECT_EQ(kv.mod_revision(), 4);
  EXPECT_EQ(kv.version(), 2);
  EXPECT_EQ(store_->CurrentRevision(), 4);
}

TEST_F(WriteTest, EmptyValueIsStored) {
  Put("k", "");
  auto resp = Get("k");
  ASSERT_EQ(resp.kvs_size(), 1);
  EXPECT_EQ(resp.kvs(0).value(), "");
}

TEST_F(WriteTest, DeleteThenRecreateStartsANewGeneration) {
  Put("k", "1");              // 2
  Put("k", "2");              // 3
  EXPECT_EQ(Delete("k"), 1);  // 4
  EXPECT_EQ(Get("k").count(), 0);
  EXPECT_EQ(Put("k", "3"), 5);
  auto kv = Get("k").kvs(0);
  EXPECT_EQ(kv.create_revision(), 5);
  EXPECT_EQ(kv.version(), 1);
  // The old generation is still readable below the delete.
  EXPECT_EQ(Get("k", "", 3).kvs(0).version(), 2);
}

TEST_F(WriteTest, PrevKvReturnsTheReplacedValue) {
  auto req = PutReq("k", "1");
  req.set_prev_kv(true);
  auto first = store_->Put(req, NextMeta());
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->has_prev_kv());
  req.set_value("2");
  auto second = store_->Put(req, NextMeta());
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(second->has_prev_kv());
  EXPECT_EQ(second->prev_kv().value(), "1");
  EXPECT_EQ(second->prev_kv().mod_revision(), 2);
  EXPECT_EQ(second->header().revision(), 3);
}

TEST_F(WriteTest, IgnoreValueKeepsTheValueAndBumpsVersion) {
  Put("k", "keep");
  auto req = PutReq("k", "");
  req.set_ignore_value(true);
  auto resp = store_->Put(req, NextMeta());
  ASSERT_TRUE(resp.ok()) << resp.status();
  auto kv = Get("k").kvs(0);
  EXPECT_EQ(kv.value(), "keep");
  EXPECT_EQ(kv.version(), 2);
}

TEST_F(WriteTest, IgnoreValueOnMissingKeyFailsWithKeyNotFound) {
  auto req = PutReq("k", "");
  req.set_ignore_value(true);
  auto resp = store_->Put(req, NextMeta());
  EXPECT_EQ(resp.status(), ErrKeyNotFound());
  EXPECT_EQ(resp.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(resp.status().message(), "etcdserver: key not found");
  EXPECT_EQ(store_->CurrentRevision(), 1);
}

TEST_F(WriteTest, IgnoreValueWithAValueIsRefused) {
  Put("k", "1");
  auto req = PutReq("k", "2");
  req.set_ignore_value(true);
  EXPECT_EQ(store_->Put(req, NextMeta()).status().message(), "etcdserver: value is provided");
}

TEST_F(WriteTest, IgnoreLeaseKeepsTheLease) {
  Put("k", "1", 7);
  auto req = PutReq("k", "2");
  req.set_ignore_lease(true);
  ASSERT_TRUE(store_->Put(req, NextMeta()).ok());
  auto kv = Get("k").kvs(0);
  EXPECT_EQ(kv.lease(), 7);
  EXPECT_EQ(kv.value(), "2");
  EXPECT_EQ(store_->LeaseOf("k"), 7);
}

TEST_F(WriteTest, IgnoreLeaseWithALeaseIsRefusedAndOnMissingKeyNotFound) {
  auto req = PutReq("k", "2", 5);
  req.set_ignore_lease(true);
  EXPECT_EQ(store_->Put(req, NextMeta()).status().message(), "etcdserver: lease is provided");
  req.set_lease(0);
  EXPECT_EQ(store_->Put(req, NextMeta()).status(), ErrKeyNotFound());
}

TEST_F(WriteTest, PutWithUnknownLeaseFailsAndWritesNothing) {
  store_->SetLeaseChecker([](int64_t lease) { return lease == 100; });
  auto resp = store_->Put(PutReq("k", "v", 5), NextMeta());
  EXPECT_EQ(resp.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(resp.status().message(), "etcdserver: requested lease not found");
  EXPECT_EQ(store_->CurrentRevision(), 1);
  EXPECT_EQ(Put("k", "v", 100), 2);
  EXPECT_EQ(Put("k", "v", 0), 3);
}

TEST_F(WriteTest, LeasedKeysFollowPutsOverwritesAndDeletes) {
  Put("a", "1", 10);
  Put("b", "1", 11);
  Put("c", "1");
  std::vector<LeasedKey> leased = store_->LeasedKeys();
  ASSERT_EQ(leased.size(), 2u);
  EXPECT_EQ(leased[0].key, "a");
  EXPECT_EQ(leased[0].lease, 10);
  EXPECT_EQ(leased[1].key, "b");
  Put("a", "2");  // overwrite without a lease detaches it
  Delete("b");
  EXPECT_TRUE(store_->LeasedKeys().empty());
  EXPECT_EQ(store_->LeaseOf("a"), 0);
  EXPECT_EQ(store_->LeaseOf("missing"), 0);
  Put("b", "again", 12);
  Reopen();
  ASSERT_EQ(store_->LeasedKeys().size(), 1u);
  EXPECT_EQ(store_->LeaseOf("b"), 12);
}

TEST_F(WriteTest, DeleteRangeDeletesEveryKeyInOneRevision) {
  for (const char* k : {"a", "b", "c", "d"}) Put(k, "v");  // 2..5
  auto resp = store_->DeleteRange(DelReq("b", "d", true), NextMeta());
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->deleted(), 2);
  EXPECT_EQ(resp->header().revision(), 6);
  ASSERT_EQ(resp->prev_kvs_size(), 2);
  EXPECT_EQ(resp->prev_kvs(0).key(), "b");
  EXPECT_EQ(resp->prev_kvs(1).key(), "c");
  EXPECT_EQ(resp->prev_kvs(1).value(), "v");
  EXPECT_EQ(Keys(Get("a", "z")), V({"a", "d"}));
  EXPECT_EQ(store_->CurrentRevision(), 6);
}

TEST_F(WriteTest, DeleteRangeWithZeroEndDeletesEveryKeyFromKey) {
  for (const char* k : {"a", "b", "c"}) Put(k, "v");
  EXPECT_EQ(Delete("b", std::string(1, '\0')), 2);
  EXPECT_EQ(Keys(Get("a", "z")), V({"a"}));
}

TEST_F(WriteTest, DeleteOfNothingDoesNotBumpTheRevision) {
  Put("a", "v");
  auto resp = store_->DeleteRange(DelReq("x", "z", true), NextMeta());
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->deleted(), 0);
  EXPECT_EQ(resp->header().revision(), 2);
  EXPECT_EQ(resp->prev_kvs_size(), 0);
  EXPECT_EQ(store_->CurrentRevision(), 2);
  // Deleting an already deleted key is nothing too.
  Delete("a");
  EXPECT_EQ(Delete("a"), 0);
  EXPECT_EQ(store_->CurrentRevision(), 3);
}

TEST_F(WriteTest, EventSinkGetsEachCommittedRevisionInOrder) {
  std::vector<std::pair<int64_t, std::vector<mvccpb::Event>>> seen;
  store_->SetEventSink([&](int64_t rev, const std::vector<mvccpb::Event>& events) {
    // The change is visible to readers by the time the sink runs.
    EXPECT_EQ(store_->CurrentRevision(), rev);
    seen.emplace_back(rev, events);
  });
  Put("a", "1", 3);
  Put("b", "2");
  Delete("a", "c");
  Delete("zzz");  // nothing deleted: no event
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].first, 2);
  ASSERT_EQ(seen[0].second.size(), 1u);
  EXPECT_EQ(seen[0].second[0].type(), mvccpb::Event::PUT);
  EXPECT_EQ(seen[0].second[0].kv().value(), "1");
  EXPECT_EQ(seen[0].second[0].kv().lease(), 3);
  EXPECT_EQ(seen[0].second[0].kv().version(), 1);
  EXPECT_EQ(seen[2].first, 4);
  ASSERT_EQ(seen[2].second.size(), 2u);
  EXPECT_EQ(seen[2].second[0].type(), mvccpb::Event::DELETE);
  EXPECT_EQ(seen[2].second[0].kv().key(), "a");
  EXPECT_EQ(seen[2].second[0].kv().mod_revision(), 4);
  EXPECT_EQ(seen[2].second[0].kv().value(), "");
  EXPECT_EQ(seen[2].second[1].kv().key(), "b");
}

TEST_F(WriteTest, ReadEventsReplaysHistoryAsWatchEvents) {
  Put("a", "1");  // 2
  Put("a", "2");  // 3
  Delete("a");    // 4
  Put("b", "1");  // 5
  auto events = store_->ReadEvents(3, 4);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].type(), mvccpb::Event::PUT);
  EXPECT_EQ((*events)[0].kv().value(), "2");
  EXPECT_EQ((*events)[1].type(), mvccpb::Event::DELETE);
  EXPECT_EQ((*events)[1].kv().mod_revision(), 4);
  EXPECT_EQ(store_->ReadEvents(2, 100)->size(), 4u);
  ASSERT_TRUE(Compact(4).ok());
  EXPECT_EQ(store_->ReadEvents(3, 5).status(), ErrCompacted());
}

TEST_F(WriteTest, FailedWriteLeavesAppliedIndexForMarkApplied) {
  Put("a", "1");
  ApplyMeta before = store_->Applied();
  auto req = PutReq("missing", "");
  req.set_ignore_value(true);
  ASSERT_FALSE(store_->Put(req, ApplyMeta{before.index + 1, 3}).ok());
  EXPECT_EQ(store_->Applied(), before);
  ASSERT_TRUE(store_->MarkApplied(ApplyMeta{before.index + 1, 3}).ok());
  EXPECT_EQ(store_->Applied(), (ApplyMeta{before.index + 1, 3}));
  EXPECT_EQ(store_->CurrentRevision(), 2);
  Reopen();
  EXPECT_EQ(store_->Applied(), (ApplyMeta{before.index + 1, 3}));
}

TEST_F(WriteTest, LargeValuesRoundTrip) {
  std::string big(1 << 20, 'x');
  big[12345] = 'y';
  Put("big", big);
  EXPECT_EQ(Get("big").kvs(0).value(), big);
}

}  // namespace
}  // namespace quorum::storage::testing
