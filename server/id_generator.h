// Ids for this member's proposals, read requests and leases, unique across restarts of the
// member (etcd's idutil scheme): the low 16 bits of the member id on top, then the time in
// milliseconds at start, then a counter in the low 8 bits that carries into the time. An entry
// proposed before a crash that commits after the restart carries an id the new process will not
// hand out again (unless it issued 256 ids a millisecond for the whole previous run), so it can
// complete no new request. Thread-safe.
#ifndef QUORUM_SERVER_ID_GENERATOR_H_
#define QUORUM_SERVER_ID_GENERATOR_H_

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace quorum::server {

class IdGenerator {
 public:
  IdGenerator(uint64_t member_id, absl::Time now)
      : prefix_((member_id & 0xffff) << kSuffixBits),
        suffix_((static_cast<uint64_t>(absl::ToUnixMillis(now)) & kTimeMask) << kCountBits) {}

  // A new id, never 0.
  uint64_t Next() {
    uint64_t id = 0;
    while (id == 0) id = prefix_ | ((suffix_.fetch_add(1) + 1) & kSuffixMask);
    return id;
  }

 private:
  static constexpr int kCountBits = 8;
  static constexpr int kSuffixBits = 48;
  static constexpr uint64_t kTimeMask = (uint64_t{1} << (kSuffixBits - kCountBits)) - 1;
  static constexpr uint64_t kSuffixMask = (uint64_t{1} << kSuffixBits) - 1;

  const uint64_t prefix_;
  std::atomic<uint64_t> suffix_;
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_ID_GENERATOR_H_
