#include "server/leader_history.h"

namespace quorum::server {

void LeaderHistory::Record(uint64_t leader, uint64_t term, absl::Time time) {
  absl::MutexLock lock(&mu_);
  changes_.push_back(Change{time, leader, term});
  while (changes_.size() > capacity_) changes_.pop_front();
}

std::vector<LeaderHistory::Change> LeaderHistory::List() const {
  absl::MutexLock lock(&mu_);
  return {changes_.begin(), changes_.end()};
}

}  // namespace quorum::server
