#include "tests/faults/linearizability.h"

#include <algorithm>
#include <limits>
#include <map>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace quorum::faults {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

using State = std::optional<std::string>;

// Applies `op` to the register `state`: false if its answer cannot have come from `state`.
bool Step(const Operation& op, State* state) {
  switch (op.kind) {
    case Operation::Kind::kGet:
      return !op.completed || op.read == *state;
    case Operation::Kind::kPut:
      *state = op.value;
      return true;
    case Operation::Kind::kCas: {
      const bool holds = *state == op.expected;
      if (op.completed && holds != op.cas_succeeded) return false;
      if (holds) *state = op.value;
      return true;
    }
  }
  return false;
}

// The event list of Lowe's algorithm: calls and returns in time order, doubly linked so that an
// operation's pair can be taken out while it is tried as the next to take effect and put back
// on backtracking.
struct Event {
  bool is_call = false;
  size_t op = 0;
  int64_t time = 0;
  Event* match = nullptr;  // a call's return
  Event* prev = nullptr;
  Event* next = nullptr;
};

void Lift(Event* call) {
  call->prev->next = call->next;
  call->next->prev = call->prev;
  Event* ret = call->match;
  ret->prev->next = ret->next;
  if (ret->next != nullptr) ret->next->prev = ret->prev;
}

void Unlift(Event* call) {
  Event* ret = call->match;
  ret->prev->next = ret;
  if (ret->next != nullptr) ret->next->prev = ret;
  call->prev->next = call;
  call->next->prev = call;
}

std::string CacheKey(const std::vector<uint64_t>& linearized, const State& state) {
  std::string key(reinterpret_cast<const char*>(linearized.data()),
                  linearized.size() * sizeof(uint64_t));
  if (state.has_value()) {
    key += '\1';
    key += *state;
  } else {
    key += '\0';
  }
  return key;
}

CheckResult::Verdict CheckKey(const std::vector<const Operation*>& ops, int64_t max_states,
                              int64_t* states) {
  std::vector<Event> events(2 * ops.size() + 1);
  std::vector<Event*> order;
  for (size_t i = 0; i < ops.size(); ++i) {
    Event* call = &events[2 * i];
    Event* ret = &events[2 * i + 1];
    call->is_call = true;
    call->op = ret->op = i;
    call->time = ops[i]->call_ns;
    ret->time = ops[i]->completed ? ops[i]->return_ns : kNever;
    call->match = ret;
    order.push_back(call);
    order.push_back(ret);
  }
  // By time; at equal times calls first, so that touching operations count as concurrent.
  std::stable_sort(order.begin(), order.end(), [](const Event* a, const Event* b) {
    if (a->time != b->time) return a->time < b->time;
    return a->is_call && !b->is_call;
  });
  Event* head = &events.back();
  Event* last = head;
  for (Event* event : order) {
    last->next = event;
    event->prev = last;
    last = event;
  }
  last->next = nullptr;

  State state;
  std::vector<uint64_t> linearized((ops.size() + 63) / 64, 0);
  absl::flat_hash_set<std::string> seen;
  std::vector<std::pair<Event*, State>> stack;
  Event* entry = head->next;
  while (head->next != nullptr) {
    if (++*states > max_states) return CheckResult::Verdict::kUnknown;
    if (entry->is_call) {
      State next = state;
      if (Step(*ops[entry->op], &next)) {
        linearized[entry->op / 64] |= uint64_t{1} << (entry->op % 64);
        if (seen.insert(CacheKey(linearized, next)).second) {
          stack.emplace_back(entry, std::move(state));
          state = std::move(next);
          Lift(entry);
          entry = head->next;
          continue;
        }
        linearized[entry->op / 64] &= ~(uint64_t{1} << (entry->op % 64));
      }
      entry = entry->next;
    } else {
      // A return reached with its operation not yet placed: undo the latest choice.
      if (stack.empty()) return CheckResult::Verdict::kNotLinearizable;
      auto [call, previous] = std::move(stack.back());
      stack.pop_back();
      state = std::move(previous);
      linearized[call->op / 64] &= ~(uint64_t{1} << (call->op % 64));
      Unlift(call);
      entry = call->next;
    }
  }
  return CheckResult::Verdict::kLinearizable;
}

std::string Quote(const State& value) {
  return value.has_value() ? absl::StrCat("\"", *value, "\"") : "<absent>";
}

}  // namespace

std::string Describe(const Operation& op) {
  std::string line = absl::StrCat("client ", op.client, " [", op.call_ns, ", ",
                                  op.completed ? absl::StrCat(op.return_ns) : "?", "] ");
  switch (op.kind) {
    case Operation::Kind::kGet:
      absl::StrAppend(&line, "get ", op.key, " -> ", op.completed ? Quote(op.read) : "?");
      break;
    case Operation::Kind::kPut:
      absl::StrAppend(&line, "put ", op.key, " = ", Quote(op.value), op.completed ? "" : " ?");
      break;
    case Operation::Kind::kCas:
      absl::StrAppend(&line, "cas ", op.key, " ", Quote(op.expected), " -> ", Quote(op.value),
                      " : ", op.completed ? (op.cas_succeeded ? "ok" : "failed") : "?");
      break;
  }
  return line;
}

CheckResult CheckLinearizable(const std::vector<Operation>& history, int64_t max_states) {
  std::map<std::string, std::vector<const Operation*>> by_key;
  CheckResult result;
  for (const Operation& op : history) {
    if (op.kind == Operation::Kind::kGet && !op.completed) continue;
    by_key[op.key].push_back(&op);
    ++result.operations;
  }
  for (auto& [key, ops] : by_key) {
    const CheckResult::Verdict verdict = CheckKey(ops, max_states, &result.states);
    if (verdict == CheckResult::Verdict::kLinearizable) continue;
    result.verdict = verdict;
    result.key = key;
    std::sort(ops.begin(), ops.end(),
              [](const Operation* a, const Operation* b) { return a->call_ns < b->call_ns; });
    for (const Operation* op : ops) absl::StrAppend(&result.explanation, Describe(*op), "\n");
    return result;
  }
  return result;
}

}  // namespace quorum::faults
