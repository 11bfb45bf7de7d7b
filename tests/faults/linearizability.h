// A linearizability checker for histories of a key-value store: concurrent gets, puts and
// compare-and-sets, each with the times its call started and its answer came back, judged
// against a register per key. The search is Wing and Gong's with Lowe's memoization, as Knossos
// and porcupine do it: keys are checked one by one (a history is linearizable when each key's
// is), and within a key the search tries to order operations so that each takes effect between
// its call and its return and every answer matches the register at that point.
//
// An operation whose outcome the client never learned (a timeout, a lost connection) may have
// taken effect at any point after its call, or never: it gets an unbounded return time and an
// answer that matches whatever the register holds. A read that failed says nothing and is left
// out.
#ifndef QUORUM_TESTS_FAULTS_LINEARIZABILITY_H_
#define QUORUM_TESTS_FAULTS_LINEARIZABILITY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace quorum::faults {

struct Operation {
  enum class Kind { kGet, kPut, kCas };
  Kind kind = Kind::kGet;
  int client = 0;
  std::string key;
  std::string value;                    // put: the value written; cas: the new value
  std::optional<std::string> expected;  // cas: the value compared against (nullopt: absent)
  // What came back. `completed` false: the outcome is unknown (see the top of the file).
  bool completed = false;
  std::optional<std::string> read;  // get: the value read (nullopt: the key did not exist)
  bool cas_succeeded = false;       // cas: whether the compare held
  int64_t call_ns = 0;
  int64_t return_ns = 0;
};

struct CheckResult {
  enum class Verdict { kLinearizable, kNotLinearizable, kUnknown };
  Verdict verdict = Verdict::kLinearizable;
  std::string key;          // the first key that is not linearizable (or ran out of budget)
  std::string explanation;  // for a failure: the key's operations, in call order
  int64_t operations = 0;   // operations judged (failed reads left out)
  int64_t states = 0;       // search states visited, all keys
};

// Checks `history`. The search gives up (kUnknown) on a key after `max_states` states.
CheckResult CheckLinearizable(const std::vector<Operation>& history,
                              int64_t max_states = 20'000'000);

// One line per operation, for failure messages.
std::string Describe(const Operation& op);

}  // namespace quorum::faults

#endif  // QUORUM_TESTS_FAULTS_LINEARIZABILITY_H_
