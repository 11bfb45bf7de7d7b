#include "server/auto_compactor.h"

#include <algorithm>

#include "absl/synchronization/notification.h"
#include "proto/etcd_errors.h"
#include "server/config.h"
#include "server/member_api.h"
#include "spdlog/spdlog.h"

namespace quorum::server {
namespace {

constexpr absl::Duration kRevisionModeInterval = absl::Minutes(5);  // etcd's
constexpr int kStepsPerPeriod = 10;

}  // namespace

AutoCompactor::AutoCompactor(Mode mode, absl::Duration period, int64_t revisions, Hooks hooks,
                             absl::Time start)
    : mode_(mode),
      period_(period),
      revisions_(revisions),
      hooks_(std::move(hooks)),
      last_success_(start),
      wait_(period) {
  if (mode_ == Mode::kPeriodic) noted_.push_back(hooks_.revision());
}

AutoCompactor::~AutoCompactor() { Stop(); }

absl::Duration AutoCompactor::StepInterval() const {
  if (mode_ == Mode::kRevision) return kRevisionModeInterval;
  return std::min(period_, absl::Hours(1)) / kStepsPerPeriod;
}

void AutoCompactor::Step(absl::Time now) {
  if (mode_ == Mode::kRevision) {
    if (!hooks_.is_leader()) return;
    const int64_t target = hooks_.revision() - revisions_;
    if (target <= 0 || target == last_compacted_) return;
    spdlog::info("starting auto revision compaction at revision {} (retention: {} revisions)",
                 target, revisions_);
    if (absl::Status s = hooks_.compact(target); !s.ok()) {
      spdlog::warn("auto revision compaction at revision {} failed: {}", target,
                   std::string(s.message()));
      return;
    }
    last_compacted_ = target;
    return;
  }
  // Periodic. Noted revisions are kept for a period (plus the one a period old).
  const size_t keep = static_cast<size_t>(period_ / StepInterval()) + 1;
  auto note = [&] {
    noted_.push_back(hooks_.revision());
    while (noted_.size() > keep) noted_.pop_front();
  };
  if (!hooks_.is_leader() || now - last_success_ < wait_) {
    note();
    return;
  }
  wait_ = std::min(period_, absl::Hours(1));
  const int64_t target = noted_.front();
  spdlog::info("starting auto periodic compaction at revision {} (retention: {})", target,
               absl::FormatDuration(period_));
  if (absl::Status s = hooks_.compact(target); s.ok()) {
    last_success_ = now;
  } else {
    spdlog::warn("auto periodic compaction at revision {} failed: {}", target,
                 std::string(s.message()));
  }
  note();
}

void AutoCompactor::Start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!wake_.wait_for(lock, absl::ToChronoMilliseconds(StepInterval()),
                           [this] { return stopping_; })) {
      lock.unlock();
      Step(absl::Now());
      lock.lock();
    }
  });
}

void AutoCompactor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::unique_ptr<AutoCompactor> StartAutoCompactor(const Config& config, MemberApi* member) {
  const bool revision_mode = config.auto_compaction_mode == "revision";
  if (revision_mode ? config.auto_compaction_revisions == 0
                    : config.auto_compaction_period == absl::ZeroDuration()) {
    return nullptr;
  }
  AutoCompactor::Hooks hooks;
  hooks.revision = [member] { return member->CurrentHeader().revision(); };
  hooks.is_leader = [member] {
    const etcdserverpb::StatusResponse status = member->Status();
    return status.leader() != 0 && status.leader() == status.header().member_id();
  };
  hooks.compact = [member](int64_t revision) {
    internalpb::InternalRequest request;
    request.mutable_compaction()->set_revision(revision);
    struct Outcome {
      absl::Notification done;
      absl::Status status;
    };
    auto outcome = std::make_shared<Outcome>();
    const absl::Time deadline = member->DefaultDeadline();
    member->Propose(std::move(request), deadline, [outcome](ApplyResult result) {
      outcome->status = result.status;
      outcome->done.Notify();
    });
    if (!outcome->done.WaitForNotificationWithDeadline(deadline + absl::Seconds(1))) {
      return absl::DeadlineExceededError("the compaction was not applied in time");
    }
    // Another compaction (a client's) got there first: the history is as short already.
    if (outcome->status == ErrCompacted()) return absl::OkStatus();
    return outcome->status;
  };
  auto compactor = std::make_unique<AutoCompactor>(
      revision_mode ? AutoCompactor::Mode::kRevision : AutoCompactor::Mode::kPeriodic,
      config.auto_compaction_period, config.auto_compaction_revisions, std::move(hooks),
      absl::Now());
  compactor->Start();
  return compactor;
}

}  // namespace quorum::server
