// The checker on histories whose verdict is known: stale and lost reads, double compare-and-set
// wins and reads going back in time are found; concurrency, unknown outcomes and large random
// histories of a real register pass.
#include "tests/faults/linearizability.h"

#include <gtest/gtest.h>

#include <random>

#include "absl/strings/str_cat.h"

namespace quorum::faults {
namespace {

using Kind = Operation::Kind;
using Verdict = CheckResult::Verdict;

Operation Put(int client, std::string value, int64_t call, int64_t ret) {
  Operation op;
  op.kind = Kind::kPut;
  op.client = client;
  op.key = "x";
  op.value = std::move(value);
  op.call_ns = call;
  op.return_ns = ret;
  op.completed = ret >= 0;
  return op;
}

Operation Get(int client, std::optional<std::string> read, int64_t call, int64_t ret) {
  Operation op;
  op.kind = Kind::kGet;
  op.client = client;
  op.key = "x";
  op.read = std::move(read);
  op.call_ns = call;
  op.return_ns = ret;
  op.completed = true;
  return op;
}

Operation Cas(int client, std::optional<std::string> expected, std::string value, bool ok,
              int64_t call, int64_t ret) {
  Operation op;
  op.kind = Kind::kCas;
  op.client = client;
  op.key = "x";
  op.expected = std::move(expected);
  op.value = std::move(value);
  op.cas_succeeded = ok;
  op.call_ns = call;
  op.return_ns = ret;
  op.completed = ret >= 0;
  return op;
}

Verdict Check(const std::vector<Operation>& history) { return CheckLinearizable(history).verdict; }

TEST(LinearizabilityTest, SequentialHistoryPasses) {
  EXPECT_EQ(Check({Get(0, std::nullopt, 0, 1), Put(0, "1", 2, 3), Get(1, "1", 4, 5),
                   Cas(1, "1", "2", true, 6, 7), Get(0, "2", 8, 9)}),
            Verdict::kLinearizable);
}

TEST(LinearizabilityTest, StaleReadAfterANewerWriteReturnedFails) {
  const auto result =
      CheckLinearizable({Put(0, "1", 0, 10), Put(0, "2", 20, 30), Get(1, "1", 40, 50)});
  EXPECT_EQ(result.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(result.key, "x");
  EXPECT_NE(result.explanation.find("get x -> \"1\""), std::string::npos) << result.explanation;
}

TEST(LinearizabilityTest, AcknowledgedWriteThatIsLaterMissingFails) {
  EXPECT_EQ(Check({Put(0, "1", 0, 10), Get(1, std::nullopt, 20, 30)}), Verdict::kNotLinearizable);
}

TEST(LinearizabilityTest, ConcurrentWriteMayBeSeenEitherWayButNotBackAndForth) {
  // While the put runs, reads may see before or after it, in that order only.
  EXPECT_EQ(Check({Put(0, "1", 0, 100), Get(1, std::nullopt, 10, 20), Get(1, "1", 30, 40),
                   Get(2, "1", 50, 60)}),
            Verdict::kLinearizable);
  EXPECT_EQ(Check({Put(0, "1", 0, 100), Get(1, std::nullopt, 10, 20), Get(1, "1", 30, 40),
                   Get(2, std::nullopt, 50, 60)}),
            Verdict::kNotLinearizable);
}

TEST(LinearizabilityTest, UnknownOutcomesMayHappenLateOrNever) {
  // A write whose answer never came: seen later, or never.
  EXPECT_EQ(Check({Put(0, "1", 0, -1), Get(1, std::nullopt, 10, 20), Get(1, "1", 30, 40)}),
            Verdict::kLinearizable);
  EXPECT_EQ(Check({Put(0, "1", 0, -1), Get(1, std::nullopt, 10, 20)}), Verdict::kLinearizable);
  // But not before it was sent.
  EXPECT_EQ(Check({Get(1, "1", 0, 5), Put(0, "1", 10, -1)}), Verdict::kNotLinearizable);
}

TEST(LinearizabilityTest, TwoWinnersOfOneCompareAndSetFail) {
  EXPECT_EQ(
      Check({Put(0, "0", 0, 1), Cas(1, "0", "a", true, 10, 20), Cas(2, "0", "b", true, 10, 20)}),
      Verdict::kNotLinearizable);
  EXPECT_EQ(Check({Put(0, "0", 0, 1), Cas(1, "0", "a", true, 10, 20),
                   Cas(2, "0", "b", false, 10, 20), Get(0, "a", 30, 40)}),
            Verdict::kLinearizable);
  // A failed compare-and-set must have seen something other than what it expected.
  EXPECT_EQ(Check({Put(0, "0", 0, 1), Cas(1, "0", "a", false, 10, 20)}), Verdict::kNotLinearizable);
}

TEST(LinearizabilityTest, KeysAreJudgedApart) {
  Operation y = Put(0, "1", 0, 10);
  y.key = "y";
  EXPECT_EQ(Check({y, Get(1, std::nullopt, 20, 30)}), Verdict::kLinearizable);
}

// Histories of a real register: each operation takes effect at a random instant inside its
// call-return window, on one of four keys, from eight clients; one write in `unknown_every`
// loses its answer.
std::vector<Operation> RandomHistory(uint32_t seed, int count, uint32_t unknown_every = 20) {
  std::mt19937 random(seed);
  std::map<std::string, std::optional<std::string>> registers;
  struct Pending {
    Operation op;
    int64_t effect;
  };
  std::vector<Pending> pending;
  for (int i = 0; i < count; ++i) {
    Operation op;
    op.client = static_cast<int>(random() % 8);
    op.key = absl::StrCat("k", random() % 4);
    op.call_ns = i * 10;
    op.return_ns = op.call_ns + 1 + random() % 200;
    op.completed = true;
    switch (random() % 3) {
      case 0:
        op.kind = Kind::kGet;
        break;
      case 1:
        op.kind = Kind::kPut;
        op.value = absl::StrCat("v", i);
        break;
      default:
        op.kind = Kind::kCas;
        op.value = absl::StrCat("v", i);
        op.expected = absl::StrCat("v", random() % std::max(1, i));
        break;
    }
    pending.push_back(
        {op, op.call_ns + static_cast<int64_t>(random() % (op.return_ns - op.call_ns))});
  }
  std::stable_sort(pending.begin(), pending.end(),
                   [](const Pending& a, const Pending& b) { return a.effect < b.effect; });
  std::vector<Operation> history;
  for (Pending& p : pending) {
    auto& value = registers[p.op.key];
    if (p.op.kind == Kind::kGet) p.op.read = value;
    if (p.op.kind == Kind::kPut) value = p.op.value;
    if (p.op.kind == Kind::kCas) {
      p.op.cas_succeeded = value == p.op.expected;
      if (p.op.cas_succeeded) value = p.op.value;
    }
    if (p.op.kind != Kind::kGet && random() % unknown_every == 0) {
      p.op.completed = false;
    }
    history.push_back(p.op);
  }
  return history;
}

TEST(LinearizabilityTest, RandomHistoriesOfARealRegisterPass) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    const auto result = CheckLinearizable(RandomHistory(seed, 2000));
    EXPECT_EQ(result.verdict, Verdict::kLinearizable) << "seed " << seed << "\n"
                                                      << result.explanation;
  }
}

// Proving a history wrong means searching all its orders, so these are smaller than the ones
// above: a few hundred operations, as many as a key gets in the fault tests.
TEST(LinearizabilityTest, OneStaleReadInARandomHistoryIsFound) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    auto history = RandomHistory(seed, 400);
    // The last read of a key that saw a value overwritten (by a put that returned) before the
    // read was sent: change it to see the older value.
    bool planted = false;
    for (size_t i = history.size(); i-- > 0 && !planted;) {
      Operation& read = history[i];
      if (read.kind != Kind::kGet || !read.read.has_value()) continue;
      for (const Operation& put : history) {
        if (put.kind == Kind::kPut && put.key == read.key && put.completed &&
            put.value != *read.read && put.return_ns < read.call_ns) {
          // `put` wrote before the read began; the read now claims a value written by a put
          // that both started and ended before `put` did.
          for (const Operation& older : history) {
            if (older.kind == Kind::kPut && older.key == read.key && older.completed &&
                older.return_ns < put.call_ns) {
              read.read = older.value;
              planted = true;
              break;
            }
          }
          if (planted) break;
        }
      }
    }
    ASSERT_TRUE(planted) << seed;
    EXPECT_EQ(CheckLinearizable(history).verdict, Verdict::kNotLinearizable) << "seed " << seed;
  }
}

}  // namespace
}  // namespace quorum::faults
