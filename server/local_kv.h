// A blocking client of the member's own KV, Lease and Watch paths, for the Election and Lock
// services, which run etcd's client-side recipes (create a key under a prefix, wait for the
// predecessor's deletion) inside the server. Each call waits on the calling thread, up to a
// deadline and while `cancelled` says the gRPC call is still wanted; those services run every
// call on a thread of its own (CallThreads), never on a gRPC thread.
#ifndef QUORUM_SERVER_LOCAL_KV_H_
#define QUORUM_SERVER_LOCAL_KV_H_

#include <functional>
#include <list>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvccpb/kv.pb.h"
#include "server/member_api.h"

namespace quorum::server {

class LocalKv {
 public:
  // `cancelled` is polled while waiting; a cancelled call returns CANCELLED.
  LocalKv(MemberApi* member, std::function<bool()> cancelled)
      : member_(member), cancelled_(std::move(cancelled)) {}

  // Linearizable.
  absl::StatusOr<etcdserverpb::RangeResponse> Range(etcdserverpb::RangeRequest request,
                                                    absl::Time deadline);
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(etcdserverpb::TxnRequest request,
                                                absl::Time deadline);
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> Delete(const std::string& key,
                                                           absl::Time deadline);
  absl::StatusOr<int64_t> GrantLease(int64_t ttl, absl::Time deadline);

  // Waits for the next change of `key` at or after `revision` that `stop` accepts (etcd's
  // waitDelete and the election observer's watch). Returns the accepted event and the
  // response header. No deadline: it waits as long as the call is wanted.
  struct Change {
    mvccpb::Event event;
    etcdserverpb::ResponseHeader header;
  };
  absl::StatusOr<Change> WaitFor(const std::string& key, const std::string& range_end,
                                 int64_t revision,
                                 const std::function<bool(const mvccpb::Event&)>& stop);

  // etcd's waitDeletes: until no key under `prefix` with create revision <= `max_create_rev`
  // is left; returns the header of the read that found none.
  absl::StatusOr<etcdserverpb::ResponseHeader> WaitDeletes(const std::string& prefix,
                                                           int64_t max_create_rev);

 private:
  // Waits for `done` (set by a callback) while the call is wanted and before `deadline`.
  absl::Status Await(absl::Mutex* mu, const bool* done, absl::Time deadline);

  MemberApi* member_;
  std::function<bool()> cancelled_;
};

// The one key under `prefix` created first (ASCEND: etcd's WithFirstCreate) or last (DESCEND:
// WithLastCreate).
etcdserverpb::RangeRequest EdgeByCreation(const std::string& prefix,
                                          etcdserverpb::RangeRequest::SortOrder order);

// Threads for calls that wait (Campaign, Lock, Observe): each runs to its end on its own thread;
// finished ones are joined as new ones start and all are joined on destruction.
class CallThreads {
 public:
  // Calls running at once beyond which new ones are refused.
  static constexpr size_t kMaxRunning = 4096;

  CallThreads() = default;
  ~CallThreads();
  // Runs `call` on a thread of its own. False (and `call` not run) when kMaxRunning calls run
  // already or no thread can be made: the caller answers "too many requests".
  bool Start(std::function<void()> call);

 private:
  struct Slot {
    std::thread thread;
    bool finished = false;
  };
  absl::Mutex mu_;
  std::list<Slot> slots_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_LOCAL_KV_H_
