// Range: range_end rules, limit and more, count, sorting, filters, keys_only/count_only and
// reads at a revision, with etcd 3.4's answers.
#include <gtest/gtest.h>

#include "proto/etcd_errors.h"
#include "tests/storage/store_fixture.h"

namespace quorum::storage::testing {
namespace {

using V = std::vector<std::string>;
const std::string kZero(1, '\0');

class RangeTest : public StoreTest {};

TEST_F(RangeTest, EmptyStoreIsAtRevisionOneAndFirstWriteIsTwo) {
  EXPECT_EQ(store_->CurrentRevision(), 1);
  EXPECT_EQ(store_->CompactedRevision(), -1);
  auto resp = Get("a");
  EXPECT_EQ(resp.header().revision(), 1);
  EXPECT_EQ(resp.count(), 0);
  EXPECT_EQ(Put("a", "1"), 2);
}

TEST_F(RangeTest, EmptyRangeEndSelectsTheSingleKey) {
  Put("a", "1");
  Put("ab", "2");
  Put("b", "3");
  auto resp = Get("a");
  EXPECT_EQ(Keys(resp), V({"a"}));
  EXPECT_EQ(resp.count(), 1);
  EXPECT_EQ(resp.kvs(0).value(), "1");
  EXPECT_EQ(Get("zz").count(), 0);
}

TEST_F(RangeTest, RangeEndIsExclusive) {
  for (const char* k : {"a", "ab", "b", "c"}) Put(k, "v");
  EXPECT_EQ(Keys(Get("a", "b")), V({"a", "ab"}));
  EXPECT_EQ(Keys(Get("ab", "c")), V({"ab", "b"}));
}

TEST_F(RangeTest, RangeEndZeroByteSelectsEveryKeyFromKey) {
  for (const char* k : {"a", "ab", "b", "c"}) Put(k, "v");
  EXPECT_EQ(Keys(Get("ab", kZero)), V({"ab", "b", "c"}));
  EXPECT_EQ(Keys(Get("bb", kZero)), V({"c"}));
}

TEST_F(RangeTest, KeyZeroWithRangeEndZeroSelectsAllKeys) {
  for (const char* k : {"a", "ab", "b", "c"}) Put(k, "v");
  auto resp = Get(kZero, kZero);
  EXPECT_EQ(Keys(resp), V({"a", "ab", "b", "c"}));
  EXPECT_EQ(resp.count(), 4);
}

TEST_F(RangeTest, RangeEndNotAboveKeySelectsNothing) {
  for (const char* k : {"a", "b", "c"}) Put(k, "v");
  EXPECT_EQ(Get("b", "a").count(), 0);
  EXPECT_EQ(Get("b", "b").count(), 0);
}

TEST_F(RangeTest, PrefixRangeSelectsKeysWithThePrefix) {
  for (const char* k : {"foo", "foo/a", "foo/b", "foo0", "fop"}) Put(k, "v");
  EXPECT_EQ(Keys(Get("foo/", "foo0")), V({"foo/a", "foo/b"}));
  EXPECT_EQ(Keys(Get("foo", "fop")), V({"foo", "foo/a", "foo/b", "foo0"}));
}

TEST_F(RangeTest, KeysCompareAsUnsignedBytes) {
  Put(std::string("\x7f"), "v");
  Put(std::string("\x80"), "v");
  Put(std::string("\xff"), "v");
  EXPECT_EQ(Keys(Get(kZero, kZero)), V({"\x7f", "\x80", "\xff"}));
}

TEST_F(RangeTest, LimitTruncatesAndSetsMoreWhileCountIsTotal) {
  for (const char* k : {"a", "b", "c", "d", "e"}) Put(k, "v");
  auto req = RangeReq("a", "z");
  req.set_limit(2);
  auto resp = Get(req);
  EXPECT_EQ(Keys(resp), V({"a", "b"}));
  EXPECT_TRUE(resp.more());
  EXPECT_EQ(resp.count(), 5);

  req.set_limit(5);
  resp = Get(req);
  EXPECT_EQ(resp.kvs_size(), 5);
  EXPECT_FALSE(resp.more());

  req.set_limit(6);
  EXPECT_FALSE(Get(req).more());
}

TEST_F(RangeTest, NegativeOrZeroLimitMeansNoLimit) {
  for (const char* k : {"a", "b", "c"}) Put(k, "v");
  auto req = RangeReq("a", "z");
  req.set_limit(-1);
  EXPECT_EQ(Get(req).kvs_size(), 3);
  req.set_limit(0);
  EXPECT_EQ(Get(req).kvs_size(), 3);
}

TEST_F(RangeTest, CountOnlyReturnsCountWithoutKvs) {
  for (const char* k : {"a", "b", "c"}) Put(k, "v");
  auto req = RangeReq("a", "z");
  req.set_count_only(true);
  req.set_limit(1);
  auto resp = Get(req);
  EXPECT_EQ(resp.count(), 3);
  EXPECT_EQ(resp.kvs_size(), 0);
  EXPECT_FALSE(resp.more());
}

TEST_F(RangeTest, KeysOnlyOmitsValuesButKeepsMetadata) {
  Put("a", "value");
  auto req = RangeReq("a");
  req.set_keys_only(true);
  auto resp = Get(req);
  ASSERT_EQ(resp.kvs_size(), 1);
  EXPECT_EQ(resp.kvs(0).value(), "");
  EXPECT_EQ(resp.kvs(0).mod_revision(), 2);
  EXPECT_EQ(resp.kvs(0).version(), 1);
}

TEST_F(RangeTest, KeyValueCarriesRevisionsVersionAndLease) {
  Put("a", "1");
  Put("b", "x", 42);
  Put("a", "2");
  auto resp = Get("a", "c");
  ASSERT_EQ(resp.kvs_size(), 2);
  EXPECT_EQ(resp.kvs(0).create_revision(), 2);
  EXPECT_EQ(resp.kvs(0).mod_revision(), 4);
  EXPECT_EQ(resp.kvs(0).version(), 2);
  EXPECT_EQ(resp.kvs(0).value(), "2");
  EXPECT_EQ(resp.kvs(1).lease(), 42);
  EXPECT_EQ(resp.header().revision(), 4);
}

// Store with a(version 3), b(version 1), c(version 2), d(version 1); values chosen so that
// value order differs from key order.
class SortTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    Put("a", "z");  // 2
    Put("b", "y");  // 3
    Put("c", "x");  // 4
    Put("d", "w");  // 5
    Put("a", "z");  // 6
    Put("c", "x");  // 7
    Put("a", "m");  // 8
  }
  V Sorted(RangeRequest::SortTarget target, RangeRequest::SortOrder order, int64_t limit = 0,
           bool* more = nullptr) {
    auto req = RangeReq("a", "z");
    req.set_sort_target(target);
    req.set_sort_order(order);
    req.set_limit(limit);
    auto resp = Get(req);
    EXPECT_EQ(resp.count(), 4);
    if (more != nullptr) *more = resp.more();
    return Keys(resp);
  }
};

TEST_F(SortTest, SortByKey) {
  EXPECT_EQ(Sorted(RangeRequest::KEY, RangeRequest::ASCEND), V({"a", "b", "c", "d"}));
  EXPECT_EQ(Sorted(RangeRequest::KEY, RangeRequest::DESCEND), V({"d", "c", "b", "a"}));
  EXPECT_EQ(Sorted(RangeRequest::KEY, RangeRequest::NONE), V({"a", "b", "c", "d"}));
}

TEST_F(SortTest, SortByKeyDescendWithLimitReturnsTheLastKeys) {
  bool more = false;
  EXPECT_EQ(Sorted(RangeRequest::KEY, RangeRequest::DESCEND, 2, &more), V({"d", "c"}));
  EXPECT_TRUE(more);
  EXPECT_EQ(Sorted(RangeRequest::KEY, RangeRequest::ASCEND, 3, &more), V({"a", "b", "c"}));
  EXPECT_TRUE(more);
  EXPECT_EQ(Sorted(RangeRequest::KEY, RangeRequest::DESCEND, 4, &more), V({"d", "c", "b", "a"}));
  EXPECT_FALSE(more);
}

TEST_F(SortTest, SortByVersionKeepsKeyOrderAmongTies) {
  EXPECT_EQ(Sorted(RangeRequest::VERSION, RangeRequest::ASCEND), V({"b", "d", "c", "a"}));
  EXPECT_EQ(Sorted(RangeRequest::VERSION, RangeRequest::DESCEND), V({"a", "c", "b", "d"}));
}

TEST_F(SortTest, SortByCreateModAndValue) {
  EXPECT_EQ(Sorted(RangeRequest::CREATE, RangeRequest::DESCEND), V({"d", "c", "b", "a"}));
  EXPECT_EQ(Sorted(RangeRequest::MOD, RangeRequest::ASCEND), V({"b", "d", "c", "a"}));
  EXPECT_EQ(Sorted(RangeRequest::MOD, RangeRequest::DESCEND), V({"a", "c", "d", "b"}));
  EXPECT_EQ(Sorted(RangeRequest::VALUE, RangeRequest::ASCEND), V({"a", "d", "c", "b"}));
  EXPECT_EQ(Sorted(RangeRequest::VALUE, RangeRequest::DESCEND), V({"b", "c", "d", "a"}));
}

TEST_F(SortTest, SortedLimitSortsEverythingThenTruncates) {
  bool more = false;
  EXPECT_EQ(Sorted(RangeRequest::VERSION, RangeRequest::ASCEND, 2, &more), V({"b", "d"}));
  EXPECT_TRUE(more);
}

TEST_F(SortTest, TargetWithoutOrderSortsAscendingButOnlyTheFirstLimitPlusOneKeys) {
  // etcd decides the fetch limit from sort_order before defaulting it to ASCEND, so only
  // a, b, c are fetched and sorted by version: b(1), c(2), a(3).
  bool more = false;
  EXPECT_EQ(Sorted(RangeRequest::VERSION, RangeRequest::NONE, 2, &more), V({"b", "c"}));
  EXPECT_TRUE(more);
  EXPECT_EQ(Sorted(RangeRequest::VERSION, RangeRequest::NONE), V({"b", "d", "c", "a"}));
}

class FilterTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    Put("a", "1");  // 2
    Put("b", "1");  // 3
    Put("c", "1");  // 4
    Put("a", "2");  // 5: a created 2, mod 5
    Put("d", "1");  // 6
  }
  etcdserverpb::RangeResponse Filtered(int64_t min_mod, int64_t max_mod, int64_t min_create,
                                       int64_t max_create, int64_t limit = 0) {
    auto req = RangeReq("a", "z");
    req.set_min_mod_revision(min_mod);
    req.set_max_mod_revision(max_mod);
    req.set_min_create_revision(min_create);
    req.set_max_create_revision(max_create);
    req.set_limit(limit);
    return Get(req);
  }
};

TEST_F(FilterTest, ModAndCreateRevisionFiltersAreInclusiveBounds) {
  EXPECT_EQ(Keys(Filtered(4, 0, 0, 0)), V({"a", "c", "d"}));
  EXPECT_EQ(Keys(Filtered(0, 4, 0, 0)), V({"b", "c"}));
  EXPECT_EQ(Keys(Filtered(0, 0, 3, 0)), V({"b", "c", "d"}));
  EXPECT_EQ(Keys(Filtered(0, 0, 0, 3)), V({"a", "b"}));
  EXPECT_EQ(Keys(Filtered(3, 5, 3, 4)), V({"b", "c"}));
}

TEST_F(FilterTest, CountIgnoresFiltersAndMoreIsDecidedAfterFiltering) {
  auto resp = Filtered(0, 0, 3, 0, 2);
  EXPECT_EQ(Keys(resp), V({"b", "c"}));
  EXPECT_TRUE(resp.more());
  EXPECT_EQ(resp.count(), 4);
  resp = Filtered(0, 0, 4, 0, 2);
  EXPECT_EQ(Keys(resp), V({"c", "d"}));
  EXPECT_FALSE(resp.more());
  EXPECT_EQ(resp.count(), 4);
}

TEST_F(RangeTest, ReadAtOldRevisionSeesThatStateButReportsCurrentRevision) {
  Put("a", "1");  // 2
  Put("a", "2");  // 3
  Put("b", "1");  // 4
  Delete("a");    // 5
  auto resp = Get("a", "z", 3);
  EXPECT_EQ(resp.header().revision(), 5);
  ASSERT_EQ(resp.kvs_size(), 1);
  EXPECT_EQ(resp.kvs(0).value(), "2");
  EXPECT_EQ(Keys(Get("a", "z", 4)), V({"a", "b"}));
  EXPECT_EQ(Keys(Get("a", "z", 5)), V({"b"}));
  EXPECT_EQ(Keys(Get("a", "z", 1)), V());
}

TEST_F(RangeTest, NegativeRevisionReadsCurrent) {
  Put("a", "1");
  EXPECT_EQ(Get("a", "", -7).count(), 1);
}

TEST_F(RangeTest, ReadAtFutureRevisionIsRefused) {
  Put("a", "1");
  auto resp = store_->Range(RangeReq("a", "", 3));
  EXPECT_EQ(resp.status(), ErrFutureRev());
  EXPECT_EQ(resp.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(resp.status().message(), "etcdserver: mvcc: required revision is a future revision");
}

TEST_F(RangeTest, ReadBelowCompactionReturnsCompacted) {
  Put("a", "1");  // 2
  Put("a", "2");  // 3
  Put("a", "3");  // 4
  ASSERT_TRUE(Compact(3).ok());
  auto resp = store_->Range(RangeReq("a", "", 2));
  EXPECT_EQ(resp.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(resp.status().message(), "etcdserver: mvcc: required revision has been compacted");
  // The compaction revision itself is still readable.
  auto at = Get("a", "", 3);
  ASSERT_EQ(at.kvs_size(), 1);
  EXPECT_EQ(at.kvs(0).value(), "2");
}

TEST_F(RangeTest, SerializableFlagDoesNotChangeTheAnswer) {
  Put("a", "1");
  auto req = RangeReq("a");
  req.set_serializable(true);
  EXPECT_EQ(Get(req).kvs_size(), 1);
}

}  // namespace
}  // namespace quorum::storage::testing
