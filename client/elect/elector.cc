#include "client/elect/elector.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "proto/etcd_errors.h"

namespace quorum::elect {
namespace {

// How often an active member checks whether its command has exited by itself.
constexpr auto kCommandPollInterval = std::chrono::milliseconds(100);

}  // namespace

Elector::Elector(Options options, StateLog& log)
    : options_(std::move(options)),
      log_(log),
      // A login is one more call: it gets the same bound as the others.
      endpoints_(options_.endpoints, options_.tls, options_.user, options_.password,
                 options_.retry_period),
      keeper_(endpoints_, options_.retry_period, events_, log_),
      campaign_(endpoints_,
                {.election = options_.election,
                 .value = options_.value,
                 .call_timeout = options_.retry_period,
                 .watch_timeout = options_.lease_duration},
                events_, log_),
      command_(options_.command) {
  // A failing endpoint found by the lease keeper moves the campaign's watch along with it.
  endpoints_.OnSwitch([this] { campaign_.MoveToCurrentEndpoint(); });
}

Elector::~Elector() {
  // The keeper first: its endpoint switches call into the campaign.
  keeper_.Stop();
  campaign_.Stop();
}

int Elector::Run() {
  log_.Line(absl::StrFormat(
      "started election=%s endpoints=%s lease-duration=%s renew-deadline=%s retry-period=%s%s%s",
      options_.election, absl::StrJoin(options_.endpoints, ","),
      absl::FormatDuration(options_.lease_duration), absl::FormatDuration(options_.renew_deadline),
      absl::FormatDuration(options_.retry_period),
      options_.user.empty() ? "" : " user=" + options_.user,
      command_.empty() ? "" : " command=" + absl::StrJoin(options_.command, " ")));
  while (true) {
    absl::StatusOr<LeaseKeeper::Grant> grant = AcquireLease();
    if (grant.status().code() == absl::StatusCode::kCancelled) {
      log_.Line("resigned");
      return 0;
    }
    if (!grant.ok()) {
      refusal_ = "granting a lease: " + grant.status().ToString();
      return Refused();
    }
    Outcome outcome = CampaignWith(*grant);
    campaign_.Stop();
    keeper_.Stop();
    // Revoking hands over at once instead of after the TTL, when the cluster is reachable;
    // when it is not, the lease expires by itself.
    absl::Status revoked = keeper_.Revoke(lease_, options_.retry_period);
    std::string lease_note =
        revoked.ok() ? absl::StrFormat("lease %x revoked", lease_)
                     : absl::StrFormat("lease %x not revoked (%s): it expires by itself", lease_,
                                       revoked.ToString());
    switch (outcome) {
      case Outcome::kShutdown:
        log_.Line("resigned: " + lease_note);
        return 0;
      case Outcome::kCommandExited:
        log_.Line("resigned: " + lease_note);
        return exit_code_;
      case Outcome::kRefused:
        log_.Line("resigned: " + lease_note);
        return Refused();
      case Outcome::kStartOver:
        log_.Line("campaigning again: " + lease_note);
        // A short pause keeps a persistent failure from spinning.
        if (ShutdownWithin(options_.retry_period)) {
          log_.Line("resigned");
          return 0;
        }
        break;
    }
  }
}

absl::StatusOr<LeaseKeeper::Grant> Elector::AcquireLease() {
  bool failing = false;
  while (true) {
    absl::StatusOr<LeaseKeeper::Grant> grant =
        keeper_.GrantOnce(options_.LeaseTtlSeconds(), options_.retry_period);
    if (grant.ok() || endpoints_.Refused(grant.status())) return grant;
    // Each new login is worth a line; other failures only when they start.
    if (!failing || grant.status().code() == absl::StatusCode::kUnauthenticated) {
      log_.Line("lease grant failed: " + grant.status().ToString());
    }
    failing = true;
    if (ShutdownWithin(options_.retry_period / 2)) return absl::CancelledError("shutdown");
  }
}

int Elector::Refused() {
  // A wrong user or password, or a role without the election's keys: retrying would only hide
  // the mistake, so say what to fix and stop.
  std::string fix;
  if (options_.user.empty()) {
    // Without a token a member runs calls as the client certificate's CN, if any.
    fix = "the cluster has auth enabled: give --user";
  } else if (absl::StrContains(refusal_, ErrAuthFailed().message())) {
    fix = "check --user and --password";
  } else {
    fix = absl::StrFormat("user %s needs read and write permission on the prefix %s/",
                          options_.user, options_.election);
  }
  log_.Line(absl::StrFormat("refused: %s; %s; exiting", refusal_, fix));
  return kExitRefused;
}

bool Elector::ShutdownWithin(absl::Duration duration) {
  auto until = SteadyClock::now() + absl::ToChronoNanoseconds(duration);
  while (std::optional<Event> event = events_.PopUntil(until)) {
    if (event->kind == Event::Kind::kShutdown) return true;
    // Anything else belongs to a campaign that has ended.
  }
  return false;
}

SteadyClock::time_point Elector::ActingDeadline() const {
  // Never past the believed expiry, even if the server granted less than we asked for.
  absl::Duration ttl = absl::Seconds(last_renewal_.ttl_seconds);
  return last_renewal_.sent + absl::ToChronoNanoseconds(std::min(options_.renew_deadline, ttl));
}

Elector::Outcome Elector::CampaignWith(const LeaseKeeper::Grant& grant) {
  lease_ = grant.lease;
  last_renewal_ = grant.renewal;
  elected_ = active_ = false;
  key_ = campaign_.KeyFor(lease_);
  revision_ = 0;
  log_.Line(absl::StrFormat("campaigning key=%s lease=%x ttl=%d", key_, lease_,
                            grant.renewal.ttl_seconds));
  if (grant.renewal.ttl_seconds != options_.LeaseTtlSeconds()) {
    log_.Line(absl::StrFormat("warning: asked for a %ds lease, the server granted %ds",
                              options_.LeaseTtlSeconds(), grant.renewal.ttl_seconds));
  }
  keeper_.Start(lease_);
  campaign_.Start(lease_);

  while (true) {
    auto wake = SteadyClock::now() + std::chrono::hours(1);
    if (active_) {
      wake = ActingDeadline();
      if (command_.running()) wake = std::min(wake, SteadyClock::now() + kCommandPollInterval);
    }
    std::optional<Event> event = events_.PopUntil(wake);
    // A renewal counts before the deadline is judged, even if it was queued just after the
    // deadline: the new deadline runs from when it was sent, which the server's TTL follows.
    if (event.has_value() && event->kind == Event::Kind::kRenewed) {
      if (event->renewal.sent > last_renewal_.sent) {
        last_renewal_ = event->renewal;
        log_.Line(absl::StrFormat("renewed ttl=%d sent=%s", last_renewal_.ttl_seconds,
                                  FormatWallTime(last_renewal_.sent_wall)));
      }
    }
    if (active_ && SteadyClock::now() >= ActingDeadline()) {
      StepDown(absl::StrFormat(
          "no renewal within the renew deadline (%s) of the last one, sent at %s",
          absl::FormatDuration(options_.renew_deadline), FormatWallTime(last_renewal_.sent_wall)));
      return Outcome::kStartOver;
    }
    if (active_ && command_.running()) {
      if (std::optional<int> code = command_.Poll()) {
        log_.Line(absl::StrFormat("command exited with status %d; resigning", *code));
        exit_code_ = *code;
        active_ = false;
        return Outcome::kCommandExited;
      }
    }
    if (!event.has_value()) continue;
    switch (event->kind) {
      case Event::Kind::kRenewed:
        MaybeActivate();
        break;
      case Event::Kind::kStandby:
        revision_ = event->revision;
        log_.Line(
            absl::StrFormat("standby key=%s rev=%d waiting-for=%s", key_, revision_, event->key));
        break;
      case Event::Kind::kElected:
        elected_ = true;
        revision_ = event->revision;
        MaybeActivate();
        break;
      case Event::Kind::kRefused:
        if (active_) StepDown(event->detail);
        refusal_ = event->detail;
        return Outcome::kRefused;
      case Event::Kind::kLeaseLost:
      case Event::Kind::kKeyLost:
        if (active_) {
          StepDown(event->detail);
        } else {
          log_.Line("campaign lost: " + event->detail);
        }
        return Outcome::kStartOver;
      case Event::Kind::kShutdown:
        if (active_) {
          active_ = false;
          std::optional<int> code = command_.Stop(options_.stop_grace);
          if (code.has_value()) log_.Line(absl::StrFormat("command stopped, status %d", *code));
        }
        log_.Line("shutting down: " + event->detail);
        return Outcome::kShutdown;
    }
  }
}

void Elector::MaybeActivate() {
  if (!elected_ || active_) return;
  if (SteadyClock::now() >= ActingDeadline()) {
    // Won, but our last renewal is too old to vouch for the lease: wait for a fresh one.
    return;
  }
  active_ = true;
  log_.Line(absl::StrFormat("active key=%s rev=%d lease=%x", key_, revision_, lease_));
  if (command_.empty()) return;
  absl::Status started = command_.Start({
      "QUORUM_ELECT_NAME=" + options_.election,
      "QUORUM_ELECT_KEY=" + key_,
      absl::StrCat("QUORUM_ELECT_REV=", revision_),
      absl::StrFormat("QUORUM_ELECT_LEASE=%x", lease_),
  });
  if (started.ok()) {
    log_.Line(absl::StrCat("command started pid=", command_.pid()));
  } else {
    log_.Line("command failed to start: " + started.ToString());
  }
}

void Elector::StepDown(const std::string& reason) {
  active_ = false;
  log_.Line("stepped down: " + reason);
  std::optional<int> code = command_.Stop(options_.stop_grace);
  if (code.has_value()) log_.Line(absl::StrFormat("command stopped, status %d", *code));
}

}  // namespace quorum::elect
