// What the lease keeper, the campaign and the signal thread tell quorum-elect's elector, and
// the queue that carries it. The elector is the only reader; it makes every state decision.
#ifndef QUORUM_CLIENT_ELECT_EVENTS_H_
#define QUORUM_CLIENT_ELECT_EVENTS_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace quorum::elect {

using SteadyClock = std::chrono::steady_clock;

// A lease grant or keep-alive that the server answered. The server counts the TTL from when it
// handles the request, which is after `sent`, so the lease cannot expire before sent + ttl.
struct Renewal {
  SteadyClock::time_point sent;  // for decisions: immune to wall-clock steps
  absl::Time sent_wall;          // for the log
  int64_t ttl_seconds = 0;
};

struct Event {
  enum class Kind {
    kRenewed,    // renewal: a keep-alive succeeded
    kLeaseLost,  // the server says the lease is gone (detail says why)
    kStandby,    // our key is in place behind `key` (the member we wait for)
    kElected,    // no key older than ours is left: key and revision are ours
    kKeyLost,    // our key was deleted (or never created): detail says why
    kRefused,    // the cluster refuses our user for good (EndpointPool::Refused): detail says why
    kShutdown,   // SIGTERM or SIGINT
  };
  Kind kind;
  Renewal renewal;
  std::string key;
  int64_t revision = 0;
  std::string detail;
};

// Many writers, one reader.
class EventQueue {
 public:
  void Push(Event event);
  // The oldest event, waiting until `deadline` at most.
  std::optional<Event> PopUntil(SteadyClock::time_point deadline);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quorum::elect

#endif  // QUORUM_CLIENT_ELECT_EVENTS_H_
