// Helpers for in-process transport tests: free loopback ports, a recorder of every callback a
// transport makes (with bounded waits), and a snapshot reader that serves generated records.
#ifndef QUORUM_TESTS_PEER_PEER_TEST_SUPPORT_H_
#define QUORUM_TESTS_PEER_PEER_TEST_SUPPORT_H_

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/peer/transport.h"
#include "tests/support/ports.h"

namespace quorum::server::testing {

// Generous: only a broken transport takes this long, and CI machines are slow.
inline constexpr absl::Duration kWait = absl::Seconds(20);

// A loopback port no other server of this test program was given.
inline int PickFreePort() { return quorum::testing::FreeLoopbackPort(); }

inline std::string Listen(int port) { return absl::StrCat("127.0.0.1:", port); }
inline std::string Url(int port) { return absl::StrCat("http://127.0.0.1:", port); }

inline raftpb::Message MakeMessage(uint64_t from, uint64_t to, uint64_t index,
                                   size_t payload_bytes = 0) {
  raftpb::Message message;
  message.set_type(raftpb::MSG_APPEND);
  message.set_from(from);
  message.set_to(to);
  message.set_term(1);
  message.set_index(index);
  if (payload_bytes > 0) {
    raftpb::Entry* entry = message.add_entries();
    entry->set_term(1);
    entry->set_index(index + 1);
    entry->set_data(std::string(payload_bytes, static_cast<char>('a' + index % 26)));
  }
  return message;
}

// Hands out `count` records of `value_bytes` each, the i-th with key "key-<i>".
class GeneratedSnapshotReader final : public SnapshotReader {
 public:
  GeneratedSnapshotReader(size_t count, size_t value_bytes, size_t fail_after = SIZE_MAX)
      : count_(count), value_bytes_(value_bytes), fail_after_(fail_after) {}

  absl::StatusOr<bool> Next(internalpb::SnapshotChunk* chunk, size_t max_bytes) override {
    size_t added = 0;
    while (next_ < count_ && added < max_bytes) {
      if (next_ == fail_after_) return absl::DataLossError("reader broke on purpose");
      internalpb::StateRecord* record = chunk->add_records();
      *record = Record(next_, value_bytes_);
      added += record->ByteSizeLong();
      ++next_;
    }
    return next_ < count_;
  }

  static internalpb::StateRecord Record(size_t i, size_t value_bytes = 1000) {
    internalpb::StateRecord record;
    record.set_family("kv");
    record.set_key(absl::StrCat("key-", i));
    std::string value(value_bytes, '\0');
    for (size_t j = 0; j < value.size(); ++j) value[j] = static_cast<char>((i * 31 + j) % 251);
    record.set_value(std::move(value));
    return record;
  }

 private:
  const size_t count_;
  const size_t value_bytes_;
  const size_t fail_after_;
  size_t next_ = 0;
};

// Records every callback of one transport. Waits are bounded by `timeout`.
class Recorder {
 public:
  using OpenSnapshot =
      std::function<absl::StatusOr<std::pair<raftpb::Message, std::unique_ptr<SnapshotReader>>>(
          const raftpb::Message&)>;

  PeerTransport::Callbacks Callbacks() {
    PeerTransport::Callbacks callbacks;
    callbacks.deliver = [this](raftpb::Message message) {
      absl::MutexLock lock(&mu_);
      delivered_.push_back(std::move(message));
    };
    callbacks.unreachable = [this](uint64_t peer) {
      absl::MutexLock lock(&mu_);
      ++unreachable_[peer];
    };
    callbacks.snapshot_status = [this](uint64_t peer, bool ok) {
      absl::MutexLock lock(&mu_);
      snapshot_status_.emplace_back(peer, ok);
    };
    callbacks.open_snapshot = [this](const raftpb::Message& message) {
      OpenSnapshot open;
      {
        absl::MutexLock lock(&mu_);
        open = open_snapshot_;
      }
      if (!open) return OpenSnapshot::result_type(absl::UnimplementedError("no snapshot"));
      return open(message);
    };
    return callbacks;
  }

  void SetOpenSnapshot(OpenSnapshot open) {
    absl::MutexLock lock(&mu_);
    open_snapshot_ = std::move(open);
  }

  // Each wait returns false when `timeout` passes first.
  bool WaitForDelivered(size_t count, absl::Duration timeout = kWait) {
    return Await([&] { return delivered_.size() >= count; }, timeout);
  }
  bool WaitForUnreachable(uint64_t peer, int count = 1, absl::Duration timeout = kWait) {
    return Await([&] { return unreachable_[peer] >= count; }, timeout);
  }
  bool WaitForSnapshotStatus(size_t count, absl::Duration timeout = kWait) {
    return Await([&] { return snapshot_status_.size() >= count; }, timeout);
  }

  std::vector<raftpb::Message> Delivered() {
    absl::MutexLock lock(&mu_);
    return delivered_;
  }
  size_t DeliveredCount() {
    absl::MutexLock lock(&mu_);
    return delivered_.size();
  }
  int Unreachable(uint64_t peer) {
    absl::MutexLock lock(&mu_);
    return unreachable_[peer];
  }
  std::vector<std::pair<uint64_t, bool>> SnapshotStatus() {
    absl::MutexLock lock(&mu_);
    return snapshot_status_;
  }

 private:
  bool Await(const std::function<bool()>& done, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(
                                    +[](const std::function<bool()>* f) { return (*f)(); }, &done),
                                timeout);
  }

  absl::Mutex mu_;
  std::vector<raftpb::Message> delivered_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, int> unreachable_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<uint64_t, bool>> snapshot_status_ ABSL_GUARDED_BY(mu_);
  OpenSnapshot open_snapshot_ ABSL_GUARDED_BY(mu_);
};

// A fresh directory under the test's temp dir.
inline std::string TempDir(const std::string& name) {
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                              absl::StrCat("quorum-peer-", ::getpid(), "-", name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace quorum::server::testing

#endif  // QUORUM_TESTS_PEER_PEER_TEST_SUPPORT_H_
