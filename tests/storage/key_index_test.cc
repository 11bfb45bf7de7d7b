// Key index: visibility of revisions across generations, compaction and what it keeps, and
// rebuilding from records.
#include "storage/key_index.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace quorum::storage {
namespace {

// "foo": created at 2, put at 4, deleted at 6; created at 8, put at 10, deleted at 12;
// created at 14 with a second put in the same txn (14/1), deleted at 16.
KeyIndex ThreeGenerations() {
  KeyIndex index;
  index.Put("foo", {2, 0}, 0);
  index.Put("foo", {4, 0}, 0);
  EXPECT_TRUE(index.Tombstone("foo", {6, 0}));
  index.Put("foo", {8, 0}, 0);
  index.Put("foo", {10, 0}, 0);
  EXPECT_TRUE(index.Tombstone("foo", {12, 0}));
  index.Put("foo", {14, 0}, 0);
  index.Put("foo", {14, 1}, 0);
  EXPECT_TRUE(index.Tombstone("foo", {16, 0}));
  return index;
}

TEST(KeyIndexTest, GetSeesTheNewestRevisionAtOrBelowAndNothingWhileDeleted) {
  KeyIndex index = ThreeGenerations();
  struct Case {
    int64_t at;
    bool found;
    Revision mod;
    int64_t created;
    int64_t version;
  };
  const std::vector<Case> cases = {
      {1, false, {}, 0, 0},       {2, true, {2, 0}, 2, 1}, {3, true, {2, 0}, 2, 1},
      {4, true, {4, 0}, 2, 2},    {5, true, {4, 0}, 2, 2}, {6, false, {}, 0, 0},
      {7, false, {}, 0, 0},       {8, true, {8, 0}, 8, 1}, {11, true, {10, 0}, 8, 2},
      {12, false, {}, 0, 0},      {13, false, {}, 0, 0},   {14, true, {14, 1}, 14, 2},
      {15, true, {14, 1}, 14, 2}, {16, false, {}, 0, 0},   {100, false, {}, 0, 0},
  };
  for (const Case& c : cases) {
    std::optional<KeyAt> at = index.Get("foo", c.at);
    ASSERT_EQ(at.has_value(), c.found) << "at " << c.at;
    if (!c.found) continue;
    EXPECT_EQ(at->mod, c.mod) << "at " << c.at;
    EXPECT_EQ(at->created, c.created) << "at " << c.at;
    EXPECT_EQ(at->version, c.version) << "at " << c.at;
  }
}

TEST(KeyIndexTest, TombstoneOfDeletedOrUnknownKeyIsRefused) {
  KeyIndex index;
  EXPECT_FALSE(index.Tombstone("nope", {2, 0}));
  index.Put("k", {2, 0}, 0);
  EXPECT_TRUE(index.Tombstone("k", {3, 0}));
  EXPECT_FALSE(index.Tombstone("k", {4, 0}));
}

TEST(KeyIndexTest, RecreateStartsNewGenerationAtVersionOne) {
  KeyIndex index;
  index.Put("k", {2, 0}, 0);
  index.Put("k", {3, 0}, 0);
  index.Tombstone("k", {4, 0});
  index.Put("k", {5, 0}, 0);
  std::optional<KeyAt> at = index.Get("k", 5);
  ASSERT_TRUE(at);
  EXPECT_EQ(at->created, 5);
  EXPECT_EQ(at->version, 1);
  EXPECT_EQ(index.Get("k", 3)->version, 2);
}

TEST(KeyIndexTest, CompactionKeepsNewestLiveRevisionAtOrBelowEachRevision) {
  // Expected keep sets per compaction revision, as etcd's key index computes them.
  const std::vector<std::pair<int64_t, std::vector<Revision>>> cases = {
      {1, {}},  {2, {{2, 0}}},   {3, {{2, 0}}},   {4, {{4, 0}}},   {5, {{4, 0}}},   {6, {}},
      {7, {}},  {8, {{8, 0}}},   {9, {{8, 0}}},   {10, {{10, 0}}}, {11, {{10, 0}}}, {12, {}},
      {13, {}}, {14, {{14, 1}}}, {15, {{14, 1}}}, {16, {}},        {17, {}},
  };
  for (const auto& [at, want] : cases) {
    KeyIndex index = ThreeGenerations();
    absl::flat_hash_set<Revision> kept;
    index.Keep(at, &kept);
    absl::flat_hash_set<Revision> compacted;
    EXPECT_EQ(index.Compact(at, "", 1000, &compacted), std::nullopt);
    absl::flat_hash_set<Revision> expected(want.begin(), want.end());
    EXPECT_EQ(compacted, expected) << "compact at " << at;
    EXPECT_EQ(kept, expected) << "keep at " << at;
    // Reads at or above the compaction revision answer as before.
    KeyIndex reference = ThreeGenerations();
    for (int64_t read = at; read <= 17; ++read) {
      auto got = index.Get("foo", read);
      auto ref = reference.Get("foo", read);
      ASSERT_EQ(got.has_value(), ref.has_value()) << "compact " << at << " read " << read;
      if (got) {
        EXPECT_EQ(got->mod, ref->mod);
        EXPECT_EQ(got->version, ref->version);
        EXPECT_EQ(got->created, ref->created);
      }
    }
    EXPECT_EQ(index.size(), at >= 16 ? 0u : 1u) << "compact at " << at;
  }
}

TEST(KeyIndexTest, CompactionInChunksVisitsEveryKey) {
  KeyIndex index;
  for (int i = 0; i < 10; ++i) {
    std::string key = "k" + std::to_string(i);
    index.Put(key, {2 + 2 * i, 0}, 0);
    index.Tombstone(key, {3 + 2 * i, 0});
  }
  absl::flat_hash_set<Revision> keep;
  std::optional<std::string> next = "";
  int rounds = 0;
  while (next) {
    next = index.Compact(100, *next, 3, &keep);
    ++rounds;
  }
  EXPECT_EQ(rounds, 4);
  EXPECT_TRUE(keep.empty());
  EXPECT_EQ(index.size(), 0u);
}

TEST(KeyIndexTest, VisitHonoursRangeEndRules) {
  KeyIndex index;
  int64_t rev = 2;
  for (const char* key : {"a", "ab", "b", "c"}) index.Put(key, {rev++, 0}, 0);
  auto visit = [&](KeyRange range) {
    std::vector<std::string> keys;
    index.Visit(range, 100, [&](std::string_view key, const KeyAt&, const KeyHistory&) {
      keys.emplace_back(key);
      return true;
    });
    return keys;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(visit(KeyRange::FromRequest("a", "")), V({"a"}));
  EXPECT_EQ(visit(KeyRange::FromRequest("a", "b")), V({"a", "ab"}));
  EXPECT_EQ(visit(KeyRange::FromRequest("ab", std::string(1, '\0'))), V({"ab", "b", "c"}));
  EXPECT_EQ(visit(KeyRange::FromRequest(std::string(1, '\0'), std::string(1, '\0'))),
            V({"a", "ab", "b", "c"}));
  EXPECT_EQ(visit(KeyRange::FromRequest("c", "a")), V());
}

TEST(KeyIndexTest, RestoreFromRecordsRebuildsGenerations) {
  KeyIndex index;
  // Records as a compaction at 5 might leave them: the put at 4 (version 2 of a generation
  // created at 2), its tombstone at 6, a new generation from 8.
  index.Restore("foo", {4, 0}, false, 2, 2, 0, nullptr);
  index.Restore("foo", {6, 0}, true, 0, 0, 0, nullptr);
  index.Restore("foo", {8, 0}, false, 8, 1, 9, nullptr);
  index.Restore("gone", {9, 0}, true, 0, 0, 0, nullptr);  // a lone tombstone says nothing
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.Get("foo", 5)->created, 2);
  EXPECT_EQ(index.Get("foo", 5)->version, 2);
  EXPECT_FALSE(index.Get("foo", 7));
  EXPECT_EQ(index.Get("foo", 8)->version, 1);
  ASSERT_NE(index.FindLive("foo"), nullptr);
  EXPECT_EQ(index.FindLive("foo")->lease, 9);
}

TEST(KeyIndexTest, RevisionKeysSortByRevisionAndRoundTrip) {
  std::string a = RevisionKey({2, 5});
  std::string b = RevisionKey({3, 0});
  std::string c = RevisionKey({3, 0}, true);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(a.size(), 17u);
  EXPECT_EQ(c.size(), 18u);
  Revision rev;
  bool tombstone = false;
  ASSERT_TRUE(DecodeRevisionKey(c, &rev, &tombstone));
  EXPECT_EQ(rev, (Revision{3, 0}));
  EXPECT_TRUE(tombstone);
  EXPECT_FALSE(DecodeRevisionKey("short", &rev, &tombstone));
}

}  // namespace
}  // namespace quorum::storage
