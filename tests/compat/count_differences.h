// The step-by-step comparison the gRPC and gateway differential tests share: two runs of a
// session (etcd's and quorumd's), each a list of named outcomes that print and compare.
#ifndef QUORUM_TESTS_COMPAT_COUNT_DIFFERENCES_H_
#define QUORUM_TESTS_COMPAT_COUNT_DIFFERENCES_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace quorum::testing {

// Reports each step whose outcome differs (all of them with QUORUM_DIFF_VERBOSE set);
// returns the number of differences.
template <typename Outcome>
int CountDifferences(const std::vector<std::pair<std::string, Outcome>>& expected,
                     const std::vector<std::pair<std::string, Outcome>>& actual) {
  EXPECT_EQ(expected.size(), actual.size());
  int differences = 0;
  for (size_t i = 0; i < std::min(expected.size(), actual.size()); ++i) {
    if (std::getenv("QUORUM_DIFF_VERBOSE") != nullptr) {
      std::cout << "== " << expected[i].first << "\n" << expected[i].second;
    }
    if (!(expected[i].second == actual[i].second)) {
      ++differences;
      ADD_FAILURE() << "step \"" << expected[i].first << "\" differs\n--- etcd:\n"
                    << expected[i].second << "--- quorumd:\n"
                    << actual[i].second;
    }
  }
  return differences;
}

}  // namespace quorum::testing

#endif  // QUORUM_TESTS_COMPAT_COUNT_DIFFERENCES_H_
