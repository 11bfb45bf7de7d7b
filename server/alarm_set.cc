#include "server/alarm_set.h"

#include <algorithm>

#include "storage/schema.h"

namespace quorum::server {

absl::Status AlarmSet::Load(storage::Backend* backend) {
  absl::StatusOr<std::vector<etcdserverpb::AlarmMember>> alarms = storage::LoadAlarms(backend);
  if (!alarms.ok()) return alarms.status();
  absl::MutexLock lock(&mu_);
  alarms_ = *std::move(alarms);
  return absl::OkStatus();
}

bool AlarmSet::Has(etcdserverpb::AlarmType type) const {
  absl::MutexLock lock(&mu_);
  return std::any_of(alarms_.begin(), alarms_.end(),
                     [&](const auto& a) { return a.alarm() == type; });
}

std::vector<etcdserverpb::AlarmMember> AlarmSet::List() const {
  absl::MutexLock lock(&mu_);
  return alarms_;
}

bool AlarmSet::Activate(uint64_t member_id, etcdserverpb::AlarmType type) {
  absl::MutexLock lock(&mu_);
  for (const auto& a : alarms_) {
    if (a.memberid() == member_id && a.alarm() == type) return false;
  }
  etcdserverpb::AlarmMember alarm;
  alarm.set_memberid(member_id);
  alarm.set_alarm(type);
  alarms_.push_back(alarm);
  return true;
}

bool AlarmSet::Deactivate(uint64_t member_id, etcdserverpb::AlarmType type) {
  absl::MutexLock lock(&mu_);
  auto it = std::find_if(alarms_.begin(), alarms_.end(), [&](const auto& a) {
    return a.memberid() == member_id && a.alarm() == type;
  });
  if (it == alarms_.end()) return false;
  alarms_.erase(it);
  return true;
}

}  // namespace quorum::server
