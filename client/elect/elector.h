// The member of an election that quorum-elect runs: gets a lease, campaigns, and acts (runs the
// command) only while it may believe it leads. Called by main(); Run() owns every decision and
// the command, the lease keeper and the campaign report to it through one event queue.
//
// Safety rule. The server counts a lease's TTL from when it handles a renewal, which is after
// we sent it, so the lease cannot expire before (time sent + TTL granted). We act only until
// (time the last successful renewal was sent + renew deadline), and the renew deadline is
// shorter than the lease duration: we stop acting, and stop the command within the grace
// period, before any standby can see our key expire and take over.
#ifndef QUORUM_CLIENT_ELECT_ELECTOR_H_
#define QUORUM_CLIENT_ELECT_ELECTOR_H_

#include <optional>
#include <string>

#include "client/elect/campaign.h"
#include "client/elect/command.h"
#include "client/elect/endpoints.h"
#include "client/elect/events.h"
#include "client/elect/lease_keeper.h"
#include "client/elect/options.h"
#include "client/elect/state_log.h"

namespace quorum::elect {

// The exit code when the cluster refuses the configured user (EndpointPool::Refused): no
// permission on the election's keys, a wrong name or password, or auth on and no --user.
inline constexpr int kExitRefused = 3;

class Elector {
 public:
  Elector(Options options, StateLog& log);
  ~Elector();
  Elector(const Elector&) = delete;
  Elector& operator=(const Elector&) = delete;

  // Campaigns, acts while elected, steps down and campaigns again, until a kShutdown event
  // (then it resigns: stops the command and revokes its lease) or until the command exits by
  // itself (then it resigns too), or until the cluster refuses its user (then it stops the
  // command and gives up: retrying cannot help). Returns the exit code for the process: 0 after
  // a shutdown, the command's exit code when it exited, kExitRefused when refused.
  int Run();

  // Where the signal handler thread reports SIGTERM/SIGINT.
  EventQueue& events() { return events_; }

 private:
  enum class Outcome { kStartOver, kShutdown, kCommandExited, kRefused };

  // Grants a lease, retrying until it works, a shutdown arrives (CANCELLED), or the cluster
  // refuses our user (that error).
  absl::StatusOr<LeaseKeeper::Grant> AcquireLease();
  // Logs why the cluster refused us (refusal_) and what to fix; returns kExitRefused.
  int Refused();
  // One campaign with one lease, until it ends.
  Outcome CampaignWith(const LeaseKeeper::Grant& grant);
  // When the campaign has been won and the last renewal is recent enough, become active.
  void MaybeActivate();
  void StepDown(const std::string& reason);
  // The instant our belief in our leadership ends.
  SteadyClock::time_point ActingDeadline() const;
  // Waits up to `duration` for a shutdown; true if one arrived.
  bool ShutdownWithin(absl::Duration duration);

  Options options_;
  StateLog& log_;
  EventQueue events_;
  EndpointPool endpoints_;
  LeaseKeeper keeper_;
  Campaign campaign_;
  Command command_;

  // The current campaign's state.
  int64_t lease_ = 0;
  Renewal last_renewal_;
  bool elected_ = false;
  bool active_ = false;
  std::string key_;
  int64_t revision_ = 0;
  int exit_code_ = 0;
  std::string refusal_;  // why the cluster refused us (Outcome::kRefused)
};

}  // namespace quorum::elect

#endif  // QUORUM_CLIENT_ELECT_ELECTOR_H_
