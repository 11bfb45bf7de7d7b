#include "server/wait_list.h"

#include <vector>

namespace quorum::server {

void WaitList::AddWrite(uint64_t id, absl::Time deadline, Done done) {
  absl::MutexLock lock(&mu_);
  writes_[id] = Write{deadline, std::move(done)};
}

bool WaitList::CompleteWrite(uint64_t id, ApplyResult result) {
  Done done;
  {
    absl::MutexLock lock(&mu_);
    auto it = writes_.find(id);
    if (it == writes_.end()) return false;
    done = std::move(it->second.done);
    writes_.erase(it);
  }
  // Completion runs outside the lock: it finishes an RPC and may take a while.
  done(std::move(result));
  return true;
}

void WaitList::FailWrite(uint64_t id, absl::Status status) {
  CompleteWrite(id, ApplyResult{std::move(status), nullptr});
}

void WaitList::AddRead(const std::string& ctx, absl::Time deadline, Ready ready) {
  absl::MutexLock lock(&mu_);
  reads_[ctx] = Read{deadline, std::move(ready), 0};
}

void WaitList::ReadPointKnown(const std::string& ctx, uint64_t index) {
  absl::MutexLock lock(&mu_);
  auto it = reads_.find(ctx);
  if (it == reads_.end() || it->second.index != 0) return;
  it->second.index = index;
  reads_by_index_.emplace(index, ctx);
}

void WaitList::FailRead(const std::string& ctx, absl::Status status) {
  Ready ready;
  {
    absl::MutexLock lock(&mu_);
    auto it = reads_.find(ctx);
    if (it == reads_.end()) return;
    ready = std::move(it->second.ready);
    if (it->second.index != 0) {
      auto range = reads_by_index_.equal_range(it->second.index);
      for (auto r = range.first; r != range.second; ++r) {
        if (r->second == ctx) {
          reads_by_index_.erase(r);
          break;
        }
      }
    }
    reads_.erase(it);
  }
  ready(std::move(status));
}

void WaitList::ReleaseReads(uint64_t applied) {
  std::vector<Ready> runnable;
  {
    absl::MutexLock lock(&mu_);
    while (!reads_by_index_.empty() && reads_by_index_.begin()->first <= applied) {
      auto it = reads_.find(reads_by_index_.begin()->second);
      if (it != reads_.end()) {
        runnable.push_back(std::move(it->second.ready));
        reads_.erase(it);
      }
      reads_by_index_.erase(reads_by_index_.begin());
    }
  }
  for (auto& ready : runnable) ready(absl::OkStatus());
}

size_t WaitList::Expire(absl::Time now, const absl::Status& timeout) {
  std::vector<Done> writes;
  std::vector<std::string> reads;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = writes_.begin(); it != writes_.end();) {
      if (it->second.deadline < now) {
        writes.push_back(std::move(it->second.done));
        writes_.erase(it++);
      } else {
        ++it;
      }
    }
    for (const auto& [ctx, read] : reads_) {
      if (read.deadline < now) reads.push_back(ctx);
    }
  }
  for (auto& done : writes) done(ApplyResult{timeout, nullptr});
  for (const auto& ctx : reads) FailRead(ctx, timeout);
  return writes.size();
}

void WaitList::FailAll(const absl::Status& status) { Expire(absl::InfiniteFuture(), status); }

size_t WaitList::PendingWrites() const {
  absl::MutexLock lock(&mu_);
  return writes_.size();
}

size_t WaitList::size() const {
  absl::MutexLock lock(&mu_);
  return writes_.size() + reads_.size();
}

}  // namespace quorum::server
