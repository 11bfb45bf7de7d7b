// The alarms raised in the cluster, per member as etcd keeps them (NOSPACE, CORRUPT). They are
// state like any other: changed only by applying alarm entries from the log, stored beside the
// members (storage/schema.h), so they survive a restart and travel in snapshots. The applier
// changes the set; quota checks and Maintenance read it from any thread.
#ifndef QUORUM_SERVER_ALARM_SET_H_
#define QUORUM_SERVER_ALARM_SET_H_

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.pb.h"

namespace quorum::storage {
class Backend;
}  // namespace quorum::storage

namespace quorum::server {

class AlarmSet {
 public:
  // Replaces the set with what `backend` holds.
  absl::Status Load(storage::Backend* backend);

  bool Has(etcdserverpb::AlarmType type) const;
  std::vector<etcdserverpb::AlarmMember> List() const;
  // Returns true when the set changed.
  bool Activate(uint64_t member_id, etcdserverpb::AlarmType type);
  bool Deactivate(uint64_t member_id, etcdserverpb::AlarmType type);

 private:
  mutable absl::Mutex mu_;
  std::vector<etcdserverpb::AlarmMember> alarms_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_ALARM_SET_H_
