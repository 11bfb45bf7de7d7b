#include "server/lessor.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "internalpb/internal.pb.h"
#include "proto/etcd_errors.h"
#include "storage/schema.h"

namespace quorum::server {

Lessor::Lessor(Options options) : options_(std::move(options)) {}

absl::Status Lessor::Load(storage::Backend* backend, const std::vector<storage::LeasedKey>& keys) {
  absl::StatusOr<std::vector<internalpb::LeaseRecord>> records = storage::LoadLeases(backend);
  if (!records.ok()) return records.status();
  absl::flat_hash_map<int64_t, Lease> leases;
  for (const auto& record : *records) leases[record.id()].ttl = record.ttl();
  absl::flat_hash_map<std::string, int64_t> key_lease;
  for (const storage::LeasedKey& k : keys) {
    auto lease = leases.find(k.lease);
    // A key may name a lease that is gone only if its revoke was torn; etcd keeps such keys.
    if (lease == leases.end()) continue;
    lease->second.keys.insert(k.key);
    key_lease[k.key] = k.lease;
  }
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.now();
  if (primary_) {
    for (auto& [id, lease] : leases) lease.expiry = now + absl::Seconds(lease.ttl);
  }
  leases_ = std::move(leases);
  key_lease_ = std::move(key_lease);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Lessor::CheckGrant(int64_t id, int64_t ttl) const {
  // etcd's order: a missing id, then the TTL bound, then an existing lease.
  if (id == 0) return ErrLeaseNotFound();
  if (ttl > kMaxLeaseTtl) return ErrLeaseTtlTooLarge();
  absl::MutexLock lock(&mu_);
  if (leases_.contains(id)) return ErrLeaseExist();
  return std::max(ttl, options_.min_ttl_seconds);
}

void Lessor::Granted(int64_t id, int64_t ttl) {
  absl::MutexLock lock(&mu_);
  Lease& lease = leases_[id];
  lease.ttl = ttl;
  if (primary_) lease.expiry = options_.now() + absl::Seconds(ttl);
}

bool Lessor::Exists(int64_t id) const {
  absl::MutexLock lock(&mu_);
  return leases_.contains(id);
}

std::vector<std::string> Lessor::Keys(int64_t id) const {
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return {};
  return {it->second.keys.begin(), it->second.keys.end()};
}

void Lessor::Revoked(int64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return;
  for (const std::string& key : it->second.keys) key_lease_.erase(key);
  leases_.erase(it);
}

void Lessor::DetachLocked(const std::string& key) {
  auto it = key_lease_.find(key);
  if (it == key_lease_.end()) return;
  auto lease = leases_.find(it->second);
  if (lease != leases_.end()) lease->second.keys.erase(key);
  key_lease_.erase(it);
}

void Lessor::OnEvents(const std::vector<mvccpb::Event>& events) {
  absl::MutexLock lock(&mu_);
  for (const mvccpb::Event& event : events) {
    const std::string& key = event.kv().key();
    DetachLocked(key);
    if (event.type() != mvccpb::Event::PUT || event.kv().lease() == 0) continue;
    auto lease = leases_.find(event.kv().lease());
    if (lease == leases_.end()) continue;
    lease->second.keys.insert(key);
    key_lease_[key] = event.kv().lease();
  }
}

void Lessor::Promote(absl::Duration extend) {
  absl::MutexLock lock(&mu_);
  primary_ = true;
  const absl::Time now = options_.now();
  for (auto& [id, lease] : leases_) {
    lease.expiry = now + extend + absl::Seconds(lease.ttl);
    lease.revoke_retry = absl::InfinitePast();
  }
}

void Lessor::Demote() {
  absl::MutexLock lock(&mu_);
  primary_ = false;
  for (auto& [id, lease] : leases_) lease.expiry = absl::InfiniteFuture();
}

bool Lessor::primary() const {
  absl::MutexLock lock(&mu_);
  return primary_;
}

absl::StatusOr<int64_t> Lessor::Renew(int64_t id) {
  absl::MutexLock lock(&mu_);
  if (!primary_) return absl::FailedPreconditionError("not the leader");
  auto it = leases_.find(id);
  const absl::Time now = options_.now();
  if (it == leases_.end()) return ErrLeaseNotFound();
  // An expired lease is being revoked: the answer waits for the revoke (then "not found") or for
  // a leader change (whose new leader may give the lease its TTL again), as etcd's does. The
  // caller retries on UNAVAILABLE.
  if (it->second.expiry <= now) return absl::UnavailableError("lease expired; revoke pending");
  it->second.expiry = now + absl::Seconds(it->second.ttl);
  return it->second.ttl;
}

absl::StatusOr<Lessor::TimeToLive> Lessor::Lookup(int64_t id, bool with_keys) const {
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return ErrLeaseNotFound();
  TimeToLive out;
  out.id = id;
  out.granted_ttl = it->second.ttl;
  if (primary_) {
    out.ttl = std::max<int64_t>(
        0, absl::ToInt64Seconds(it->second.expiry - options_.now()));  // rounds down
  } else {
    out.ttl = it->second.ttl;
  }
  if (with_keys) out.keys.assign(it->second.keys.begin(), it->second.keys.end());
  return out;
}

std::vector<int64_t> Lessor::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> ids;
  ids.reserve(leases_.size());
  for (const auto& [id, lease] : leases_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<int64_t> Lessor::Expired(size_t limit, absl::Duration retry) {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> out;
  if (!primary_) return out;
  const absl::Time now = options_.now();
  for (auto& [id, lease] : leases_) {
    if (out.size() >= limit) break;
    if (lease.expiry > now || lease.revoke_retry > now) continue;
    lease.revoke_retry = now + retry;
    out.push_back(id);
  }
  return out;
}

size_t Lessor::size() const {
  absl::MutexLock lock(&mu_);
  return leases_.size();
}

}  // namespace quorum::server
