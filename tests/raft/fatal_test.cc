// The shared fatal-error facility: every layer stops the same way, saying what broke.
#include "raft/fatal.h"

#include <cstdio>
#include <string_view>

#include "gtest/gtest.h"

namespace quorum {
namespace {

TEST(FatalTest, FatalStopsTheProcessSayingWhatBroke) {
  EXPECT_DEATH(Fatal("log index went backwards"), "quorum fatal: log index went backwards");
}

TEST(FatalTest, CheckStopsOnlyWhenTheConditionIsFalse) {
  int applied = 7;
  QUORUM_CHECK(applied == 7, "applied ", applied);
  EXPECT_DEATH(QUORUM_CHECK(applied == 8, "applied ", applied),
               "check failed: applied == 8: applied 7");
}

TEST(FatalTest, ObserverRunsBeforeTheStop) {
  EXPECT_DEATH(
      {
        SetFatalObserver([](std::string_view what) {
          std::fprintf(stderr, "observer saw <%.*s>\n", static_cast<int>(what.size()), what.data());
        });
        Fatal("disk gone");
      },
      "observer saw <disk gone>");
}

}  // namespace
}  // namespace quorum
